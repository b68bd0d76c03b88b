"""The one sampler: customers ranked by a seeded hash of their id.

A customer's key is the first 8 bytes of SHA-256("churnlens-<purpose>:<seed>:<id>"): the same
customers are drawn on every run whatever the row order or chunking, a draw can be computed
while streaming (keep the k smallest keys seen so far), and different purposes (the population
sample, the control group) draw independently from the same seed.
"""

from __future__ import annotations

import hashlib
from typing import Optional

import numpy as np
import pandas as pd


def hash_keys(ids: np.ndarray, *, purpose: str, seed: int) -> np.ndarray:
    """Sampling key of each id (compared as text).

    Parameters
    ----------
    ids : ndarray, shape (n,)
    purpose : str
        ``"sample"`` (population sample) or ``"control"`` (control group).
    seed : int

    Returns
    -------
    ndarray of uint64, shape (n,)
    """
    base = hashlib.sha256(f"churnlens-{purpose}:{seed}:".encode())
    digests = []
    for i in (ids.tolist() if isinstance(ids, np.ndarray) else ids):
        h = base.copy()  # the prefix is hashed once
        h.update(str(i).encode())
        digests.append(h.digest()[:8])
    return np.frombuffer(b"".join(digests), dtype=">u8").astype(np.uint64)


def smallest(keys: np.ndarray, k: int, *, ties: np.ndarray) -> np.ndarray:
    """Boolean mask (n,) of the ``k`` smallest ``(key, tie)`` pairs (all rows when k >= n)."""
    n = keys.shape[0]
    mask = np.zeros(n, dtype=bool)
    mask[np.lexsort((ties, keys))[:max(k, 0)]] = True
    return mask


def population_sample(ids: np.ndarray, *, size: int, seed: int) -> np.ndarray:
    """Deterministic uniform sample of ``size`` customers (all when the book is smaller).

    The ``size`` customers with the smallest keys (purpose ``"sample"``; ties by position) are
    sampled; :class:`BottomK` computes the same sample chunk by chunk.
    """
    n = ids.shape[0]
    if size >= n:
        return np.ones(n, dtype=bool)
    return smallest(hash_keys(ids, purpose="sample", seed=seed), size, ties=np.arange(n))


class BottomK:
    """Streaming :func:`population_sample`: keeps the features of the ``k`` rows with the
    smallest (key, position) seen so far, so memory stays bounded by ``k`` rows."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.keys = np.empty(0, dtype=np.uint64)
        self.X: Optional[pd.DataFrame] = None

    def add(self, keys: np.ndarray, X: pd.DataFrame) -> None:
        """``X`` is indexed by book position, in order; ``keys`` aligned with its rows."""
        all_keys = np.concatenate([self.keys, keys])
        X_all = X if self.X is None else pd.concat([self.X, X])
        if len(all_keys) > self.k:
            best = np.flatnonzero(smallest(all_keys, self.k, ties=X_all.index.to_numpy()))
            all_keys, X_all = all_keys[best], X_all.iloc[best]
        self.keys, self.X = all_keys, X_all
