"""Month-over-month stability: population stability index (PSI) of the score and of every
feature, and drift of the drivers' shares of attribution.

PSI binning (the definition an auditor can re-compute)
------------------------------------------------------
PSI = sum over bins of ``(cur - ref) * ln(cur / ref)`` where ``ref``/``cur`` are the shares
of the reference (last month) and current customers in each bin.

* Low-cardinality numeric variables (0/1 flags, counts such as products 1-4): a numeric
  variable with at most ``MAX_LEVELS = 10`` distinct reference values (kind ``levels``) has one
  bin per reference value, labelled by the value; current values the reference never had fall
  into one bin ``(other)`` (reference share 0). Deciles of a flag held by < 10% of customers
  are all equal, so decile binning would give one bin and a PSI of 0 whatever happens.
* Other numeric variables (and the score), kind ``numeric``: every value holding at least
  ``SPIKE_SHARE = 0.1`` of the reference customers (the zero of a zero-inflated balance) is a
  *spike* with its own point bin ``[v, v]``; the remaining values are cut at their own deciles
  ``numpy.quantile(rest, [0.1, ..., 0.9], method="inverted_cdf")`` (computed in exact integer
  arithmetic: the k-th cut is the sorted value at position ``ceil(k * n / 10)``), always
  observed values, with duplicate cut points merged and cut points equal to the minimum of the
  rest dropped, so every interval bin holds at least one reference customer (a constant
  variable has one bin). Interval bins are left-closed ``[a, b)`` and exclude the spike values;
  the first is ``(-inf, c1)`` and the last ``[ck, inf)``, so current values outside the
  reference range fall into the open-ended first/last bins. Spike bins come first.
* Categorical variables (non-numeric dtype): each reference category is its own bin;
  categories first seen in the current month get their own bins (reference share 0).
  Values are compared as text.
* Missing values (NaN/None) are their own bin, labelled ``(missing)``, shown only when either
  month has missing values.
* Small-count epsilon: shares are floored at ``EPSILON = 1e-4`` before the formula (no
  renormalisation), so a bin empty in one month contributes a large but finite amount; a bin
  empty in both months contributes exactly 0.
* Bands: PSI < 0.1 ``stable``, 0.1 <= PSI < 0.25 ``moderate``, PSI >= 0.25 ``shift``.

:class:`ReferenceProfile` stores the cut points, levels, spikes, categories and reference shares
(not the raw data) and round-trips through JSON exactly, so next month's run can compute PSI
from ``reference_profile.json`` alone. Files are written as version 2; version 1 files (older
folders: kinds ``numeric``/``categorical`` without levels or spikes) are still read, and a
version-1 numeric profile is applied exactly as it was written (deciles, no spikes).

Driver drift: a driver's share is its mean |attribution| divided by the sum of all drivers'
mean |attribution|; the change is current minus previous share with a percentile bootstrap
95% CI (customers resampled with replacement independently in both months).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from churnlens.constants import PSI_EPSILON, PSI_MODERATE, PSI_SHIFT
from churnlens.errors import DataError
from churnlens.notes import Note
from churnlens.monitoring.results import DriverDrift, Monitoring, PSIBin, PSIResult

__all__ = [
    "EPSILON",
    "VariableProfile",
    "ReferenceProfile",
    "reference_profile",
    "profile_variable",
    "psi",
    "psi_against",
    "psi_from_profile",
    "driver_drift",
    "monitor",
    "band",
]

EPSILON = PSI_EPSILON
MISSING = "(missing)"
OTHER = "(other)"
MAX_LEVELS = 10  # numeric variables with at most this many distinct values: one bin per value
SPIKE_SHARE = 0.1  # a value held by at least this share of the reference gets its own bin
_FORMAT = "churnlens.reference_profile"
_VERSION = 2
_READS = (1, 2)


def band(value: float) -> str:
    """``stable`` (< 0.1), ``moderate`` (0.1-0.25) or ``shift`` (>= 0.25)."""
    if value < PSI_MODERATE:
        return "stable"
    if value < PSI_SHIFT:
        return "moderate"
    return "shift"


@dataclass(frozen=True)
class VariableProfile:
    """Reference binning of one variable.

    Attributes
    ----------
    name : str
    kind : str
        ``"numeric"``, ``"levels"`` or ``"categorical"``.
    edges : tuple of float
        Numeric: inner cut points ``c1 < ... < ck`` of the non-spike values (bins
        ``(-inf,c1), [c1,c2), ..., [ck,inf)``).
    categories : tuple of str
        Categorical: the reference categories, in order of decreasing share (ties by text).
    shares : tuple of float
        Reference share of each non-missing bin: numeric ``len(spikes) + len(edges) + 1``
        (spikes first), levels ``len(levels)``, categorical ``len(categories)``.
    missing_share : float
        Reference share of missing values.
    n : int
        Reference customers.
    """

    name: str
    kind: str
    edges: tuple[float, ...]
    categories: tuple[str, ...]
    shares: tuple[float, ...]
    missing_share: float
    n: int
    levels: tuple[float, ...] = ()  # kind "levels": the reference values, ascending
    spikes: tuple[float, ...] = ()  # kind "numeric": values with their own point bin, ascending

    def expected_shares(self) -> int:
        if self.kind == "numeric":
            return len(self.spikes) + len(self.edges) + 1
        return len(self.levels) if self.kind == "levels" else len(self.categories)


@dataclass(frozen=True)
class ReferenceProfile:
    """Binning and shares of the score and of every feature in the reference month."""

    score: VariableProfile
    features: tuple[VariableProfile, ...]
    label: str = ""  # e.g. the reference period, "2026-10"

    def to_json(self) -> str:
        """Exact JSON form (floats round-trip bit for bit)."""

        def var(v: VariableProfile) -> dict:
            return {
                "name": v.name, "kind": v.kind, "edges": list(v.edges), "categories": list(v.categories),
                "shares": list(v.shares), "missing_share": v.missing_share, "n": v.n,
                "levels": list(v.levels), "spikes": list(v.spikes),
            }

        return json.dumps(
            {"format": _FORMAT, "version": _VERSION, "label": self.label, "score": var(self.score),
             "features": [var(f) for f in self.features]},
            ensure_ascii=False, indent=1, allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str, *, source: str = "reference_profile.json") -> "ReferenceProfile":
        """Read :meth:`to_json` output; :class:`DataError` naming ``source`` when malformed."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as err:
            raise DataError(f"{source} is not valid JSON ({err}); re-run last month's report to rewrite it.") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise DataError(f"{source} is not a churnlens reference profile (missing \"format\": \"{_FORMAT}\").")
        if data.get("version") not in _READS:
            raise DataError(
                f"{source} has reference-profile version {data.get('version')!r}; this churnlens reads versions "
                f"{', '.join(map(str, _READS))}."
            )

        def var(d: dict, where: str) -> VariableProfile:
            try:
                v = VariableProfile(
                    name=str(d["name"]), kind=str(d["kind"]),
                    edges=tuple(float(x) for x in d["edges"]),
                    categories=tuple(str(x) for x in d["categories"]),
                    shares=tuple(float(x) for x in d["shares"]),
                    missing_share=float(d["missing_share"]), n=int(d["n"]),
                    levels=tuple(float(x) for x in d.get("levels", ())),
                    spikes=tuple(float(x) for x in d.get("spikes", ())),
                )
            except (KeyError, TypeError, ValueError) as err:
                raise DataError(f"{source}: entry {where} is incomplete or malformed ({err!r}).") from None
            expected = v.expected_shares()
            if v.kind not in ("numeric", "levels", "categorical") or len(v.shares) != expected:
                raise DataError(f"{source}: entry {where} has kind {v.kind!r} and {len(v.shares)} shares; "
                                f"expected kind numeric/levels/categorical and {expected} shares.")
            return v

        try:
            score = var(data["score"], "score")
            feats = tuple(var(f, f"features.{i}") for i, f in enumerate(data["features"]))
        except (KeyError, TypeError) as err:
            raise DataError(f"{source} lacks the key {err}; re-run last month's report to rewrite it.") from None
        return cls(score=score, features=feats, label=str(data.get("label", "")))


