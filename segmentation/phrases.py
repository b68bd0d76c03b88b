"""What a segment's members actually have on one driver: the phrase of a name part, and where
it holds (numbers and codes; ``churnlens.reports.words`` words them).

A name part states where the members' values sit *on the side that raises their risk*, read
from the members themselves, never from the driver's global direction:

1. **Driven members.** A member is driven by feature ``f`` when its attribution on ``f``,
   measured against the typical customer (``attribution - reference``, see
   ``segmentation/material.py``), is positive and at least ``DRIVEN_FLOOR`` x the materiality
   floor.
2. **Risk values.** The members' values are binned (one bin per value when they hold at most
   ``MAX_DISCRETE`` distinct values or the column is categorical / 0/1; otherwise quantile
   bins of the members' values, at most ``MAX_BINS``). A bin is a *risk bin* when most of the
   members in it are driven.
3. **Phrase.** Categorical and 0/1 features: the risk levels (one level -> ``level``; several
   -> ``levels``). Numeric features: the runs of consecutive risk bins as value ranges
   (``ranges``: (low, high), inclusive; a run reaching the members' smallest / largest value ends
   at the ``TRIM`` quantile of its members' values; ``None`` = open end: a run of several
   values reaching beyond the retained customers' 1st / 99th percentile), the runs holding the
   most members first, at most ``MAX_RANGES``; a run open at both ends says nothing. A single open-ended range also gives ``direction`` "low" / "high".
4. **Support.** The share of *all* the segment's churners whose value satisfies the phrase
   (:func:`holds`), the number a name claim is judged on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.config import value_key

DRIVEN_FLOOR = 0.1  # share of the materiality floor a member's corrected attribution must reach to count as driven
MAX_DISCRETE = 12  # numeric features with at most this many distinct member values are binned per value
MAX_BINS = 10  # quantile bins of members' values otherwise
MAX_RANGES = 2  # value ranges kept in one phrase
MAX_LEVELS = 3  # category levels kept in one phrase
TRIM = 0.025  # a numeric run reaching the members' smallest / largest value ends at this quantile of its values


@dataclass(frozen=True)
class Phrase:
    """Where a segment's members sit on one driver (see the module docstring)."""

    direction: str = ""  # "low" | "high" | "" (a single open-ended numeric range)
    level: str = ""  # one categorical / 0/1 level (value_key text)
    levels: tuple[str, ...] = ()  # several categorical levels
    ranges: tuple[tuple[Optional[float], Optional[float]], ...] = ()  # numeric value ranges, inclusive
    support: float = float("nan")  # share of the segment's churners the phrase holds for


def kind_of(s: pd.Series) -> str:
    """"binary" (numeric 0/1), "numeric" or "categorical"."""
    if isinstance(s.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        return "categorical"
    x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    x = x[np.isfinite(x)]
    return "binary" if x.size and np.isin(x, (0.0, 1.0)).all() else "numeric"


def _as_text(s: pd.Series) -> np.ndarray:
    return np.array([None if (v is None or (isinstance(v, float) and np.isnan(v))) else value_key(v)
                     for v in s.astype(object).to_numpy()], dtype=object)


def holds(phrase: Phrase, s: pd.Series) -> np.ndarray:
    """Where ``phrase`` holds for the values ``s`` (bool, missing values never hold). A phrase
    with neither a level nor ranges holds nowhere."""
    if phrase.level or phrase.levels:
        wanted = {phrase.level} if phrase.level else set(phrase.levels)
        return np.array([v in wanted for v in _as_text(s)], dtype=bool)
    if not phrase.ranges:
        return np.zeros(len(s), dtype=bool)
    x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    out = np.zeros(x.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        for lo, hi in phrase.ranges:
            out |= np.isfinite(x) & (x >= (-np.inf if lo is None else lo)) & (x <= (np.inf if hi is None else hi))
    return out


def _risk_levels(v: np.ndarray, driven: np.ndarray) -> list[str]:
    ok = np.array([x is not None for x in v], dtype=bool)
    if not ok.any():
        return []
    levels, inv, counts = np.unique(v[ok].astype(str), return_inverse=True, return_counts=True)
    hit = np.bincount(inv, weights=driven[ok].astype(np.float64), minlength=len(levels))
    risky = [i for i in range(len(levels)) if hit[i] * 2 > counts[i]]
    risky.sort(key=lambda i: (-counts[i], levels[i]))
    return [str(levels[i]) for i in risky[:MAX_LEVELS]]


def _numeric_bins(x: np.ndarray) -> np.ndarray:
    uniq = np.unique(x)
    if len(uniq) <= MAX_DISCRETE:
        return np.searchsorted(uniq, x)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, MAX_BINS + 1)[1:-1]))
    return np.searchsorted(edges, x, side="right")


