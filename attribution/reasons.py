"""Per-customer reason codes: the top risk-raising drivers in business words."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from churnlens.attribution.results import Attributions, ReasonCodes
from churnlens.config import Config

_MISSING = {"en": "missing", "zh": "缺失"}
_SEP = {"en": ": ", "zh": "："}
_BLOCK = 100_000  # rows ranked at once: bounds the (rows x features) temporaries


# Units the data dictionary may name; "percent" means the value is a fraction shown as %.
_UNITS_ZH = {"days": "天", "months": "个月", "years": "年", "pp": "个百分点", "CNY": "元", "times": "次"}


def format_value(value: object, *, unit: str | None = None, lang: str = "en") -> str:
    """A customer's value for a reason code: integers with thousands separators, other
    numbers to 2 decimals (3 significant digits below 1), fractions with ``unit: percent``
    as percentages, categories as text; known units translated for ``lang="zh"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return _MISSING.get(lang, "missing")
    if isinstance(value, (bool, np.bool_)):
        text = str(bool(value)).lower()
    elif isinstance(value, (int, float, np.integer, np.floating)):
        v = float(value)
        if unit == "percent":
            return f"{v * 100:.0f}%"
        if v.is_integer() and abs(v) < 1e15:
            text = f"{int(v):,}"
        elif abs(v) >= 1000:
            text = f"{v:,.0f}"
        elif abs(v) >= 1:
            text = f"{v:,.2f}".rstrip("0").rstrip(".")
        else:
            text = f"{v:.3g}"
    else:
        text = str(value)
    if not unit or unit == "percent":
        return text
    if lang == "zh":
        return f"{text}{_UNITS_ZH.get(unit, unit)}" if unit in _UNITS_ZH else f"{text} {unit}"
    return f"{text} {unit}"


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


def reason_codes(attributions: Attributions, X: pd.DataFrame, config: Config, *, k: int = 3,
                 lang: str = "en") -> ReasonCodes:
    """Top-k risk-raising drivers per customer, in business words with the customer's value.

    Parameters
    ----------
    attributions : Attributions, n customers x f features
    X : DataFrame, shape (n, f)
        The customers' feature values (aligned data, same row order).
    config : Config
        Labels (``features[name].label``), units; ``protected`` or non-``actionable``
        features are never reason codes (they stay in the explanation).
    k : int
    lang : {"en", "zh"}

    Returns
    -------
    ReasonCodes
        Only positive attributions are reasons; ranking by contribution descending, ties
        by feature order. ``""`` and 0.0 fill slots beyond a customer's reasons.
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
    texts = np.full((n, k), "", dtype=object)
    contributions = np.zeros((n, k), dtype=np.float64)
    contributions[:, :k_eff] = np.where(valid, contrib, 0.0)
    sep = _SEP.get(lang, ": ")
    for j, name in enumerate(feats):
        hit = valid & (idx == j)
        if not hit.any():
            continue
        rows, slots = np.nonzero(hit)
        spec = config.features.get(name)
        unit = spec.unit if spec is not None else None
        label = config.label(name, lang)
        col = X[name] if name in X.columns else X.iloc[:, j]
        vals = col.to_numpy(dtype=object)[rows]
        # format each distinct value once (1M customers share few distinct values per feature)
        codes, uniq = pd.factorize(pd.Series(vals, dtype=object), use_na_sentinel=True)
        words = np.array([f"{label}{sep}{format_value(u, unit=unit, lang=lang)}" for u in uniq] +
                         [f"{label}{sep}{_MISSING.get(lang, 'missing')}"], dtype=object)
        texts[rows, slots] = words[codes]  # code -1 (missing) picks the last entry
        features[rows, slots] = name
    return ReasonCodes(features=features, texts=texts, contributions=contributions, lang=lang)
