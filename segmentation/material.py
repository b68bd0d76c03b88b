"""Material drivers: each churner's few risk-raising reasons, and segments defined by them.

The method (what an auditor re-derives):

1. **Reference.** Path-dependent TreeSHAP measures every feature against the average
   customer: a binary effect ``c`` of prevalence ``pi`` shows as ``c (1 - pi)`` for the
   exposed and ``-c pi`` for the others, so common mechanisms look weaker than rare ones.
   Each feature's attribution is therefore re-measured against the *typical* customer:
   ``corrected = attribution - median`` (median over the non-churners among the population
   rows, i.e. rows with a population weight > 0; 0 when there are none). For a binary effect of prevalence < 50% this
   gives exactly ``c`` to the exposed and 0 to the others.
2. **Material drivers.** A churner's risk-raising corrected attribution on a feature is
   material when it is at least ``max(floor, materiality x the churner's largest one)``.
   Only material drivers enter the clustering profile (their shares, summing to 1) and the
   assignment; churners without one are "mixed reasons" (code ``no_material_driver``).
3. **Candidate segments.** HDBSCAN on the material profiles of a fitting sample (when it
   finds no split: the churners whose profile has cosine >= 0.8 with the mean one); clusters
   whose members do not share reasons (mean cosine to the mean profile < 0.7) are dropped,
   clusters with the same reasons (cosine of mean profiles >= 0.8) merged.
4. **Combinations.** Clusters are examined from the simplest (fewest material drivers per
   member) up. A cluster whose mean profile is reproduced (cosine >= 0.97) by a
   non-negative mix (NNLS) of at least two simpler segments' profiles, each carrying >= 15%,
   is a *combination* of them, not a segment of its own.
5. **One mechanism, several features.** Segments whose drivers are material together for
   at least half of the churners of the smaller one are merged (see :func:`merge_cooccurring`).
   **Ownership.** Each feature belongs to the segment whose mean profile gives it the
   largest share, when that share is >= 5%; other features belong to no segment.
6. **Assignment.** A churner's contribution to segment ``k`` is the sum of its material
   drivers owned by ``k``. Its segment is the one with the largest contribution (ties: the
   lower id), unless the material drivers that belong to no segment carry more (then
   "mixed reasons", code ``no_segment_driver``). Membership strength = that contribution /
   all its material attribution. Secondary segment = the second-largest contribution when
   it is itself material (>= ``max(floor, materiality x primary contribution)``).
   Segments with fewer primary members than ``min_cluster_size`` are dissolved (smallest
   first, ownership recomputed) and their members re-assigned.

Everything here returns numbers and codes; thresholds live in :mod:`churnlens.constants`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from churnlens.constants import (
    COHERENCE_MIN,
    COMBINATION_COS,
    COMBINATION_PART,
    COOCCURRENCE,
    MATERIAL_FLOORS as FLOORS,
    ONE_SEGMENT_SIMILARITY,
    OWN_MIN,
    SAME_REASONS,
)

MIXED = -1


def floor_for(output_space: str, floor: float | None) -> float:
    """The absolute materiality floor: ``floor`` when given, else the output space's default."""
    if floor is not None:
        return float(floor)
    return FLOORS.get(output_space, FLOORS["log_odds"])


def reference(values: np.ndarray, weights: np.ndarray, churner: np.ndarray) -> np.ndarray:
    """Median attribution per feature over the typical customers: the population rows
    (weight > 0) that are not churners; 0 (the model's average customer) when there are none.

    Parameters
    ----------
    values : ndarray, shape (n, f)
    weights : ndarray, shape (n,)
    churner : ndarray of bool, shape (n,)

    Returns
    -------
    ndarray of float64, shape (f,)
    """
    typical = (np.asarray(weights) > 0) & ~np.asarray(churner, dtype=bool)
    if not typical.any():
        return np.zeros(values.shape[1])
    # a few columns at a time: the typical customers are most of the book with attribution.mode
    # all, and their float64 copy (and median's own copy) would be twice the float32 matrix
    rows, f = np.flatnonzero(typical), values.shape[1]
    return np.concatenate([np.median(np.asarray(values[rows, j:j + 8], dtype=np.float64), axis=0)
                           for j in range(0, f, 8)])


