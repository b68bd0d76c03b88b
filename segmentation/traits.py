"""Segment profiles a business reviewer expects: each segment against the retained customers
and the whole book, feature by feature, in the form that fits the feature's type.

Kinds of feature
----------------
numeric
    A numeric column with values other than 0 and 1: its median (``stat="median"``, effect =
    Cohen's d of the segment vs the retained customers, pooled ddof=1 standard deviation) and
    the share of customers in each band (``stat="band"``). Bands come from the dictionary
    (``features.<f>.bands: [18, 30, 45, 60]`` -> ``<18``, ``[18,30)``, ..., ``>=60``); a column
    with at most ``DISCRETE_MAX`` distinct values in the book gets one band per value (the
    product-count distribution); otherwise quintile edges of the book, rounded to two
    significant digits.
binary
    Numeric 0/1 (or boolean): the share with value 1 (``stat="share"``, ``level="1"``).
categorical
    Text or category: the share of each level (``stat="share"``); beyond ``MAX_LEVELS`` levels
    the most common levels of the book are kept and the rest pooled as ``OTHER``.

Shares are fractions of the customers with a known value; share rows have effect = the
difference of the segment's and the retained customers' shares in percentage points
(``effect_kind="pp"``) and ``index`` = 100 x segment share / retained share. Cohen's d is
given only for medians (``effect_kind="d"``): it is undefined on category codes. A feature
with missing values in the book also gets a ``stat="missing"`` share row. ``n`` is the number
of the segment's customers with a known value.

Comparison groups: ``book`` is the population sample of the run (every customer with
``attribution.mode: all`` or a book smaller than ``attribution.sample``), ``retained`` its
customers who are not churners.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd

from churnlens.config import Config
from churnlens.errors import DataError
from churnlens.segmentation.results import SegmentProfiles

DISCRETE_MAX = 6
MAX_LEVELS = 12
OTHER = "(other)"
COLUMNS = ("segment", "group", "feature", "kind", "stat", "level", "segment_value", "retained_value",
           "book_value", "effect", "effect_kind", "index", "n")


def feature_kind(s: pd.Series) -> str:
    """"numeric", "binary" or "categorical" (see the module docstring)."""
    if isinstance(s.dtype, pd.CategoricalDtype) or not (pd.api.types.is_numeric_dtype(s)
                                                         or pd.api.types.is_bool_dtype(s)):
        return "categorical"
    v = pd.to_numeric(s, errors="coerce").dropna().to_numpy(dtype=np.float64)
    return "binary" if len(v) and np.isin(v, (0.0, 1.0)).all() else "numeric"


def _nice(x: float) -> float:
    return float(f"{x:.2g}") if x != 0 and np.isfinite(x) else x


def band_edges(book: np.ndarray, bands: Sequence[float] = ()) -> Optional[np.ndarray]:
    """Band edges of a numeric feature; None means one band per distinct value."""
    if len(bands):
        return np.asarray(bands, dtype=np.float64)
    v = book[~np.isnan(book)]
    # more than DISCRETE_MAX distinct values among the first few already decides it (cheaply)
    if len(np.unique(v[:1000])) <= DISCRETE_MAX and len(np.unique(v)) <= DISCRETE_MAX:
        return None
    if len(v) == 0:
        return np.zeros(0)
    q = np.array([_nice(e) for e in np.quantile(v, [0.2, 0.4, 0.6, 0.8])])
    return np.unique(q[(q > v.min()) & (q <= v.max())])


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def band_labels(edges: np.ndarray) -> list[str]:
    """Machine labels ``<a``, ``[a,b)``, ``>=z`` of the len(edges) + 1 bands."""
    if len(edges) == 0:
        return ["all"]
    inner = [f"[{_num(a)},{_num(b)})" for a, b in zip(edges, edges[1:])]
    return [f"<{_num(edges[0])}", *inner, f">={_num(edges[-1])}"]


class _Levels:
    """A feature's values as level codes: ``codes`` (n,) indexes ``texts`` (distinct level
    texts, -1 = missing); ``levels`` are the ordered levels to report (bands, 0/1, categories).
    Counting codes gives the shares that counting the level texts would, without a text per row."""

    def __init__(self, codes: np.ndarray, texts: list[str], levels: list[str]) -> None:
        merged: dict[str, int] = {}
        remap = np.array([merged.setdefault(t, len(merged)) for t in texts] + [-1], dtype=np.int64)
        self.codes = remap[codes]  # equal texts of different values count as one level
        self.texts = list(merged)
        self.levels = levels

    def shares(self, rows: np.ndarray) -> tuple[np.ndarray, int]:
        """Share of each level among ``rows`` (bool) with a known value, and their number."""
        c = self.codes[rows]
        known = c[c >= 0]
        n = len(known)
        counts = dict(zip(self.texts, np.bincount(known, minlength=len(self.texts))))
        return np.array([counts.get(lv, 0) / n if n else np.nan for lv in self.levels]), n

    def missing(self, rows: np.ndarray) -> float:
        """Share of ``rows`` (bool) with a missing value (NaN for no rows)."""
        c = self.codes[rows]
        return float(np.count_nonzero(c < 0) / len(c)) if len(c) else float("nan")


def _factorized(values, word) -> tuple[np.ndarray, list[str]]:
    """Codes of the values (-1 = missing) and the text of each distinct value (``word``)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, [word(u) for u in np.asarray(uniques, dtype=object).tolist()]


