"""Measured campaign effect and uplift from last month's own treatment/control assignment.

churnlens writes every month's list with a seeded control group (``control_group`` in
``retention_list.csv`` and ``scores.parquet``) and each listed customer's action, control
customers included (the action they *would* have received). With the outcomes of those
customers:

Effects (difference in churn rate, control - treated, Newcombe 95% interval, p-value, retained
value; :func:`churnlens.campaign.effect.arm_effect`) for all listed customers, per segment,
per action arm (treated customers of an action vs the control customers assigned the same
action: a randomised comparison inside the arm) and per segment x action.

Uplift (the playbook's meaning: the share of would-be churners an action retains) per segment x
action and per action, by Beta-binomial shrinkage toward the playbook's assumed ``uplift`` u0:

* prior ``Beta(a0, b0)`` with ``a0 = max(k u0, 0.5)``, ``b0 = max(k (1 - u0), 0.5)``, where the
  prior strength ``k`` (``loop.uplift_prior_strength``, default 50) counts pseudo would-be
  churners (the 0.5 floors keep an assumed 0 or 1 a proper prior);
* data: the ``E = treated x control churn rate`` treated customers who would have churned
  without contact ("trials"), of whom ``R = clip(E - treated churners, 0, E)`` were retained;
* posterior ``Beta(a0 + R, b0 + E - R)``: mean ``(a0 + R) / (a0 + b0 + E)``, central credible
  interval from ``scipy.stats.beta.ppf``. The interval treats the control rate as known, so it
  is narrower than the truth when the control arm is small: hence the evidence thresholds.

The estimate replaces the assumed uplift in this month's expected values (plan, budget) only
with enough evidence: at least ``min_treated`` treated and ``min_control`` control customers
and at least one control churner (code ``measured``); per segment x action first, else the
action's estimate over all segments, else the playbook's value.
"""

from __future__ import annotations

from typing import Mapping, Optional

import numpy as np
from scipy.stats import beta

from churnlens.campaign.effect import arm_effect
from churnlens.campaign.results import ArmEffect, MeasuredCampaign, UpliftEstimate
from churnlens.errors import DataError

__all__ = ["measure_campaign", "uplift_estimate", "uplift_overrides"]


def uplift_estimate(segment: str, action: str, churned: np.ndarray, treated: np.ndarray, *, assumed: float,
                    prior_strength: float = 50.0, min_treated: int = 30, min_control: int = 30,
                    level: float = 0.95) -> UpliftEstimate:
    """Beta-binomial uplift of one arm (see the module docstring).

    Parameters
    ----------
    churned : ndarray of 0/1, shape (m,)
    treated : ndarray of bool, shape (m,)
        True = contacted, False = control.
    assumed : float in [0, 1]
        The playbook's uplift (prior mean).
    """
    churned = np.asarray(churned, dtype=np.int64)
    treated = np.asarray(treated, dtype=bool)
    n1, n0 = int(treated.sum()), int((~treated).sum())
    x1, x0 = int(churned[treated].sum()), int(churned[~treated].sum())
    p0 = x0 / n0 if n0 else 0.0
    trials = n1 * p0
    retained = float(min(max(trials - x1, 0.0), trials))
    a0, b0 = max(prior_strength * assumed, 0.5), max(prior_strength * (1.0 - assumed), 0.5)
    a, b = a0 + retained, b0 + trials - retained
    lo, hi = beta.ppf([(1 - level) / 2, (1 + level) / 2], a, b)
    if n1 < min_treated:
        code = "too_few_treated"
    elif n0 < min_control:
        code = "too_few_control"
    elif x0 == 0:
        code = "no_control_churn"
    else:
        code = "measured"
    return UpliftEstimate(
        segment=segment, action=action, treated=n1, control=n0, treated_churners=x1, control_churners=x0,
        would_be_churners=float(trials), retained=retained,
        measured_uplift=(1.0 - (x1 / n1) / p0) if (p0 > 0 and n1) else None,
        assumed_uplift=float(assumed), prior_strength=float(prior_strength), posterior_mean=float(a / (a + b)),
        posterior_low=float(lo), posterior_high=float(hi), code=code)


def _effects(keys: np.ndarray, churned, treated, value) -> tuple[ArmEffect, ...]:
    out = []
    for k in sorted(set(keys.tolist()) - {""}):
        m = keys == k
        if treated[m].any() and (~treated[m]).any():
            out.append(arm_effect(k, churned[m], treated[m], None if value is None else value[m]))
    return tuple(out)


def measure_campaign(churned: np.ndarray, control: np.ndarray, segment: np.ndarray, action: np.ndarray,
                     value: Optional[np.ndarray] = None, *, assumed: Mapping[str, float],
                     prior_strength: float = 50.0, min_treated: int = 30, min_control: int = 30,
                     level: float = 0.95) -> MeasuredCampaign:
    """Effects and uplift of last month's list (listed customers with an outcome only).

    Parameters
    ----------
    churned : ndarray of 0/1, shape (m,)
    control : ndarray of bool, shape (m,)
        Control group (not contacted); the others were contacted.
    segment, action : ndarray of str, shape (m,)
        Segment key and action key ("" for none: such customers count only overall).
    value : ndarray of float, shape (m,), optional
        Customer value (for retained value).
    assumed : mapping of action key -> float
        The playbook's uplift of each action (0 for an action no longer in the playbook).

    Raises
    ------
    DataError
        No contacted or no control customer among the listed customers.
    """
    churned = np.asarray(churned, dtype=np.int64)
    treated = ~np.asarray(control, dtype=bool)
    seg = np.asarray(segment).astype(str)
    act = np.asarray(action).astype(str)
    val = None if value is None else np.nan_to_num(np.asarray(value, dtype=np.float64), nan=0.0)
    if not treated.any() or treated.all():
        raise DataError(f"Last month's list has {int(treated.sum())} contacted and {int((~treated).sum())} control "
                        "customers with an outcome; measuring the campaign needs both (report.control_share > 0).")
    cell_key = np.where((seg != "") & (act != ""), np.char.add(np.char.add(seg, " | "), act), "")
    kw = dict(prior_strength=prior_strength, min_treated=min_treated, min_control=min_control, level=level)
    uplift = []
    for key in sorted(set(cell_key.tolist()) - {""}):
        m = cell_key == key
        s, a = key.split(" | ", 1)
        uplift.append(uplift_estimate(s, a, churned[m], treated[m], assumed=float(assumed.get(a, 0.0)), **kw))
    for a in sorted(set(act.tolist()) - {""}):
        m = act == a
        uplift.append(uplift_estimate("", a, churned[m], treated[m], assumed=float(assumed.get(a, 0.0)), **kw))
    return MeasuredCampaign(
        overall=arm_effect("all", churned, treated, val), by_segment=_effects(seg, churned, treated, val),
        by_action=_effects(act, churned, treated, val), cells=_effects(cell_key, churned, treated, val),
        uplift=tuple(uplift), level=level)


def uplift_overrides(measured: Optional[MeasuredCampaign]) -> dict[tuple[str, str], float]:
    """Uplift to use this month per (segment key, action key); ``("", action)`` for the
    action over all segments. Only estimates with code ``measured``."""
    if measured is None:
        return {}
    return {(u.segment, u.action): u.posterior_mean for u in measured.uplift if u.code == "measured"}
