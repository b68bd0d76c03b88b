"""Result types of churnlens.evaluation.quality: numbers and codes only; reports turn them into words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.notes import Note
from churnlens.frozen import array_eq

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

    rule: Note  # quality.rule_score (threshold) or quality.rule_top (percent): "score >= 0.50", "top 10%"
    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float


@dataclass(frozen=True)
class CalibrationRow:
    bin: int
    customers: int
    mean_score: float
    observed_rate: float


@dataclass(frozen=True)
class ModelQuality:
    """Bank-style model performance on labelled data.

    ``auc``/``ks`` are None (with a note) when only one class is present.
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
    notes: tuple[Note, ...] = ()  # quality.equal_scores, quality.only_churners, quality.only_non_churners, quality.no_churners


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
    verdict: Note  # compare.only_one or compare.champion (with why: compare.higher / compare.tie)


# --- the monthly loop: uncertainty, back-test, champion/challenger with evidence ---------------

@dataclass(frozen=True)
class Estimate:
    """A figure with its bootstrap percentile interval (``low``/``high`` NaN without one)."""

    value: float
    low: float
    high: float
    n_boot: int = 0  # replicates the interval was built from


@dataclass(frozen=True)
class DeLongTest:
    """DeLong z-test of the difference of two correlated AUCs (same customers)."""

    auc_a: float
    auc_b: float
    difference: float  # auc_a - auc_b
    se: float
    z: float
    p_value: float
    ci_low: float  # normal interval of the difference
    ci_high: float


@array_eq
@dataclass(frozen=True, eq=False)
class Published:
    """What last month's report folder published about each scored customer.

    Attributes
    ----------
    customer_ids : ndarray of str, shape (n,)
    score : ndarray of float64, shape (n,)
    listed : ndarray of bool, shape (n,)
        On last month's retention list (control group included).
    control : ndarray of bool, shape (n,)
        Held-out control group (subset of ``listed``).
    segment : ndarray of str, shape (n,)
        Segment key ("" for none).
    action : ndarray of str, shape (n,)
        Action key (the rule's English action text, machine words; "" for none).
    channel : ndarray of str, shape (n,)
    value : ndarray of float64, shape (n,)
        Value at the time (NaN when unknown).
    source : str
        ``scores`` (``scores.parquet``: every scored customer) or ``population_sample``
        (an older folder: the uniform sample of ``attributions.parquet`` plus the list).
    """

    customer_ids: np.ndarray
    score: np.ndarray
    listed: np.ndarray
    control: np.ndarray
    segment: np.ndarray
    action: np.ndarray
    channel: np.ndarray
    value: np.ndarray
    source: str
    sample_rows: np.ndarray  # bool (n,): rows usable for the ranking figures (all with ``scores``)


@dataclass(frozen=True)
class HitRate:
    """Observed churn rate of a fixed group of last month's customers."""

    group: str  # "list", "list_control", "list_treated", "not_listed" or "segment"
    key: str  # segment key for group "segment", else ""
    customers: int
    churners: int
    rate: Estimate


@dataclass(frozen=True)
class BackTest:
    """Last month's published scores and list measured against what happened.

    ``basis`` is ``backtest`` (scores published before the outcomes were known) or
    ``in_sample`` (labels found in the scored table itself). ``notes`` are warnings
    (``backtest.population_sample_only``, ``backtest.few_outcomes``, ``backtest.outcomes_unmatched``,
    ``backtest.scores_without_outcome``, ``backtest.looks_like_training_data``,
    ``backtest.near_perfect_separation``).
    """

    basis: str
    score_source: str  # Published.source (or "this_table" for in-sample)
    outcome_source: str  # "outcomes_file" | "label_column"
    n_published: int
    n_matched: int
    n_outcomes_unmatched: int  # outcome rows with no published score
    quality: ModelQuality  # exact figures (sklearn/scipy definitions) on the matched customers
    auc: Estimate
    ks: Estimate
    brier: Estimate
    top_decile_lift: Estimate
    decile_lift: tuple[Estimate, ...]  # parallel to quality.deciles
    calibration_rate: tuple[Estimate, ...]  # observed rate, parallel to quality.calibration
    hit_rates: tuple[HitRate, ...]  # list groups, then segments by key
    notes: tuple[Note, ...]
    level: float
    seed: int

    @property
    def codes(self) -> tuple[str, ...]:
        """The warnings' codes without the ``backtest.`` prefix."""
        return tuple(n.code.split(".", 1)[1] for n in self.notes)


