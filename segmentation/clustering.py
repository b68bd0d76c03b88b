"""Churner segments from their material drivers (HDBSCAN finds them), with overlap and stability."""

from __future__ import annotations

import math

import numpy as np

from churnlens.attribution.results import Attributions
from churnlens.config import SegmentationConfig
from churnlens.constants import COHERENCE_MIN, COOCCURRENCE, SAME_REASONS, UNSTABLE_JACCARD
from churnlens.errors import DataError
from churnlens.notes import Note
from churnlens.segmentation import material as mat_mod
from churnlens.segmentation.profiles import step
from churnlens.segmentation.results import (
    MIXED,
    ChurnerSet,
    Combination,
    MixedDriver,
    MixedReasons,
    Segmentation,
    Stability,
)

MIN_CLUSTER_FLOOR = 5  # smallest segment worth a retention action, whatever the share says
DEFAULT_MIN_SAMPLES = 10  # when config.min_samples is unset (see segment's docstring)
STABILITY_MAX_POINTS = 10_000  # cap on each stability re-clustering, to bound its time
MIXED_DRIVERS_TOP = 8  # material drivers listed for the mixed-reasons group


def absolute_min_cluster_size(min_cluster_size: float, n_churners: int) -> int:
    """``min_cluster_size`` as a count: a share of the churners when below 1.

    Never below :data:`MIN_CLUSTER_FLOOR`.
    """
    if min_cluster_size < 1:
        size = math.ceil(min_cluster_size * n_churners - 1e-9)
    else:
        size = int(round(min_cluster_size))
    return max(MIN_CLUSTER_FLOOR, size)


