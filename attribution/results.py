"""Result objects of the attribution stage.

Every model family's output is normalised into these before it leaves ``attribution/``:
nothing downstream knows which library produced the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from churnlens.constants import ADDITIVITY_TOLERANCE
from churnlens.frozen import array_eq
from churnlens.notes import Note


@dataclass(frozen=True)
class RegistryInfo:
    """Where a model from an MLflow registry or run came from (recorded in the manifest)."""

    uri: str  # as given: models:/NAME/STAGE, models:/NAME/VERSION, runs:/RUN_ID/PATH
    registry_uri: str
    tracking_uri: str
    flavor: str  # "lightgbm" | "xgboost" | "sklearn"
    name: Optional[str] = None  # registered model name (None for runs:/ URIs)
    version: Optional[str] = None  # registered version the URI resolved to
    run_id: Optional[str] = None


@dataclass(frozen=True)
class ModelInfo:
    """Facts about the loaded model, for the dossier's model card and the manifest."""

    family: str  # "lightgbm" | "xgboost" | "sklearn_gbm" | "sklearn_hist_gbm" | "random_forest" | "extra_trees"
    format: str  # how it was read: "lightgbm_text", "lightgbm_json", "xgboost_json", "xgboost_ubj", "skops", "pickle"
    path: str
    sha256: str
    n_trees: int
    max_depth: int
    n_features: int  # source features (before any pipeline encoding)
    feature_names: tuple[str, ...]  # source features, model order
    objective: str
    raw_output: str  # space of the model's raw output: "log_odds" or "probability"
    pipeline_steps: tuple[str, ...] = ()  # e.g. ("ColumnTransformer", "HistGradientBoostingClassifier")
    registry: Optional[RegistryInfo] = None  # set for models loaded from an MLflow URI
    # Which trees count. ``n_trees`` above is the number used (scored and explained);
    # ``trees_in_file`` the number stored (more when the file keeps the rounds after early
    # stopping); ``best_iteration`` the model's own statement, in the library's numbering
    # (XGBoost: 0-based best round, used as iteration_range=(0, best_iteration + 1); LightGBM:
    # iterations used; scikit-learn: fitted stages n_iter_ / n_estimators_), None when it states none.
    trees_in_file: Optional[int] = None
    best_iteration: Optional[int] = None

    @property
    def n_trees_used(self) -> int:
        return self.n_trees

    @property
    def trees_dropped(self) -> int:
        """Trees stored in the file beyond the best iteration (not scored, not explained)."""
        return max(0, (self.trees_in_file or self.n_trees) - self.n_trees)


@array_eq
@dataclass(frozen=True, eq=False)
class Attributions:
    """Exact per-customer attributions.

    Attributes
    ----------
    customer_ids : ndarray, shape (n,)
    features : tuple of str, length f
        Source features (pipeline-encoded columns are summed back to their source).
    values : ndarray of float32, shape (n, f)
        Attribution of each feature, in ``output_space`` units.
    base_value : float
        Expected model output in ``output_space``; ``base_value + values.sum(1)`` equals
        the model output in that space (checked in float64 before the float32 cast).
    raw_score : ndarray of float64, shape (n,)
        Model raw output (log-odds for boosted models; probability for random forests).
    score : ndarray of float64, shape (n,)
        Predicted churn probability.
    output_space : str
        ``"log_odds"`` or ``"probability"``.
    additivity_max_error : float
        Largest ``|base + sum(values) - output|`` over all rows, in float64.
    method : str
        One line naming the algorithm, e.g. "TreeSHAP (path-dependent), churnlens' own exact implementation (numba)".
    weight : ndarray of float64, shape (n,), optional
        See :attr:`weights`; set by the pipeline when only part of the book is attributed.
    """

    customer_ids: np.ndarray
    features: tuple[str, ...]
    values: np.ndarray
    base_value: float
    raw_score: np.ndarray
    score: np.ndarray
    output_space: str
    additivity_max_error: float
    method: str
    weight: Optional[np.ndarray] = None
    additivity_tolerance: float = ADDITIVITY_TOLERANCE  # the check ``explain`` enforced

    @property
    def additivity_ok(self) -> bool:
        """Verdict of the additivity check (``explain`` refuses to return a failing one)."""
        return bool(self.additivity_max_error <= self.additivity_tolerance)

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    def points(self, rows, j: int) -> np.ndarray:
        """Feature ``j``'s attribution of ``rows`` in probability points: ``100 * phi`` for
        probability models, ``100 * (p - expit(raw - phi))`` for log-odds ones (how many points
        the churn probability would fall without it; as ``attribution.reasons.probability_points``)."""
        phi = np.asarray(self.values[rows, j], dtype=np.float64)
        if self.output_space == "probability":
            return 100.0 * phi
        raw = np.asarray(self.raw_score, dtype=np.float64)[rows]
        return 100.0 * (1.0 / (1.0 + np.exp(-raw)) - 1.0 / (1.0 + np.exp(-(raw - phi))))

    @property
    def weights(self) -> np.ndarray:
        """Population weight per row, shape (n,): how many customers of the book the row
        stands for in global statistics (0 for rows attributed only because they are
        targeted). ``None`` in ``weight`` means every row stands for itself (1)."""
        return np.ones(self.n) if self.weight is None else self.weight


