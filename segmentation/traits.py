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
    if len(np.unique(v)) <= DISCRETE_MAX:
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


def _shares(values: pd.Series, levels: list[str]) -> tuple[np.ndarray, int]:
    known = values.dropna()
    n = len(known)
    counts = known.value_counts()
    return np.array([counts.get(lv, 0) / n if n else np.nan for lv in levels]), n


def _levelled(s: pd.Series, kind: str, config: Config, feature: str, book: pd.Series) -> tuple[pd.Series, list[str]]:
    """The values as level texts and the ordered levels to report (bands, 0/1, categories)."""
    if kind == "binary":
        x = pd.to_numeric(s, errors="coerce")
        return x.map(lambda v: _num(v), na_action="ignore"), ["1"]
    if kind == "numeric":
        x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
        spec = config.features.get(feature)
        edges = band_edges(pd.to_numeric(book, errors="coerce").to_numpy(dtype=np.float64),
                           spec.bands if spec is not None else ())
        if edges is None:
            levels = [_num(v) for v in np.unique(pd.to_numeric(book, errors="coerce").dropna())]
            out = pd.Series([None if np.isnan(v) else _num(v) for v in x], index=s.index, dtype=object)
            return out, levels
        labels = np.array(band_labels(edges), dtype=object)
        idx = np.searchsorted(edges, x, side="right")
        return pd.Series(np.where(np.isnan(x), None, labels[idx]), index=s.index, dtype=object), list(labels)
    text = s.astype(object).where(s.notna(), None).map(str, na_action="ignore")
    counts = text.loc[book.index].value_counts()
    order = sorted(counts.index, key=lambda lv: (-counts[lv], lv))
    if len(order) > MAX_LEVELS:
        keep = set(order[:MAX_LEVELS - 1])
        text = text.map(lambda v: v if v in keep else OTHER, na_action="ignore")
        order = order[:MAX_LEVELS - 1] + [OTHER]
    return text, order


def _cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    n1, n2 = len(a), len(b)
    if n1 < 2 or n2 < 2:
        return float("nan")
    pooled = np.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2))
    return float((a.mean() - b.mean()) / pooled) if pooled > 1e-12 else 0.0


def _feature_rows(feature: str, s: pd.Series, groups: dict[str, np.ndarray], book: np.ndarray,
                  retained: np.ndarray, config: Config) -> list[dict]:
    kind = feature_kind(s.iloc[book])
    base = dict(group=config.group(feature), feature=feature, kind=kind)
    rows = []
    if kind == "numeric":
        x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
        for key, m in groups.items():
            xs = x[m]
            rows.append(dict(base, segment=key, stat="median", level="",
                             segment_value=float(np.nanmedian(xs)) if np.isfinite(xs).any() else np.nan,
                             retained_value=float(np.nanmedian(x[retained])) if np.isfinite(x[retained]).any() else np.nan,
                             book_value=float(np.nanmedian(x[book])) if np.isfinite(x[book]).any() else np.nan,
                             effect=_cohens_d(xs, x[retained]), effect_kind="d", index=np.nan,
                             n=int(np.isfinite(xs).sum())))
    text, levels = _levelled(s, kind, config, feature, s.iloc[book])
    ret, _ = _shares(text[retained], levels)
    bk, _ = _shares(text[book], levels)
    miss_book = float(text[book].isna().mean()) if book.any() else 0.0
    for key, m in groups.items():
        seg, n = _shares(text[m], levels)
        for lv, sv, rv, bv in zip(levels, seg, ret, bk):
            rows.append(dict(base, segment=key, stat="band" if kind == "numeric" else "share", level=lv,
                             segment_value=sv, retained_value=rv, book_value=bv, effect=100.0 * (sv - rv),
                             effect_kind="pp", index=100.0 * sv / rv if rv > 0 else np.nan, n=n))
        if miss_book > 0:
            sm, rm = float(text[m].isna().mean()), float(text[retained].isna().mean()) if retained.any() else np.nan
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