def _levelled(s: pd.Series, kind: str, config: Config, feature: str, book: np.ndarray) -> _Levels:
    """The values as level codes and the ordered levels to report (bands, 0/1, categories);
    ``book`` (bool) marks the population sample, whose levels are reported."""
    if kind == "binary":
        codes, texts = _factorized(pd.to_numeric(s, errors="coerce"), _num)
        return _Levels(codes, texts, ["1"])
    if kind == "numeric":
        x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
        spec = config.features.get(feature)
        edges = band_edges(x[book], spec.bands if spec is not None else ())
        if edges is None:
            xb = x[book]
            levels = [_num(v) for v in np.unique(xb[~np.isnan(xb)])]
            codes, texts = _factorized(x, _num)
            return _Levels(codes, texts, levels)
        labels = band_labels(edges)
        idx = np.searchsorted(edges, x, side="right")
        return _Levels(np.where(np.isnan(x), -1, idx), labels, list(labels))
    # text first (values such as 1 and 1.0 are distinct levels "1" and "1.0"), then codes
    codes, texts = pd.factorize(s.astype(object).where(s.notna(), None).map(str, na_action="ignore"),
                                use_na_sentinel=True)
    levels = _Levels(codes, [str(t) for t in texts], [])
    counts = np.bincount(levels.codes[book & (levels.codes >= 0)], minlength=len(levels.texts))
    seen = {t: int(c) for t, c in zip(levels.texts, counts) if c > 0}
    order = sorted(seen, key=lambda lv: (-seen[lv], lv))
    if len(order) > MAX_LEVELS:
        keep = set(order[:MAX_LEVELS - 1])
        texts = [t if t in keep else OTHER for t in levels.texts]
        levels = _Levels(levels.codes, texts, [])
        order = order[:MAX_LEVELS - 1] + [OTHER]
    levels.levels = order
    return levels


def _cohens_d(a: np.ndarray, b: np.ndarray, b_stats: Optional[tuple[int, float, float]] = None) -> float:
    """Cohen's d of ``a`` vs ``b`` (NaN ignored); ``b_stats`` = (count, mean, ddof=1 variance) of
    ``b``'s known values when already computed."""
    a = a[~np.isnan(a)]
    if b_stats is None:
        b = b[~np.isnan(b)]
        b_stats = (len(b), b.mean() if len(b) else np.nan, b.var(ddof=1) if len(b) > 1 else np.nan)
    n1, (n2, mean_b, var_b) = len(a), b_stats
    if n1 < 2 or n2 < 2:
        return float("nan")
    pooled = np.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * var_b) / (n1 + n2 - 2))
    return float((a.mean() - mean_b) / pooled) if pooled > 1e-12 else 0.0


