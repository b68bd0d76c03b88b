"""Independent re-computation of a sample's attributions for the auditors' dossier."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlens.attribution.align import ensure_aligned
from churnlens.attribution.explain import _source_sum
from churnlens.attribution.model import LoadedModel, encode, raw_output
from churnlens.attribution.results import CrossCheck
from churnlens.constants import ADDITIVITY_TOLERANCE
from churnlens.notes import Note
from churnlens.lazy import lazy

expit = lazy("scipy.special", "expit")


def cross_check(model: LoadedModel, X_sample: pd.DataFrame, values: np.ndarray, *,
                output_space: str = "log_odds", tolerance: float = ADDITIVITY_TOLERANCE) -> CrossCheck:
    """Compare churnlens' attributions with a second, independent implementation on a sample.

    churnlens computes attributions with its own TreeSHAP (:mod:`churnlens.attribution.treeshap`).
    The second implementation is the library's own: LightGBM ``pred_contrib`` and XGBoost
    ``pred_contribs`` (their C++ TreeSHAP on their own trees), shap's TreeExplainer (its C++
    TreeSHAP on its own parse of the trees) for scikit-learn, and for HistGradientBoosting with
    native categorical splits, which shap cannot parse, Lundberg et al.'s Algorithm 2 written
    plainly in numpy (:mod:`churnlens.attribution.treeshap.reference`). ``CrossCheck.compared``
    names both (a :class:`~churnlens.notes.Note`; the dossier words it). Pipelines are explained
    on the transformed data and the encoded columns summed back to their source column, as in
    :func:`explain`.

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
        phi, base, theirs = b.family.cross_reference(b.estimator, M, categorical=native_categorical)
    phi = _source_sum(model, phi * b.raw_scale)
    if output_space == "probability" and model.info.raw_output == "log_odds":
        r = raw_output(model, M)
        # f0 = output - sum: the reference's own base may be computed differently (shap's XGBoost parse)
        f0 = r - phi.sum(axis=1)
        total = phi.sum(axis=1)
        p, p0 = expit(r), expit(f0)
        flat = np.abs(total) < 1e-12
        phi = phi * np.where(flat, p0 * (1 - p0), (p - p0) / np.where(flat, 1.0, total))[:, None]
    diff = float(np.max(np.abs(phi - values))) if values.size else 0.0
    return CrossCheck(
        n_rows=len(X_sample),
        max_abs_diff=diff,
        reference=_REFERENCE_NAMES[theirs.code].format(**dict(theirs.params)),
        tolerance=tolerance,
        passed=bool(diff <= tolerance),
        compared=Note.of("crosscheck.pair", ours=Note.of("crosscheck.churnlens"), theirs=theirs),
    )


# machine-readable name of the second implementation (manifest); the dossier words ``compared``
_REFERENCE_NAMES = {
    "crosscheck.lightgbm": "LightGBM {version} pred_contrib",
    "crosscheck.xgboost": "XGBoost {version} pred_contribs",
    "crosscheck.shap": "shap {version} TreeExplainer (tree_path_dependent)",
    "crosscheck.algorithm2": "TreeSHAP Algorithm 2 (Lundberg et al. 2018), numpy",
}
