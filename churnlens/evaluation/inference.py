"""Sampling uncertainty of model-quality figures: a fast seeded bootstrap and DeLong's test.

Bootstrap (Poisson, over score blocks)
--------------------------------------
The percentile bootstrap of the back-test resamples customers with *Poisson(1)* weights (the
Poisson bootstrap of Hanley & MacGibbon 2006 / Chamandy et al. 2012; asymptotically the same as
drawing n customers with replacement). Its point is speed: the sum of independent Poisson(1)
weights over any fixed set of m customers is one Poisson(m) draw, so a replicate only needs one
draw per *cell* (a fixed set of customers), never one per customer:

* ranking figures (AUC, KS): customers are sorted by score and cut into at most
  :data:`~churnlens.constants.BOOTSTRAP_BLOCKS` blocks of about equal size (tied scores never
  split); per replicate the churners and non-churners of each block are two Poisson draws, and
  AUC = ``sum P_b (N_below_b + N_b / 2) / (P N)``, KS = ``max(cum P_b / P - cum N_b / N, 0)``
  over the blocks. When there are no more distinct scores than blocks the blocks are the tie
  blocks and the replicate is exact; otherwise the replicate is shifted by
  (exact figure - block figure of the original data), so the interval is centred on the exact
  figure and only the replicate's spread is taken from the blocks;
* Brier: per block and class, the Poisson count times the cell's mean squared error;
* the churn rate of every group of a grouping (deciles, calibration bins, the retention list,
  segments): two Poisson draws per group (churners, non-churners), groups held fixed at their
  original assignment (the question is how well last month's fixed list did, not a re-ranked one).

A replicate costs O(blocks + groups) whatever the number of customers: 200 replicates of a
million customers take well under a second. The interval is the ``(1 - level) / 2`` and
``(1 + level) / 2`` quantiles of the replicates (NaN replicates - e.g. no churner drawn - are left
out). ``n_boot = 0`` gives no interval. :func:`weighted_auc_ks` gives the figures under
arbitrary per-customer weights (the paired bootstrap of :mod:`churnlens.evaluation.compare`).

DeLong
------
:func:`delong` is the fast algorithm of Sun & Xu (2014, IEEE Signal Processing Letters 21:1389):
mid-ranks of the positives, of the negatives and of both give every customer's placement
value in ``O(n log n)``; the covariance of the AUCs of several models scored on the same
customers is ``S10 / m + S01 / n`` (DeLong, DeLong & Clarke-Pearson 1988). :func:`delong_test`
gives the two-sided z-test of the difference of two correlated AUCs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from churnlens.constants import BOOTSTRAP_BLOCKS
from churnlens.errors import DataError
from churnlens.evaluation.results import DeLongTest, Estimate
from churnlens.lazy import lazy

norm = lazy("scipy.stats", "norm")
rankdata = lazy("scipy.stats", "rankdata")

__all__ = ["BootstrapDraws", "bootstrap", "estimate", "delong", "delong_test", "weighted_auc_ks"]


@dataclass(frozen=True, eq=False)
class BootstrapDraws:
    """Replicates of every figure, shape (n_boot,) or (n_boot, groups)."""

    auc: np.ndarray
    ks: np.ndarray
    brier: np.ndarray
    rate: np.ndarray  # overall churn rate
    groups: Mapping[str, np.ndarray]  # grouping name -> (n_boot, n_groups) churn rates
    level: float
    sizes: Mapping[str, np.ndarray] = None  # grouping name -> (n_boot, n_groups) drawn customers

    def pooled_rate(self, name: str) -> np.ndarray:
        """Churn rate of all customers of grouping ``name`` per replicate (same draws as its groups)."""
        size = self.sizes[name]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nansum(self.groups[name] * size, axis=1) / size.sum(axis=1)


class _Ranked:
    """Customers sorted by score descending, with tie-block boundaries."""

    def __init__(self, label: np.ndarray, score: np.ndarray) -> None:
        self.order = np.argsort(-score, kind="stable")
        s = score[self.order]
        self.y = label[self.order].astype(np.float64)
        self.starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])


def weighted_auc_ks(ranked: _Ranked, w: np.ndarray) -> tuple[float, float]:
    """AUC and KS of the customers weighted by ``w`` (in ``ranked.order``)."""
    pos = np.add.reduceat(w * ranked.y, ranked.starts)
    neg = np.add.reduceat(w * (1.0 - ranked.y), ranked.starts)
    P, N = pos.sum(), neg.sum()
    if P <= 0 or N <= 0:
        return math.nan, math.nan
    cneg = np.cumsum(neg)
    auc = float((pos * (N - cneg + 0.5 * neg)).sum() / (P * N))
    ks = float(max((np.cumsum(pos) / P - cneg / N).max(), 0.0))
    return auc, ks


def _blocks(score_sorted: np.ndarray, max_blocks: int) -> np.ndarray:
    """Start positions of the score blocks (sorted descending): the tie blocks when there are
    at most ``max_blocks`` of them, else about equal-count blocks whose cuts move to the next
    change of score (ties are never split)."""
    n = score_sorted.shape[0]
    ties = np.flatnonzero(np.r_[True, score_sorted[1:] != score_sorted[:-1]]) if n else np.zeros(0, np.int64)
    if len(ties) <= max_blocks:
        return ties
    cuts = np.unique(np.linspace(0, n, max_blocks + 1)[:-1].astype(np.int64))
    return np.unique(ties[np.minimum(np.searchsorted(ties, cuts), len(ties) - 1)])


def _auc_ks(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUC and KS from per-block counts ordered by score descending, shape (..., B)."""
    P, N = pos.sum(axis=-1), neg.sum(axis=-1)
    cneg = np.cumsum(neg, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (pos * (N[..., None] - cneg + 0.5 * neg)).sum(axis=-1) / (P * N)
        ks = np.maximum((np.cumsum(pos, axis=-1) / P[..., None] - cneg / N[..., None]).max(axis=-1), 0.0)
    bad = (P <= 0) | (N <= 0)
    return np.where(bad, np.nan, auc), np.where(bad, np.nan, ks)


def bootstrap(label: np.ndarray, score: np.ndarray, *, n_boot: int, seed: int, level: float = 0.95,
              groupings: Optional[Mapping[str, np.ndarray]] = None, ranking: bool = True,
              max_blocks: int = BOOTSTRAP_BLOCKS, order: Optional[np.ndarray] = None) -> BootstrapDraws:
    """Poisson-bootstrap replicates of AUC, KS, Brier and group churn rates (module docstring).

    Parameters
    ----------
    label : ndarray of 0/1, shape (n,)
    score : ndarray of float, shape (n,)
    n_boot : int
        Number of replicates (0: empty replicates).
    seed : int
    level : float
        Confidence level of the intervals built from the draws.
    groupings : mapping of name -> ndarray of int, shape (n,)
        Group index per customer (``-1``: in no group); groups ``0 .. max``.
    ranking : bool
        Compute AUC, KS and Brier (False: NaN, for group rates only).
    max_blocks : int
        Most score blocks of the ranking figures.
    order : ndarray of int, shape (n,), optional
        ``numpy.argsort(-score, kind="stable")`` when the caller has it (saves a sort).

    Returns
    -------
    BootstrapDraws
    """
    label = np.asarray(label, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    groupings = dict(groupings or {})
    rng = np.random.default_rng(seed)
    auc = ks = brier = np.full(n_boot, np.nan)
    # the overall rate comes from its own two cells (all churners, all non-churners)
    P_all, N_all = float(label.sum()), float(len(label) - label.sum())
    p_draw, n_draw = rng.poisson(P_all, n_boot).astype(np.float64), rng.poisson(N_all, n_boot).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = p_draw / (p_draw + n_draw)
    if ranking and n_boot and len(label):
        order = np.argsort(-score, kind="stable") if order is None else np.asarray(order)
        s, y = score[order], label[order]
        starts = _blocks(s, max_blocks)
        pos = np.add.reduceat(y, starts)
        neg = np.add.reduceat(1.0 - y, starts)
        sq = (s - y) ** 2
        sq_pos = np.add.reduceat(sq * y, starts)
        sq_neg = np.add.reduceat(sq * (1.0 - y), starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_pos, mean_neg = np.where(pos > 0, sq_pos / pos, 0.0), np.where(neg > 0, sq_neg / neg, 0.0)
        exact_auc, exact_ks = _auc_ks_exact(y, s)
        block_auc, block_ks = _auc_ks(pos, neg)
        bp = rng.poisson(pos, (n_boot, len(pos))).astype(np.float64)
        bn = rng.poisson(neg, (n_boot, len(neg))).astype(np.float64)
        a, k = _auc_ks(bp, bn)
        auc, ks = a + (exact_auc - block_auc), k + (exact_ks - block_ks)
        with np.errstate(invalid="ignore", divide="ignore"):
            brier = (bp @ mean_pos + bn @ mean_neg) / (bp.sum(axis=1) + bn.sum(axis=1))
    groups, sizes = {}, {}
    for name, g in groupings.items():
        g = np.asarray(g, dtype=np.int64)
        inside = g >= 0
        size = int(g.max()) + 1 if len(g) and g.max() >= 0 else 0
        gp = np.bincount(g[inside], weights=label[inside], minlength=size)
        gn = np.bincount(g[inside], minlength=size) - gp
        dp = rng.poisson(gp, (n_boot, size)).astype(np.float64)
        dn = rng.poisson(gn, (n_boot, size)).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            groups[name] = dp / (dp + dn)
        sizes[name] = dp + dn
    return BootstrapDraws(auc=np.asarray(auc, np.float64), ks=np.asarray(ks, np.float64),
                          brier=np.asarray(brier, np.float64), rate=rate, groups=groups, level=level, sizes=sizes)


def _auc_ks_exact(y_sorted: np.ndarray, s_sorted: np.ndarray) -> tuple[float, float]:
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    a, k = _auc_ks(np.add.reduceat(y_sorted, starts), np.add.reduceat(1.0 - y_sorted, starts))
    return float(a), float(k)


def estimate(value: Optional[float], draws: np.ndarray, level: float) -> Estimate:
    """A point value with the percentile interval of its bootstrap ``draws`` (NaN draws dropped)."""
    d = np.asarray(draws, dtype=np.float64)
    d = d[np.isfinite(d)]
    v = math.nan if value is None else float(value)
    if d.size == 0 or not math.isfinite(v):
        return Estimate(value=v, low=math.nan, high=math.nan, n_boot=int(d.size))
    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(value=v, low=float(lo), high=float(hi), n_boot=int(d.size))


def delong(label: np.ndarray, scores: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of several models on the same customers and their DeLong covariance.

    Parameters
    ----------
    label : ndarray of 0/1, shape (n,)
    scores : sequence of k arrays, each shape (n,)

    Returns
    -------
    aucs : ndarray, shape (k,)
    cov : ndarray, shape (k, k)

    Raises
    ------
    DataError
        Fewer than two churners or two non-churners (the variance needs both).
    """
    y = np.asarray(label).astype(bool)
    S = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        raise DataError(f"DeLong's test needs at least two churners and two non-churners; found {m} and {n}.")
    pos, neg = S[:, y], S[:, ~y]
    tx = rankdata(pos, axis=1)
    ty = rankdata(neg, axis=1)
    tz = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v10 = (tz[:, :m] - tx) / n  # placement of each churner among the non-churners
    v01 = 1.0 - (tz[:, m:] - ty) / m  # share of churners above each non-churner
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, cov


def delong_test(label: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, *, level: float = 0.95) -> DeLongTest:
    """Two-sided DeLong z-test of AUC(a) - AUC(b) on the same customers."""
    aucs, cov = delong(label, [score_a, score_b])
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = math.sqrt(max(var, 0.0))
    if se == 0.0:
        z, p = (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    else:
        z = diff / se
        p = float(2 * norm.sf(abs(z)))
    q = float(norm.ppf((1 + level) / 2))
    return DeLongTest(auc_a=float(aucs[0]), auc_b=float(aucs[1]), difference=diff, se=se, z=float(z),
                      p_value=p, ci_low=diff - q * se, ci_high=diff + q * se)