def _median(x: np.ndarray) -> float:
    return float(np.nanmedian(x)) if np.isfinite(x).any() else np.nan


def _feature_rows(feature: str, s: pd.Series, groups: dict[str, np.ndarray], book: np.ndarray,
                  retained: np.ndarray, config: Config) -> list[dict]:
    kind = feature_kind(s.iloc[book])
    base = dict(group=config.group(feature), feature=feature, kind=kind)
    rows = []
    if kind == "numeric":
        x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
        x_ret = x[retained]
        known_ret = x_ret[~np.isnan(x_ret)]  # the retained customers' statistics, once for every segment
        ret_stats = (len(known_ret), known_ret.mean() if len(known_ret) else np.nan,
                     known_ret.var(ddof=1) if len(known_ret) > 1 else np.nan)
        ret_median, book_median = _median(x_ret), _median(x[book])
        for key, m in groups.items():
            xs = x[m]
            rows.append(dict(base, segment=key, stat="median", level="", segment_value=_median(xs),
                             retained_value=ret_median, book_value=book_median,
                             effect=_cohens_d(xs, x_ret, ret_stats), effect_kind="d", index=np.nan,
                             n=int(np.isfinite(xs).sum())))
    lv = _levelled(s, kind, config, feature, book)
    ret, _ = lv.shares(retained)
    bk, _ = lv.shares(book)
    miss_book = lv.missing(book) if book.any() else 0.0
    miss_ret = lv.missing(retained) if retained.any() else np.nan
    for key, m in groups.items():
        seg, n = lv.shares(m)
        for level, sv, rv, bv in zip(lv.levels, seg, ret, bk):
            rows.append(dict(base, segment=key, stat="band" if kind == "numeric" else "share", level=level,
                             segment_value=sv, retained_value=rv, book_value=bv, effect=100.0 * (sv - rv),
                             effect_kind="pp", index=100.0 * sv / rv if rv > 0 else np.nan, n=n))
        if miss_book > 0:
            sm, rm = lv.missing(m), miss_ret
            rows.append(dict(base, segment=key, stat="missing", level="", segment_value=sm, retained_value=rm,
                             book_value=miss_book, effect=100.0 * (sm - rm), effect_kind="pp",
                             index=100.0 * sm / rm if rm > 0 else np.nan, n=int(m.sum())))
    return rows


def segment_profiles(X: pd.DataFrame, segment_keys: np.ndarray, *, churners: np.ndarray, book: np.ndarray,
                     config: Config, segments: Sequence[str], features: Optional[Sequence[str]] = None
                     ) -> SegmentProfiles:
    """Profile every segment against the retained customers and the book.

    Parameters
    ----------
    X : DataFrame, shape (n, f)
        Source feature values of the attributed customers.
    segment_keys : ndarray of str, shape (n,)
        Segment key per row ("" outside every segment).
    churners : ndarray of bool, shape (n,)
    book : ndarray of bool, shape (n,)
        Rows of the population sample (they stand for the whole book).
    config : Config
        Groups and ``bands`` from the dictionary.
    segments : sequence of str
        Segment keys in report order.
    features : sequence of str, optional
        Features to profile (default: all columns of ``X``).

    Returns
    -------
    SegmentProfiles
    """
    keys = np.asarray(segment_keys).astype(str)
    churners, book = np.asarray(churners, dtype=bool), np.asarray(book, dtype=bool)
    for name, arr in (("segment_keys", keys), ("churners", churners), ("book", book)):
        if len(arr) != len(X):
            raise DataError(f"segment_profiles: {name} has {len(arr)} rows, expected {len(X)}.")
    retained = book & ~churners
    groups = {k: keys == k for k in segments}
    rows = []
    for f in (features if features is not None else X.columns):
        rows.extend(_feature_rows(str(f), X[f].reset_index(drop=True), groups, book, retained, config))
    frame = pd.DataFrame(rows, columns=list(COLUMNS)) if rows else pd.DataFrame(columns=list(COLUMNS))
    order = {k: i for i, k in enumerate(segments)}
    frame = frame.sort_values("segment", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)
    return SegmentProfiles(frame=frame)