@dataclass(frozen=True)
class ModelEvidence:
    """One model of a champion/challenger comparison, every metric with its interval."""

    model: str
    sha256: str
    auc: Estimate
    ks: Estimate
    brier: Estimate
    lift_at_k: Estimate
    expected_net_value: Estimate  # realised net value of contacting the model's top k (NaN without value)
    rank_value: float  # the ranking metric's value
    champion: bool
    vs_champion: Optional[DeLongTest]  # champion AUC - this AUC (None for the champion)
    significant: Optional[bool]  # champion significantly better (p < 1 - level); None for the champion


@dataclass(frozen=True)
class EvidenceComparison:
    """Champion/challenger with evidence. ``code``: ``single_model``, ``champion_significant``
    (better on AUC than every challenger by DeLong's test) or ``champion_not_significant``;
    ``verdict`` says it as a note (``evaluate.<code>``)."""

    rows: tuple[ModelEvidence, ...]  # champion first, then by the ranking metric
    rank_by: str  # "lift_at_k" | "auc" | "ks" | "expected_net_value"
    k: float
    level: float
    code: str
    n: int
    n_churners: int
    verdict: Note


@dataclass(frozen=True)
class InSample:
    """Figures measured on labels inside the scored table (``basis`` "in_sample"): the model
    has seen these customers' outcomes when it was trained on the same table."""

    figures: BackTest
@dataclass(frozen=True)
class ScoreBand:
    low: float  # probability band [low, high)
    high: float
    customers: int
    churners: int  # selected churners
    listed: int  # on the retention list (control group included)
    observed: Optional[int]  # observed churners (labels), None without a label column

    @property
    def observed_rate(self) -> Optional[float]:
        return None if self.observed is None or self.customers == 0 else self.observed / self.customers


@dataclass(frozen=True)
class ScoreDistribution:
    """The book's predicted churn probability in bands: customers, selected churners, listed
    customers and observed churn per band."""

    bands: tuple  # ScoreBand
    n: int
    labelled: bool


FOUR_FIFTHS = 0.8  # a group's rate below 0.8 x the largest group's is flagged (the four-fifths reference)
MIN_GROUP = 30  # groups smaller than this are shown, never flagged
PROXY_ASSOCIATION = 0.3  # Cramer's V / correlation ratio from which a feature is a proxy of a protected one


@dataclass(frozen=True)
class GroupRates:
    group: str  # level, band code ("<25", "25-35", ">=65") or "missing"
    n: int  # customers of the population sample
    selection_rate: float
    contact_rate: float
    action_rate: float
    selection_ratio: float  # against the reference group; NaN when the reference rate is 0
    contact_ratio: float
    action_ratio: float
    listed: int  # listed customers (all attributed rows, not only the sample)
    mean_list_position: float  # 0 = top of the list, 1 = bottom; NaN when none listed
    value_share: float  # share of the list's expected value at risk (NaN without a value column)
    observed_rate: Optional[float] = None  # churn observed in the sample (labels only)
    mean_score: Optional[float] = None
    auc: Optional[float] = None
    flags: tuple[str, ...] = ()  # "selection_low", "selection_high", "contact_low", ... (four-fifths both ways)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


@dataclass(frozen=True)
class ProxyCheck:
    feature: str
    measure: str  # "cramers_v" | "correlation_ratio"
    association: float
    attribution_share: float  # of the book's mean |attribution| over all source features


@dataclass(frozen=True)
class Composition:
    segment: str
    group: str
    n: int  # the segment's churners in the group
    share: float  # of the segment
    book_share: float  # the group's share of the population sample


@dataclass(frozen=True)
class AttributeFairness:
    attribute: str  # source feature
    kind: str  # "protected" | "age_band"
    reference: str  # the largest group
    groups: tuple[GroupRates, ...]
    proxies: tuple[ProxyCheck, ...]  # association >= PROXY_ASSOCIATION, strongest first
    composition: tuple[Composition, ...]

    @property
    def flagged(self) -> bool:
        return any(g.flagged for g in self.groups)


@dataclass(frozen=True)
class Fairness:
    attributes: tuple[AttributeFairness, ...]
    n_population: int
    has_labels: bool
    four_fifths: float = FOUR_FIFTHS
    proxy_association: float = PROXY_ASSOCIATION
    min_group: int = MIN_GROUP

    @property
    def flagged(self) -> tuple[tuple[str, str], ...]:
        """(attribute, group) of every flagged group."""
        return tuple((a.attribute, g.group) for a in self.attributes for g in a.groups if g.flagged)
