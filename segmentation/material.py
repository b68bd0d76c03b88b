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
   Only material drivers enter the clustering profile (their shares, summing to 1); churners
   without one take no part in finding segments (their assignment: the end of step 6).
3. **Candidate segments.** HDBSCAN on the material profiles of a fitting sample (when it
   finds no split: the churners whose profile has cosine >= 0.8 with the mean one); clusters
   whose members do not share reasons are dropped: the mean cosine of the members' profiles
   to the cluster's mean profile, each member weighted by its total material attribution,
   must reach 0.7 (a mechanism's churners whose other drivers fell below the floor weigh
   little); clusters with the same reasons are merged: cosine of mean profiles >= 0.8 and
   every feature with >= 15% of one mean profile is a driver (below) of the other.
   **Drivers.** A cluster's (later a segment's) drivers are the features its mean profile
   gives a share >= 5% (:func:`drivers_of`). Drivers are not exclusive: two mechanisms that
   act partly through the same feature both have it.
4. **Partials and combinations.** A cluster whose drivers are all drivers of a cluster with
   more members and more drivers is a *partial* of it (that mechanism's churners whose other
   drivers fell below materiality), not a segment (:func:`partials`). The other clusters are
   examined from the largest (most members; ties: fewer material drivers per member) down.
   A cluster whose mean profile is reproduced (cosine >= 0.97) by a non-negative mix (NNLS)
   of at least two larger segments' profiles, each carrying >= 15%, is a *combination* of
   them (their overlap), not a segment of its own.
5. **One mechanism, several features.** Only a segment's *private* drivers (drivers of no
   other segment) count here: two segments are merged when the fitting sample's churners with
   a material private driver of both are at least half of the smaller of the two groups
   (churners with a material private driver of the one, of the other); see
   :func:`merge_cooccurring`. A driver two segments share is no evidence that they are one.
6. **Assignment** (:func:`assign`). A churner's *part* in segment ``k`` is the sum of its
   material attributions on ``k``'s drivers. Its segment is the one with the largest part;
   when several have the same largest part (its material drivers are drivers of each, e.g.
   one driver two mechanisms share), the one whose profile -- its mean shares on its drivers,
   as a unit vector -- has the largest dot product with the churner's risk-raising
   attributions (``max(corrected, 0)`` on every feature; then the lower id). It is "mixed
   reasons" (code ``no_segment_driver``) instead when its material drivers that are no
   segment's drivers carry more than that part. Membership strength = that part / all its
   material attribution. Secondary segment = among the other segments, the one with the
   largest sum of the churner's material attributions on features that are not drivers of
   its primary segment, when that sum is itself material (>= ``max(floor, materiality x
   primary part)``).
   A churner **without a material driver** joins a segment when its largest risk-raising
   attribution is on one of the segment's drivers and its risk-raising attributions on the
   segment's drivers *together* reach ``floor`` (a mechanism spread thinly over several
   features): among such segments the largest sum (ties as above); membership strength =
   that sum / all its risk-raising attribution; no secondary segment. Other churners
   without one are "mixed reasons" (code ``no_material_driver``).
   Segments with fewer primary members than ``min_cluster_size`` are dissolved (smallest
   first) and every churner re-assigned.

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
    DRIVER_MIN,
    MAJOR_DRIVER,
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


def coherence(shares: np.ndarray, mass: np.ndarray | None = None) -> float:
    """Mean cosine of the rows with their mean (1 = identical reasons), each row weighted by
    ``mass`` (its material attribution; equal weights when None)."""
    if not shares.shape[0]:
        return 0.0
    cos = _unit(shares) @ _unit(shares.mean(axis=0))
    if mass is None or float(np.sum(mass)) <= 0:
        return float(cos.mean())
    return float(np.sum(cos * mass) / np.sum(mass))


@dataclass(frozen=True)
class Discovery:
    """Segments found on a fitting sample, as mean material profiles."""

    centroids: np.ndarray  # (k, f) mean material shares of each pure segment
    combinations: tuple[tuple[int, tuple[int, ...]], ...]  # (cluster size, indices of its parts in centroids)
    n_diffuse: int  # HDBSCAN clusters dropped because their members did not share reasons
    n_merged: int  # clusters merged into another with the same reasons
    n_raw: int  # HDBSCAN clusters before any of the above (0: HDBSCAN found no split)
    n_partial: int = 0  # clusters whose drivers are all drivers of a larger cluster (not segments)


