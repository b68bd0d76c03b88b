"""Book-level drivers: importance, direction and where each top driver raises risk."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.attribution.results import Attributions, Driver, GlobalDrivers, GroupDriver, RiskRange, RiskZone
from churnlens.config import Config
from churnlens.proportions import newcombe

TOP_WITH_RANGE = 10  # drivers that get a risk range
MAX_BINS = 20  # bins for numeric risk ranges (one bin per value when fewer distinct values)
DIRECTION_MIN_RHO = 0.2  # |correlation of value rank with attribution| below this -> "mixed"
ZONE_MIN_T = 2.0  # a bin's mean attribution is "clearly positive" at >= 2 standard errors ...
ZONE_MIN_RELATIVE = 0.1  # ... and >= 10% of the largest |bin mean| of the driver
MAX_ZONES = 3  # numeric zones kept per driver (strongest first)
MAX_LEVEL_ZONES = 5  # category levels kept per driver
EDGE_SPLITS = 8  # a zone's end values are examined in groups of 1/8 of the zone's customers ...
EDGE_MIN_ROWS = 20  # ... and of at least 20 customers (see _trim_edges)
SAMPLE_ROWS = 200_000  # direction and ranges use evenly spaced rows beyond this (deterministic)


def _sample_rows(n: int) -> np.ndarray:
    return np.arange(n) if n <= SAMPLE_ROWS else np.linspace(0, n - 1, SAMPLE_ROWS).round().astype(np.int64)


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)


def _direction(x: np.ndarray, phi: np.ndarray) -> str:
    """Sign of the correlation between the feature value's rank and its attribution.

    Values enter as ranks (robust to skewed amounts and sentinel codes such as 999 days
    for "no deposit"); attributions enter as values, so the few large risk-raising
    attributions of the customers the driver matters for weigh more than the many small
    ones near zero. (A rank correlation of the attributions too gives a competitor-rate or
    complaints driver, whose risk sits in a 10% tail, a correlation near 0.)
    """
    ok = ~np.isnan(x)
    x, phi = x[ok], phi[ok]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(phi) == 0:
        return "mixed"
    rx = pd.Series(x).rank().to_numpy()
    rho = float(np.corrcoef(rx, phi)[0, 1])
    if rho >= DIRECTION_MIN_RHO:
        return "up"
    if rho <= -DIRECTION_MIN_RHO:
        return "down"
    return "mixed"


def _bins(x: np.ndarray) -> np.ndarray:
    """Bin index per value, ordered by value.

    One bin per distinct value when there are at most ``MAX_BINS``. Otherwise values held
    by at least 1/``MAX_BINS`` of the customers (e.g. 0 complaints, 999 = no deposit) get a
    bin of their own and the other values share quantile bins, so a heavy value does not
    swallow the bins where the risk changes.
    """
    uniq, counts = np.unique(x, return_counts=True)
    if len(uniq) <= MAX_BINS:
        return np.searchsorted(uniq, x)
    heavy = np.flatnonzero(counts * MAX_BINS >= len(x))
    rest = x[~np.isin(x, uniq[heavy])]
    k = max(MAX_BINS - len(heavy), 2)
    edges = [np.quantile(rest, np.linspace(0, 1, k + 1)[1:-1])] if len(rest) else []
    # [v, next observed value) holds v alone
    edges += [uniq[heavy], uniq[np.minimum(heavy + 1, len(uniq) - 1)]]
    edges = np.unique(np.concatenate(edges))
    return np.searchsorted(edges, x, side="right")


def _numeric_range(x: np.ndarray, phi: np.ndarray, direction: str) -> Optional[RiskRange]:
    """Value range where the driver raises risk, from its binned mean attribution.

    Bins: see :func:`_bins`. No range when the mean attribution is positive in every bin
    or in none. A monotone driver (``direction`` "up"/"down") gets a one-sided range: the
    observed value beyond which its attributions add up to the most risk (largest sum over
    ``x > low`` for "up", over ``x < high`` for "down"); a few wiggles of the model inside
    that side do not split it. A driver with mixed direction gets the run of consecutive bins
    with positive mean attribution that carries the most attribution. Edges are observed
    values, so "x < high" / "x > low" hold exactly on the data.
    """
    ok = ~np.isnan(x)
    x, phi = x[ok], phi[ok]
    if len(x) == 0:
        return None
    bins = _bins(x)
    nb = int(bins.max()) + 1
    count = np.bincount(bins, minlength=nb)
    keep = count > 0
    total = np.bincount(bins, weights=phi, minlength=nb)[keep]
    count = count[keep]
    lo = np.full(nb, np.inf)
    hi = np.full(nb, -np.inf)
    np.minimum.at(lo, bins, x)
    np.maximum.at(hi, bins, x)
    lo, hi = lo[keep], hi[keep]
    positive = total / count > 0
    if not positive.any() or positive.all():
        return None
    if direction in ("up", "down"):
        # one-sided cut at the resolution of the observed values (cumulative sums average
        # the noise out, so no binning is needed here)
        uniq, inverse = np.unique(x, return_inverse=True)
        per_value = np.bincount(inverse, weights=phi, minlength=len(uniq))
        if direction == "up":
            tail = np.cumsum(per_value[::-1])[::-1][1:]  # tail[j - 1] = total over values uniq[j:], j >= 1
            j = int(np.argmax(tail)) + 1
            if tail[j - 1] > 0:
                return RiskRange(op=">", low=float(uniq[j - 1]), high=None)
        else:
            head = np.cumsum(per_value)[:-1]  # head[j] = total over values uniq[:j + 1]
            j = int(np.argmax(head))
            if head[j] > 0:
                return RiskRange(op="<", low=None, high=float(uniq[j + 1]))
    # runs of consecutive positive bins; pick the one with the largest positive mass
    best, best_mass, i = None, -np.inf, 0
    while i < len(positive):
        if positive[i]:
            j = i
            while j + 1 < len(positive) and positive[j + 1]:
                j += 1
            mass = float(total[i:j + 1].sum())
            if mass > best_mass:
                best, best_mass = (i, j), mass
            i = j + 1
        else:
            i += 1
    i, j = best
    if i == 0:
        return RiskRange(op="<", low=None, high=float(lo[j + 1]))
    if j == len(positive) - 1:
        return RiskRange(op=">", low=float(hi[i - 1]), high=None)
    return RiskRange(op="between", low=float(lo[i]), high=float(hi[j]))


def _categorical_range(x: pd.Series, phi: np.ndarray) -> Optional[RiskRange]:
    frame = pd.DataFrame({"c": x.astype(object).to_numpy(), "phi": phi}).dropna(subset=["c"])
    if frame.empty:
        return None
    means = frame.groupby("c", sort=True)["phi"].mean()
    pos = means[means > 0]
    if pos.empty:
        return None
    cats = sorted(pos.index, key=lambda c: (-pos[c], str(c)))
    return RiskRange(op="in", low=None, high=None, categories=tuple(str(c) for c in cats))


def _clearly_positive(total: np.ndarray, sq: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Bins whose mean is > 0, at least ``ZONE_MIN_T`` standard errors above 0 and at least
    ``ZONE_MIN_RELATIVE`` of the largest |bin mean|."""
    mean = total / count
    var = np.maximum(sq / count - mean**2, 0.0) * count / np.maximum(count - 1, 1)
    se = np.sqrt(var / count)
    top = np.abs(mean).max() if len(mean) else 0.0
    return (mean > 0) & (mean >= ZONE_MIN_T * se) & (mean >= ZONE_MIN_RELATIVE * top) & (count >= 2)