def _is_numeric(values) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _missing(values: pd.Series) -> np.ndarray:
    return values.isna().to_numpy()


def _numeric_bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # bin 0 = (-inf, c1), bin i = [c_i, c_{i+1}), bin k = [c_k, inf)
    return np.searchsorted(edges, values, side="right")


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _numeric_labels(edges: Sequence[float]) -> list[str]:
    bounds = [-math.inf, *edges, math.inf]
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        left = "(-inf" if lo == -math.inf else f"[{_fmt(lo)}"
        right = "inf)" if hi == math.inf else f"{_fmt(hi)})"
        out.append(f"{left}, {right}")
    return out


def profile_variable(values, *, name: str, categorical: Optional[bool] = None) -> VariableProfile:
    """Reference binning of one variable (see the module docstring).

    Parameters
    ----------
    values : array-like or Series, shape (n,)
    name : str
    categorical : bool, optional
        Force the kind; by default non-numeric (and boolean) dtypes are categorical.
    """
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    n = int(s.shape[0])
    if n == 0:
        raise DataError(f"Cannot profile {name!r}: the reference month has no customers.")
    if categorical is None:
        categorical = not _is_numeric(s)
    miss = _missing(s)
    missing_share = float(miss.sum() / n)
    if categorical:
        counts = s[~miss].astype(str).value_counts()
        items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return VariableProfile(
            name=name, kind="categorical", edges=(), categories=tuple(k for k, _ in items),
            shares=tuple(float(c / n) for _, c in items), missing_share=missing_share, n=n,
        )
    try:
        x = s.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise DataError(f"Column {name!r} is not numeric; cannot bin it by reference deciles.") from None
    x = x[~np.isnan(x)]
    values, counts = np.unique(x, return_counts=True)
    if 0 < values.size <= MAX_LEVELS:
        return VariableProfile(
            name=name, kind="levels", edges=(), categories=(), shares=tuple(float(c / n) for c in counts),
            missing_share=missing_share, n=n, levels=tuple(float(v) for v in values),
        )
    spikes = values[counts >= SPIKE_SHARE * x.size] if x.size else values[:0]
    spike_counts = counts[counts >= SPIKE_SHARE * x.size] if x.size else counts[:0]
    rest = x[~np.isin(x, spikes)] if spikes.size else x
    if rest.size == 0:
        edges = np.empty(0)
        rest_shares: tuple[float, ...] = (0.0,)
    else:
        # Exact inverted-CDF deciles in integer arithmetic (k-th decile = smallest value with
        # at least k*n/10 values at or below it); float probabilities like 0.30000000000000004
        # would otherwise skip an observed value.
        # (the nine order statistics by partition: the same values as a full sort gives)
        kth = (np.arange(1, 10) * rest.size + 9) // 10 - 1
        edges = np.unique(np.partition(rest, kth)[kth])
        edges = edges[edges > rest.min()]
        bins = np.bincount(_numeric_bins(rest, edges), minlength=edges.size + 1)
        rest_shares = tuple(float(c / n) for c in bins)
    return VariableProfile(
        name=name, kind="numeric", edges=tuple(float(e) for e in edges), categories=(),
        shares=tuple(float(c / n) for c in spike_counts) + rest_shares, missing_share=missing_share, n=n,
        spikes=tuple(float(v) for v in spikes),
    )