def hdbscan_labels(points: np.ndarray, *, mcs: int, ms: int) -> np.ndarray:
    import hdbscan

    if points.shape[0] < 2 or float(np.ptp(points, axis=0).max()) <= 1e-12:
        return np.full(points.shape[0], MIXED, dtype=np.int64)  # identical profiles: no density structure
    model = hdbscan.HDBSCAN(min_cluster_size=int(mcs), min_samples=int(ms), core_dist_n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        return model.fit(points).labels_.astype(np.int64)


def same_drivers(centroids: np.ndarray) -> np.ndarray:
    """(k, k) bool: every major driver (mean share >= ``MAJOR_DRIVER``) of each profile is a
    driver (>= ``DRIVER_MIN``) of the other -- the two have the same reasons, up to minor ones."""
    drv = drivers_of(centroids).astype(np.int64)
    major = (np.asarray(centroids) >= MAJOR_DRIVER - 1e-12).astype(np.int64)
    missing = major @ (1 - drv).T  # (i, j): major drivers of i that are not drivers of j
    return (missing == 0) & (missing.T == 0)


def _clusters(shares: np.ndarray, mass: np.ndarray, raw: np.ndarray) -> tuple[list[np.ndarray], int, int]:
    """Members of the coherent clusters after merging those with the same reasons."""
    groups = [np.flatnonzero(raw == c) for c in np.unique(raw[raw >= 0])]
    if not groups:  # no split: the churners close to the mean profile are the one candidate
        cos = _unit(shares) @ _unit(shares.mean(axis=0))
        groups = [np.flatnonzero(cos >= ONE_SEGMENT_SIMILARITY - 1e-12)]
    kept = [g for g in groups if coherence(shares[g], mass[g]) >= COHERENCE_MIN]
    n_diffuse = len(groups) - len(kept)
    n_merged = 0
    while len(kept) > 1:
        centre = np.array([shares[g].mean(axis=0) for g in kept])
        unit = _unit(centre)
        cos = np.triu(np.where(same_drivers(centre), unit @ unit.T, -1.0), k=1)
        i, j = np.unravel_index(int(np.argmax(cos)), cos.shape)
        if cos[i, j] < SAME_REASONS - 1e-12:
            break
        kept[i] = np.sort(np.r_[kept[i], kept[j]])
        del kept[j]
        n_merged += 1
    return kept, n_diffuse, n_merged


def drivers_of(centroids: np.ndarray) -> np.ndarray:
    """(k, f) bool: the features of each segment's profile (mean share >= ``DRIVER_MIN``).

    Not exclusive: two segments whose mechanisms share a feature both have it.
    """
    return np.asarray(centroids) >= DRIVER_MIN - 1e-12


def partials(groups: list[np.ndarray], drivers: np.ndarray) -> list[int]:
    """Indices of the groups whose drivers are a proper subset of a larger group's drivers.

    Such a group is the larger mechanism's churners whose other drivers fell below
    materiality, not a mechanism of its own.
    """
    size = np.array([g.size for g in groups])
    out = []
    for i in range(len(groups)):
        inside = ~(drivers[i] & ~drivers).any(axis=1) & (drivers.sum(axis=1) > drivers[i].sum())
        if (inside & (size > size[i])).any():
            out.append(i)
    return out


def resolve(shares: np.ndarray, groups: list[np.ndarray]) -> tuple[list[int], list[tuple[int, tuple[int, ...]]], int]:
    """Split candidate clusters into partials, pure ones and combinations of larger pure ones.

    Returns the indices of pure groups (in examination order), for each combination
    (group index, indices into the pure list of its parts), and how many were partials.
    """
    from scipy.optimize import nnls

    centre = [shares[g].mean(axis=0) for g in groups]
    part_of = set(partials(groups, drivers_of(np.array(centre))))
    n_drivers = [float((shares[g] > 0).sum(axis=1).mean()) for g in groups]
    order = sorted((i for i in range(len(groups)) if i not in part_of), key=lambda i: (-groups[i].size, n_drivers[i], i))
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
    return pure, combos, len(part_of)


def discover(shares: np.ndarray, mass: np.ndarray, embedding: np.ndarray, *, mcs: int, ms: int) -> Discovery:
    """Steps 3-4 of the module docstring on one fitting sample (rows with a material driver;
    ``mass``: each row's material attribution)."""
    raw = hdbscan_labels(embedding, mcs=mcs, ms=ms)
    n_raw = int(raw.max()) + 1 if raw.size else 0
    if shares.shape[0] < mcs:
        return Discovery(np.zeros((0, shares.shape[1])), (), 0, 0, n_raw)
    groups, n_diffuse, n_merged = _clusters(shares, mass, raw)
    groups = [g for g in groups if g.size >= 2]
    pure, combos, n_partial = resolve(shares, groups) if groups else ([], [], 0)
    centroids = np.array([shares[groups[i]].mean(axis=0) for i in pure]).reshape(len(pure), shares.shape[1])
    return Discovery(
        centroids=centroids,
        combinations=tuple((int(groups[i].size), parts) for i, parts in combos),
        n_diffuse=n_diffuse,
        n_merged=n_merged,
        n_raw=n_raw,
        n_partial=n_partial,
    )


@dataclass(frozen=True)
class Assignment:
    labels: np.ndarray  # (m,) primary segment index, MIXED
    secondary: np.ndarray  # (m,) secondary segment index, MIXED
    strength: np.ndarray  # (m,) primary part / material total (0 for mixed)
    joint: np.ndarray  # (m,) bool: joined through its risk-raising attribution on the drivers together


ASSIGN_CHUNK = 131_072  # rows per block of the assignment (bounds its temporary memory)
TIE = 1e-9  # relative difference below which two segments' parts of a churner are equal


def _best(part: np.ndarray, eligible: np.ndarray, match: np.ndarray) -> np.ndarray:
    """Per row, the eligible column with the largest ``part``; ties by the largest ``match``,
    then the lower index."""
    part = np.where(eligible, part, 0.0)
    top = part.max(axis=1, keepdims=True)
    tied = eligible & (part > 0) & (part >= top - TIE * np.maximum(top, 1.0))
    return np.argmax(np.where(tied, match, -np.inf), axis=1)


def assign(mat: np.ndarray, pos: np.ndarray, centroids: np.ndarray, *, materiality: float, floor: float) -> Assignment:
    """Step 6 of the module docstring for the material attributions ``mat`` (m, f) and the
    risk-raising attributions ``pos`` (m, f) of the same churners."""
    m, k = mat.shape[0], centroids.shape[0]
    labels = np.full(m, MIXED, dtype=np.int64)
    secondary = np.full(m, MIXED, dtype=np.int64)
    strength = np.zeros(m)
    joint = np.zeros(m, dtype=bool)
    if k == 0:
        return Assignment(labels, secondary, strength, joint)
    drv = drivers_of(centroids)
    onehot = drv.T.astype(np.float64)  # (f, k)
    direction = _unit(np.where(drv, centroids, 0.0)).T  # (f, k): each profile on its drivers, unit length
    nowhere = ~drv.any(axis=0)
    every = np.ones((1, k), dtype=bool)
    for lo in range(0, m, ASSIGN_CHUNK):
        hi = min(m, lo + ASSIGN_CHUNK)
        x, p = mat[lo:hi], pos[lo:hi]
        r = np.arange(hi - lo)
        total = x.sum(axis=1)
        contrib = x @ onehot  # (b, k) material attribution on each segment's drivers
        match = p @ direction  # (b, k) risk-raising attribution along each segment's profile
        prim = _best(contrib, every, match)
        pv = contrib[r, prim]
        ok = (pv > 0) & (pv >= x[:, nowhere].sum(axis=1) - 1e-12)
        lab = np.where(ok, prim, MIXED)
        st = np.where(ok, np.divide(pv, total, out=np.zeros(hi - lo), where=total > 0), 0.0)
        sec = np.full(hi - lo, MIXED, dtype=np.int64)
        if k > 1:
            rest = (x * ~drv[prim]) @ onehot  # material attribution off the primary's drivers
            rest[r, prim] = 0.0
            s2 = np.argmax(rest, axis=1)
            sv = rest[r, s2]
            has = ok & (sv > 0) & (sv >= np.maximum(floor, materiality * pv) - 1e-12)
            sec[has] = s2[has]
        # No material driver: the drivers of one segment may be material together.
        none = np.flatnonzero(total <= 0)
        if none.size:
            q = p[none]
            together = q @ onehot  # (b0, k) risk-raising attribution on each segment's drivers
            eligible = drv.T[np.argmax(q, axis=1)]  # the churner's largest driver is one of the segment's
            j = _best(together, eligible, match[none])
            jv = together[np.arange(none.size), j]
            take = eligible[np.arange(none.size), j] & (jv > 0) & (jv >= floor - 1e-12)
            qsum = q.sum(axis=1)
            lab[none[take]] = j[take]
            st[none[take]] = np.divide(jv, qsum, out=np.zeros(none.size), where=qsum > 0)[take]
            joint[lo + none[take]] = True
        labels[lo:hi], strength[lo:hi], secondary[lo:hi] = lab, st, sec
    return Assignment(labels, secondary, np.clip(strength, 0.0, 1.0), joint)


def private_drivers(centroids: np.ndarray) -> np.ndarray:
    """(k, f) bool: each segment's drivers that are drivers of no other segment."""
    drv = drivers_of(centroids)
    return drv & (drv.sum(axis=0) == 1)


def merge_cooccurring(mat: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, int]:
    """Merge segments whose private drivers are material together for most churners of the smaller one.

    One mechanism acting through two features looks, to a density clusterer, like two
    single-feature groups and their "combination"; two mechanisms co-occur only in the
    churners who carry both. Only a segment's *private* drivers (drivers of no other
    segment) count: a feature that two mechanisms share is no evidence that they are one,
    and neither are the churners of a third segment whose drivers overlap both. Segments
    ``i, j`` are one when the churners with a material private driver of both are at least
    ``COOCCURRENCE`` of the smaller of the two groups (churners with a material private
    driver of ``i``, of ``j``); the most co-occurring pair first, the merged mean profile
    weighted by the two groups' sizes, the private drivers recomputed after each merge.
    """
    cents = centroids
    merged = 0
    present = (mat > 0).astype(np.float32)
    while cents.shape[0] > 1:
        z = (present @ private_drivers(cents).T.astype(np.float32)) > 0  # (n, k)
        zf = z.astype(np.float64)
        n = zf.sum(axis=0)
        both = zf.T @ zf
        low = np.minimum.outer(n, n)
        ratio = np.triu(np.divide(both, low, out=np.zeros_like(both), where=low > 0), k=1)
        i, j = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        if ratio[i, j] < COOCCURRENCE - 1e-12:
            break
        w = np.array([max(n[i], 1.0), max(n[j], 1.0)])
        cents = cents.copy()
        cents[i] = (w[0] * cents[i] + w[1] * cents[j]) / w.sum()
        cents = np.delete(cents, j, axis=0)
        merged += 1
    return cents, merged


def settle_segments(mat: np.ndarray, pos: np.ndarray, centroids: np.ndarray, fit: np.ndarray, *, mcs: int,
                    materiality: float, floor: float) -> tuple[np.ndarray, Assignment, int, int]:
    """Co-occurring segments merged (counted on the fitting rows ``fit``), then assignment of
    every row, dissolving segments with fewer than ``mcs`` primary members (smallest first).

    Returns the kept centroids (k, f), the assignment, how many segments were dissolved and
    how many were merged as co-occurring.
    """
    cents, merged = merge_cooccurring(mat[fit], centroids)
    dissolved = 0
    while True:
        a = assign(mat, pos, cents, materiality=materiality, floor=floor)
        sizes = np.bincount(a.labels[a.labels >= 0], minlength=cents.shape[0])
        small = np.flatnonzero(sizes < mcs)
        if small.size == 0 or cents.shape[0] == 0:
            return cents, a, dissolved, merged
        drop = small[np.lexsort((small, sizes[small]))[0]]  # the smallest first (ties: lower index)
        cents = np.delete(cents, drop, axis=0)
        dissolved += 1


def scaled_mcs(mcs: int, n_sub: int, n: int) -> int:
    return max(2, int(math.ceil(mcs * n_sub / max(n, 1) - 1e-9)))
