"""Per-customer reason codes: the top risk-raising drivers and the customer's value of each
(numbers and codes; ``churnlens.reports.words.reason_texts`` words them)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlens.attribution.results import Attributions, ReasonCodes
from churnlens.config import Config
from churnlens.lazy import lazy

expit = lazy("scipy.special", "expit")

_BLOCK = 100_000  # rows ranked at once: bounds the (rows x features) temporaries


EXCLUDED_PROTECTED = "protected"
EXCLUDED_NON_ACTIONABLE = "non_actionable"


def reportable(features: tuple[str, ...], config: Config) -> np.ndarray:
    """Boolean mask (f,): features allowed as reason codes (not protected, actionable)."""
    return np.array([not excluded_cause(name, config) for name in features], dtype=bool)


def excluded_cause(feature: str, config: Config) -> str:
    """Why ``feature`` is never an actionable reason: "protected", "non_actionable" or "" (the
    data dictionary's answer, :meth:`churnlens.config.Config.excluded_cause`)."""
    return config.excluded_cause(feature)


def excluded_features(features: tuple[str, ...], config: Config) -> tuple[tuple[str, str], ...]:
    """(feature, cause) of every feature excluded from actionable reasons, model order."""
    return tuple((f, c) for f in features if (c := excluded_cause(f, config)))


def probability_points(attributions: Attributions, rows: slice = slice(None)) -> np.ndarray:
    """Size of each attribution in probability points, shape (n, f).

    Log-odds attributions: ``100 * (p - expit(raw - phi_j))``, how many points the churn
    probability would fall if feature j's contribution were removed (same sign as phi_j,
    monotone in it within a customer). Probability-space attributions: ``100 * phi_j``.
    """
    v = np.asarray(attributions.values[rows], dtype=np.float64)
    if attributions.output_space == "probability":
        return 100.0 * v
    raw = attributions.base_value + v.sum(axis=1, keepdims=True)
    return 100.0 * (expit(raw) - expit(raw - v))


def _rank(values: np.ndarray, allowed: np.ndarray, k: int, min_pp: float,
          sign: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Top-k allowed entries per row with ``sign * value >= max(min_pp, >0)``; largest
    ``sign * value`` first, ties by feature order. Returns (index, value or NaN)."""
    s = sign * values
    masked = np.where(allowed[None, :] & (s > 0) & (s >= min_pp), s, -np.inf)
    # k times the row maximum, taken out after each pick: largest first, equal values in feature
    # order (argmax takes the first), as a stable sort would rank them -- without sorting every
    # row's f entries. Empty slots (-inf) get an index that nothing reads.
    n = masked.shape[0]
    order = np.zeros((n, k), dtype=np.int64)
    got = np.full((n, k), -np.inf)
    r = np.arange(n)
    for i in range(min(k, masked.shape[1])):
        j = np.argmax(masked, axis=1)
        order[:, i] = j
        got[:, i] = masked[r, j]
        masked[r, j] = -np.inf
    return order, np.where(np.isfinite(got), sign * got, np.nan)


def _values(idx: np.ndarray, pp: np.ndarray, feats: tuple[str, ...], X: pd.DataFrame
            ) -> tuple[np.ndarray, np.ndarray]:
    """Feature names and the customer's values of ranked entries (NaN pp = empty slot)."""
    n, k = idx.shape
    names = np.full((n, k), "", dtype=object)
    values = np.full((n, k), None, dtype=object)
    rows, slots = np.nonzero(~np.isnan(pp))
    j_of = idx[rows, slots]
    names[rows, slots] = np.array(feats + ("",), dtype=object)[j_of]
    order = np.argsort(j_of, kind="stable")  # the entries of each feature together, in row order
    bounds = np.flatnonzero(np.diff(j_of[order])) + 1
    for part in np.split(order, bounds) if len(order) else ():
        j = int(j_of[part[0]])
        name = feats[j]
        col = X[name] if name in X.columns else X.iloc[:, j]
        # only the rows that list the feature are converted to objects
        values[rows[part], slots[part]] = col.iloc[rows[part]].to_numpy(dtype=object)
    return names, values


def reason_codes(attributions: Attributions, X: pd.DataFrame, config: Config, *, k: int | None = None,
                 min_pp: float | None = None, protective: int | None = None) -> ReasonCodes:
    """Per customer: the top-k actionable reasons, the top-k drivers overall and the strongest
    risk-lowering factors, each with the customer's value and its size in probability points
    (numbers and codes; ``churnlens.reports.words.reason_texts`` words them).

    Parameters
    ----------
    attributions : Attributions, n customers x f features
    X : DataFrame, shape (n, f)
        The customers' feature values (aligned data, same row order).
    config : Config
        ``reasons`` (defaults of ``k``, ``min_pp``, ``protective``) and the dictionary's
        roles: protected features are never listed; non-``actionable`` ones are drivers but
        never reasons.
    k : int, optional
        Reasons (and drivers) per customer; default ``config.k_reasons``.
    min_pp : float, optional
        Smallest size listed, in probability points (``reasons.min_contribution_pp``).
    protective : int, optional
        Risk-lowering factors per customer (``reasons.protective``).

    Returns
    -------
    ReasonCodes
        Ranked by size descending, ties by feature order; ``""`` and 0.0 fill empty slots.
        ``contributions`` holds the reasons' attributions; ``pp`` their sizes; ``values``
        (None in empty slots) the customer's values.
    """
    k = config.k_reasons if k is None else k
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    min_pp = config.reasons.min_contribution_pp if min_pp is None else float(min_pp)
    n_prot = config.reasons.protective if protective is None else int(protective)
    feats = attributions.features
    n, f = attributions.values.shape
    if len(X) != n:
        raise ValueError(f"X has {len(X)} rows but the attributions have {n}")
    k_eff, p_eff = min(k, f), min(n_prot, f)
    allowed = reportable(feats, config)
    unprotected = np.array([excluded_cause(nm, config) != EXCLUDED_PROTECTED for nm in feats], dtype=bool)
    parts = {key: [] for key in ("r", "d", "p")}
    for start in range(0, n, _BLOCK):
        pp = probability_points(attributions, slice(start, start + _BLOCK))
        parts["r"].append(_rank(pp, allowed, k_eff, min_pp))
        parts["d"].append(_rank(pp, unprotected, k_eff, min_pp))
        parts["p"].append(_rank(pp, unprotected, p_eff, min_pp, sign=-1))
    out = {}
    for key, width in (("r", k), ("d", k), ("p", n_prot)):
        idx = np.concatenate([a for a, _ in parts[key]]) if n else np.zeros((0, width), dtype=np.int64)
        got = np.concatenate([b for _, b in parts[key]]) if n else np.zeros((0, width))
        pad = width - idx.shape[1]
        idx = np.pad(idx, ((0, 0), (0, pad)))
        got = np.pad(got, ((0, 0), (0, pad)), constant_values=np.nan)
        out[key] = (idx, got, *_values(idx, got, feats, X))
    idx, pp, features, values = out["r"]
    contributions = np.where(np.isnan(pp), 0.0, np.take_along_axis(
        attributions.values.astype(np.float64), idx, axis=1) if n else np.zeros((0, k)))
    return ReasonCodes(
        features=features, values=values, contributions=contributions, pp=np.nan_to_num(pp),
        driver_features=out["d"][2], driver_values=out["d"][3], driver_pp=np.nan_to_num(out["d"][1]),
        protective_features=out["p"][2], protective_values=out["p"][3], protective_pp=np.nan_to_num(out["p"][1]),
    )