def material(values: np.ndarray, ref: np.ndarray, *, materiality: float, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Corrected risk-raising attributions and their material part.

    Parameters
    ----------
    values : ndarray, shape (m, f)
        The churners' attributions.
    ref : ndarray, shape (f,)

    Returns
    -------
    positive : ndarray of float64, shape (m, f)
        ``max(values - ref, 0)``.
    material : ndarray of float64, shape (m, f)
        ``positive`` where it is >= ``max(floor, materiality x row maximum)``, else 0.
    """
    pos = np.clip(np.asarray(values, dtype=np.float64) - ref, 0.0, None)
    cut = np.maximum(floor, materiality * pos.max(axis=1, keepdims=True)) if pos.shape[1] else pos
    mat = np.where(pos >= cut - 1e-12, pos, 0.0)
    mat[pos <= 0] = 0.0
    return pos, mat


def shares_of(mat: np.ndarray) -> np.ndarray:
    """Rows divided by their sum (all-zero rows stay 0)."""
    tot = mat.sum(axis=1, keepdims=True)
    return np.divide(mat, tot, out=np.zeros_like(mat), where=tot > 0)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 0)


def coherence(shares: np.ndarray) -> float:
    """Mean cosine of the rows with their mean (1 = identical reasons)."""
    return float((_unit(shares) @ _unit(shares.mean(axis=0))).mean()) if shares.shape[0] else 0.0


@dataclass(frozen=True)
class Discovery:
    """Segments found on a fitting sample, as mean material profiles."""

    centroids: np.ndarray  # (k, f) mean material shares of each pure segment
    combinations: tuple[tuple[int, tuple[int, ...]], ...]  # (cluster size, indices of its parts in centroids)
    n_diffuse: int  # HDBSCAN clusters dropped because their members did not share reasons
    n_merged: int  # clusters merged into another with the same reasons
    n_raw: int  # HDBSCAN clusters before any of the above (0: HDBSCAN found no split)


def hdbscan_labels(points: np.ndarray, *, mcs: int, ms: int) -> np.ndarray:
    import hdbscan

    if points.shape[0] < 2 or float(np.ptp(points, axis=0).max()) <= 1e-12:
        return np.full(points.shape[0], MIXED, dtype=np.int64)  # identical profiles: no density structure
    model = hdbscan.HDBSCAN(min_cluster_size=int(mcs), min_samples=int(ms), core_dist_n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        return model.fit(points).labels_.astype(np.int64)


def _clusters(shares: np.ndarray, raw: np.ndarray) -> tuple[list[np.ndarray], int, int]:
    """Members of the coherent clusters after merging those with the same reasons."""
    groups = [np.flatnonzero(raw == c) for c in np.unique(raw[raw >= 0])]
    if not groups:  # no split: the churners close to the mean profile are the one candidate
        cos = _unit(shares) @ _unit(shares.mean(axis=0))
        groups = [np.flatnonzero(cos >= ONE_SEGMENT_SIMILARITY - 1e-12)]
    kept = [g for g in groups if coherence(shares[g]) >= COHERENCE_MIN]
    n_diffuse = len(groups) - len(kept)
    n_merged = 0
    while len(kept) > 1:
        unit = _unit(np.array([shares[g].mean(axis=0) for g in kept]))
        cos = np.triu(unit @ unit.T, k=1)
        i, j = np.unravel_index(int(np.argmax(cos)), cos.shape)
        if cos[i, j] < SAME_REASONS - 1e-12:
            break
        kept[i] = np.sort(np.r_[kept[i], kept[j]])
        del kept[j]
        n_merged += 1
    return kept, n_diffuse, n_merged


def resolve(shares: np.ndarray, groups: list[np.ndarray]) -> tuple[list[int], list[tuple[int, tuple[int, ...]]]]:
    """Split candidate clusters into pure ones and combinations of simpler pure ones.

    Returns the indices of pure groups (in examination order) and, for each combination,
    (group index, indices into the pure list of its parts).
    """
    from scipy.optimize import nnls

    centre = [shares[g].mean(axis=0) for g in groups]
    n_drivers = [float((shares[g] > 0).sum(axis=1).mean()) for g in groups]
    order = sorted(range(len(groups)), key=lambda i: (n_drivers[i], -groups[i].size, i))
    pure: list[int] = []
    combos: list[tuple[int, tuple[int, ...]]] = []
    for i in order:
        if len(pure) >= 2:
            basis = np.array([centre[p] for p in pure]).T  # (f, k)
            w, _ = nnls(basis, centre[i])
            rec = basis @ w
            part = w * basis.sum(axis=0)
            cos = float(_unit(rec) @ _unit(centre[i]))
            parts = np.flatnonzero(part >= COMBINATION_PART * max(part.sum(), 1e-12))
            if cos >= COMBINATION_COS and parts.size >= 2:
                combos.append((i, tuple(int(p) for p in parts)))
                continue
        pure.append(i)
    return pure, combos


def discover(shares: np.ndarray, embedding: np.ndarray, *, mcs: int, ms: int) -> Discovery:
    """Steps 3-4 of the module docstring on one fitting sample (rows with a material driver)."""
    raw = hdbscan_labels(embedding, mcs=mcs, ms=ms)
    n_raw = int(raw.max()) + 1 if raw.size else 0
    if shares.shape[0] < mcs:
        return Discovery(np.zeros((0, shares.shape[1])), (), 0, 0, n_raw)
    groups, n_diffuse, n_merged = _clusters(shares, raw)
    groups = [g for g in groups if g.size >= 2]
    pure, combos = resolve(shares, groups) if groups else ([], [])
    centroids = np.array([shares[groups[i]].mean(axis=0) for i in pure]).reshape(len(pure), shares.shape[1])
    return Discovery(
        centroids=centroids,
        combinations=tuple((int(groups[i].size), parts) for i, parts in combos),
        n_diffuse=n_diffuse,
        n_merged=n_merged,
        n_raw=n_raw,
    )


def ownership(centroids: np.ndarray) -> np.ndarray:
    """Feature -> segment index (the largest mean-profile share, when >= OWN_MIN), -1 none; shape (f,)."""
    if centroids.shape[0] == 0:
        return np.full(centroids.shape[1], MIXED, dtype=np.int64)
    best = np.argmax(centroids, axis=0)  # first maximum: deterministic
    return np.where(centroids.max(axis=0) >= OWN_MIN, best, MIXED).astype(np.int64)


@dataclass(frozen=True)
class Assignment:
    labels: np.ndarray  # (m,) primary segment index, MIXED
    secondary: np.ndarray  # (m,) secondary segment index, MIXED
    strength: np.ndarray  # (m,) primary contribution / material total (0 for mixed)
    contributions: np.ndarray  # (m, k) material attribution owned by each segment
    unowned: np.ndarray  # (m,) material attribution on features of no segment


def assign(mat: np.ndarray, owner: np.ndarray, k: int, *, materiality: float, floor: float) -> Assignment:
    """Step 6 of the module docstring for the material attributions ``mat`` (m, f)."""
    m = mat.shape[0]
    onehot = np.zeros((mat.shape[1], k))
    owned = owner >= 0
    onehot[np.flatnonzero(owned), owner[owned]] = 1.0
    contrib = mat @ onehot  # (m, k)
    unowned = mat[:, ~owned].sum(axis=1)
    total = mat.sum(axis=1)
    if k == 0:
        z = np.full(m, MIXED, dtype=np.int64)
        return Assignment(z, z.copy(), np.zeros(m), contrib, unowned)
    order = np.argsort(-contrib, axis=1, kind="stable")
    prim = order[:, 0]
    pv = contrib[np.arange(m), prim]
    ok = (pv > 0) & (pv >= unowned - 1e-12)
    labels = np.where(ok, prim, MIXED).astype(np.int64)
    strength = np.where(ok, np.divide(pv, total, out=np.zeros(m), where=total > 0), 0.0)
    secondary = np.full(m, MIXED, dtype=np.int64)
    if k > 1:
        sec = order[:, 1]
        sv = contrib[np.arange(m), sec]
        has = ok & (sv > 0) & (sv >= np.maximum(floor, materiality * pv) - 1e-12)
        secondary[has] = sec[has]
    return Assignment(labels, secondary, np.clip(strength, 0.0, 1.0), contrib, unowned)


def _present(mat: np.ndarray, owner: np.ndarray, k: int) -> np.ndarray:
    """(m, k) bool: the churner has a material driver owned by segment k."""
    onehot = np.zeros((mat.shape[1], k))
    owned = owner >= 0
    onehot[np.flatnonzero(owned), owner[owned]] = 1.0
    return (mat @ onehot) > 0


def merge_cooccurring(mat: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, int]:
    """Merge segments whose drivers are material together for most churners of the smaller one.

    One mechanism acting through two features looks, to a density clusterer, like two
    single-feature groups and their "combination"; two mechanisms co-occur only in the
    churners who carry both. Segments ``i, j`` are one when the churners with a material
    driver of both are at least ``COOCCURRENCE`` of the smaller of the two groups (the
    most co-occurring pair first; merged mean profile weighted by the groups' sizes).
    """
    cents = centroids
    merged = 0
    while cents.shape[0] > 1:
        z = _present(mat, ownership(cents), cents.shape[0]).astype(np.float64)
        n = z.sum(axis=0)
        both = z.T @ z
        ratio = np.triu(np.divide(both, np.minimum.outer(n, n), out=np.zeros_like(both),
                                  where=np.minimum.outer(n, n) > 0), k=1)
        i, j = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        if ratio[i, j] < COOCCURRENCE - 1e-12:
            break
        w = np.array([max(n[i], 1.0), max(n[j], 1.0)])
        cents = cents.copy()
        cents[i] = (w[0] * cents[i] + w[1] * cents[j]) / w.sum()
        cents = np.delete(cents, j, axis=0)
        merged += 1
    return cents, merged


def settle_segments(mat: np.ndarray, centroids: np.ndarray, *, mcs: int, materiality: float,
                    floor: float) -> tuple[np.ndarray, Assignment, int, int]:
    """Co-occurring segments merged, then ownership and assignment, dissolving segments with
    fewer than ``mcs`` primary members (smallest first).

    Returns the kept centroids (k, f), the assignment, how many segments were dissolved and
    how many were merged as co-occurring.
    """
    cents, merged = merge_cooccurring(mat, centroids)
    dissolved = 0
    while True:
        owner = ownership(cents)
        a = assign(mat, owner, cents.shape[0], materiality=materiality, floor=floor)
        sizes = np.bincount(a.labels[a.labels >= 0], minlength=cents.shape[0])
        small = np.flatnonzero(sizes < mcs)
        if small.size == 0 or cents.shape[0] == 0:
            return cents, a, dissolved, merged
        drop = small[np.lexsort((small, sizes[small]))[0]]  # the smallest first (ties: lower index)
        cents = np.delete(cents, drop, axis=0)
        dissolved += 1


def scaled_mcs(mcs: int, n_sub: int, n: int) -> int:
    return max(2, int(math.ceil(mcs * n_sub / max(n, 1) - 1e-9)))
