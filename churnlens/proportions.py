"""Confidence intervals of observed rates and of their differences (vectorised, no words).

* :func:`wilson`: Wilson score interval of a proportion ``x / n`` (Wilson 1927).
* :func:`newcombe`: Newcombe's hybrid score interval of ``p1 - p2`` built from the two
  Wilson intervals (Newcombe 1998, method 10), the interval the campaign effects use too.

Both take counts (scalars or arrays) and a two-sided ``level`` (default 0.95); an empty group
(``n == 0``) gives NaN bounds.
"""

from __future__ import annotations

import numpy as np

from churnlens.lazy import lazy

norm = lazy("scipy.stats", "norm")


def _z(level: float) -> float:
    return float(norm.ppf(0.5 + level / 2.0))


def wilson(x, n, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of ``x / n``: (low, high), NaN where ``n == 0``."""
    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    z = _z(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        den = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / den
        half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / den
        low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    low = np.where(n > 0, low, np.nan)
    high = np.where(n > 0, high, np.nan)
    return low, high


def newcombe(x1, n1, x2, n2, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval of ``x1/n1 - x2/n2``: (low, high)."""
    x1, n1, x2, n2 = (np.asarray(a, dtype=np.float64) for a in (x1, n1, x2, n2))
    l1, u1 = wilson(x1, n1, level)
    l2, u2 = wilson(x2, n2, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = x1 / n1, x2 / n2
        d = p1 - p2
        low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
        high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high