def psi_against(profile: VariableProfile, current) -> PSIResult:
    """PSI of ``current`` values against a stored reference binning."""
    s = pd.Series(current) if not isinstance(current, pd.Series) else current
    n = int(s.shape[0])
    if n == 0:
        raise DataError(f"Cannot compute PSI of {profile.name!r}: the current month has no customers.")
    miss = _missing(s)
    cur_missing = float(miss.sum() / n)
    if profile.kind in ("numeric", "levels"):
        if not _is_numeric(s) and not (miss.all()):
            raise DataError(
                f"Column {profile.name!r} was numeric in the reference month but is {s.dtype} now; "
                "check that both months use the same data layout."
            )
        x = s.to_numpy(dtype=np.float64, na_value=np.nan)[~miss]
        ref = list(profile.shares)
        if profile.kind == "levels":
            levels = np.asarray(profile.levels, dtype=np.float64)
            pos = np.searchsorted(levels, x)
            known = (pos < levels.size) & (levels[np.minimum(pos, levels.size - 1)] == x)
            counts = np.bincount(pos[known], minlength=levels.size)
            labels = [_fmt(v) for v in profile.levels]
            cur = [float(c / n) for c in counts]
            if not known.all():
                labels.append(OTHER)
                ref.append(0.0)
                cur.append(float((~known).sum() / n))
        else:
            spikes = np.asarray(profile.spikes, dtype=np.float64)
            is_spike = np.isin(x, spikes)
            spike_counts = np.array([(x == v).sum() for v in spikes], dtype=np.int64)
            edges = np.asarray(profile.edges, dtype=np.float64)
            counts = np.bincount(_numeric_bins(x[~is_spike], edges), minlength=edges.size + 1)
            labels = [f"[{_fmt(v)}, {_fmt(v)}]" for v in profile.spikes] + _numeric_labels(profile.edges)
            cur = [float(c / n) for c in spike_counts] + [float(c / n) for c in counts]
    else:
        counts = s[~miss].astype(str).value_counts()
        known = set(profile.categories)
        new = sorted(k for k in counts.index if k not in known)
        labels = [*profile.categories, *new]
        ref = [*profile.shares, *([0.0] * len(new))]
        cur = [float(counts.get(k, 0) / n) for k in labels]
    if profile.missing_share > 0 or cur_missing > 0:
        labels.append(MISSING)
        ref.append(profile.missing_share)
        cur.append(cur_missing)
    r = np.maximum(np.asarray(ref, dtype=np.float64), EPSILON)
    c = np.maximum(np.asarray(cur, dtype=np.float64), EPSILON)
    contrib = (c - r) * np.log(c / r)
    bins = tuple(
        PSIBin(label=lab, reference_share=float(rs), current_share=float(cs), contribution=float(ct))
        for lab, rs, cs, ct in zip(labels, ref, cur, contrib)
    )
    total = float(contrib.sum())
    return PSIResult(name=profile.name, psi=total, band=band(total), bins=bins)


