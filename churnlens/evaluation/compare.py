"""Champion/challenger with evidence: every metric with a bootstrap interval, DeLong's test of
the champion's AUC against each challenger, and a configurable ranking metric.

Metrics (each model on the same labelled customers)
---------------------------------------------------
AUC, KS, Brier as in :mod:`churnlens.evaluation.quality`.
``lift_at_k``
    Churn rate of the riskiest ``round(k n)`` customers (stable sort by score) / overall rate.
``expected_net_value``
    Realised net value of contacting the ``round(k n)`` customers with the highest score x value:
    ``sum(churned x uplift x value - cost)`` with ``evaluation.uplift`` and ``evaluation.cost``
    (needs value_column; NaN without it). It prices what the model's list would have retained.

Intervals: a *paired* percentile bootstrap (the same resampled customers for every model,
``numpy.random.default_rng(seed)``), each model's top-k group held at its original assignment
(as in :mod:`churnlens.evaluation.inference`).

Champion: the highest ``rank_by`` value, ties broken by AUC, then by the order the models were
given. ``code``: ``single_model``; ``champion_significant`` when DeLong's two-sided test finds the
champion's AUC higher than every challenger's at ``1 - level``; else
``champion_not_significant`` (at least one challenger is not significantly worse on AUC).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from churnlens.errors import ConfigError, DataError
from churnlens.evaluation.inference import _Ranked, delong_test, estimate, weighted_auc_ks
from churnlens.evaluation.quality import validate_labels_scores
from churnlens.evaluation.results import EvidenceComparison, ModelEvidence
from churnlens.notes import Note

__all__ = ["compare_with_evidence", "RANK_BY"]

RANK_BY = ("lift_at_k", "auc", "ks", "expected_net_value")


def _top(key: np.ndarray, k: float) -> np.ndarray:
    n = key.shape[0]
    m = max(1, int(math.floor(k * n + 0.5)))
    top = np.zeros(n, dtype=bool)
    top[np.argsort(-key, kind="stable")[:m]] = True
    return top


class _Model:
    """One model's fixed quantities, and its figures under bootstrap weights ``w``."""

    def __init__(self, y, s, value, k, uplift, cost):
        self.y, self.s = y, s
        self.ranked = _Ranked(y, s)
        self.top = _top(s, k)
        self.gain = None
        if value is not None:
            v = np.nan_to_num(value, nan=0.0)
            self.net_top = _top(s * v, k)
            self.gain = y * uplift * v - cost

    def figures(self, w: np.ndarray) -> tuple[float, float, float, float, float]:
        auc, ks = weighted_auc_ks(self.ranked, w[self.ranked.order])
        total, wy = w.sum(), w * self.y
        rate = wy.sum() / total
        wt = w[self.top].sum()
        lift = (wy[self.top].sum() / wt) / rate if (rate > 0 and wt > 0) else math.nan
        brier = float((w * (self.s - self.y) ** 2).sum() / total)
        env = math.nan if self.gain is None else float((w * self.gain)[self.net_top].sum())
        return auc, ks, brier, lift, env


def compare_with_evidence(names: Sequence[str], sha256s: Sequence[str], label: np.ndarray,
                          scores: Sequence[np.ndarray], *, value: Optional[np.ndarray] = None,
                          rank_by: str = "lift_at_k", k: float = 0.1, uplift: float = 0.2, cost: float = 0.0,
                          n_boot: int = 200, seed: int = 0, level: float = 0.95) -> EvidenceComparison:
    """Compare models on the same customers (see the module docstring).

    Parameters
    ----------
    names, sha256s : sequence of str, length m
    label : ndarray of 0/1, shape (n,)
    scores : sequence of m arrays, shape (n,)
    value : ndarray, shape (n,), optional
        Money at risk (needed by ``expected_net_value``).

    Raises
    ------
    ConfigError
        Unknown ``rank_by``, or ``expected_net_value`` without values.
    DataError
        Mismatched lengths, no model, labels not 0/1.
    """
    if rank_by not in RANK_BY:
        raise ConfigError(f"evaluation.rank_by is {rank_by!r}; expected one of {', '.join(RANK_BY)}.",
                          key="evaluation.rank_by")
    if rank_by == "expected_net_value" and value is None:
        raise ConfigError("evaluation.rank_by is 'expected_net_value' but there is no value: set value_column in "
                          "the config.", key="evaluation.rank_by")
    if not (len(names) == len(sha256s) == len(scores)) or not names:
        raise DataError(f"Pass one name, hash and score vector per model (at least one); found {len(names)}, "
                        f"{len(sha256s)} and {len(scores)}.")
    checked = [validate_labels_scores(label, s) for s in scores]
    y = checked[0][0].astype(np.float64)
    models = [_Model(y, s, value, k, uplift, cost) for _, s in checked]
    n = y.shape[0]
    point = np.array([m.figures(np.ones(n)) for m in models])  # (m, 5)
    draws = np.full((n_boot, len(models), 5), np.nan)
    rng = np.random.default_rng(seed)
    for b in range(n_boot):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        draws[b] = [m.figures(w) for m in models]
    col = {"auc": 0, "ks": 1, "lift_at_k": 3, "expected_net_value": 4}[rank_by]
    key = lambda i: (-np.nan_to_num(point[i, col], nan=-np.inf), -np.nan_to_num(point[i, 0], nan=-np.inf), i)  # noqa
    order = sorted(range(len(models)), key=key)
    champ = order[0]
    rows, significant = [], []
    for r, i in enumerate(order):
        test = None if r == 0 else delong_test(y, checked[champ][1], checked[i][1], level=level)
        sig = None if test is None else bool(test.p_value < 1 - level and test.difference > 0)
        if sig is not None:
            significant.append(sig)
        e = [estimate(point[i, j], draws[:, i, j], level) for j in range(5)]
        rows.append(ModelEvidence(model=str(names[i]), sha256=str(sha256s[i]), auc=e[0], ks=e[1], brier=e[2],
                                  lift_at_k=e[3], expected_net_value=e[4], rank_value=float(point[i, col]),
                                  champion=r == 0, vs_champion=test, significant=sig))
    code = "single_model" if len(rows) == 1 else ("champion_significant" if all(significant)
                                                  else "champion_not_significant")
    champion = rows[0]
    verdict = Note.of(f"evaluate.{code}", model=champion.model, metric=Note.of(f"evaluate.metric.{rank_by}", k=k),
                      value=champion.rank_value, level=level,
                      models=tuple(r.model for r in rows[1:] if not r.significant))
    return EvidenceComparison(rows=tuple(rows), rank_by=rank_by, k=k, level=level, code=code, n=n,
                              n_churners=int(y.sum()), verdict=verdict)