def _one_sided(risk: Optional[RiskRange], zones: tuple[RiskZone, ...]) -> bool:
    """A one-sided range is honest only when the dependence has one zone reaching that end
    (``Age > 39`` is not, when risk falls again from 75)."""
    if risk is None or risk.op not in ("<", ">") or len(zones) != 1:
        return risk is not None and risk.op == "between" and len(zones) == 1
    z = zones[0]
    return z.high is None if risk.op == ">" else z.low is None


def numeric_zones(x: np.ndarray, phi: np.ndarray, label: Optional[np.ndarray] = None, *,
                  level: float = 0.95) -> tuple[RiskZone, ...]:
    """Value ranges where risk rises, read off the binned dependence (bins: :func:`_bins`).

    Consecutive bins with a clearly positive mean attribution (:func:`_clearly_positive`)
    form one zone; a non-monotone driver gets several zones (products: 1 and 3-4) instead of
    one threshold. Neighbouring zones that the data do not tell apart from the values between
    them are one zone (:func:`_merge_zones`; ``label``: observed churn of the same rows, NaN
    unknown). Zones are ordered by mean attribution, strongest first, at most ``MAX_ZONES``;
    bounds are observed values.
    """
    ok = ~np.isnan(x)
    x, phi = x[ok], phi[ok]
    if len(x) < 2:
        return ()
    bins = _bins(x)
    nb = int(bins.max()) + 1
    count = np.bincount(bins, minlength=nb).astype(np.float64)
    keep = count > 0
    total = np.bincount(bins, weights=phi, minlength=nb)[keep]
    sq = np.bincount(bins, weights=phi * phi, minlength=nb)[keep]
    lo = np.full(nb, np.inf)
    hi = np.full(nb, -np.inf)
    np.minimum.at(lo, bins, x)
    np.maximum.at(hi, bins, x)
    lo, hi, count = lo[keep], hi[keep], count[keep]
    pos = _clearly_positive(total, sq, count)
    xmin, xmax = float(x.min()), float(x.max())
    zones, i, last = [], 0, len(pos) - 1
    while i <= last:
        if not pos[i]:
            i += 1
            continue
        j = i
        while j < last and pos[j + 1]:
            j += 1
        a, b = _trim_edges(x, phi, float(lo[i]), float(hi[j]), j - i + 1)
        inside = (x >= a) & (x <= b)
        c = float(inside.sum())
        zones.append(RiskZone(low=None if a <= xmin else a, high=None if b >= xmax else b,
                              mean_attribution=float(phi[inside].sum() / c), n=int(c), share=c / len(x),
                              value=a if a == b else None))
        i = j + 1
    lab = None if label is None else np.asarray(label, dtype=np.float64)[ok]
    zones = _merge_zones(zones, x, phi, lab, level)
    return tuple(sorted(zones, key=lambda z: -z.mean_attribution)[:MAX_ZONES])


