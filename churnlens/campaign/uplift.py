"""Measured campaign effect and uplift from last month's own treatment/control assignment.

churnlens writes every month's list with a seeded control group (``control_group`` in
``retention_list.csv`` and ``scores.parquet``) and each listed customer's action, control
customers included (the action they *would* have received). With the outcomes of those
customers:

Effects (difference in churn rate, control - treated, Newcombe 95% interval, p-value, retained
value; :func:`churnlens.campaign.effect.arm_effect`) per action arm (treated customers of an
action vs the control customers assigned the same action: a randomised comparison inside the
arm) and per segment x action; for all listed customers and per segment, populations that mix
actions whose control shares differ (an action short of evidence gets a raised share,
:mod:`churnlens.actions.control`), each action's own arms compared and weighted by its
contacted customers (:func:`churnlens.campaign.effect.stratified_effect`).

Uplift (the playbook's meaning: the share of would-be churners an action retains) per segment x
action and per action: the hierarchical model of :mod:`churnlens.campaign.pooled` -- evidence pooled
across months (earlier months' counts passed as ``history``, weighted ``decay ** age``) and across
segments (partial pooling toward the action's mean), the control rate's uncertainty integrated
out, the playbook's ``uplift`` as a prior worth ``prior_strength`` contacted customers. Codes:
``measured`` / ``pooled`` / ``assumed`` (the last: the prior carries most of the weight -- an
assumption, not a measurement). The plan uses every estimate's ``plan_value`` (posterior mean or
the configured quantile; :func:`uplift_overrides`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Optional, Sequence

import numpy as np

from churnlens.campaign.effect import arm_effect, stratified_effect
from churnlens.campaign.pooled import arm_counts, plan_uplift, pooled_uplift
from churnlens.campaign.results import ArmCounts, ArmEffect, MeasuredCampaign, UpliftEstimate
from churnlens.errors import DataError

__all__ = ["measure_campaign", "uplift_estimate", "uplift_overrides"]


def uplift_estimate(segment: str, action: str, churned: np.ndarray, treated: np.ndarray, *, assumed: float,
                    prior_strength: float = 30.0, min_treated: int = 30, min_control: int = 30,
                    level: float = 0.95) -> UpliftEstimate:
    """Uplift of one arm alone (one month, one segment): :func:`churnlens.campaign.pooled.pooled_uplift`
    on its counts.

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
    c = ArmCounts(period="", segment=segment or "_", action=action, treated=int(treated.sum()),
                  treated_churners=int(churned[treated].sum()), control=int((~treated).sum()),
                  control_churners=int(churned[~treated].sum()))
    pooled = pooled_uplift((c,), current="", assumed={action: assumed}, prior_strength=prior_strength,
                           min_treated=min_treated, min_control=min_control, level=level)
    e = pooled.estimates[0]
    return replace(e, segment=segment)


def _effects(keys: np.ndarray, churned, treated, value, strata: Optional[np.ndarray] = None) -> tuple[ArmEffect, ...]:
    out = []
    for k in sorted(set(keys.tolist()) - {""}):
        m = keys == k
        if treated[m].any() and (~treated[m]).any():
            v = None if value is None else value[m]
            out.append(arm_effect(k, churned[m], treated[m], v) if strata is None
                       else stratified_effect(k, churned[m], treated[m], strata[m], v))
    return tuple(out)


def measure_campaign(churned: np.ndarray, control: np.ndarray, segment: np.ndarray, action: np.ndarray,
                     value: Optional[np.ndarray] = None, *, assumed: Mapping[str, float],
                     prior_strength: float = 30.0, min_treated: int = 30, min_control: int = 30,
                     level: float = 0.95, history: Sequence[ArmCounts] = (), period: str = "",
                     decay: float = 0.8, criterion: str = "mean", quantile: float = 0.2) -> MeasuredCampaign:
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
    history : sequence of ArmCounts
        Earlier months' counts (:func:`churnlens.campaign.pooled.read_evidence`), already under
        this month's segment keys (:func:`churnlens.campaign.pooled.remap_segments`); their
        periods must sort before ``period``.
    period : str
        The period of this list (the evidence's label; ``uplift_evidence`` rows).
    decay, criterion, quantile
        ``loop.uplift_decay``, ``loop.uplift_criterion``, ``loop.uplift_quantile``.

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
    evidence = arm_counts(churned, ~treated, seg, act, period=period)
    earlier = tuple(c for c in history if c.period < period or not period)
    pooled = pooled_uplift(evidence + earlier, current=period, assumed=assumed, prior_strength=prior_strength,
                           decay=decay, min_treated=min_treated, min_control=min_control, level=level,
                           criterion=criterion, quantile=quantile)
    return MeasuredCampaign(
        # the control share differs by action (every action gets measured): populations mixing
        # actions compare each action's own arms, weighted by its contacted customers
        overall=stratified_effect("all", churned, treated, act, val),
        by_segment=_effects(seg, churned, treated, val, act),
        by_action=_effects(act, churned, treated, val), cells=_effects(cell_key, churned, treated, val),
        uplift=tuple(sorted(pooled.estimates, key=lambda u: (u.segment == "", u.segment, u.action))), level=level,
        evidence=evidence, pooled=pooled)


def uplift_overrides(measured: Optional[MeasuredCampaign]) -> dict[tuple[str, str], float]:
    """Uplift to use this month per (segment key, action key); ``("", action)`` for segments
    without evidence of the action: every estimate's ``plan_value`` (the posterior mean, or the
    configured quantile). ``assumed`` estimates sit at the playbook's assumption anyway."""
    if measured is None:
        return {}
    if measured.pooled is not None:
        return plan_uplift(measured.pooled)
    return {(u.segment, u.action): u.posterior_mean for u in measured.uplift if u.code == "measured"}
