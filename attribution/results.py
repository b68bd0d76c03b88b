"""Result objects of the attribution stage.

Every model family's output is normalised into these before it leaves ``attribution/``:
nothing downstream knows which library produced the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from churnlens.frozen import array_eq


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
        One line naming the algorithm, e.g. "TreeSHAP (path-dependent) via LightGBM pred_contrib".
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

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    @property
    def weights(self) -> np.ndarray:
        """Population weight per row, shape (n,): how many customers of the book the row
        stands for in global statistics (0 for rows attributed only because they are
        targeted). ``None`` in ``weight`` means every row stands for itself (1)."""
        return np.ones(self.n) if self.weight is None else self.weight


@array_eq
@dataclass(frozen=True, eq=False)
class ReasonCodes:
    """Top-k risk-raising drivers per customer, in business words of one language.

    ``features``/``texts`` hold ``""`` where a customer has fewer than k risk-raising,
    reportable drivers.

    Attributes
    ----------
    features : ndarray of object, shape (n, k)
    texts : ndarray of object, shape (n, k)   e.g. "Mobile logins, last 30 days: 1"
    contributions : ndarray of float64, shape (n, k)   (0.0 where empty)
    lang : str
    """

    features: np.ndarray
    texts: np.ndarray
    contributions: np.ndarray
    lang: str


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
class Driver:
    feature: str
    group: str
    mean_abs: float
    mean_signed: float
    share: float  # mean_abs / sum of mean_abs over features
    direction: str  # "up": higher values raise risk; "down": higher values lower it; "mixed"
    risk_range: Optional[RiskRange]


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
    """Agreement of churnlens' attributions with shap's reference TreeExplainer on a sample.

    ``reference`` names the implementation, e.g. "shap 0.51.0 TreeExplainer
    (tree_path_dependent), shap's own C++ TreeSHAP on the parsed trees".
    """

    n_rows: int
    max_abs_diff: float  # over all rows and source features, in the attributions' units
    reference: str