def psi(reference, current, *, categorical: bool = False, name: str = "score") -> PSIResult:
    """PSI of ``current`` against ``reference`` (binning in the module docstring).

    Parameters
    ----------
    reference, current : array-like, shapes (n_ref,), (n_cur,)
    categorical : bool
        Treat values as categories (each its own bin) instead of binning by reference deciles.
    name : str
        Name carried into the result.
    """
    return psi_against(profile_variable(reference, name=name, categorical=categorical), current)


def _check_score(score, n: int, what: str) -> np.ndarray:
    score = np.asarray(score, dtype=np.float64)
    if score.ndim != 1 or score.shape[0] != n:
        raise DataError(f"{what}: expected one score per customer ({n}), found shape {score.shape}.")
    return score


def reference_profile(X: pd.DataFrame, score: np.ndarray, *, label: str = "") -> ReferenceProfile:
    """Profile this month's features and scores as next month's PSI reference.

    Parameters
    ----------
    X : DataFrame, shape (n, f)
        Model features (source columns); numeric dtypes are binned by deciles, others by category.
    score : ndarray, shape (n,)
        Predicted churn probability.
    label : str
        What the profile describes, e.g. the period "2026-11".
    """
    score = _check_score(score, X.shape[0], "reference_profile")
    return ReferenceProfile(
        score=profile_variable(score, name="score", categorical=False),
        features=tuple(profile_variable(X[c], name=str(c)) for c in X.columns),
        label=label,
    )


def psi_from_profile(profile: ReferenceProfile, X: pd.DataFrame, score: np.ndarray) -> tuple[PSIResult, tuple[PSIResult, ...]]:
    """PSI of the score and of each profiled feature (in profile order) against ``profile``.

    Raises
    ------
    DataError
        A profiled feature is missing from ``X``, or changed from numeric to text.
    """
    score = _check_score(score, X.shape[0], "psi_from_profile")
    missing = [f.name for f in profile.features if f.name not in X.columns]
    if missing:
        raise DataError(
            f"The reference profile has feature(s) {missing} that are not in this month's data "
            f"(columns are: {', '.join(map(str, X.columns))}). Use the same model and data layout as the previous month."
        )
    return psi_against(profile.score, score), tuple(psi_against(f, X[f.name]) for f in profile.features)


