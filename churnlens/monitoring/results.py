"""Result types of churnlens.monitoring.stability: numbers and codes only; reports turn them into words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.notes import Note
from churnlens.frozen import array_eq

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
    reference: Note  # what was compared against: monitoring.reference (folder, period) / monitoring.reference_unlabelled (folder)
    score_psi: PSIResult
    feature_psi: tuple[PSIResult, ...]  # sorted by psi descending
    driver_drift: tuple[DriverDrift, ...]  # sorted by |change| descending


@dataclass(frozen=True)
class SegmentSize:
    key: str
    size: int
    features: tuple[str, ...]
    signature: tuple[float, ...]  # mean risk-raising attribution share per feature (matched by cosine)


@dataclass(frozen=True)
class MonthSummary:
    """The few numbers of one month's report folder the trend page needs (``month_summary.json``).

    Back-test and campaign figures describe the *previous* month's scores and list, measured in
    this month's run; None when that run had no outcomes / no list to measure.
    """

    period: str
    folder: str
    n_customers: int
    score_psi: Optional[float]
    auc: Optional[tuple[float, float, float]]  # value, low, high (back-test)
    ks: Optional[tuple[float, float, float]]
    segments: tuple[SegmentSize, ...]
    drivers: tuple[tuple[str, float], ...]  # (feature, share of mean |attribution|), descending
    campaign: Optional[tuple[float, float, float, float]]  # reduction, ci low, ci high, retained value
    level: float = 0.95  # confidence level of the auc / ks intervals (loop.level of that month's run)
    # segment lineage from the month before: (previous key, this month's key, share of the previous
    # segment's members that went to it) per link (Migration.key_map); None when that run had no
    # previous month's segments (the trend then matches that step by signature)
    lineage: Optional[tuple[tuple[str, str, float], ...]] = None


@dataclass(frozen=True)
class TrendEvent:
    """A merge or split of segments in the trend's window (codes; the trend page words them):
    ``("2026-03", "merged", ("S1", "S3"), ("S3",))``: in 2026-03, S1 and S3 merged into S3."""

    period: str
    code: str  # "merged" | "split"
    previous: tuple[str, ...]
    current: tuple[str, ...]


@dataclass(frozen=True)
class TrendPoint:
    period: str
    n_customers: int
    auc: Optional[tuple[float, float, float]]
    ks: Optional[tuple[float, float, float]]
    score_psi: Optional[float]
    psi_verdict: str  # "green" | "amber" | "red" | "none" (not measured)
    auc_drop: Optional[float]  # baseline AUC (pooled earlier months of the window) - this AUC
    auc_verdict: str
    campaign: Optional[tuple[float, float, float, float]]
    auc_baseline: Optional[float] = None  # inverse-variance pooled AUC of the window's earlier months
    auc_drop_se: Optional[float] = None  # standard error of auc_drop (baseline's and this month's)
    auc_drop_chance: Optional[float] = None  # largest drop chance explains: z x auc_drop_se
    psi_chance: Optional[float] = None  # largest score PSI chance explains for the two months' sizes


@dataclass(frozen=True)
class SeriesRow:
    """One segment (matched by signature month to month) or one driver over the months."""

    key: str  # segment key of the latest month it appears in, or the feature
    values: tuple[Optional[float], ...]  # per period, None where absent
    # segments: the keys of the row's lineage in each month (a merged row holds its parts' keys
    # in the months before the merge); () for drivers
    keys: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Trend:
    """Up to ``monitoring.months`` months, oldest first, this month last.

    ``verdict`` is the worst of this month's PSI and AUC-drop verdicts (``none`` when neither
    is measured). ``reference_auc`` is this month's AUC-drop baseline: the inverse-variance
    pooled realised AUC of the window's earlier months (``reference_months`` of them), with
    standard error ``reference_se`` (see :mod:`churnlens.monitoring.history`).
    """

    points: tuple[TrendPoint, ...]
    segments: tuple[SeriesRow, ...]  # sizes
    drivers: tuple[SeriesRow, ...]  # shares
    reference_auc: Optional[float]
    psi_thresholds: tuple[float, float]
    auc_drop_thresholds: tuple[float, float]
    verdict: str
    n_skipped: int  # folders of the history folder without a month summary
    reference_se: Optional[float] = None
    reference_months: int = 0
    confidence: float = 0.95  # monitoring.confidence: what chance explains (module docstring of history)
    events: tuple[TrendEvent, ...] = ()  # merges and splits of segments in the window, oldest first


# --- what changed since last month (dossier) ---------------------------------------------------

@dataclass(frozen=True)
class SchemaColumn:
    """One column of the customer table as the run read it: its name, its role (``id``,
    ``label``, ``value``, ``feature``) and its kind (``number``, ``integer``, ``category``, ``text``)."""

    column: str
    role: str
    kind: str


@dataclass(frozen=True)
class DataSchema:
    """The customer table's schema as the run used it (recorded in ``manifest.json`` as
    ``data_schema`` so next month can compare)."""

    columns: tuple[SchemaColumn, ...]


@dataclass(frozen=True)
class Change:
    """One value that differs from last month: what (a dotted config key, a column, a package),
    and its value before and after (text, shortened; "" when absent on that side)."""

    what: str
    before: str
    after: str


@dataclass(frozen=True)
class MonthChanges:
    """This run against last month's folder's ``manifest.json``: model fingerprint, config,
    data schema and package versions. ``manifest`` is "ok", "missing" or "unreadable" (then
    nothing could be compared); ``schema_recorded`` is False when last month's folder predates
    the ``data_schema`` record (its schema cannot be compared)."""

    folder: str  # last month's folder name
    manifest: str
    model_before: str  # SHA-256 of last month's model ("" unknown)
    model_after: str
    model_identity_before: str  # registry name/version, else the model file's name
    model_identity_after: str
    config: tuple[Change, ...]
    schema_recorded: bool
    schema: tuple[Change, ...]  # added (before ""), removed (after ""), kind or role changed
    packages: tuple[Change, ...]

    @property
    def model_changed(self) -> bool:
        return bool(self.model_before) and self.model_before != self.model_after


@dataclass(frozen=True)
class ReasonShare:
    feature: str
    previous_share: float  # share of last month's listed customers with this first reason
    current_share: float


@dataclass(frozen=True)
class ReasonShift:
    """The listed customers' first reason (their largest risk-raising attribution among the
    features that may be reasons), last month against this month, both recomputed from each
    month's stored attributions the same way. ``distance`` is the total-variation distance of
    the two distributions (half the sum of absolute share changes: 0 same mix, 1 disjoint)."""

    rows: tuple[ReasonShare, ...]  # by this month's share, then last month's, descending
    n_previous: int
    n_current: int
    distance: float