def _jaccard_best(reference: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """For each reference segment 0..k-1, the best Jaccard index against any cluster of ``labels``."""
    out = np.zeros(k)
    clusters = np.unique(labels[labels >= 0])
    for j in range(k):
        a = reference == j
        na = int(a.sum())
        if na == 0 or clusters.size == 0:
            continue
        best = 0.0
        for c in clusters:
            b = labels == c
            inter = int(np.count_nonzero(a & b))
            if inter:
                best = max(best, inter / (na + int(b.sum()) - inter))
        out[j] = best
    return out


def _embed(shares: np.ndarray, max_dims: int) -> tuple[np.ndarray, float]:
    """Exact PCA of the material shares to at most ``max_dims`` dimensions (HDBSCAN's trees
    lose their speed in many dimensions); the shares themselves when they are few enough."""
    m, f = shares.shape
    if f <= max_dims or m < 2:
        return np.ascontiguousarray(shares), 1.0
    from sklearn.decomposition import PCA

    d = int(min(max_dims, m, f))
    pca = PCA(n_components=d, svd_solver="covariance_eigh" if m > 4 * f else "full")
    emb = pca.fit_transform(shares)
    ratio = pca.explained_variance_ratio_
    return np.ascontiguousarray(emb), float(np.sum(ratio)) if np.isfinite(ratio).all() else 1.0


def _find(mat, pos, shares, fit_idx, *, mcs_fit, mcs, ms, max_dims, config, floor):
    """Discovery on ``fit_idx`` then assignment of every row of ``mat`` by the segments' profiles."""
    emb, explained = _embed(shares[fit_idx], max_dims)
    disc = mat_mod.discover(shares[fit_idx], mat[fit_idx].sum(axis=1), emb, mcs=mcs_fit, ms=ms)
    cents, asg, dissolved, merged = mat_mod.settle_segments(mat, pos, disc.centroids, fit_idx, mcs=mcs,
                                                            materiality=config.materiality, floor=floor)
    return disc, cents, asg, (dissolved, merged), explained


def _by_size(asg: mat_mod.Assignment, cents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Permutation old id -> new id (size descending, ties: earliest first member) and new centroids."""
    k = cents.shape[0]
    sizes = np.bincount(asg.labels[asg.labels >= 0], minlength=k)
    first = np.array([np.flatnonzero(asg.labels == c)[0] if sizes[c] else asg.labels.size for c in range(k)])
    order = np.lexsort((first, -sizes))  # new id i is old id order[i]
    new_of = np.empty(k, dtype=np.int64)
    new_of[order] = np.arange(k)
    return new_of, cents[order]


def _relabel(x: np.ndarray, new_of: np.ndarray) -> np.ndarray:
    if new_of.size == 0:
        return np.full(x.shape, MIXED, dtype=np.int64)
    return np.where(x >= 0, new_of[np.maximum(x, 0)], MIXED).astype(np.int64)


def _stability(mat, pos, shares, fit_idx, reference, k, *, config, mcs_fit, ms, floor, progress) -> Stability:
    """Re-run discovery on subsamples of the fitting sample; assign the whole fitting sample."""
    from sklearn.metrics import adjusted_rand_score

    n_fit = fit_idx.size
    runs = config.stability_runs
    if runs == 0 or k == 0 or n_fit < 2:
        return Stability(runs=0, overall_ari=None, segment_jaccard=(), unstable=())
    n_sub = max(2, min(int(round(config.stability_fraction * n_fit)), STABILITY_MAX_POINTS))
    mcs_sub = mat_mod.scaled_mcs(mcs_fit, n_sub, n_fit)
    ms_sub = max(1, min(ms, mcs_sub, n_sub - 1))
    sub_mat, sub_pos = mat[fit_idx], pos[fit_idx]
    where = np.empty(mat.shape[0], dtype=np.int64)
    where[fit_idx] = np.arange(n_fit)  # row of the fitting sample -> its position in sub_mat
    aris, jaccards = [], []
    with step(progress, "Segmentation: stability", runs) as advance:
        for r in range(runs):
            rng = np.random.default_rng([config.seed, r + 1])
            sub = fit_idx[np.sort(rng.choice(n_fit, size=n_sub, replace=False))]
            _, _, asg, _, _ = _find(sub_mat, sub_pos, shares[fit_idx], where[sub], mcs_fit=mcs_sub, mcs=mcs_fit,
                                    ms=ms_sub, max_dims=config.max_dims, config=config, floor=floor)
            aris.append(float(adjusted_rand_score(reference, asg.labels)))
            jaccards.append(_jaccard_best(reference, asg.labels, k))
            advance(1)
    jac = np.mean(jaccards, axis=0)
    return Stability(
        runs=runs,
        overall_ari=float(np.mean(aris)),
        segment_jaccard=tuple(float(x) for x in jac),
        unstable=tuple(int(j) for j in np.flatnonzero(jac < UNSTABLE_JACCARD)),
    )


def _mixed_reasons(labels, mat, features) -> MixedReasons | None:
    mixed = labels == MIXED
    size = int(mixed.sum())
    if size == 0:
        return None
    mm = mat[mixed]
    has = mm.sum(axis=1) > 0
    counts = (("no_material_driver", int((~has).sum())), ("no_segment_driver", int(has.sum())))
    present = mm > 0
    freq = present.mean(axis=0)
    order = np.lexsort((np.arange(len(features)), -freq))
    drivers = tuple(
        MixedDriver(feature=features[i], member_share=float(freq[i]), mean_material=float(mm[present[:, i], i].mean()))
        for i in order[:MIXED_DRIVERS_TOP] if freq[i] > 0
    )
    return MixedReasons(size=size, share=size / labels.size, counts=counts, drivers=drivers)


def _assign_noise(labels, strength, pos, drivers, min_strength) -> tuple[np.ndarray, np.ndarray, int]:
    """noise == "assign": mixed churners join the segment whose drivers carry most of their
    risk-raising attribution when it is >= ``min_strength`` of what all segments' drivers carry."""
    labels, strength = labels.copy(), strength.copy()
    if drivers.shape[0] == 0:
        return labels, strength, 0
    c = pos @ drivers.T.astype(np.float64)
    tot = pos[:, drivers.any(axis=0)].sum(axis=1)
    best = np.argmax(c, axis=1)
    p = np.divide(c[np.arange(c.shape[0]), best], tot, out=np.zeros(c.shape[0]), where=tot > 0)
    take = (labels == MIXED) & (tot > 0) & (p >= min_strength - 1e-12)
    labels[take], strength[take] = best[take], p[take]
    return labels, strength, int(take.sum())


def _degenerate(m, base, common, notes: tuple[Note, ...]) -> Segmentation:
    return Segmentation(labels=np.full(m, MIXED, dtype=np.int64), strength=np.zeros(m), n_segments=0,
                        secondary=np.full(m, MIXED, dtype=np.int64), overlap=np.zeros((0, 0), dtype=np.int64),
                        notes=notes, stability=_empty_stability(), **common, **base)


def _empty_stability() -> Stability:
    return Stability(runs=0, overall_ari=None, segment_jaccard=(), unstable=())


def _representation(config, floor: float, space: str, f: int, explained: float) -> Note:
    """The clustered profile as a code and its numbers (``words.representation`` words it)."""
    return Note.of("profile.material", materiality=config.materiality, floor=floor, space=space, f=f,
                   d=min(f, config.max_dims), explained=explained)


def segment(
    attributions: Attributions,
    churners: ChurnerSet,
    *,
    config: SegmentationConfig,
    progress=None,
) -> Segmentation:
    """Segment churners by their material drivers (method: :mod:`churnlens.segmentation.material`).

    Discovery (HDBSCAN, hdbscan library, ``min_samples`` default ``min(10, min_cluster_size)``)
    runs on a deterministic sample of at most ``config.sample`` churners with a material
    driver, drawn with ``config.seed``; ``min_cluster_size`` (a share of all churners when
    below 1, never below 5) is scaled to the sample. Every churner is then assigned by the
    segments' drivers and profiles (matrix products, no nearest-neighbour search), and segments with fewer
    primary members than ``min_cluster_size`` are dissolved. Segment ids are ordered by
    size descending (ties: the segment whose first churner comes first).

    Stability: ``config.stability_runs`` discoveries on random subsamples
    (``stability_fraction`` of the fitting sample, at most 10,000 points, seeds
    ``[seed, run]``), each assigning the whole fitting sample; reported are the mean
    adjusted Rand index against this segmentation on the fitting sample (mixed as its own
    class) and, per segment, the mean best-match Jaccard index. Segments below
    ``UNSTABLE_JACCARD`` are listed in ``stability.unstable`` and carry the flag ``"unstable"``.

    Parameters
    ----------
    attributions : Attributions
        ``values`` of shape (n, f); rows with ``weights > 0`` are the population the
        reference (median) attribution is taken over.
    churners : ChurnerSet
        ``mask`` of shape (n,).
    config : SegmentationConfig
    progress : churnlens.progress.Progress, optional

    Returns
    -------
    Segmentation
        Labels, secondary labels and membership strength of the m churners (row order),
        the overlap table, each segment's drivers, flags; degenerate cases and what was merged,
        resolved or dissolved explain themselves in ``notes`` (codes and numbers).

    Raises
    ------
    DataError
        The churner mask is not aligned with the attributions.
    """
    mask = np.asarray(churners.mask, dtype=bool).reshape(-1)
    if mask.shape[0] != attributions.n:
        raise DataError(
            f"The churner mask has {mask.shape[0]} rows but the attributions have {attributions.n}; "
            "select churners from the same customers' scores."
        )
    rows = np.flatnonzero(mask).astype(np.int64)
    m = int(rows.size)
    mcs = absolute_min_cluster_size(config.min_cluster_size, m)
    floor = mat_mod.floor_for(attributions.output_space, config.material_floor)
    base = dict(rows=rows, customer_ids=np.asarray(attributions.customer_ids)[rows], min_cluster_size=mcs,
                seed=config.seed, noise=config.noise, materiality=config.materiality, material_floor=floor)
    with step(progress, "Segmentation: material drivers", 1) as advance:
        ref = mat_mod.reference(attributions.values, attributions.weights, mask)
        pos, mat = mat_mod.material(attributions.values[rows], ref, materiality=config.materiality, floor=floor)
        advance(1)
    has = mat.sum(axis=1) > 0
    n_material = int(has.sum())
    features = tuple(attributions.features)
    common = dict(reference=ref, n_material=n_material, mixed=_mixed_reasons(np.full(m, MIXED), mat, features))
    rep = _representation(config, floor, attributions.output_space, len(features), 1.0)
    if m == 0:
        return _degenerate(m, base, dict(common, representation=Note.of("profile.none"), n_fitted=0),
                           (Note.of("segmentation.no_churners", rule=churners.rule),))
    if m < mcs:
        return _degenerate(m, base, dict(common, representation=rep, n_fitted=0),
                           (Note.of("segmentation.too_few", m=m, mcs=mcs),))
    if n_material < mcs:
        none = int((pos.sum(axis=1) <= 0).sum())
        return _degenerate(m, base, dict(common, representation=rep, n_fitted=0),
                           (Note.of("segmentation.no_material", n_material=n_material, m=m, none=none, mcs=mcs),))
    return _segment_material(attributions, config, base, common, mat, pos, has, mcs, floor, progress)


def _notes(k, m, n_material, mcs, disc, combos, merged_co, dissolved, joint, unstable) -> tuple[Note, ...]:
    """What the documents must say about this segmentation, as codes and numbers."""
    notes = []
    if disc.n_diffuse:
        notes.append(Note.of("segmentation.diffuse_dropped", count=disc.n_diffuse, coherence=COHERENCE_MIN))
    if disc.n_merged:
        notes.append(Note.of("segmentation.merged", count=disc.n_merged, similarity=SAME_REASONS))
    if merged_co:
        notes.append(Note.of("segmentation.cooccurring", count=merged_co, share=COOCCURRENCE))
    if disc.n_partial:
        notes.append(Note.of("segmentation.partials", count=disc.n_partial))
    if combos:
        notes.append(Note.of("segmentation.combinations", count=combos))
    if dissolved:
        notes.append(Note.of("segmentation.dissolved", count=dissolved, mcs=mcs))
    if joint:
        notes.append(Note.of("segmentation.joint", count=joint))
    if unstable:
        notes.append(Note.of("segmentation.unstable", count=unstable, threshold=UNSTABLE_JACCARD))
    if k == 1:
        notes.append(Note.of("segmentation.single_material"))
    elif k == 0:
        notes.append(Note.of("segmentation.all_mixed", mcs=mcs, n_material=n_material, m=m))
    return tuple(notes)


def _segment_material(attributions, config, base, common, mat, pos, has, mcs, floor, progress) -> Segmentation:
    m = mat.shape[0]
    shares = mat_mod.shares_of(mat)
    candidates = np.flatnonzero(has)
    if candidates.size > config.sample:  # deterministic fitting sample, in row order
        rng = np.random.default_rng(config.seed)
        fit_idx = np.sort(rng.choice(candidates, size=config.sample, replace=False))
    else:
        fit_idx = candidates
    n_fit = int(fit_idx.size)
    mcs_fit = mat_mod.scaled_mcs(mcs, n_fit, m)
    ms = config.min_samples if config.min_samples is not None else min(DEFAULT_MIN_SAMPLES, mcs_fit)
    ms = max(1, min(int(ms), n_fit - 1))
    with step(progress, "Segmentation: HDBSCAN on material drivers", 1) as advance:
        disc, cents, asg, (dissolved, merged_co), explained = _find(
            mat, pos, shares, fit_idx, mcs_fit=mcs_fit, mcs=mcs, ms=ms, max_dims=config.max_dims, config=config,
            floor=floor)
        advance(1)
    k = cents.shape[0]
    new_of, cents_sorted = _by_size(asg, cents)
    labels, secondary = _relabel(asg.labels, new_of), _relabel(asg.secondary, new_of)
    strength = asg.strength
    drivers = mat_mod.drivers_of(cents_sorted)
    reference_fit = labels[fit_idx]  # before noise assignment: the stability reference
    n_assigned = 0
    if config.noise == "assign":
        labels, strength, n_assigned = _assign_noise(labels, strength, pos, drivers, config.assign_min_strength)
    # A dissolved or absorbed part of a combination maps to MIXED.
    kept_rows = {tuple(c): int(new_of[i]) for i, c in enumerate(cents)}
    combos = tuple(Combination(size=size, parts=tuple(kept_rows.get(tuple(disc.centroids[p]), MIXED) for p in parts))
                   for size, parts in disc.combinations)
    stability = _stability(mat, pos, shares, fit_idx, reference_fit, k, config=config, mcs_fit=mcs_fit, ms=ms,
                           floor=floor, progress=progress)
    overlap = np.zeros((k, k), dtype=np.int64)
    both = (labels >= 0) & (secondary >= 0)
    np.add.at(overlap, (labels[both], secondary[both]), 1)
    features = tuple(attributions.features)
    unstable = set(stability.unstable)
    return Segmentation(
        labels=labels, strength=strength, n_segments=k, n_fitted=n_fit, stability=stability,
        representation=_representation(config, base["material_floor"], attributions.output_space, len(features),
                                       explained),
        notes=_notes(k, m, int(has.sum()), mcs, disc, len(combos), merged_co, dissolved, int(asg.joint.sum()),
                     len(unstable)),
        fit_min_cluster_size=mcs_fit, min_samples=ms, n_assigned=n_assigned,
        secondary=secondary, overlap=overlap,
        segment_drivers=tuple(tuple(features[i] for i in np.flatnonzero(drivers[j])) for j in range(k)),
        flags=tuple(("unstable",) if j in unstable else () for j in range(k)),
        combinations=combos, **dict(common, mixed=_mixed_reasons(labels, mat, features)), **base,
    )
