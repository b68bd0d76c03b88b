"""Control allocation: every action gets measured.

A fixed control share leaves a small arm unmeasured for months (11-15 control customers a month
at 10% of ~130 contacts never reach 30). :func:`control_allocation` raises the control share of
each action whose evidence is short, so that it holds ``min_control`` control customers -- counted
as the pooled uplift counts them, each month's weighted ``decay ** age``
(:mod:`churnlens.campaign.pooled`) -- within ``months`` months:

* ``have_a``: the action's decayed control customers in the evidence so far (ages counted from
  this month's list, which will be age 0 when it is measured); ``arm_a``: its listed customers
  this month (contacted + control);
* when ``have_a + base_share x arm_a >= min_control`` the base share suffices: ``share_a = base_share``;
* otherwise ``share_a = clip(min_control / (S x arm_a), base_share, max_share)`` with
  ``S = 1 + decay + ... + decay ** (months - 1)``: the constant monthly control count that, from no
  evidence, reaches ``min_control`` decayed control customers after ``months`` months (and stays
  above it: its steady state is ``min_control / (1 - decay ** months)``).

``measurable_in``: months, this one included, until the decayed control count reaches
``min_control`` when the arm keeps its size and share (0: already there; None: no listed customer
this month, or not within 36 months at ``max_share``).

Wiring (:func:`allocate_controls`, used by the run's "expected values" step): the list's control
group is first drawn with ``report.control_share`` (:func:`churnlens.actions.playbook.control_group`);
an action whose share is raised gets more control customers, its listed customers with the
smallest keys not yet held out (:func:`raise_controls`), so that it holds ``round(share_a x arm_a)``.
An action at the base share keeps the base draw unchanged. ``report.control_share: 0`` (no control
group) holds nobody out, whatever the evidence. With a budget the arms are the greedy's, which
the raised control customers change (they use no capacity):
:func:`churnlens.actions.budget.allocate_with_controls` repeats the raise and the greedy until
every raised action holds at least ``round(share_a x arm_a)`` of the list as sent.

The draw (:func:`control_by_action`) is the seeded per-customer key of
:func:`churnlens.actions.playbook.control_group` (``SHA-256("churnlens-control:<seed>:<id>")``):
within each action's listed customers, the ``round(share_a x n_a)`` with the smallest keys are
held out. The choice depends only on the ids, the actions and the seed, and inside an action's
arm it is independent of every customer trait: the treated/control comparison stays randomised.
:func:`control_keys` gives the same key as a number in [0, 1) for the budget's greedy, which
holds out a customer when its key is below its chosen action's share.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from typing import Mapping, Optional, Sequence

import numpy as np

from churnlens.actions.results import ControlAllocation, ControlPlan
from churnlens.errors import DataError

__all__ = ["control_allocation", "control_keys", "control_by_action", "decayed_controls", "raise_controls",
           "allocate_controls", "held_out"]


def control_allocation(arm_sizes: Mapping[str, int], have: Optional[Mapping[str, float]] = None, *,
                       base_share: float, min_control: int, months: int = 2, decay: float = 0.8,
                       max_share: float = 0.5) -> tuple[ControlPlan, ...]:
    """Control share per action (module docstring), sorted by action key."""
    if not 0.0 <= base_share <= max_share < 1.0:
        raise ValueError(f"expected 0 <= base_share <= max_share < 1, found {base_share}, {max_share}")
    if months < 1:
        raise ValueError(f"months must be at least 1, not {months}")
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"decay must be in (0, 1], not {decay}")
    have = have or {}
    S = sum(decay ** i for i in range(months))
    out = []
    for a in sorted(arm_sizes):
        arm = int(arm_sizes[a])
        got = float(have.get(a, 0.0))
        if arm <= 0:
            out.append(ControlPlan(action=a, arm=0, share=base_share, control=0, have=got,
                                   measurable_in=0 if got >= min_control else None))
            continue
        if got + base_share * arm >= min_control - 1e-9:
            share = base_share
        else:
            share = min(max(base_share, min_control / (S * arm)), max_share)
        out.append(ControlPlan(action=a, arm=arm, share=float(share), control=int(math.floor(share * arm + 0.5)),
                               have=got, measurable_in=_months_until(got, share * arm, min_control, decay)))
    return tuple(out)


def _months_until(have: float, per_month: float, target: float, decay: float) -> Optional[int]:
    if have >= target - 1e-9:
        return 0
    h = have
    for m in range(1, 37):
        h += per_month
        if h >= target - 1e-9:
            return m
        h *= decay
    return None


def _keys(customer_ids: np.ndarray, seed: int) -> np.ndarray:
    ids = [str(i) for i in np.asarray(customer_ids).tolist()]
    if len(set(ids)) != len(ids):
        raise DataError("Customer ids must be unique to draw a control group; found duplicated ids.")
    return np.array([int.from_bytes(hashlib.sha256(f"churnlens-control:{seed}:{i}".encode()).digest()[:8], "big")
                     for i in ids], dtype=np.uint64)


def control_keys(customer_ids: np.ndarray, *, seed: int) -> np.ndarray:
    """Each customer's control key as a number in [0, 1) (the first 53 bits of the hash)."""
    return (_keys(customer_ids, seed) >> np.uint64(11)).astype(np.float64) / float(2 ** 53)


