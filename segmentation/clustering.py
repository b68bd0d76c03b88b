"""HDBSCAN on churners' risk-raising attribution profiles, with stability checks."""

from __future__ import annotations

import math
import warnings

import numpy as np

from churnlens.constants import ONE_SEGMENT_SIMILARITY, SAME_REASONS, UNSTABLE_JACCARD
from churnlens.attribution.results import Attributions
from churnlens.config import SegmentationConfig
from churnlens.errors import DataError
from churnlens.segmentation.profiles import build_profiles, step
from churnlens.segmentation.results import MIXED, ChurnerSet, Segmentation, Stability

MIN_CLUSTER_FLOOR = 5  # smallest segment worth a retention action, whatever the share says
DEFAULT_MIN_SAMPLES = 10  # when config.min_samples is unset (see segment's docstring)
STABILITY_MAX_POINTS = 10_000  # cap on each stability re-clustering, to bound its time
PREDICT_CHUNK = 10_000  # approximate_predict batch (progress granularity only)


def absolute_min_cluster_size(min_cluster_size: float, n_churners: int) -> int:
    """``min_cluster_size`` as a count: a share of the churners when below 1.

    Never below :data:`MIN_CLUSTER_FLOOR`.
    """
    if min_cluster_size < 1:
        size = math.ceil(min_cluster_size * n_churners - 1e-9)
    else:
        size = int(round(min_cluster_size))
    return max(MIN_CLUSTER_FLOOR, size)


