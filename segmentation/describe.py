"""What each segment is: size, money at risk, drivers, traits and its name as parts
(distinguishing feature + direction; ``churnlens.reports.words.segment_name`` words it)."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from churnlens.attribution.results import Attributions
from churnlens.config import GROUPS, Config
from churnlens.errors import DataError
from churnlens.segmentation.phrases import DRIVEN_FLOOR, phrase_of
from churnlens.segmentation.profiles import risk_shares
from churnlens.segmentation.results import (
    MIXED,
    Effect,
    NamePart,
    GroupSignatureItem,
    Segmentation,
    SegmentSummary,
    SignatureItem,
)

SIGNATURE_TOP = 8  # features listed in a segment's signature
EFFECTS_TOP = 10  # effects kept per comparison (largest |effect size| first)
NAME_DRIVERS = 2  # distinguishing drivers a name is built from
NAME_GROWTH = 3  # drivers a clashing name may add, one at a time
MIN_NAME_EFFECT = 0.2  # a driver must stand out at least this much (Cohen's d) to name a segment
MIN_NAME_SHARE = 0.05  # ... and carry at least this share of the segment's risk-raising attribution
MIN_COMPARISON = 20  # fewer other churners than this: name from the segment's own largest drivers
MAX_LEVELS = 20  # text columns with more distinct values are skipped as traits
MIXED_KEY = "MIX"


def cohens_d(n1, mean1, var1, n2, mean2, var2) -> np.ndarray:
    """Standardised mean difference with the pooled (ddof=1) standard deviation; 0 when it is 0.

    All arguments broadcast; ``var`` are unbiased (ddof=1) variances.
    """
    n1 = np.asarray(n1, dtype=np.float64)
    n2 = np.asarray(n2, dtype=np.float64)
    dof = n1 + n2 - 2.0
    pooled = np.sqrt(np.maximum(((n1 - 1) * var1 + (n2 - 1) * var2) / np.where(dof > 0, dof, 1.0), 0.0))
    diff = np.asarray(mean1, dtype=np.float64) - np.asarray(mean2, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(pooled > 1e-12, diff / np.where(pooled > 1e-12, pooled, 1.0), 0.0)
    return np.where(dof > 0, d, 0.0)


def _stats(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column count of non-missing values, mean and unbiased variance (NaN ignored)."""
    ok = ~np.isnan(a)
    n = ok.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(a, axis=0) / np.where(n > 0, n, 1), np.nan)
        dev = np.where(ok, a - mean, 0.0)
        var = np.where(n > 1, (dev**2).sum(axis=0) / np.where(n > 1, n - 1, 1), 0.0)
    return n, mean, var


def _effects(names, levels, seg: np.ndarray, other) -> tuple[Effect, ...]:
    """Effects of the columns of ``seg`` (segment rows) vs ``other`` rows (a matrix, or a
    :class:`_RowGroup` whose statistics are computed once), largest |d| first."""
    if seg.shape[0] == 0 or other.shape[0] == 0 or seg.shape[1] == 0:
        return ()
    n1, m1, v1 = _stats(seg)
    n2, m2, v2 = other.stats() if isinstance(other, _RowGroup) else _stats(other)
    d = cohens_d(n1, m1, v1, n2, m2, v2)
    valid = (n1 > 0) & (n2 > 0)
    idx = [i for i in np.argsort(-np.abs(d), kind="stable") if valid[i]][:EFFECTS_TOP]
    return tuple(
        Effect(feature=names[i], segment_mean=float(m1[i]), other_mean=float(m2[i]), effect_size=float(d[i]), level=levels[i])
        for i in idx
    )