def _span(x: np.ndarray, a: Optional[float], b: Optional[float]) -> np.ndarray:
    return (x >= (-np.inf if a is None else a)) & (x <= (np.inf if b is None else b))


def _merge_zones(zones: list, x: np.ndarray, phi: np.ndarray, label: Optional[np.ndarray],
                 level: float = 0.95) -> list:
    """Neighbouring zones (in value order) joined, with the values between them, into one zone
    when the data do not set the gap apart from the zones. With labels: the gap's observed churn
    is not measurably different from the two zones' (the Newcombe ``level`` interval of zones
    minus gap includes 0), or it is nearer the zones' churn than the churn of the customers
    outside every zone's span (the gap's difference from the zones is small against the spread
    between the zones and the rest), or the gap itself churns measurably above that rest (it is
    on the risk side of the step: the zones passed "above the rest" only because of what lies
    outside them all); and the joined span still churns measurably above the values outside it. Without labels: the same nearness on mean attribution. A dependence whose
    model splits wiggle inside one step (balance above 0) is one zone, not three; a real dip
    between two risk levels (1 product and 3+, 2 products far below) keeps them apart. Joining
    never spans every value (there would be no rest to be above)."""
    if len(zones) < 2:
        return zones
    zones = sorted(zones, key=lambda z: -np.inf if z.low is None else z.low)
    has = np.isfinite(label) if label is not None else None
    rest = ~_span(x, zones[0].low, max((z.high for z in zones), key=lambda h: np.inf if h is None else h))

    def churn(m):
        m = m & has
        return int(m.sum()), float(label[m].sum())

    def attr(m):
        return float(phi[m].mean()) if m.any() else None

    out = [zones[0]]
    for z in zones[1:]:
        prev = out[-1]
        hull = _span(x, prev.low, z.high)
        if hull.all():  # joining never spans every value: there would be no rest to be above
            out.append(z)
            continue
        zin = _span(x, prev.low, prev.high) | _span(x, z.low, z.high)
        gap = hull & ~zin
        join = not gap.any()
        if not join and label is not None:
            (nz, kz), (ng, kg), (nr, kr) = churn(zin), churn(gap), churn(rest)
            if nz and ng:
                lo, hi = newcombe(kz, nz, kg, ng, level)
                cz, cg = kz / nz, kg / ng
                join = bool(lo <= 0 <= hi) or (nr > 0 and cz > kr / nr and (
                    cg - kr / nr >= (cz - kr / nr) / 2 or newcombe(kg, ng, kr, nr, level)[0] > 0))
        elif not join:
            az, ag, ar = attr(zin), attr(gap), attr(rest)
            join = ar is not None and az > ar and ag - ar >= (az - ar) / 2
        if join and label is not None:  # the joined span must still churn above the values outside it
            (nh, kh), (no, ko) = churn(hull), churn(~hull)
            join = no > 0 and nh > 0 and newcombe(kh, nh, ko, no, level)[0] > 0
        if not join:
            out.append(z)
            continue
        c = float(hull.sum())
        out[-1] = RiskZone(low=prev.low, high=z.high, mean_attribution=float(phi[hull].sum() / c), n=int(c),
                           share=c / len(x))
    return out


