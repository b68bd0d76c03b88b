"""Exact per-customer SHAP attributions, computed in chunks with an additivity check."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import pandas as pd

from churnlens.constants import ADDITIVITY_TOLERANCE
from churnlens.attribution.align import ensure_aligned
from churnlens.attribution.model import LoadedModel, encode, raw_output, to_probability
from churnlens.attribution.results import Attributions
from churnlens.errors import AdditivityError, DataError
from churnlens.lazy import lazy

expit = lazy("scipy.special", "expit")

OUTPUT_SPACES = ("log_odds", "probability")


def _ids(customer_ids, n: int) -> np.ndarray:
    ids = pd.Index(customer_ids).to_numpy(copy=True)
    if ids.shape != (n,):
        raise DataError(f"customer_ids has {ids.shape[0] if ids.ndim else 0} entries but the data has {n} rows; "
                        "pass one id per row.")
    return ids


def _source_sum(model: LoadedModel, phi_enc: np.ndarray) -> np.ndarray:
    """Sum (signed) attributions of encoded columns back to their source column."""
    src = model._backend.source_of
    f = len(model.feature_names)
    if phi_enc.shape[1] == f and np.array_equal(src, np.arange(f)):
        return phi_enc
    G = np.zeros((phi_enc.shape[1], f))
    G[np.arange(phi_enc.shape[1]), src] = 1.0
    return phi_enc @ G


def encoded_attributions(model: LoadedModel, M: np.ndarray, *, reference: bool = False) -> tuple[np.ndarray, float]:
    """Attributions of the encoded columns in log-odds (or forest probability) units.

    Returns
    -------
    phi : ndarray of float64, shape (n, f_encoded)
    base : float
    """
    b = model._backend
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        phi, base = (b.family.reference if reference else b.family.contribs)(b.estimator, M)
    return phi * b.raw_scale, base * b.raw_scale


def _additivity_error(where: str, err: float, tolerance: float, space: str) -> AdditivityError:
    return AdditivityError(
        f"Attributions do not add up to the model output ({where}): max |base + sum(attributions) - output| = "
        f"{err:.3g} in {space} units, above the tolerance {tolerance:g}. This is almost never numerical noise: "
        "usual causes are columns in a different order or with different dtypes than in training (e.g. "
        "categories coded differently), a model file whose trees do not match its header, or an unsupported "
        "split type. Check the data dictionary and the model file; do not raise the tolerance to hide it."
    )


def explain(
    model: LoadedModel,
    X: pd.DataFrame,
    *,
    customer_ids,
    chunk_rows: int = 20_000,
    output_space: str = "log_odds",
    tolerance: float = ADDITIVITY_TOLERANCE,
    progress: Optional[Callable[[int], None]] = None,
) -> Attributions:
    """Exact path-dependent TreeSHAP attributions for every customer.

    Parameters
    ----------
    model : LoadedModel
    X : DataFrame, shape (n, f)
        Customer features, ideally ``align(model, data).X`` (aligned here otherwise).
    customer_ids : array-like, shape (n,)
    chunk_rows : int
        Rows per chunk: memory stays bounded by ``chunk_rows x encoded features``.
    output_space : {"log_odds", "probability"}
        ``"log_odds"``: attributions of the raw margin (the exact TreeSHAP values).
        ``"probability"``: attributions in probability points that add up exactly to the
        predicted probability. Method (proportional rescaling): with f the customer's
        log-odds, f0 the base log-odds, p = sigmoid(f), p0 = sigmoid(f0),
        ``phi_p = phi * (p - p0) / (f - f0)`` and ``base = p0``; when f == f0 (no net
        effect) the slope sigmoid'(f0) is used. It keeps each feature's sign and relative
        size within the customer; note p0 is the probability at the base log-odds, not
        the book's mean predicted probability. Random forests output probability already:
        their attributions are exact in probability for either choice and
        ``output_space`` is reported as ``"probability"``.
    tolerance : float
        Largest allowed additivity error (log-odds, or probability for forests), checked
        in float64 on every chunk.
    progress : callable ``advance(n_rows)``, optional

    Returns
    -------
    Attributions
        ``values`` float32 (n, f) over source features (encoded pipeline columns summed,
        signed, back to their source column). ``additivity_max_error`` is the largest
        error of the raw-space check, and in probability space the larger of that and the
        probability check.

    Raises
    ------
    AdditivityError
        Attributions of some chunk do not add up to the model output.
    """
    if output_space not in OUTPUT_SPACES:
        raise ValueError(f"output_space must be one of {OUTPUT_SPACES}, got {output_space!r}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    X = ensure_aligned(model, X)
    n, f = len(X), len(model.feature_names)
    if n == 0:
        raise DataError("The customer table has no rows to explain.")
    ids = _ids(customer_ids, n)
    rescale = output_space == "probability" and model.info.raw_output == "log_odds"
    space = "probability" if model.info.raw_output == "probability" else output_space

    values = np.empty((n, f), dtype=np.float32)
    raw = np.empty(n, dtype=np.float64)
    base: Optional[float] = None
    max_err = 0.0
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        M = encode(model, X.iloc[start:stop])
        phi_enc, b = encoded_attributions(model, M)
        r = raw_output(model, M)
        phi = _source_sum(model, phi_enc)
        total = phi.sum(axis=1)
        err = float(np.max(np.abs(b + total - r)))
        where = f"rows {start}-{stop - 1}"
        if not err <= tolerance:  # also catches NaN
            raise _additivity_error(where, err, tolerance, model.info.raw_output)
        if base is None:
            base = b
        elif abs(b - base) > tolerance:
            raise _additivity_error(f"base value changed between chunks at {where}", abs(b - base), tolerance,
                                    model.info.raw_output)
        max_err = max(max_err, err)
        if rescale:
            p, p0 = expit(r), float(expit(base))
            flat = np.abs(total) < 1e-12
            slope = np.where(flat, p0 * (1 - p0), (p - p0) / np.where(flat, 1.0, total))
            phi = phi * slope[:, None]
            err_p = float(np.max(np.abs(p0 + phi.sum(axis=1) - p)))
            if not err_p <= tolerance:
                raise _additivity_error(where, err_p, tolerance, "probability")
            max_err = max(max_err, err_p)
        values[start:stop] = phi
        raw[start:stop] = r
        if progress is not None:
            progress(stop - start)

    method = model._backend.family.method
    if model.info.pipeline_steps:
        method += "; pipeline-encoded columns summed (signed) back to source columns"
    if rescale:
        method += "; probability space by proportional rescaling of log-odds attributions"
    assert base is not None
    return Attributions(
        customer_ids=ids,
        features=model.feature_names,
        values=values,
        base_value=float(expit(base)) if rescale else float(base),
        raw_score=raw,
        score=to_probability(model, raw),
        output_space=space,
        additivity_max_error=max_err,
        method=method,
        additivity_tolerance=tolerance,
    )