@array_eq
@dataclass(frozen=True, eq=False)
class ReasonCodes:
    """Top-k risk-raising drivers per customer and the customer's value of each (no words:
    ``churnlens.reports.words.reason_texts`` writes "Mobile logins, last 30 days: 1").

    ``features`` holds ``""`` (and ``values`` None) where a customer has fewer than k
    risk-raising, reportable drivers.

    Attributes
    ----------
    features : ndarray of object, shape (n, k)
    values : ndarray of object, shape (n, k)   the customer's feature value (number, category, NaN)
    contributions : ndarray of float64, shape (n, k)   (0.0 where empty), attribution units
    pp, driver_*, protective_* : sizes in probability points, the top drivers overall and the
        risk-lowering factors (same layout; None when not computed)
    """

    features: np.ndarray
    values: np.ndarray
    contributions: np.ndarray
    # Sizes in probability points (see attribution.reasons.probability_points), the top
    # drivers overall (actionable or not, never protected) and the risk-lowering factors.
    pp: Optional[np.ndarray] = None  # (n, k) size of each reason, 0.0 where empty
    driver_features: Optional[np.ndarray] = None  # (n, k)
    driver_values: Optional[np.ndarray] = None  # (n, k)
    driver_pp: Optional[np.ndarray] = None  # (n, k)
    protective_features: Optional[np.ndarray] = None  # (n, p)
    protective_values: Optional[np.ndarray] = None  # (n, p)
    protective_pp: Optional[np.ndarray] = None  # (n, p), negative


@dataclass(frozen=True)
class RiskRange:
    """Where a driver pushes risk up, e.g. ``op="<", threshold=3`` -> "risk rises when logins < 3".

    ``op`` is one of "<", ">", "between", "in" (categorical); ``categories`` only for "in".
    """

    op: str
    low: Optional[float]
    high: Optional[float]
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class RiskZone:
    """One value range (or category level) where a driver's binned mean attribution is clearly
    positive (see :func:`churnlens.attribution.drivers.risk_zones`).

    ``low``/``high`` are the smallest/largest observed values in the zone (inclusive);
    ``low`` is None when the zone starts at the smallest observed value, ``high`` None when
    it reaches the largest. Categorical zones have one level in ``categories`` and no bounds.
    """

    low: Optional[float]
    high: Optional[float]
    mean_attribution: float  # mean attribution of the zone's customers (attribution units)
    n: int  # customers of the (sampled) population in the zone
    share: float  # of the customers with a known value
    categories: tuple[str, ...] = ()
    # Evidence (churnlens.attribution.drivers.zone_evidence): the zone's mean attribution in
    # probability points; with labels, observed churn of the population rows in and outside the
    # zone, their counts and the Newcombe interval of the difference (None without labels).
    mean_pp: float = float("nan")
    churn_in: Optional[float] = None
    churn_out: Optional[float] = None
    n_in: int = 0
    n_out: int = 0
    diff_low: Optional[float] = None
    diff_high: Optional[float] = None
    # the labels are the model's own training outcomes (the label column of the scored table):
    # the zone's churn shows what the data say where the model points, not out-of-sample proof
    in_sample: Optional[bool] = None
    # the zone holds one observed value (numeric zones): "exactly 1 product", never "1 or less"
    # when the zone is open at the smallest value (``low`` None) but holds that value alone
    value: Optional[float] = None


@dataclass(frozen=True)
class Driver:
    feature: str
    group: str
    mean_abs: float
    mean_signed: float
    share: float  # mean_abs / sum of mean_abs over features
    direction: str  # "up": higher values raise risk; "down": higher values lower it; "mixed"
    risk_range: Optional[RiskRange]
    # where risk rises, from the binned dependence itself: strongest zone first (top drivers);
    # only the zones whose evidence holds (material in probability points, and with labels a
    # churn rate above the rest's, its interval excluding equality)
    zones: tuple[RiskZone, ...] = ()
    # zones found in the dependence but not reported, with the code of the test they failed
    # ("not_material" | "churn_not_higher"), for tables/claims.csv
    dropped_zones: tuple[tuple[RiskZone, str], ...] = ()
    protected: bool = False  # the dictionary marks the feature protected: out of the business story
    family: tuple[str, ...] = ()  # other features moving with this one (one mechanism, see claims.correlation)