def _trim_edges(x: np.ndarray, phi: np.ndarray, a: float, b: float, n_bins: int) -> tuple[float, float]:
    """The run of bins [a, b] without the values at either end where the attribution has turned
    (a hump: ages 60-92 share one quantile bin whose mean is positive although contributions are
    negative from 72). The values of the run are cut, from the outside in, into consecutive
    groups of at least 1/``EDGE_SPLITS`` of the run's mean bin size (``n_bins`` bins; at least
    ``EDGE_MIN_ROWS`` rows):
    an end group whose mean attribution is not positive is dropped, until one is; when one was
    dropped, the edge inside that group is where its sum of attributions, counted from the
    inside, peaks. Bounds stay observed values."""
    inside = (x >= a) & (x <= b)
    uniq, inv = np.unique(x[inside], return_inverse=True)
    if len(uniq) < 2:
        return a, b
    tot = np.bincount(inv, weights=phi[inside], minlength=len(uniq))
    cnt = np.bincount(inv, minlength=len(uniq)).astype(np.float64)
    m = max(EDGE_MIN_ROWS, float(cnt.sum()) / (EDGE_SPLITS * n_bins))

    def groups(order):
        out, t, c, start = [], 0.0, 0.0, None
        for k in order:
            start = k if start is None else start
            t, c = t + tot[k], c + cnt[k]
            if c >= m:
                out.append((start, k, t, c))
                t, c, start = 0.0, 0.0, None
        if start is not None:  # a short remainder joins the last full group
            if out:
                s0, _, t0, c0 = out[-1]
                out[-1] = (s0, order[-1], t0 + t, c0 + c)
            else:
                out.append((start, order[-1], t, c))
        return out

    ia, ib = 0, len(uniq) - 1
    for s0, k, t, c in groups(list(range(len(uniq) - 1, -1, -1))):  # from the top
        if t > 0 or k <= ia:
            if ib < len(uniq) - 1 and k > ia:  # turned: the edge where the sum inside this group peaks
                ib = k + int(np.argmax(np.cumsum(tot[k:s0 + 1])))
            break
        ib = k - 1
    for s0, k, t, c in groups(list(range(0, ib + 1))):  # from the bottom
        if t > 0 or k >= ib:
            if ia > 0 and k < ib:
                ia = k - int(np.argmax(np.cumsum(tot[s0:k + 1][::-1])))
            break
        ia = k + 1
    return float(uniq[ia]), float(uniq[ib])


def categorical_zones(x: pd.Series, phi: np.ndarray) -> tuple[RiskZone, ...]:
    """Category levels whose mean attribution is clearly positive, strongest first."""
    frame = pd.DataFrame({"c": x.astype(object).to_numpy(), "phi": phi}).dropna(subset=["c"])
    if frame.empty:
        return ()
    frame["c"] = frame["c"].astype(str)
    frame["sq"] = frame["phi"] ** 2
    g = frame.groupby("c", sort=True).agg(total=("phi", "sum"), sq=("sq", "sum"), count=("phi", "size"))
    pos = _clearly_positive(g["total"].to_numpy(), g["sq"].to_numpy(), g["count"].to_numpy(dtype=np.float64))
    n = float(g["count"].sum())
    zones = [RiskZone(low=None, high=None, mean_attribution=float(t / c), n=int(c), share=c / n, categories=(lvl,))
             for lvl, t, c, p in zip(g.index, g["total"], g["count"], pos) if p]
    return tuple(sorted(zones, key=lambda z: (-z.mean_attribution, z.categories))[:MAX_LEVEL_ZONES])


def feature_pp(attributions: Attributions, rows: np.ndarray, j: int) -> np.ndarray:
    """Feature ``j``'s attribution of the given rows in probability points (:meth:`Attributions.points`)."""
    return attributions.points(rows, j)


