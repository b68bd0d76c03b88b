"""Result objects of model evaluation, monitoring, campaign measurement and the playbook.

Computations in ``churnlens.evaluation``, ``churnlens.monitoring`` and
``churnlens.playbook`` return these; charts in ``reports.charts`` draw them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.frozen import array_eq


# --- model quality -------------------------------------------------------------------------

@array_eq
@dataclass(frozen=True, eq=False)
class Curve:
    """A curve as sampled points (x, y) plus the thresholds that produced them."""

    x: np.ndarray
    y: np.ndarray
    thresholds: np.ndarray


@dataclass(frozen=True)
class DecileRow:
    decile: int  # 1 = riskiest tenth
    customers: int
    churners: int
    rate: float
    cumulative_capture: float  # share of all churners in deciles 1..decile
    lift: float  # rate / overall rate
    cumulative_lift: float
    min_score: float
    max_score: float


@dataclass(frozen=True)
class Confusion:
    """Confusion matrix at one operating point."""

    rule: str  # e.g. "score >= 0.50" or "top 10%"
    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float
    rule_zh: str = ""  # ``rule`` in Simplified Chinese (added by the reports engineer)


@dataclass(frozen=True)
class CalibrationRow:
    bin: int
    customers: int
    mean_score: float
    observed_rate: float


@dataclass(frozen=True)
class ModelQuality:
    """Bank-style model performance on labelled data.

    ``auc``/``ks`` are None (with ``note``) when only one class is present.
    """

    n: int
    n_churners: int
    auc: Optional[float]
    roc: Curve  # x = FPR, y = TPR
    ks: Optional[float]
    ks_threshold: Optional[float]
    ks_curve: Curve  # x = threshold, y = TPR - FPR
    deciles: tuple[DecileRow, ...]
    confusion: tuple[Confusion, ...]  # at the operating threshold, then at top k%
    calibration: tuple[CalibrationRow, ...]
    brier: float
    note: str = ""
    note_zh: str = ""  # ``note`` in Simplified Chinese


@dataclass(frozen=True)
class ModelComparisonRow:
    model: str  # file name
    sha256: str
    top_decile_lift: float
    auc: Optional[float]
    ks: Optional[float]
    champion: bool


@dataclass(frozen=True)
class ModelComparison:
    rows: tuple[ModelComparisonRow, ...]  # champion first
    verdict_en: str
    verdict_zh: str


# --- stability -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PSIBin:
    label: str  # "[0.12, 0.25)" or a category
    reference_share: float
    current_share: float
    contribution: float


@dataclass(frozen=True)
class PSIResult:
    name: str  # "score" or a feature
    psi: float
    band: str  # "stable" (< 0.1) | "moderate" (0.1-0.25) | "shift" (>= 0.25)
    bins: tuple[PSIBin, ...]


@dataclass(frozen=True)
class DriverDrift:
    feature: str
    previous_share: float
    current_share: float
    change: float
    ci_low: float  # bootstrap 95% CI of the change
    ci_high: float


@dataclass(frozen=True)
class Monitoring:
    reference: str  # what was compared against, in words
    score_psi: PSIResult
    feature_psi: tuple[PSIResult, ...]  # sorted by psi descending
    driver_drift: tuple[DriverDrift, ...]  # sorted by |change| descending
    reference_zh: str = ""  # ``reference`` in Simplified Chinese (empty: ``reference`` is shown)


# --- campaign -------------------------------------------------------------------------------

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
    method: str
    method_zh: str = ""  # ``method`` in Simplified Chinese


# --- playbook -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlannedAction:
    rule_index: int  # position in the playbook
    driver: str
    action_en: str
    action_zh: str
    channel: str
    cost: float
    uplift: float
    priority: int
    customers: int = 0  # targets of the segment whose own action is this rule
    segment_level: bool = True  # matches the segment's signature (else only customer-level)


@dataclass(frozen=True)
class SegmentPlan:
    segment_key: str
    actions: tuple[PlannedAction, ...]  # by priority, then rule order
    target_count: int  # customers to contact (excluding control and do-not-contact)
    control_count: int
    value_at_risk: float
    expected_retained_value: float  # sum over targets of score x value x best uplift
    cost: float
    no_rule: bool  # no playbook rule matched: flagged in the report


@array_eq
@dataclass(frozen=True, eq=False)
class Targeting:
    """Who is on this month's retention list.

    Attributes
    ----------
    listed : ndarray of bool, shape (n,)
        Churners on the list (do-not-contact customers removed), control group included.
    control : ndarray of bool, shape (n,)
        Held-out control group (subset of ``listed``): on the list, flagged, not contacted.
    excluded : ndarray of bool, shape (n,)
        Churners removed because they are on the do-not-contact list.
    """

    listed: np.ndarray
    control: np.ndarray
    excluded: np.ndarray

    @property
    def target(self) -> np.ndarray:
        """Customers to contact: listed and not in the control group."""
        return self.listed & ~self.control


@array_eq
@dataclass(frozen=True, eq=False)
class RetentionList:
    """The retention list table plus the counts the report states next to it.

    ``frame`` columns: customer_id, segment, score, value, expected_value_at_risk,
    reason_1..reason_k (k >= 3), action, channel, control_group.
    """

    frame: "pd.DataFrame"
    excluded_do_not_contact: int
    control_count: int