def _hdbscan(points: np.ndarray, *, mcs: int, ms: int, single: bool, prediction_data: bool):
    import hdbscan

    model = hdbscan.HDBSCAN(
        min_cluster_size=int(mcs),
        min_samples=int(ms),
        allow_single_cluster=single,
        prediction_data=prediction_data,
        core_dist_n_jobs=1,  # 2-core machines: joblib overhead outweighs the gain
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        return model.fit(points)


def _order_clusters(raw: np.ndarray) -> np.ndarray:
    """Map raw HDBSCAN ids to ids 0..k-1 by size descending (ties: earliest first member)."""
    ids = np.unique(raw[raw >= 0])
    if ids.size == 0:
        return raw.copy()
    sizes = np.array([(raw == c).sum() for c in ids])
    first = np.array([np.flatnonzero(raw == c)[0] for c in ids])
    order = np.lexsort((first, -sizes))
    mapping = np.full(int(ids.max()) + 1, MIXED, dtype=np.int64)
    mapping[ids[order]] = np.arange(ids.size)
    out = np.full(raw.shape, MIXED, dtype=np.int64)
    clustered = raw >= 0
    out[clustered] = mapping[raw[clustered]]
    return out


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


def _stability(points, shares, reference, k, *, config, mcs_fit, ms, progress) -> Stability:
    from sklearn.metrics import adjusted_rand_score

    n_fit = points.shape[0]
    runs = config.stability_runs
    if runs == 0 or k == 0 or n_fit < 2:
        return Stability(runs=0, overall_ari=None, segment_jaccard=(), unstable=())
    n_sub = min(int(round(config.stability_fraction * n_fit)), STABILITY_MAX_POINTS)
    mcs_sub = max(2, int(round(mcs_fit * n_sub / n_fit)))
    ms_sub = max(1, min(ms, mcs_sub, n_sub - 1))
    aris, jaccards = [], []
    with step(progress, "Segmentation: stability", runs) as advance:
        for r in range(runs):
            rng = np.random.default_rng([config.seed, r + 1])
            sub = np.sort(rng.choice(n_fit, size=n_sub, replace=False))
            labels = _hdbscan(points[sub], mcs=mcs_sub, ms=ms_sub, single=False, prediction_data=False).labels_
            labels, _, _ = _settle(labels, shares[sub])  # the same post-processing as the reported clustering
            aris.append(float(adjusted_rand_score(reference[sub], labels)))
            jaccards.append(_jaccard_best(reference[sub], labels, k))
            advance(1)
    jac = np.mean(jaccards, axis=0)
    return Stability(
        runs=runs,
        overall_ari=float(np.mean(aris)),
        segment_jaccard=tuple(float(x) for x in jac),
        unstable=tuple(int(j) for j in np.flatnonzero(jac < UNSTABLE_JACCARD)),
    )


def _empty_stability() -> Stability:
    return Stability(runs=0, overall_ari=None, segment_jaccard=(), unstable=())


COHERENCE_MIN = 0.7  # a segment's members' mean cosine to its mean profile must reach this


def _coherence(shares: np.ndarray) -> float:
    """Mean cosine similarity of share profiles with their mean profile (1 = identical reasons)."""
    centre = shares.mean(axis=0)
    norms = np.linalg.norm(shares, axis=1) * np.linalg.norm(centre)
    cos = np.divide(shares @ centre, norms, out=np.zeros(shares.shape[0]), where=norms > 0)
    return float(cos.mean())




def _settle(
    raw: np.ndarray, shares: np.ndarray
) -> tuple[np.ndarray, list[tuple[int, int, float]], list[tuple[int, int, float]]]:
    """HDBSCAN's clusters -> segments: demote diffuse clusters, merge clusters with the same reasons.

    A cluster whose members' mean cosine to its mean profile is below ``COHERENCE_MIN`` does
    not share reasons and becomes ``MIXED``. Clusters whose mean profiles have cosine
    similarity >= ``SAME_REASONS`` (the rule that makes two months' segments the same
    segment) are merged, most similar pair first, into the lower id: HDBSCAN splits one
    mechanism by the mix of its drivers when segments are small, which would give two
    segments with the same reasons and the same name.

    Returns
    -------
    labels : ndarray of int, shape (m,)
        Raw ids, merged clusters relabelled to their representative, diffuse ones MIXED.
    diffuse : list of (raw id, size, coherence)
    merged : list of (raw id, representative raw id, cosine)
    """
    labels = np.asarray(raw, dtype=np.int64).copy()
    diffuse: list[tuple[int, int, float]] = []
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    for c in (int(x) for x in np.unique(labels[labels >= 0])):
        members = labels == c
        coherence = _coherence(shares[members])
        if coherence < COHERENCE_MIN:
            diffuse.append((c, int(members.sum()), coherence))
            labels[members] = MIXED
        else:
            sums[c], counts[c] = shares[members].sum(axis=0), int(members.sum())
    merged: list[tuple[int, int, float]] = []
    while len(sums) > 1:
        ids = sorted(sums)
        means = np.array([sums[c] / counts[c] for c in ids])
        norms = np.linalg.norm(means, axis=1)
        unit = np.divide(means, norms[:, None], out=np.zeros_like(means), where=norms[:, None] > 0)
        cos = np.triu(unit @ unit.T, k=1)  # pairs (i < j) only; the rest 0
        i, j = np.unravel_index(int(np.argmax(cos)), cos.shape)  # first maximum: deterministic
        if cos[i, j] < SAME_REASONS - 1e-12:
            break
        a, b = ids[i], ids[j]
        sums[a] = sums[a] + sums.pop(b)
        counts[a] += counts.pop(b)
        labels[labels == b] = a
        merged.append((b, a, float(cos[i, j])))
    return labels, diffuse, merged


def _one_or_none(shares, mcs, base, representation, n_fit, mcs_fit, ms) -> Segmentation:
    """HDBSCAN found no split: one segment around the mean profile, or everyone mixed."""
    m = shares.shape[0]
    centre = shares.mean(axis=0)
    norms = np.linalg.norm(shares, axis=1) * np.linalg.norm(centre)
    cos = np.divide(shares @ centre, norms, out=np.zeros(m), where=norms > 0)
    inside = cos >= ONE_SEGMENT_SIMILARITY - 1e-12
    common = dict(
        representation=representation, n_fitted=n_fit, stability=_empty_stability(),
        fit_min_cluster_size=mcs_fit, min_samples=ms, **base,
    )
    if not shares.any():
        return Segmentation(
            labels=np.full(m, MIXED, dtype=np.int64),
            strength=np.zeros(m),
            n_segments=0,
            note=(
                f"None of the {m:,} churners has a risk-raising attribution (their risk comes from the model's "
                "base rate, not from their own data), so there are no reasons to group: all are shown as 'mixed "
                "reasons'. Check the churner rule and the model's base value."
            ),
            note_zh=(
                f"全部 {m:,} 名流失客户均无推高风险的归因（风险来自模型基准值而非其自身数据），无法按原因分组，"
                "全部列为“混合原因”。请检查流失客户规则与模型基准值。"
            ),
            **common,
        )
    if int(inside.sum()) >= mcs:
        share = float(inside.mean())
        rest_en = " The others are shown as 'mixed reasons'." if share < 1 else ""
        rest_zh = "其余列为“混合原因”。" if share < 1 else ""
        return Segmentation(
            labels=np.where(inside, 0, MIXED).astype(np.int64),
            strength=np.where(inside, np.clip(cos, 0.0, 1.0), 0.0),
            n_segments=1,
            note=(
                f"The churners form a single segment: HDBSCAN found no split into groups of at least {mcs:,} "
                f"churners with different reasons, and {share:.0%} of churners have a reason profile close to the "
                f"average one (cosine similarity >= {ONE_SEGMENT_SIMILARITY}). Segment-level actions add little "
                f"beyond the overall drivers; stability was not re-estimated.{rest_en}"
            ),
            note_zh=(
                f"流失客户构成单一细分群体：HDBSCAN 未发现至少 {mcs:,} 人、流失原因不同的分组，且 {share:.0%} 的流失客户"
                f"原因构成与平均构成相近（余弦相似度 ≥ {ONE_SEGMENT_SIMILARITY}）。按细分制定措施与按整体驱动因素差别不大；"
                f"未重新估计稳定性。{rest_zh}"
            ),
            **common,
        )
    return Segmentation(
        labels=np.full(m, MIXED, dtype=np.int64),
        strength=np.zeros(m),
        n_segments=0,
        note=(
            f"HDBSCAN found no group of at least {mcs:,} churners sharing the same reasons, and their reason "
            f"profiles are too scattered to form one segment: all {m:,} churners are shown as one 'mixed reasons' "
            "group and the report relies on their individual reason codes. Lower segmentation.min_cluster_size "
            "to look for smaller segments."
        ),
        note_zh=(
            f"HDBSCAN 未找到至少 {mcs:,} 名具有相同流失原因的客户群体，且流失原因过于分散，无法构成单一群体："
            f"全部 {m:,} 名流失客户列为一个“混合原因”组，报告依据个人原因代码。可降低 segmentation.min_cluster_size "
            "以寻找更小的细分群体。"
        ),
        **common,
    )


def segment(
    attributions: Attributions,
    churners: ChurnerSet,
    *,
    config: SegmentationConfig,
    progress=None,
) -> Segmentation:
    """Cluster churners by their risk-raising attribution profiles with HDBSCAN.

    Steps: profiles (:func:`~segmentation.profiles.build_profiles`: positive attribution
    shares, PCA to ``config.max_dims``); HDBSCAN (hdbscan library, ``prediction_data=True``)
    fitted on a deterministic sample of at most ``config.sample`` churners drawn with
    ``config.seed``; the other churners assigned with ``hdbscan.approximate_predict``;
    unclustered churners kept as ``MIXED`` (``noise="mixed"``) or, with ``noise="assign"``,
    given their most likely segment when their soft-membership probability
    (``hdbscan.membership_vector``, normalised over
    segments, i.e. conditional on belonging to some segment) is at least
    ``assign_min_strength``; that probability becomes their membership strength. Segment ids are ordered by size descending (ties: the segment
    whose first churner comes first).

    ``min_cluster_size`` below 1 is a share of the churners (never fewer than 5); on the
    fitting sample it is scaled by ``sample / churners``. ``min_samples`` defaults to
    ``min(10, min_cluster_size)``: it sets how much density smoothing HDBSCAN applies, and
    small values keep the core-distance and approximate_predict neighbour queries cheap
    (hdbscan's own default, min_samples = min_cluster_size, means k-NN queries with
    k in the thousands on large books) while leaving the cluster size floor to
    ``min_cluster_size``.

    With ``allow_single_cluster=False`` HDBSCAN returns either no cluster or at least two:
    no cluster means the churners' profiles never split into two groups of
    ``min_cluster_size``. hdbscan's ``allow_single_cluster=True`` labels only the densest
    core of such a group (points at the root's largest lambda), so it is not used. Instead,
    churners whose share profile has cosine similarity >= 0.8 with the churners' mean
    profile (the threshold that also makes two months' segments "the same") form ONE
    segment, with that similarity as membership strength, when they number at least
    ``min_cluster_size``; otherwise the reasons are too scattered and everyone is MIXED.
    Both cases say so in ``note``.

    A segment must share reasons: a cluster whose members' share profiles have a mean cosine
    similarity below 0.7 with the cluster's mean profile (seen for scattered profiles that
    the PCA projection packs together) is moved to MIXED, and ``note`` says so. Segments
    must differ in reasons: clusters whose mean profiles have cosine similarity >= 0.8 (the
    rule that makes two months' segments the same) are merged, most similar pair first
    (HDBSCAN splits one mechanism by its drivers' mix when segments are small); ``note``
    says so. Stability re-clusterings get the same two steps.

    Stability: ``config.stability_runs`` re-clusterings of random subsamples
    (``stability_fraction`` of the fitting sample, at most 10,000 points, seeds
    ``[seed, run]``) with the same settings; reported are the mean adjusted Rand index
    against this clustering's labels on the common points (unclustered points as their own
    class; labels before noise assignment) and, per segment, the mean best-match Jaccard
    index. Segments below 0.6 are listed in ``stability.unstable``.

    Parameters
    ----------
    attributions : Attributions
        ``values`` of shape (n, f).
    churners : ChurnerSet
        ``mask`` of shape (n,).
    config : SegmentationConfig
    progress : churnlens.progress.Progress, optional

    Returns
    -------
    Segmentation
        Labels of the m churners (in row order); degenerate cases (no churners, fewer
        churners than a segment, one segment, everyone mixed) explain themselves in
        ``note`` / ``note_zh``.

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
    ids = np.asarray(attributions.customer_ids)[rows]
    mcs = absolute_min_cluster_size(config.min_cluster_size, m)
    base = dict(rows=rows, customer_ids=ids, min_cluster_size=mcs, seed=config.seed, noise=config.noise)

    if m == 0:
        return Segmentation(
            labels=np.zeros(0, dtype=np.int64),
            strength=np.zeros(0),
            n_segments=0,
            representation="No churners, so no profiles were built.",
            n_fitted=0,
            stability=_empty_stability(),
            note=(
                f"No customer was selected as a churner (rule: {churners.rule_en}), so there is nothing to "
                "segment. Lower churners.threshold or use churners.by: top_fraction to target the riskiest customers."
            ),
            note_zh=(
                f"没有客户被选为流失客户（规则：{churners.rule_zh}），因此无可细分。"
                "可降低 churners.threshold，或使用 churners.by: top_fraction 选取风险最高的客户。"
            ),
            **base,
        )

    profiles = build_profiles(attributions, rows, max_dims=config.max_dims, progress=progress)
    points = profiles.embedding

    def all_mixed(note: str, note_zh: str, *, n_fitted: int, mcs_fit: int = 0, ms: int = 0) -> Segmentation:
        return Segmentation(
            labels=np.full(m, MIXED, dtype=np.int64),
            strength=np.zeros(m),
            n_segments=0,
            representation=profiles.representation,
            n_fitted=n_fitted,
            stability=_empty_stability(),
            note=note,
            note_zh=note_zh,
            fit_min_cluster_size=mcs_fit,
            min_samples=ms,
            **base,
        )

    if m < mcs:
        return all_mixed(
            f"Only {m:,} churners were selected, fewer than the minimum segment size of {mcs:,} "
            "(segmentation.min_cluster_size), so no segment can be formed: all are shown as one "
            "'mixed reasons' group. Select more churners or lower segmentation.min_cluster_size.",
            f"仅选出 {m:,} 名流失客户，少于最小细分规模 {mcs:,}（segmentation.min_cluster_size），无法形成细分群体，"
            "全部列为一个“混合原因”组。可扩大流失客户范围或降低 segmentation.min_cluster_size。",
            n_fitted=0,
        )

    # Deterministic fitting sample (sorted, so the fit sees churners in row order).
    if m > config.sample:
        rng = np.random.default_rng(config.seed)
        fit_idx = np.sort(rng.choice(m, size=config.sample, replace=False))
    else:
        fit_idx = np.arange(m)
    n_fit = int(fit_idx.size)
    mcs_fit = max(2, int(round(mcs * n_fit / m)))
    ms = config.min_samples if config.min_samples is not None else min(DEFAULT_MIN_SAMPLES, mcs_fit)
    ms = max(1, min(int(ms), n_fit - 1))

    spread = float(np.ptp(points, axis=0).max()) if m else 0.0
    with step(progress, "Segmentation: HDBSCAN fit", 1) as advance:
        # Identical profiles have no density structure (HDBSCAN would split ties arbitrarily).
        model = None if spread <= 1e-12 else _hdbscan(points[fit_idx], mcs=mcs_fit, ms=ms, single=False, prediction_data=True)
        advance(1)

    if model is None or model.labels_.max() < 0:
        return _one_or_none(profiles.shares, mcs, base, profiles.representation, n_fit, mcs_fit, ms)

    import hdbscan

    raw = np.full(m, MIXED, dtype=np.int64)
    strength = np.zeros(m)
    raw[fit_idx] = model.labels_
    strength[fit_idx] = np.clip(np.nan_to_num(model.probabilities_, nan=0.0), 0.0, 1.0)
    rest = np.setdiff1d(np.arange(m), fit_idx, assume_unique=True)
    with step(progress, "Segmentation: approximate_predict", int(rest.size)) as advance:
        for start in range(0, rest.size, PREDICT_CHUNK):
            chunk = rest[start : start + PREDICT_CHUNK]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=UserWarning)
                lab, prob = hdbscan.approximate_predict(model, points[chunk])
            raw[chunk] = lab
            # Duplicate profiles can give inf/inf lambdas: a clustered duplicate is a full member.
            strength[chunk] = np.clip(np.where(np.isnan(prob), (lab >= 0).astype(float), prob), 0.0, 1.0)
            advance(int(chunk.size))
    # A segment must share reasons (diffuse clusters, e.g. scattered profiles that the PCA
    # projection packs together, become MIXED) and segments must differ in reasons.
    k_raw = int(model.labels_.max()) + 1
    hdb = raw.copy()
    noise_before = hdb < 0  # HDBSCAN's own noise: the only churners assign mode may move
    raw, diffuse, merged = _settle(hdb, profiles.shares)
    diffuse_ids = np.array([c for c, _, _ in diffuse], dtype=np.int64)
    strength[np.isin(hdb, diffuse_ids)] = 0.0
    fit_raw = raw[fit_idx].copy()  # before noise assignment: the stability reference

    n_assigned = 0
    if config.noise == "assign" and k_raw >= 2 and noise_before.any():
        with step(progress, "Segmentation: assign unclustered", 1) as advance:
            noise = np.flatnonzero(noise_before)
            # membership_vector on the unclustered churners only (fitted ones included):
            # all_points_membership_vectors would cost seconds for the whole sample.
            mv = hdbscan.membership_vector(model, points[noise]).reshape(noise.size, k_raw)
            # hdbscan's vectors are scaled by the chance of being in any cluster; normalised,
            # they say how clearly one segment dominates for this churner.
            tot = mv.sum(axis=1, keepdims=True)
            mv = np.divide(mv, tot, out=np.zeros_like(mv), where=tot > 0)
            # merged clusters pool their memberships in their representative's column
            into = np.arange(k_raw)
            for c, rep, _ in merged:
                into[into == c] = rep
            pooled = np.zeros_like(mv)
            np.add.at(pooled.T, into, mv.T)
            mv = pooled
            best = mv.argmax(axis=1)
            best_p = mv[np.arange(noise.size), best]
            take = (best_p >= config.assign_min_strength) & ~np.isin(best, diffuse_ids)
            raw[noise[take]] = best[take]
            strength[noise[take]] = best_p[take]
            n_assigned = int(take.sum())
            advance(1)

    labels = _order_clusters(raw)
    k = int(labels.max()) + 1 if (labels >= 0).any() else 0
    note = note_zh = ""
    if diffuse:
        sizes = ", ".join(f"{size:,} churners (similarity {coh:.2f})" for _, size, coh in diffuse)
        note = (
            f"{len(diffuse)} group(s) found by HDBSCAN did not share reasons and are shown as 'mixed reasons': "
            f"{sizes}; a segment's members need a mean cosine similarity of at least {COHERENCE_MIN} between "
            "their reason profile and the segment's mean profile."
        )
        sizes_zh = "，".join(f"{size:,} 人（相似度 {coh:.2f}）" for _, size, coh in diffuse)
        note_zh = (
            f"HDBSCAN 找到的 {len(diffuse)} 个群体成员流失原因并不一致，已列为“混合原因”：{sizes_zh}；"
            f"细分群体成员的原因构成与群体平均构成的平均余弦相似度须不低于 {COHERENCE_MIN}。"
        )
    if merged:
        note = (note + " " if note else "") + (
            f"{len(merged)} group(s) found by HDBSCAN had the same reasons as another one (cosine similarity of "
            f"their mean reason profiles >= {SAME_REASONS}, the rule that also matches segments month over month) "
            "and were merged with it."
        )
        note_zh += (
            f"HDBSCAN 找到的 {len(merged)} 个群体与另一群体流失原因相同（平均原因构成的余弦相似度 ≥ {SAME_REASONS}，"
            "与跨月匹配细分群体的规则一致），已合并。"
        )
    if k == 1 and merged:
        note += (" The churners form a single segment: once groups with the same reasons are merged, one reason "
                 "profile remains, so segment-level actions add little beyond the overall drivers.")
        note_zh += "流失客户构成单一细分群体：合并原因相同的群体后仅剩一种原因构成，按细分制定措施与按整体驱动因素差别不大。"
    if k == 0:
        return Segmentation(
            labels=labels, strength=strength, n_segments=0, representation=profiles.representation,
            n_fitted=n_fit, stability=_empty_stability(), note=note + " No segment remains.",
            note_zh=note_zh + "无剩余细分群体。", fit_min_cluster_size=mcs_fit, min_samples=ms,
            n_assigned=n_assigned, **base,
        )
    # Same id mapping for the pre-assignment labels of the fitting sample.
    lut = np.full(k_raw, MIXED, dtype=np.int64)
    lut[raw[raw >= 0]] = labels[raw >= 0]
    reference = np.where(fit_raw >= 0, lut[np.maximum(fit_raw, 0)], MIXED)

    stability = _stability(points[fit_idx], profiles.shares[fit_idx], reference, k, config=config, mcs_fit=mcs_fit,
                           ms=ms, progress=progress)

    return Segmentation(
        labels=labels,
        strength=strength,
        n_segments=k,
        representation=profiles.representation,
        n_fitted=n_fit,
        stability=stability,
        note=note,
        note_zh=note_zh,
        fit_min_cluster_size=mcs_fit,
        min_samples=ms,
        n_assigned=n_assigned,
        **base,
    )