@dataclass(frozen=True)
class GroupDriver:
    group: str
    mean_abs: float  # mean over customers of |sum of the group's signed attributions|
    mean_signed: float
    share: float


@dataclass(frozen=True)
class GlobalDrivers:
    """Drivers sorted by ``mean_abs`` descending (ties by feature name)."""

    drivers: tuple[Driver, ...]
    groups: tuple[GroupDriver, ...]
    n_customers: int


@dataclass(frozen=True)
class CrossCheck:
    """Agreement of churnlens' own TreeSHAP with a second implementation on a sample.

    ``reference`` is the second implementation's machine-readable name, e.g. "LightGBM
    4.7.0 pred_contrib"; ``compared`` states which two implementations were compared, as a
    note (``crosscheck.pair`` with ``ours`` and ``theirs``) the reports word.
    """

    n_rows: int
    max_abs_diff: float  # over all rows and source features, in the attributions' units
    reference: str
    tolerance: float  # largest difference that passes
    passed: bool  # max_abs_diff <= tolerance
    compared: Optional[Note] = None


@dataclass(frozen=True)
class InteractionPair:
    """Two drivers' exact SHAP interaction over a set of customers (log-odds, or probability
    for forests): ``mean_abs`` / ``mean_signed`` of Phi_ab + Phi_ba per customer."""

    feature_a: str
    feature_b: str
    mean_abs: float
    mean_signed: float
    n_rows: int


@dataclass(frozen=True)
class SegmentInteractions:
    """The top interacting pairs among a segment's top drivers (a seeded sample of its members)."""

    segment: str  # segment key
    pairs: tuple[InteractionPair, ...]


@dataclass(frozen=True)
class FeatureSources:
    """Mapping of the model's columns to source features.

    Attributes
    ----------
    columns : tuple of str, length c
        The model's columns, model order.
    sources : tuple of str, length f
        Source features, in the order of their first column.
    source_of : tuple of int, length c
        Index into ``sources`` of each column.
    levels : tuple of str, length c
        The level a column encodes ("" for a column that is its own source).
    mapped : tuple of (str, str, str)
        (column, source, how) for every column mapped to another name; ``how`` is
        "declared" (listed in ``columns:``) or "name" (``<feature><sep><level>``).
    undeclared : tuple of str
        Source features without a data-dictionary entry (labels fall back to the name).
    absent : tuple of (str, str)
        (feature, column) for every ``features.<f>.columns`` entry this model does not have
        (a dictionary written for several models of the book): a note, not an error.
    reference_levels : tuple of (str, str)
        (source, level) of drop-first encodings whose dictionary entry names the level no
        column stands for (``reference_level``); without it that level reads "other".
    """

    columns: tuple[str, ...]
    sources: tuple[str, ...]
    source_of: tuple[int, ...]
    levels: tuple[str, ...]
    mapped: tuple[tuple[str, str, str], ...] = ()
    undeclared: tuple[str, ...] = ()
    absent: tuple[tuple[str, str], ...] = ()
    reference_levels: tuple[tuple[str, str], ...] = ()

    @property
    def identity(self) -> bool:
        return self.sources == self.columns

    def columns_of(self, source: str) -> tuple[str, ...]:
        k = self.sources.index(source)
        return tuple(c for c, s in zip(self.columns, self.source_of) if s == k)

    def source(self, column: str) -> str:
        """Source feature of a model column (the name itself for a source or unknown name)."""
        if column in self.columns:
            return self.sources[self.source_of[self.columns.index(column)]]
        return column


@dataclass(frozen=True)
class Interactions:
    """Top interacting driver pairs of each segment."""

    items: tuple  # SegmentInteractions


@dataclass(frozen=True)
class StoredPrecision:
    """Additivity as a reader of ``attributions.parquet`` can verify it: the largest
    ``|base + sum(values) - model output|`` from the float32 values the file stores."""

    additivity_max_error: float


@dataclass(frozen=True)
class ScoreParity:
    """Largest difference between churnlens' churn probability and the library's own."""

    family: str
    n_rows: int  # rows compared (all rows when the table has fewer than ``PARITY_ROWS``)
    max_abs_diff: float
    tolerance: float
    precision: str  # "float64" | "float32": the library's own prediction precision
    worst_row: int  # position (in the frame given) of the largest difference; -1 when no rows
    trees_used: int
    trees_in_file: int
    best_iteration: Optional[int]

    @property
    def passed(self) -> bool:
        return bool(self.max_abs_diff <= self.tolerance)