def _abs_means_boot(a: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap means of the rows of ``a`` (already |attribution|), shape (n_boot, f).

    Each resample is a vector of resampling counts (bincount of n uniform draws), so a chunk
    of resamples is one matrix product ``a.T @ counts.T`` (~50 MB of counts per chunk).
    """
    from threadpoolctl import threadpool_limits

    n = a.shape[0]
    out = np.empty((n_boot, a.shape[1]))
    a_t = np.ascontiguousarray(a.T)  # (f, n) @ (n, b) is the fast orientation for OpenBLAS
    chunk = max(1, min(64, 6_000_000 // max(n, 1)))
    # One BLAS thread: measured faster and far steadier than two on a shared 2-core machine.
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, n_boot, chunk):
            b = min(chunk, n_boot - start)
            idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
            counts = np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)
            out[start:start + b] = (a_t @ counts.T).T / n
    return out


def _shares(means: np.ndarray) -> np.ndarray:
    tot = means.sum(axis=-1, keepdims=True)
    return np.divide(means, tot, out=np.zeros_like(means), where=tot > 0)


def _check_values(v, f: int, what: str) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != f:
        raise DataError(f"{what} attributions must have shape (customers, {f}); found {v.shape}.")
    if v.shape[0] == 0:
        raise DataError(f"{what} attributions hold no customers.")
    if not np.isfinite(v).all():
        raise DataError(f"{what} attributions contain NaN or infinite values.")
    return np.abs(v)


def driver_drift(
    previous_values: np.ndarray,
    current_values: np.ndarray,
    features: Sequence[str],
    *,
    n_boot: int = 200,
    seed: int = 0,
) -> tuple[DriverDrift, ...]:
    """Change of each driver's share of mean |attribution| between two months.

    Parameters
    ----------
    previous_values : ndarray, shape (n_prev, f)
    current_values : ndarray, shape (n_cur, f)
        Signed attributions, same features in the same order.
    features : sequence of str, length f
    n_boot : int
        Bootstrap resamples (customers resampled with replacement in both months).
    seed : int
        Same seed, same CIs.

    Returns
    -------
    tuple of DriverDrift
        Sorted by |change| descending, ties by feature name. ``ci_low``/``ci_high`` are the
        2.5% / 97.5% percentiles of the bootstrap changes.
    """
    f = len(features)
    prev = _check_values(previous_values, f, "Previous month's")
    cur = _check_values(current_values, f, "Current month's")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, not {n_boot}")
    p_share = _shares(prev.mean(axis=0))
    c_share = _shares(cur.mean(axis=0))
    rng_p, rng_c = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    boot = _shares(_abs_means_boot(cur, n_boot, rng_c)) - _shares(_abs_means_boot(prev, n_boot, rng_p))
    lo, hi = np.quantile(boot, [0.025, 0.975], axis=0)
    change = c_share - p_share
    rows = [
        DriverDrift(feature=str(features[j]), previous_share=float(p_share[j]), current_share=float(c_share[j]),
                    change=float(change[j]), ci_low=float(lo[j]), ci_high=float(hi[j]))
        for j in range(f)
    ]
    return tuple(sorted(rows, key=lambda d: (-abs(d.change), d.feature)))


def monitor(
    profile: ReferenceProfile,
    X: pd.DataFrame,
    score: np.ndarray,
    previous_values: Optional[np.ndarray],
    current_values: Optional[np.ndarray],
    features: Sequence[str],
    *,
    reference: Note,
    n_boot: int = 200,
    seed: int = 0,
) -> Monitoring:
    """PSI of the score and features against ``profile`` plus driver drift.

    ``previous_values``/``current_values`` are the two months' attribution matrices
    (shapes (n_prev, f), (n_cur, f), columns ``features``); pass None for either to skip
    driver drift (``driver_drift`` is then empty). ``feature_psi`` is sorted by PSI
    descending (ties by name). ``reference`` says what was compared against (a code and its
    parameters, e.g. the previous folder and period; the reports word it).
    """
    score_psi, feats = psi_from_profile(profile, X, score)
    drift: tuple[DriverDrift, ...] = ()
    if previous_values is not None and current_values is not None:
        drift = driver_drift(previous_values, current_values, features, n_boot=n_boot, seed=seed)
    return Monitoring(
        reference=reference,
        score_psi=score_psi,
        feature_psi=tuple(sorted(feats, key=lambda r: (-r.psi, r.name))),
        driver_drift=drift,
    )