def phrase_of(s: pd.Series, driven: np.ndarray, *, kind: Optional[str] = None,
              reference: Optional[pd.Series] = None) -> Phrase:
    """The phrase of one driver for a segment (module docstring), from its churners' values ``s``
    and whether each is driven by the feature (``driven``, bool, same length).

    ``reference``: the values of the customers the segment is told apart from (the retained
    customers); a range of several values whose end lies beyond their 1st / 99th percentile is
    open at that end ("3+"), a range open at both ends says nothing (support 0). Without it, a
    run's ends are open only where it reaches the members' smallest / largest value."""
    driven = np.asarray(driven, dtype=bool)
    n = len(s)
    if n == 0:
        return Phrase()
    kind = kind or kind_of(s)
    if kind in ("categorical", "binary"):
        risky = _risk_levels(_as_text(s), driven)
        if not risky or (kind == "binary" and len(risky) > 1):
            return Phrase(support=0.0)
        p = Phrase(level=risky[0]) if len(risky) == 1 else Phrase(levels=tuple(risky))
        return Phrase(p.direction, p.level, p.levels, (), float(holds(p, s).mean()))
    x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    ok = np.isfinite(x)
    if not ok.any():
        return Phrase(support=0.0)
    xo, do = x[ok], driven[ok]
    ref_lo = ref_hi = None
    if reference is not None:
        rv = pd.to_numeric(reference, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        rv = rv[np.isfinite(rv)]
        if rv.size:
            ref_lo, ref_hi = (float(q) for q in np.quantile(rv, (0.01, 0.99)))
    bins = _numeric_bins(xo)
    nb = int(bins.max()) + 1
    count = np.bincount(bins, minlength=nb)
    hit = np.bincount(bins, weights=do.astype(np.float64), minlength=nb)
    keep = np.flatnonzero(count > 0)
    risky = hit[keep] * 2 > count[keep]
    lo = np.full(nb, np.inf)
    hi = np.full(nb, -np.inf)
    np.minimum.at(lo, bins, xo)
    np.maximum.at(hi, bins, xo)
    runs, i = [], 0
    while i < len(keep):
        if not risky[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(keep) and risky[j + 1]:
            j += 1
        members = int(count[keep[i:j + 1]].sum())
        low, high = float(lo[keep[i]]), float(hi[keep[j]])
        if len(np.unique(xo)) > MAX_DISCRETE:  # a run's outer ends: trimmed, an outlier does not open it
            in_run = xo[(bins >= keep[i]) & (bins <= keep[j])]
            if i == 0:
                low = float(np.quantile(in_run, TRIM))
            if j == len(keep) - 1:
                high = float(np.quantile(in_run, 1.0 - TRIM))
        if low != high:
            if ref_lo is None:
                low = None if i == 0 else low
                high = None if j == len(keep) - 1 else high
            else:
                low = None if low <= ref_lo else low
                high = None if high >= ref_hi else high
        runs.append((members, low, high))
        i = j + 1
    if not runs:
        return Phrase(support=0.0)
    if len(runs) == 1 and runs[0][1] is None and runs[0][2] is None:
        return Phrase(support=0.0)  # every member's value is a risk value: the phrase says nothing
    runs = sorted(runs, key=lambda r: (-r[0], -np.inf if r[1] is None else r[1]))[:MAX_RANGES]
    ranges = tuple(sorted(((lo_, hi_) for _, lo_, hi_ in runs), key=lambda r: -np.inf if r[0] is None else r[0]))
    direction = ""
    if len(ranges) == 1:
        direction = "high" if ranges[0][1] is None else "low" if ranges[0][0] is None else ""
    p = Phrase(direction=direction, ranges=ranges)
    return Phrase(direction, "", (), ranges, float(holds(p, s).mean()))