def _trait_columns(X: pd.DataFrame, names=None) -> list[tuple[str, Optional[str], bool]]:
    """The trait columns of ``X`` (of its columns ``names``, default all): (column, level or
    None for a numeric column, text column), levels as found in the whole frame (see
    :func:`trait_matrix`)."""
    out = []
    for col in (X.columns if names is None else names):
        s = X[col]
        if isinstance(s.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
        ):
            if isinstance(s.dtype, pd.CategoricalDtype):
                cats = [c for c in s.cat.categories if (s == c).any()]
            else:
                cats = sorted(s.dropna().astype("str").unique().tolist())
            if len(cats) > MAX_LEVELS:
                continue
            out.extend((col, c, not isinstance(s.dtype, pd.CategoricalDtype)) for c in cats)
        else:
            out.append((col, None, False))
    return out


def _trait_values(X: pd.DataFrame, columns) -> np.ndarray:
    """The trait matrix of the rows of ``X`` for the given :func:`_trait_columns`, float64 (n, c)."""
    cols, text = [], {}
    for col, level, is_text in columns:
        s = X[col]
        if level is None:
            cols.append(pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
            continue
        if is_text:
            if col not in text:
                text[col] = s.astype("str").where(s.notna())
            s = text[col]
        ind = (s == level).to_numpy(dtype=bool, na_value=False).astype(np.float64)
        ind[s.isna().to_numpy()] = np.nan
        cols.append(ind)
    return np.column_stack(cols) if cols else np.zeros((len(X), 0))


def trait_matrix(X: pd.DataFrame) -> tuple[np.ndarray, list[str], list[str]]:
    """Numeric view of the feature frame for trait comparisons.

    Numeric and boolean columns as floats (NaN kept as missing); categorical and text columns
    (at most 20 levels) as one 0/1 column per level, so their effects compare the share of
    customers at that level. Text columns with more levels are skipped.

    Returns
    -------
    values : ndarray of float64, shape (n, c)
    features : list of str, length c
    levels : list of str, length c   ("" for numeric columns)
    """
    columns = _trait_columns(X)
    return (_trait_values(X, columns), [str(c) for c, _, _ in columns],
            ["" if lv is None else str(lv) for _, lv, _ in columns])


STATS_BLOCK = 65_536  # rows of a large comparison group converted at once
COLUMNS_KEPT = 8  # columns of a large comparison group kept converted (for name directions)


class _RowGroup:
    """The trait matrix of many rows (the retained customers: most of the book with
    ``attribution.mode: all``) without holding it: per-column statistics in two passes over
    row blocks, columns one at a time for the few a name needs. The block sums continue
    one running sum row after row, as numpy sums a matrix over its rows, so the statistics
    equal :func:`_stats` of the whole matrix bit for bit."""

    def __init__(self, X: pd.DataFrame, columns, rows: np.ndarray) -> None:
        self.X, self.columns, self.rows = X, columns, rows
        self.shape = (len(rows), len(columns))
        self._stats = None
        self._cols: dict[int, np.ndarray] = {}

    def _blocks(self):
        for i in range(0, len(self.rows), STATS_BLOCK):
            yield _trait_values(self.X.iloc[self.rows[i:i + STATS_BLOCK]], self.columns)

    def stats(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._stats is not None:
            return self._stats
        if self.shape[1] < 2 or self.shape[0] <= STATS_BLOCK:  # small: one matrix (one column sums pairwise)
            self._stats = _stats(_trait_values(self.X.iloc[self.rows], self.columns))
            return self._stats
        count, total = None, None
        for a in self._blocks():
            ok = ~np.isnan(a)
            count = ok.sum(axis=0) if count is None else count + ok.sum(axis=0)
            a = np.where(ok, a, 0.0)
            total = a.sum(axis=0) if total is None else np.vstack([total[None], a]).sum(axis=0)
        n = count.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, total / np.where(n > 0, n, 1), np.nan)
            sq = None
            for a in self._blocks():
                dev = np.where(~np.isnan(a), a - mean, 0.0) ** 2
                sq = dev.sum(axis=0) if sq is None else np.vstack([sq[None], dev]).sum(axis=0)
            var = np.where(n > 1, sq / np.where(n > 1, n - 1, 1), 0.0)
        self._stats = (n, mean, var)
        return self._stats

    def column(self, j: int) -> np.ndarray:
        if j not in self._cols:
            if len(self._cols) >= COLUMNS_KEPT:  # a few columns at a time: names need a few each
                self._cols.pop(next(iter(self._cols)))
            self._cols[j] = _trait_values(self.X[[self.columns[j][0]]], [self.columns[j]])[self.rows, 0]
        return self._cols[j]


def _column(m, j: int) -> np.ndarray:
    """Column ``j`` of a trait matrix or of a :class:`_RowGroup`."""
    return m.column(j) if isinstance(m, _RowGroup) else m[:, j]


def _protected(feature: str, config: Config) -> bool:
    spec = config.features.get(feature)
    return bool(spec is not None and spec.protected)


def describe(
    segmentation: Segmentation,
    attributions: Attributions,
    X: Optional[pd.DataFrame],
    config: Config,
    *,
    value: Optional[np.ndarray] = None,
) -> tuple[SegmentSummary, ...]:
    """Summarise every segment, then the mixed-reasons group (when not empty).

    For each group of churners: size and share of churners, mean score, value at risk
    (sum of score x value), signature (top features by mean |attribution|, with mean signed
    attribution and share of the total), group signature (per config group: mean |sum of
    the group's signed attributions|), the drivers that distinguish it from the other
    churners (Cohen's d on signed attributions), its traits vs the other churners and vs the
    retained customers (Cohen's d on feature values; categoricals as the share of each
    level), and its name as parts (:class:`NamePart`: feature, direction).

    Names are built from the segment's distinguishing drivers: features whose attribution is
    risk-raising in the segment, carries >= 5% of its risk-raising attribution and is clearly
    higher than in other churners (d >= 0.2), the two largest d; with fewer than 20 other
    churners (or none standing out), the segment's two largest risk-raising drivers. A
    direction comes from the feature values: "low" when the segment's mean value is below the
    retained customers' (other churners' when nobody was retained), "high" when above. Names
    are made unique by adding the next driver, then by ``name_with_key``.

    Parameters
    ----------
    segmentation : Segmentation
    attributions : Attributions
        ``values`` of shape (n, f), rows aligned with ``X``.
    X : DataFrame, shape (n, >= f), or None
        The model's feature frame (same rows). ``None`` (only attributions at hand):
        traits are empty and name parts carry no direction.
    config : Config
        Business labels and groups from ``config.features``.
    value : ndarray of float, shape (n,), optional
        Money at risk per customer.

    Returns
    -------
    tuple of SegmentSummary
        Keys "S1".."Sk" in segment-id (size) order, then "MIX".
    """
    n = attributions.n
    value = _aligned_inputs(n, X, value)
    features = tuple(attributions.features)
    rows = np.asarray(segmentation.rows, dtype=np.int64)
    labels = np.asarray(segmentation.labels)
    m = rows.size
    if m == 0:
        return ()

    A_ch = np.asarray(attributions.values[rows], dtype=np.float64)  # the churners' rows only
    shares, _ = risk_shares(A_ch)
    score = np.asarray(attributions.score, dtype=np.float64)
    group_of = [config.group(f) for f in features]
    groups = [g for g in GROUPS if g in group_of]
    G_ch = np.column_stack([A_ch[:, [i for i, g in enumerate(group_of) if g == grp]].sum(axis=1) for grp in groups])

    has_x = X is not None
    ref = (np.zeros(len(features)) if segmentation.reference is None
           else np.asarray(segmentation.reference, dtype=np.float64))
    floor = float(segmentation.material_floor)
    if X is None:  # attributions only (``churnlens segment``): no traits, no direction words
        X, columns = pd.DataFrame(index=pd.RangeIndex(n)), []
    else:
        # protected attributes stay out of the business story: no trait compares them
        trait_cols = [c for c in ([c for c in features if c in X.columns] or list(X.columns))
                      if not _protected(str(c), config)]
        columns = _trait_columns(X, trait_cols)
    t_names = [str(c) for c, _, _ in columns]
    t_levels = ["" if lv is None else str(lv) for _, lv, _ in columns]
    retained = np.ones(n, dtype=bool)
    retained[rows] = False
    # the retained customers (most of the book with attribution.mode: all) are never one matrix
    T_ret = _RowGroup(X, columns, np.flatnonzero(retained))
    T_ch = _trait_values(X.iloc[rows], columns)
    numeric_trait = {nm: j for j, (nm, lv) in enumerate(zip(t_names, t_levels)) if lv == ""}

    ids = sorted(set(int(x) for x in labels[labels >= 0]))
    order = ids + ([MIXED] if (labels == MIXED).any() else [])
    jac = segmentation.stability.segment_jaccard
    summaries = []
    drafts = []
    for sid in order:
        inseg = labels == sid
        r = rows[inseg]
        size = int(inseg.sum())
        a = A_ch[inseg]
        signature, group_signature = _signatures(a, G_ch[inseg], features, groups)
        drivers = _effects(list(features), [""] * len(features), a, A_ch[~inseg])
        traits_ch = _effects(t_names, t_levels, T_ch[inseg], T_ch[~inseg])
        traits_ret = _effects(t_names, t_levels, T_ch[inseg], T_ret)
        name_drivers = _name_drivers(a, A_ch[~inseg], shares[inseg].mean(axis=0), features, config)
        # a name uses at most NAME_DRIVERS + NAME_GROWTH drivers (see _name_all)
        worded = name_drivers[:NAME_DRIVERS + NAME_GROWTH]
        parts = []
        for f in worded:
            if has_x and f in X.columns:  # what the members have where it raises their risk
                j = features.index(f)
                corrected = a[:, j].astype(np.float64) - ref[j]
                driven = (corrected > 0) & (corrected >= DRIVEN_FLOOR * floor)
                ph = phrase_of(X[f].iloc[r], driven, reference=_reference_values(X, f, retained))
                parts.append(NamePart(f, ph.direction, ph.level, ph.levels, ph.ranges, ph.support))
            else:  # attributions only: the driver, and a direction from the values when known
                comp = T_ret if T_ret.shape[0] else T_ch[~inseg]
                dirn = _direction(numeric_trait.get(f), T_ch[inseg], comp) if has_x else None
                lv = _marking_level(f, numeric_trait.get(f), T_ch[inseg], comp, t_names, t_levels) if has_x else ""
                parts.append(NamePart(f, dirn or "", lv or ""))
        val = float(np.sum(score[r] * value[r])) if value is not None else 0.0
        drafts.append(
            dict(
                segment_id=sid,
                key=f"S{sid + 1}" if sid >= 0 else MIXED_KEY,
                size=size,
                share=size / m,
                mean_score=float(score[r].mean()),
                value_at_risk=val,
                signature=signature,
                group_signature=group_signature,
                drivers_vs_churners=drivers,
                traits_vs_churners=traits_ch,
                traits_vs_retained=traits_ret,
                stability=(float(jac[sid]) if sid >= 0 and sid < len(jac) else None),
                profile_features=features,
                profile=tuple(float(x) for x in shares[inseg].mean(axis=0)),
                _drivers=name_drivers,
                _parts=parts,
            )
        )

    _name_all(drafts, config.claims.min_support)
    for d in drafts:
        d.pop("_drivers")
        d.pop("_parts")
        summaries.append(SegmentSummary(**d))
    return tuple(summaries)



REFERENCE_ROWS = 200_000  # retained customers' values a phrase's open ends are judged on (evenly spaced beyond)


def _reference_values(X: pd.DataFrame, f: str, retained: np.ndarray) -> pd.Series:
    idx = np.flatnonzero(retained)
    if idx.size > REFERENCE_ROWS:
        idx = idx[np.linspace(0, idx.size - 1, REFERENCE_ROWS).round().astype(np.int64)]
    return X[f].iloc[idx]


def _aligned_inputs(n: int, X: Optional[pd.DataFrame], value: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """Check that the feature frame and the value column have the attributions' ``n`` rows;
    returns the value column as float64 with NaN as 0 (or None)."""
    if X is not None and len(X) != n:
        raise DataError(f"The feature frame has {len(X)} rows but the attributions have {n}; they must be aligned.")
    if value is None:
        return None
    value = np.asarray(value, dtype=np.float64).reshape(-1)
    if value.shape[0] != n:
        raise DataError(f"The value column has {value.shape[0]} rows but the attributions have {n}.")
    return np.nan_to_num(value, nan=0.0)


def _signatures(a: np.ndarray, g: np.ndarray, features, groups) -> tuple[tuple, tuple]:
    """A segment's signature (top features by mean |attribution|) and group signature (per
    dictionary group: mean |sum of the group's signed attributions|). ``a``: (k, f), ``g``: (k, G)."""
    mean_abs = np.abs(a).mean(axis=0)
    mean_signed = a.mean(axis=0)
    total = mean_abs.sum()
    share = mean_abs / total if total > 0 else np.zeros_like(mean_abs)
    sig_idx = np.lexsort((np.arange(len(features)), -mean_abs))[:SIGNATURE_TOP]
    signature = tuple(SignatureItem(feature=features[i], mean_attribution=float(mean_signed[i]), share=float(share[i]))
                      for i in sig_idx)
    g_abs = np.abs(g).mean(axis=0)
    g_tot = g_abs.sum()
    group_signature = tuple(
        GroupSignatureItem(group=groups[i], mean_attribution=float(g[:, i].mean()),
                           share=float(g_abs[i] / g_tot) if g_tot > 0 else 0.0)
        for i in np.lexsort((np.arange(len(groups)), -g_abs)))
    return signature, group_signature


def _name_drivers(a: np.ndarray, others: np.ndarray, pos_share: np.ndarray, features, config: Config) -> list[str]:
    """The features that name a segment, best first (see :func:`describe`): material reasons of
    the segment (>= 5% of its risk-raising attribution) that stand out against the other
    churners, when there are enough of them to compare with; else its largest risk-raising
    drivers. Protected features never name a segment, whichever way they were encoded."""
    cand = []
    if others.shape[0] >= MIN_COMPARISON:
        n1, m1, v1 = _stats(a)
        n2, m2, v2 = _stats(others)
        d_all = cohens_d(n1, m1, v1, n2, m2, v2)
        cand = [i for i in np.lexsort((np.arange(len(features)), -d_all))
                if d_all[i] >= MIN_NAME_EFFECT and m1[i] > 0 and pos_share[i] >= MIN_NAME_SHARE]
    cand = [i for i in cand if not _protected(features[i], config)]
    if not cand:  # one segment, or nothing stands out: its largest risk-raising drivers
        cand = [i for i in np.lexsort((np.arange(len(features)), -pos_share))
                if pos_share[i] > 0 and not _protected(features[i], config)]
    return [features[i] for i in cand]


def _direction(j, seg: np.ndarray, comp: np.ndarray):
    """"low" / "high": the segment's mean of numeric trait column ``j`` against the comparison
    group's; None for a categorical (``j`` None), no comparison group or equal means."""
    if j is None or comp.shape[0] == 0:
        return None
    seg_mean = np.nanmean(seg[:, j]) if np.isfinite(seg[:, j]).any() else np.nan
    c = _column(comp, j)
    com_mean = np.nanmean(c) if np.isfinite(c).any() else np.nan
    if not (np.isfinite(seg_mean) and np.isfinite(com_mean)) or seg_mean == com_mean:
        return None
    return "low" if seg_mean < com_mean else "high"


MARK_SHARE = 0.5  # a level names a segment only when most of the segment has it ...
MARK_OVER = 0.10  # ... and it is this much (10 points) more common than among the comparison group


def _marking_level(feat: str, j, seg: np.ndarray, comp: np.ndarray, t_names, t_levels) -> str:
    """The value that marks a segment on ``feat`` (see :class:`NamePart`), or ""."""
    if comp.shape[0] == 0 or seg.shape[0] == 0:
        return ""
    if j is not None:  # numeric: only a 0/1 feature has a value to name
        x = seg[:, j]
        x = x[np.isfinite(x)]
        y = _column(comp, j)
        y = y[np.isfinite(y)]
        if x.size == 0 or y.size == 0 or not (np.isin(x, (0.0, 1.0)).all() and np.isin(y, (0.0, 1.0)).all()):
            return ""
        share_1, comp_1 = float(x.mean()), float(y.mean())
        if share_1 >= MARK_SHARE and share_1 - comp_1 >= MARK_OVER:
            return "1"
        if 1 - share_1 >= MARK_SHARE and comp_1 - share_1 >= MARK_OVER:
            return "0"
        return ""
    best, best_gap = "", MARK_OVER
    for c, (nm, lv) in enumerate(zip(t_names, t_levels)):
        if nm != feat or lv == "":
            continue
        s_share, c_share = float(np.nanmean(seg[:, c])), float(np.nanmean(_column(comp, c)))
        if s_share >= MARK_SHARE and s_share - c_share >= best_gap:
            best, best_gap = lv, s_share - c_share
    return best


def _supported(part: NamePart, min_support: float) -> bool:
    """A part names a segment when it holds for ``min_support`` of its churners (a part whose
    support could not be measured -- attributions only -- states no values and passes)."""
    return bool(np.isnan(part.support) or part.support >= min_support - 1e-12)


def _name_all(drafts: list[dict], min_support: float = 0.5) -> None:
    """Give each draft its ``name`` parts, ``top_drivers``, ``name_mixed`` and ``name_with_key``.

    A name is made of the first parts (drivers in distinguishing order) that hold for at least
    ``min_support`` of the segment's churners; when none does, the name lists the first drivers
    without values and is marked ``name_mixed``. Names are unique within the run (as parts: the
    documents word equal parts equally)."""
    used = {d["segment_id"]: NAME_DRIVERS for d in drafts}

    def build(d: dict) -> None:
        if d["segment_id"] == MIXED:
            d["name"], d["top_drivers"], d["name_mixed"] = (), (), False
            return
        k = used[d["segment_id"]]
        good = [p for p in d["_parts"] if _supported(p, min_support)]
        d["name_mixed"] = not good and bool(d["_parts"])
        if d["name_mixed"]:
            d["name"] = tuple(NamePart(p.feature) for p in d["_parts"][:k])
        else:
            d["name"] = tuple(good[:k])
        d["top_drivers"] = tuple(p.feature for p in d["name"]) or tuple(d["_drivers"][:k])

    for d in drafts:
        build(d)
        d["name_with_key"] = False
    for _ in range(NAME_GROWTH):  # lengthen clashing names with their next driver
        clash = _clashing(drafts)
        if not clash:
            return
        grown = False
        for d in drafts:
            if d["segment_id"] in clash and used[d["segment_id"]] < len(d["_parts"]):
                used[d["segment_id"]] += 1
                build(d)
                grown = True
        if not grown:
            break
    for d in drafts:  # last resort: the key tells them apart
        if d["segment_id"] in _clashing(drafts) and d["segment_id"] != MIXED:
            d["name_with_key"] = True


def _clashing(drafts: list[dict]) -> set[int]:
    seen: dict[tuple, list[int]] = {}
    for d in drafts:
        if d["segment_id"] != MIXED and d["name"]:  # no parts: worded with the key, unique already
            seen.setdefault(d["name"], []).append(d["segment_id"])
    return {i for ids in seen.values() if len(ids) > 1 for i in ids}
