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
    expected churn of a contacted customer = p(churn) x (1 - uplift). ``code``: ``measured``
    (enough evidence: ``posterior_mean`` replaces the assumed uplift), ``too_few_treated``,
    ``too_few_control``, ``no_control_churn`` (no would-be churner observed: no evidence).
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
    posterior_low: float  # central credible interval of the Beta posterior
    posterior_high: float
    code: str


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
    method: Note = Note.of("uplift.method")  # effect: Newcombe interval; uplift: Beta-binomial shrinkage