def in_zone(zone: RiskZone, values: pd.Series) -> np.ndarray:
    """Where ``values`` fall in ``zone`` (bounds inclusive, open ends; categorical zones by
    level text); missing values are in no zone."""
    if zone.categories:
        v = values.astype(object)
        return np.array([x is not None and not (isinstance(x, float) and np.isnan(x)) and str(x) in zone.categories
                         for x in v.to_numpy()], dtype=bool)
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    ok = np.isfinite(x)
    with np.errstate(invalid="ignore"):
        return ok & (x >= (-np.inf if zone.low is None else zone.low)) & (x <= (np.inf if zone.high is None else zone.high))


def zone_evidence(zone: RiskZone, values: pd.Series, pp: np.ndarray, label: Optional[np.ndarray], *,
                  min_pp: float, level: float = 0.95, in_sample: Optional[bool] = None) -> tuple[RiskZone, str]:
    """The zone with its evidence, and the verdict code: "" (reported), "not_material" (mean
    attribution below ``min_pp`` probability points) or "churn_not_higher" (with labels: the
    Newcombe ``level`` interval of churn in the zone minus churn among the other customers with
    a known value does not exclude 0).

    ``values``, ``pp``: the feature's values and attributions in probability points of the rows
    the zone was read from; ``label``: their observed churn (0/1; NaN = unknown, e.g. rows
    attributed only because they are targeted), or None; ``in_sample``: those labels are the
    model's training outcomes (kept on the zone, None without labels)."""
    inside = in_zone(zone, values)
    known = values.notna().to_numpy()
    mean_pp = float(pp[inside].mean()) if inside.any() else float("nan")
    fields = dict(mean_pp=mean_pp)
    verdict = "" if np.isfinite(mean_pp) and mean_pp >= min_pp - 1e-12 else "not_material"
    if label is not None:
        lab = np.asarray(label, dtype=np.float64)
        has = np.isfinite(lab)
        a, b = inside & has, known & ~inside & has
        n_in, n_out = int(a.sum()), int(b.sum())
        x_in, x_out = float(lab[a].sum()), float(lab[b].sum())
        fields.update(n_in=n_in, n_out=n_out, churn_in=x_in / n_in if n_in else None,
                      churn_out=x_out / n_out if n_out else None, in_sample=in_sample)
        if n_in and n_out:
            lo, hi = newcombe(x_in, n_in, x_out, n_out, level)
            fields.update(diff_low=float(lo), diff_high=float(hi))
        if not verdict and not (n_in and n_out and fields["diff_low"] > 0):
            verdict = "churn_not_higher"
    return dataclasses.replace(zone, **fields), verdict


@dataclass(frozen=True, eq=False)
class DriverSums:
    """Weighted sums behind the global means, mergeable across blocks of customers (so they can
    be computed where the attributions are, e.g. on Dask workers, and added up in order).

    ``weight`` is the total population weight; ``abs_sum``/``signed_sum`` (f,) are weighted
    sums of |phi| and phi per feature; ``group_abs``/``group_signed`` (g,) the same for the
    per-customer signed group sums, groups in ``groups`` order.
    """

    weight: float
    abs_sum: np.ndarray
    signed_sum: np.ndarray
    groups: tuple[str, ...]
    group_abs: np.ndarray
    group_signed: np.ndarray

    def __add__(self, other: "DriverSums") -> "DriverSums":
        if self.groups != other.groups or self.abs_sum.shape != other.abs_sum.shape:
            raise ValueError("cannot add driver sums of different features or groups")
        return DriverSums(self.weight + other.weight, self.abs_sum + other.abs_sum,
                          self.signed_sum + other.signed_sum, self.groups,
                          self.group_abs + other.group_abs, self.group_signed + other.group_signed)


def _group_names(features: tuple[str, ...], config: Config) -> tuple[str, ...]:
    return tuple(sorted({config.group(n_) for n_ in features}))


def driver_sums(attributions: Attributions, config: Config) -> DriverSums:
    """Weighted sums of one block of customers (weights: ``attributions.weights``)."""
    V = attributions.values.astype(np.float64)
    w = attributions.weights
    feats = attributions.features
    groups = _group_names(feats, config)
    G = np.column_stack([V[:, [j for j, n_ in enumerate(feats) if config.group(n_) == g]].sum(axis=1)
                         for g in groups]) if len(V) else np.zeros((0, len(groups)))
    return DriverSums(float(w.sum()), w @ np.abs(V), w @ V, groups, w @ np.abs(G), w @ G)