def control_by_action(customer_ids: np.ndarray, action: np.ndarray, listed: np.ndarray,
                      shares: Mapping[str, float], *, seed: int) -> np.ndarray:
    """Control group per action: within each action's listed customers the ``round(share x n)``
    smallest keys (ties by id text); actions without a share, and "" (no action), hold none out."""
    ids = np.asarray(customer_ids)
    act = np.asarray(action).astype(str)
    listed = np.asarray(listed, dtype=bool)
    if not (ids.shape == act.shape == listed.shape):
        raise DataError(f"control_by_action: ids {ids.shape}, actions {act.shape} and listed {listed.shape} differ.")
    keys = _keys(ids, seed)
    text = np.array([str(i) for i in ids.tolist()])
    mask = np.zeros(ids.shape[0], dtype=bool)
    for a, share in sorted(shares.items()):
        if not a:
            continue
        rows = np.flatnonzero(listed & (act == a))
        k = int(math.floor(float(share) * rows.size + 0.5))
        if k:
            order = rows[np.lexsort((text[rows], keys[rows]))]
            mask[order[:k]] = True
    return mask


def decayed_controls(evidence: Sequence, *, decay: float) -> dict[str, float]:
    """Control customers per action in the pooled evidence (``ArmCounts``), each month weighted
    ``decay ** age`` where age counts from this month's list (age 0 when it is measured): the
    latest period of the evidence is age 1, the one before age 2, and so on."""
    periods = sorted({c.period for c in evidence}, reverse=True)
    age = {p: i + 1 for i, p in enumerate(periods)}
    have: dict[str, float] = {}
    for c in evidence:
        have[c.action] = have.get(c.action, 0.0) + decay ** age[c.period] * c.control
    return have


def raise_controls(customer_ids: np.ndarray, action: np.ndarray, listed: np.ndarray, control: np.ndarray,
                   shares: Mapping[str, float], *, seed: int) -> np.ndarray:
    """The control group ``control`` topped up per action: within each action's listed customers,
    those with the smallest keys not yet held out until it holds ``round(share x n)`` (never fewer
    than it had). The result depends only on the ids, actions, base group and seed."""
    ids = np.asarray(customer_ids)
    act = np.asarray(action).astype(str)
    listed = np.asarray(listed, dtype=bool)
    out = np.asarray(control, dtype=bool) & listed
    if not (ids.shape == act.shape == listed.shape == out.shape):
        raise DataError(f"raise_controls: ids {ids.shape}, actions {act.shape}, listed {listed.shape} and control "
                        f"{out.shape} differ.")
    out = out.copy()
    keys = text = None
    for a, share in sorted(shares.items()):
        if not a:
            continue
        rows = np.flatnonzero(listed & (act == a))
        k = int(math.floor(float(share) * rows.size + 0.5))
        missing = k - int(out[rows].sum())
        if missing <= 0:
            continue
        if keys is None:
            keys = _keys(ids, seed)
            text = np.array([str(i) for i in ids.tolist()])
        free = rows[~out[rows]]
        order = free[np.lexsort((text[free], keys[free]))]
        out[order[:missing]] = True
    return out


def allocate_controls(customer_ids: np.ndarray, action: np.ndarray, listed: np.ndarray, control: np.ndarray,
                      evidence: Sequence, *, base_share: float, min_control: int, months: int, decay: float,
                      max_share: float, seed: int) -> tuple[np.ndarray, ControlAllocation]:
    """This month's control group with every action's share raised as needed (module docstring):
    the topped-up mask and the per-action :class:`ControlPlan` (arms counted on ``action`` over
    ``listed``; ``action`` "" is no action and is never raised)."""
    act = np.asarray(action).astype(str)
    listed = np.asarray(listed, dtype=bool)
    arms = {a: int((listed & (act == a)).sum()) for a in sorted(set(act[listed].tolist())) if a}
    have = decayed_controls(evidence, decay=decay)
    if base_share <= 0.0:  # no control group at all: nothing to measure, nobody held out
        plans = tuple(ControlPlan(action=a, arm=n, share=0.0, control=0, have=float(have.get(a, 0.0)),
                                  measurable_in=_months_until(float(have.get(a, 0.0)), 0.0, min_control, decay)
                                  if n else None) for a, n in arms.items())
        return np.asarray(control, dtype=bool).copy(), ControlAllocation(plans, min_control, months, base_share)
    plans = control_allocation(arms, have, base_share=base_share, min_control=min_control, months=months,
                               decay=decay, max_share=max(max_share, base_share))
    raised = {p.action: p.share for p in plans if p.share > base_share}
    mask = raise_controls(customer_ids, act, listed, control, raised, seed=seed) if raised else \
        np.asarray(control, dtype=bool).copy()
    return mask, held_out(ControlAllocation(plans, min_control, months, base_share), act, listed, mask, decay=decay)


def held_out(allocation: ControlAllocation, action: np.ndarray, listed: np.ndarray, control: np.ndarray, *,
             decay: float) -> ControlAllocation:
    """``allocation`` with each action's arm, control customers and ``measurable_in`` counted on
    the list as sent (``action`` and ``control`` over ``listed``)."""
    act = np.asarray(action).astype(str)
    listed = np.asarray(listed, dtype=bool)
    ctl = np.asarray(control, dtype=bool) & listed
    out = []
    for p in allocation.plans:
        arm = int((listed & (act == p.action)).sum())
        held = int((ctl & (act == p.action)).sum())
        out.append(ControlPlan(action=p.action, arm=arm, share=p.share, control=held, have=p.have,
                               measurable_in=_months_until(p.have, float(held), allocation.min_control, decay)
                               if arm else (0 if p.have >= allocation.min_control - 1e-9 else None)))
    return replace(allocation, plans=tuple(out))
