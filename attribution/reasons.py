"""Per-customer reason codes: the top risk-raising drivers and the customer's value of each
(numbers and codes; ``churnlens.reports.words.reason_texts`` words them)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from churnlens.attribution.results import Attributions, ReasonCodes
from churnlens.config import Config

_BLOCK = 100_000  # rows ranked at once: bounds the (rows x features) temporaries


def reportable(features: tuple[str, ...], config: Config) -> np.ndarray:
    """Boolean mask (f,): features allowed as reason codes (not protected, actionable)."""
    out = np.ones(len(features), dtype=bool)
    for j, name in enumerate(features):
        spec = config.features.get(name)
        if spec is not None and (spec.protected or not spec.actionable):
            out[j] = False
    return out


def _rank(values: np.ndarray, allowed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k positive, allowed attributions per row; ties by feature order."""
    idx = np.empty((values.shape[0], k), dtype=np.int64)
    contrib = np.empty((values.shape[0], k), dtype=np.float64)
    for start in range(0, values.shape[0], _BLOCK):
        v = values[start:start + _BLOCK]
        masked = np.where(allowed[None, :] & (v > 0), v, -np.inf)
        # stable sort of the negated values: largest first, equal values in feature order
        order = np.argsort(-masked, axis=1, kind="stable")[:, :k]
        idx[start:start + _BLOCK] = order
        contrib[start:start + _BLOCK] = np.take_along_axis(masked, order, axis=1)
    return idx, contrib


def reason_codes(attributions: Attributions, X: pd.DataFrame, config: Config, *, k: int = 3) -> ReasonCodes:
    """Top-k risk-raising drivers per customer, with the customer's value of each.

    Parameters
    ----------
    attributions : Attributions, n customers x f features
    X : DataFrame, shape (n, f)
        The customers' feature values (aligned data, same row order).
    config : Config
        ``protected`` or non-``actionable`` features are never reason codes (they stay in
        the explanation).
    k : int

    Returns
    -------
    ReasonCodes
        Only positive attributions are reasons; ranking by contribution descending, ties
        by feature order. ``""``, None and 0.0 fill slots beyond a customer's reasons.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    feats = attributions.features
    n, f = attributions.values.shape
    if len(X) != n:
        raise ValueError(f"X has {len(X)} rows but the attributions have {n}")
    k_eff = min(k, f)
    idx, contrib = _rank(attributions.values, reportable(feats, config), k_eff)
    valid = np.isfinite(contrib)
    features = np.full((n, k), "", dtype=object)
    values = np.full((n, k), None, dtype=object)
    contributions = np.zeros((n, k), dtype=np.float64)
    contributions[:, :k_eff] = np.where(valid, contrib, 0.0)
    for j, name in enumerate(feats):
        hit = valid & (idx == j)
        if not hit.any():
            continue
        rows, slots = np.nonzero(hit)
        col = X[name] if name in X.columns else X.iloc[:, j]
        values[rows, slots] = col.to_numpy(dtype=object)[rows]
        features[rows, slots] = name
    return ReasonCodes(features=features, values=values, contributions=contributions)