def global_drivers(attributions: Attributions, X: pd.DataFrame, config: Config, *,
                   sums: Optional[DriverSums] = None, label: Optional[np.ndarray] = None,
                   families: tuple[tuple[str, ...], ...] = (), in_sample: Optional[bool] = None) -> GlobalDrivers:
    """Mean |attribution|, mean signed attribution, share, direction and risk range per
    feature, and the same per data-dictionary group.

    Parameters
    ----------
    attributions : Attributions, n x f
    X : DataFrame, shape (n, f)
        Feature values of the same customers (aligned data).
    config : Config
        Feature groups (``features[name].group``; "other" when absent).
    sums : DriverSums, optional
        Weighted sums over the whole population of interest, computed block by block where
        the attributions were (see :func:`driver_sums`); default: from ``attributions``.
        Means are weighted by the population weights (``Attributions.weights``).
    label : ndarray of 0/1, shape (n,), optional
        Observed churn of the attributed rows (NaN where unknown). Zone churn rates use only
        the population rows (weight > 0), which stand for the book.
    families : tuple of tuples of str
        Features that are one mechanism (:func:`churnlens.segmentation.families.families`):
        each driver lists the others of its family in ``family``.
    in_sample : bool, optional
        ``label`` holds the model's own training outcomes (the scored table's label column):
        kept on each zone's evidence (``RiskZone.in_sample``, ``zone_in_sample`` of
        ``tables/drivers.csv``) so the churn check is never read as out-of-sample proof.

    Zones are reported only when their evidence holds (:func:`zone_evidence`): mean
    attribution at least ``config.claims.min_zone_pp`` probability points and, with labels,
    observed churn in the zone above the rest with the ``config.claims.level`` interval of the
    difference excluding 0; the others go to ``dropped_zones`` with their code. The one-sided
    ``risk_range`` is kept only when exactly one zone is reported and it reaches that end.

    Returns
    -------
    GlobalDrivers
        Drivers sorted by ``mean_abs`` descending, ties by name. ``direction``: sign of the
        correlation between the value's rank and the attribution ("mixed" below |0.2|, and
        for categorical features, which have no order); see :func:`_direction`. Risk
        ranges: see :func:`_numeric_range` (one-sided for "up"/"down" drivers). Group
        attribution per customer is the signed sum of its features' attributions; the
        group's ``mean_abs`` is the mean of its absolute value. The top 10 drivers get a
        :class:`RiskRange` (None for a numeric driver with several zones) and their
        :class:`RiskZone` s (:func:`numeric_zones`, :func:`categorical_zones`). Beyond 200,000
        customers, direction and ranges use 200,000 evenly spaced rows (deterministic).
    """
    V = attributions.values
    feats = attributions.features
    n, f = V.shape
    if len(X) != n:
        raise ValueError(f"X has {len(X)} rows but the attributions have {n}")
    rows = _sample_rows(n)
    lab_rows = None
    if label is not None:
        lab = np.asarray(label, dtype=np.float64).reshape(-1)
        if lab.shape[0] != n:
            raise ValueError(f"label has {lab.shape[0]} rows but the attributions have {n}")
        lab_rows = np.where(attributions.weights[rows] > 0, lab[rows], np.nan)
    sums = sums if sums is not None else driver_sums(attributions, config)
    total_w = sums.weight if sums.weight > 0 else 1.0
    mean_abs = sums.abs_sum / total_w
    mean_signed = sums.signed_sum / total_w
    total_abs = mean_abs.sum()
    order = sorted(range(f), key=lambda j: (-mean_abs[j], feats[j]))
    drivers = []
    for rank, j in enumerate(order):
        name = feats[j]
        s = X[name]
        phi = V[rows, j].astype(np.float64)
        numeric = _is_numeric(s)
        x_num = s.to_numpy(dtype=np.float64, na_value=np.nan)[rows] if numeric else None
        direction = _direction(x_num, phi) if numeric else "mixed"
        risk, zones = None, ()
        dropped = ()
        if rank < TOP_WITH_RANGE and mean_abs[j] > 0:
            risk = _numeric_range(x_num, phi, direction) if numeric else _categorical_range(s.iloc[rows], phi)
            found = (numeric_zones(x_num, phi, lab_rows, level=config.claims.level) if numeric
                     else categorical_zones(s.iloc[rows], phi))
            pp = feature_pp(attributions, rows, j)
            judged = [zone_evidence(z, s.iloc[rows], pp, lab_rows, min_pp=config.claims.min_zone_pp,
                                    level=config.claims.level, in_sample=in_sample if label is not None else None)
                      for z in found]
            zones = tuple(z for z, v in judged if not v)
            dropped = tuple((z, v) for z, v in judged if v)
            if (numeric and not _one_sided(risk, zones)) or (not numeric and not zones):
                risk = None  # non-monotone or no zone holds: the zones say where risk rises, no single threshold
        drivers.append(Driver(
            feature=name, group=config.group(name), mean_abs=float(mean_abs[j]),
            mean_signed=float(mean_signed[j]), share=float(mean_abs[j] / total_abs) if total_abs > 0 else 0.0,
            direction=direction, risk_range=risk, zones=zones, dropped_zones=dropped,
            protected=bool(config.features.get(name) is not None and config.features[name].protected),
            family=next((tuple(x for x in fam if x != name) for fam in families if name in fam), ()),
        ))
    groups = [(g, float(sums.group_abs[k] / total_w), float(sums.group_signed[k] / total_w))
              for k, g in enumerate(sums.groups)]
    g_total = sum(m for _, m, _ in groups)
    group_drivers = tuple(
        GroupDriver(group=g, mean_abs=m, mean_signed=ms, share=m / g_total if g_total > 0 else 0.0)
        for g, m, ms in sorted(groups, key=lambda t: (-t[1], t[0]))
    )
    return GlobalDrivers(drivers=tuple(drivers), groups=group_drivers, n_customers=n)


