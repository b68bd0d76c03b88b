"""Independent re-computation of a sample's attributions for the auditors' dossier."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from churnlens.attribution.align import ensure_aligned
from churnlens.attribution.explain import _source_sum
from churnlens.attribution.model import LoadedModel, encode, raw_output
from churnlens.attribution.results import CrossCheck
from churnlens.constants import ADDITIVITY_TOLERANCE


def cross_check(model: LoadedModel, X_sample: pd.DataFrame, values: np.ndarray, *,
                output_space: str = "log_odds", tolerance: float = ADDITIVITY_TOLERANCE) -> CrossCheck:
    """Compare attributions with shap's TreeExplainer (tree_path_dependent) on a sample.

    For LightGBM and XGBoost, shap's TreeExplainer would call the library's own
    ``pred_contrib`` (the very code churnlens uses), so shap is made to run its own C++
    TreeSHAP on the trees it parses from the model: an independent implementation. LightGBM
    models with categorical features are the exception (shap 0.51 mis-parses categorical
    splits): there shap's default path, i.e. ``pred_contrib``, is used and named. For
    scikit-learn models shap is the computation path itself; the check then confirms the
    chunked, encoded, grouped result. Pipelines are explained on the transformed data and
    the encoded columns summed back to their source column, as in :func:`explain`.

    Parameters
    ----------
    model : LoadedModel
    X_sample : DataFrame, shape (m, f)
    values : ndarray, shape (m, f)
        churnlens attributions of the same rows (e.g. ``attributions.values[rows]``).
    output_space : {"log_odds", "probability"}
        Space of ``values``; the reference is rescaled the same way as in :func:`explain`.
    tolerance : float
        Largest absolute difference that passes (``CrossCheck.passed``).

    Returns
    -------
    CrossCheck
    """
    import shap

    X_sample = ensure_aligned(model, X_sample, source="cross-check sample")
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(X_sample), len(model.feature_names)):
        raise ValueError(f"values has shape {values.shape}; expected {(len(X_sample), len(model.feature_names))}")
    b = model._backend
    M = encode(model, X_sample)
    # categorical columns fed natively to the estimator (not through pipeline encoders)
    native_categorical = b.preprocess is None and any(c.categorical for c in b.columns)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phi, base, where = b.family.cross_reference(b.estimator, M, categorical=native_categorical)
    phi = _source_sum(model, phi * b.raw_scale)
    if output_space == "probability" and model.info.raw_output == "log_odds":
        r = raw_output(model, M)
        # the base of shap's own XGBoost parse differs from the booster's; f0 = output - sum.
        f0 = r - phi.sum(axis=1)
        total = phi.sum(axis=1)
        p, p0 = expit(r), expit(f0)
        flat = np.abs(total) < 1e-12
        phi = phi * np.where(flat, p0 * (1 - p0), (p - p0) / np.where(flat, 1.0, total))[:, None]
    diff = float(np.max(np.abs(phi - values))) if values.size else 0.0
    return CrossCheck(
        n_rows=len(X_sample),
        max_abs_diff=diff,
        reference=f"shap {shap.__version__} TreeExplainer (tree_path_dependent), {where}",
        tolerance=tolerance,
        passed=bool(diff <= tolerance),
    )
