"""Sampling uncertainty of model-quality figures: a fast seeded bootstrap and DeLong's test.

Bootstrap
---------
Percentile bootstrap: ``n_boot`` resamples of the customers with replacement, drawn with
``numpy.random.default_rng(seed)`` (the draw ``rng.integers(0, n, n)`` turned into per-customer
counts ``w``), so every figure is a weighted statistic of the *original* arrays and nothing is
copied. The customers are ranked once by score (descending) and grouped into blocks of tied
scores; per replicate

* AUC = sum over tie blocks of ``P_b * (N_below_b + N_b / 2) / (P * N)`` (the Mann-Whitney
  statistic with ties counted one half; equals ``sklearn.metrics.roc_auc_score`` when
  ``w == 1``),
* KS = ``max(cum P_b / P - cum N_b / N, 0)`` over the blocks (the rule ``score >= t``),
* Brier = ``sum w (score - y)^2 / sum w``,
* the churn rate of every group of a grouping (deciles, calibration bins, the retention list,
  segments) = ``sum w y / sum w`` over its members, groups held fixed at their original
  assignment (the question is how well last month's fixed list did, not a re-ranked one).

The interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the replicates
(NaN replicates - e.g. no churner drawn - are left out). ``n_boot = 0`` gives no interval.

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
from scipy.stats import norm, rankdata

from churnlens.errors import DataError
from churnlens.evaluation.results import DeLongTest, Estimate

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


def bootstrap(label: np.ndarray, score: np.ndarray, *, n_boot: int, seed: int, level: float = 0.95,
              groupings: Optional[Mapping[str, np.ndarray]] = None, ranking: bool = True) -> BootstrapDraws:
    """Percentile-bootstrap replicates of AUC, KS, Brier and group churn rates.

    Parameters
    ----------
    label : ndarray of 0/1, shape (n,)
    score : ndarray of float, shape (n,)
    n_boot : int
        Number of resamples (0: empty replicates).
    seed : int
    level : float
        Confidence level of the intervals built from the draws.
    groupings : mapping of name -> ndarray of int, shape (n,)
        Group index per customer (``-1``: in no group); groups ``0 .. max``.
    ranking : bool
        Compute AUC and KS (False: NaN, for group rates only; saves the ranking work).

    Returns
    -------
    BootstrapDraws
    """
    label = np.asarray(label, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    n = label.shape[0]
    groupings = dict(groupings or {})
    ranked = _Ranked(label, score) if ranking else None
    sizes = {k: int(g.max()) + 1 if len(g) and g.max() >= 0 else 0 for k, g in groupings.items()}
    auc, ks, brier, rate = (np.empty(n_boot) for _ in range(4))
    groups = {k: np.empty((n_boot, sizes[k])) for k in groupings}
    sq = (score - label) ** 2
    rng = np.random.default_rng(seed)
    for b in range(n_boot):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        auc[b], ks[b] = weighted_auc_ks(ranked, w[ranked.order]) if ranking else (math.nan, math.nan)
        total = w.sum()
        brier[b] = (w * sq).sum() / total
        wy = w * label
        rate[b] = wy.sum() / total
        for k, g in groupings.items():
            inside = g >= 0
            num = np.bincount(g[inside], weights=wy[inside], minlength=sizes[k])
            den = np.bincount(g[inside], weights=w[inside], minlength=sizes[k])
            with np.errstate(invalid="ignore", divide="ignore"):
                groups[k][b] = num / den
    return BootstrapDraws(auc=auc, ks=ks, brier=brier, rate=rate, groups=groups, level=level)


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
