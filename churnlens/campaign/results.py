"""Result types of churnlens.campaign.effect: numbers and codes only; reports turn them into words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.notes import Note
from churnlens.frozen import array_eq

@dataclass(frozen=True)
class ArmEffect:
    """Treatment vs control in one population (all, or one segment)."""

    population: str  # "all" or a segment key
    treated: int
    control: int
    treated_churn_rate: float
    control_churn_rate: float
    absolute_reduction: float  # control - treated
    relative_reduction: Optional[float]
    ci_low: float  # 95% CI of absolute_reduction
    ci_high: float
    p_value: Optional[float]
    retained_value: float
    test: str = ""  # which test gave p_value: "two-proportion z-test" | "Fisher exact" | ...


@dataclass(frozen=True)
class CampaignEffect:
    overall: ArmEffect
    by_segment: tuple[ArmEffect, ...]
    method: Note  # how the effect was estimated (campaign.method: Newcombe interval, z / Fisher test)
    # where the campaign's customers were found: in this month's table, or only in last month's
    # published scores (customers who have left since: churned customers count in the effect)
    n_in_data: int = 0
    n_previous_only: int = 0


@dataclass(frozen=True)
class UpliftEstimate:
    """Measured uplift of one action in one segment, shrunk toward the playbook's assumption.

    ``uplift`` is the share of would-be churners an action retains (the playbook's meaning):
    expected churn of a contacted customer = p(churn) x (1 - uplift). ``code``
    (churnlens.campaign.pooled): ``measured`` (the data carry most of the weight and the cell has
    the minimum contacted and control customers), ``pooled`` (data carry most of the weight, mostly
    other segments'), ``assumed`` (the prior carries most of the weight: an assumption, not a
    measurement). Counts are decayed sums over the months pooled.
    """

    segment: str  # segment key ("" = all segments)
    action: str  # action key (the rule's English text: machine words)
    treated: int
    control: int
    treated_churners: int
    control_churners: int
    would_be_churners: float  # treated x control churn rate: the Beta-binomial's trials
    retained: float  # would_be_churners - treated_churners, clipped to [0, would_be_churners]
    measured_uplift: Optional[float]  # 1 - treated rate / control rate (None when control rate is 0)
    assumed_uplift: float  # the playbook's ``uplift``
    prior_strength: float
    posterior_mean: float
    posterior_low: float  # central credible interval of the posterior (churnlens.campaign.pooled)
    posterior_high: float
    code: str
    own_weight: float = 0.0  # 1 - var(posterior) / var(posterior without this cell's own data)
    data_weight: float = 0.0  # 1 - var(posterior) / var(prior): share of the weight carried by data
    months: int = 1  # months of evidence pooled
    plan_value: float = float("nan")  # uplift the plan uses (posterior mean or the configured quantile)


@dataclass(frozen=True)
class ArmCounts:
    """One month's evidence of a segment x action arm (``tables/uplift_evidence.csv``)."""

    period: str
    segment: str
    action: str
    treated: int
    treated_churners: int
    control: int
    control_churners: int


@array_eq
@dataclass(frozen=True, eq=False)
class ActionPosterior:
    """Grid posterior pieces of one action (churnlens.campaign.pooled.GRID, TAUS) for joint draws."""

    action: str
    segments: tuple[str, ...]
    loglik: np.ndarray  # (S, G): each segment's decayed log-likelihood of u plus the prior's pseudo-data
    log_joint: np.ndarray  # (T, G): log posterior of (tau, mu), unnormalised
    log_prior: np.ndarray  # (G,): the prior's pseudo-data (a segment without evidence: prior x Normal(mu, tau))


@dataclass(frozen=True)
class PooledUplift:
    """Uplift pooled over months (decay) and segments (hierarchical), churnlens.campaign.pooled."""

    estimates: tuple[UpliftEstimate, ...]  # per segment x action, then ("", action) = the action's mean
    posteriors: tuple[ActionPosterior, ...]
    periods: tuple[str, ...]  # newest first (this month first)
    decay: float
    prior_strength: float  # in contacted customers
    level: float
    criterion: str  # "mean" | "quantile": what plan_value is
    quantile: float


@dataclass(frozen=True)
class MeasuredCampaign:
    """Last month's campaign measured from its own treatment/control assignment.

    Arms: ``by_action`` compares contacted customers of an action with control customers who
    were assigned the same action (and not contacted); ``cells`` does it per segment x action.
    """

    overall: ArmEffect
    by_segment: tuple[ArmEffect, ...]
    by_action: tuple[ArmEffect, ...]  # population = action key
    cells: tuple[ArmEffect, ...]  # population = "<segment> | <action>"
    uplift: tuple[UpliftEstimate, ...]  # per segment x action, then per action over all segments
    level: float
    evidence: tuple["ArmCounts", ...] = ()  # this month's counts (tables/uplift_evidence.csv)
    pooled: Optional["PooledUplift"] = None  # the posterior (draws for the plan's money)
    method: Note = Note.of("uplift.method")  # effect: Newcombe interval; uplift: Beta-binomial shrinkage


@dataclass(frozen=True)
class UpliftEvidence:
    """Every month's counts behind this month's uplift (earlier months' under this month's
    segment keys, then last month's list): ``tables/uplift_evidence.csv``, which next month reads."""

    counts: tuple  # ArmCounts
