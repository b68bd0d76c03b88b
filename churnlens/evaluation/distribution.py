"""The book's predicted churn probability in bands (the "Score distribution" section)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from churnlens.evaluation.results import ScoreBand, ScoreDistribution

BAND_EDGES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def score_distribution(score: np.ndarray, *, churners: np.ndarray, listed: np.ndarray,
                       label: Optional[np.ndarray] = None, edges: Sequence[float] = BAND_EDGES) -> ScoreDistribution:
    """Customers per probability band ``[edges[i], edges[i+1])`` (the last band includes 1).

    Parameters
    ----------
    score : ndarray, shape (n,)
        Predicted churn probability of every customer of the book.
    churners, listed : ndarray of bool, shape (n,)
        Selected churners; customers on the retention list (control group included).
    label : ndarray of int, shape (n,), optional
        Observed churn (1 = churned); per-band observed churners when given.
    """
    score = np.asarray(score, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    band = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, len(edges) - 2)
    k = len(edges) - 1
    count = lambda mask: np.bincount(band[mask], minlength=k) if mask is not None else None  # noqa: E731
    n = np.bincount(band, minlength=k)
    ch, li = count(np.asarray(churners, bool)), count(np.asarray(listed, bool))
    obs = None if label is None else count(np.asarray(label) == 1)
    bands = tuple(ScoreBand(float(edges[i]), float(edges[i + 1]), int(n[i]), int(ch[i]), int(li[i]),
                            None if obs is None else int(obs[i])) for i in range(k))
    return ScoreDistribution(bands, int(len(score)), label is not None)