DRIVER_COLUMNS = ("rank", "feature", "group", "mean_abs", "mean_signed", "share", "direction", "zone", "low", "high",
                  "level", "zone_mean_attribution", "zone_n", "zone_share", "zone_pp", "zone_churn_in",
                  "zone_churn_out", "zone_diff_low", "zone_diff_high", "zone_in_sample", "protected", "family")


def drivers_table(drivers: GlobalDrivers) -> pd.DataFrame:
    """``tables/drivers.csv``: one row per (driver, reported risk zone), strongest zone first; a
    driver without zones has one row with empty zone columns. ``low``/``high`` empty = open end;
    ``zone_pp``: the zone's mean attribution in probability points; ``zone_churn_in`` /
    ``zone_churn_out``: observed churn in / outside the zone and ``zone_diff_low`` /
    ``zone_diff_high`` the interval of their difference (empty without labels); ``zone_in_sample``:
    those labels are the model's training outcomes (empty without labels); ``protected``:
    the dictionary marks the feature protected; ``family``: features moving with it ("|")."""
    rows = []
    for rank, d in enumerate(drivers.drivers, start=1):
        base = dict(rank=rank, feature=d.feature, group=d.group, mean_abs=d.mean_abs, mean_signed=d.mean_signed,
                    share=d.share, direction=d.direction, protected=d.protected, family="|".join(d.family))
        if not d.zones:
            rows.append(dict(base, zone=np.nan, low=np.nan, high=np.nan, level="", zone_mean_attribution=np.nan,
                             zone_n=np.nan, zone_share=np.nan, zone_pp=np.nan, zone_churn_in=np.nan,
                             zone_churn_out=np.nan, zone_diff_low=np.nan, zone_diff_high=np.nan,
                             zone_in_sample=pd.NA))
        for z_i, z in enumerate(d.zones, start=1):
            rows.append(dict(base, zone=z_i, low=np.nan if z.low is None else z.low,
                             high=np.nan if z.high is None else z.high, level="|".join(z.categories),
                             zone_mean_attribution=z.mean_attribution, zone_n=z.n, zone_share=z.share,
                             zone_pp=z.mean_pp, zone_in_sample=pd.NA if z.in_sample is None else z.in_sample,
                             **{f"zone_{k}": np.nan if getattr(z, k) is None else getattr(z, k)
                                                   for k in ("churn_in", "churn_out", "diff_low", "diff_high")}))
    frame = pd.DataFrame(rows, columns=list(DRIVER_COLUMNS))
    return frame.astype({"zone": "Int64", "zone_n": "Int64", "zone_in_sample": "boolean"})
