"""Attribution engine: load a trained churn model, align customer data, exact SHAP.

Public API (used by the pipeline and the CLI)::

    load_model(path, *, model_format=None, trust_model=False) -> LoadedModel
    align(model, data, *, source="data") -> AlignedData
    explain(model, X, *, customer_ids, chunk_rows=20_000, output_space="log_odds",
            tolerance=1e-4, progress=None) -> Attributions
    reason_codes(attributions, X, config, *, k=3) -> ReasonCodes
    global_drivers(attributions, X, config) -> GlobalDrivers
    cross_check(model, X_sample, values, *, output_space="log_odds", tolerance=1e-4) -> CrossCheck (with its verdict, passed)
    write_attributions(path, attributions); read_attributions(path) -> Attributions
    top_pairs(model, X, features, *, k=3) -> tuple[InteractionPair, ...]  (exact interaction values)

Library differences (LightGBM / XGBoost / scikit-learn / shap output shapes) are
confined to :mod:`attribution._families`.
"""

from churnlens.attribution.align import AlignedData, align
from churnlens.attribution.combine import concat, concat_reasons, take
from churnlens.attribution.crosscheck import cross_check
from churnlens.attribution.drivers import DriverSums, driver_sums, drivers_table, global_drivers
from churnlens.attribution.explain import explain
from churnlens.attribution.interactions import interaction_matrix, top_pairs
from churnlens.attribution.io import AttributionsWriter, read_attributions, write_attributions
from churnlens.attribution.loading import load_model
from churnlens.attribution.model import MODEL_FORMATS, LoadedModel, from_estimator
from churnlens.attribution.parity import ScoreParity, require_parity, score_parity
from churnlens.attribution.reasons import excluded_features, probability_points, reason_codes
from churnlens.attribution.sources import feature_sources, source_frame, to_sources
from churnlens.attribution.results import (
    Attributions, CrossCheck, Driver, FeatureSources, GlobalDrivers, GroupDriver, InteractionPair, ModelInfo,
    ReasonCodes, RegistryInfo, RiskRange, RiskZone, SegmentInteractions,
)

__all__ = [
    "MODEL_FORMATS", "AlignedData", "AttributionsWriter", "DriverSums", "driver_sums", "Attributions", "CrossCheck", "Driver", "GlobalDrivers", "GroupDriver",
    "LoadedModel", "ModelInfo", "ReasonCodes", "RegistryInfo", "RiskRange", "align", "cross_check", "explain",
    "FeatureSources", "RiskZone", "drivers_table", "excluded_features", "feature_sources", "probability_points",
    "source_frame", "to_sources", "InteractionPair", "SegmentInteractions", "interaction_matrix", "top_pairs",
    "ScoreParity", "require_parity", "score_parity",
    "concat", "concat_reasons", "from_estimator", "global_drivers", "take", "load_model", "read_attributions", "reason_codes", "write_attributions",
]
