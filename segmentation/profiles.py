"""The representation of churners that HDBSCAN clusters: why they are at risk, not how much."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import numpy as np

from churnlens.notes import Note
from churnlens.attribution.results import Attributions
from churnlens.segmentation.results import Profiles


@contextlib.contextmanager
def step(progress, description: str, total: int) -> Iterator[Callable[[int], None]]:
    """``progress.task(...)``, or a no-op advance when there is no progress object."""
    if progress is None:
        yield lambda n=1: None
    else:
        with progress.task(description, total) as advance:
            yield advance


def risk_shares(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Positive attributions divided by their row sum.

    Parameters
    ----------
    values : ndarray, shape (m, f)

    Returns
    -------
    shares : ndarray of float64, shape (m, f)
        Rows sum to 1, or are all 0 when a row has no risk-raising attribution.
    n_zero : int
        Number of all-zero rows.
    """
    pos = np.clip(np.asarray(values, dtype=np.float64), 0.0, None)
    total = pos.sum(axis=1, keepdims=True)
    zero = total[:, 0] <= 0.0
    np.divide(pos, total, out=pos, where=~zero[:, None])
    pos[zero] = 0.0
    return pos, int(zero.sum())


def build_profiles(attributions: Attributions, rows: np.ndarray, *, max_dims: int, progress=None) -> Profiles:
    """Risk-raising attribution shares of the given rows, reduced by PCA to ``max_dims``.

    Each churner's positive attributions (negative ones clipped to 0) are divided by their
    sum, so the profile says which features push this customer's risk up and in what
    proportion, whatever the level of risk. Clustering raw attributions would mostly
    separate high-score from low-score churners; shares separate *reasons*, which is what a
    retention action addresses. Features that lower risk are left out because they are not
    reasons to leave. Principal components (exact: eigen-decomposition of the covariance,
    or a full SVD for few rows; deterministic signs) then keep the main directions when
    there are more than ``max_dims`` features, because HDBSCAN's tree indexes lose their
    speed in high dimension.

    Parameters
    ----------
    attributions : Attributions
        ``values`` of shape (n, f).
    rows : ndarray of int, shape (m,)
        Row positions of the customers to profile (the churners).
    max_dims : int
        Largest number of dimensions of ``embedding``.
    progress : churnlens.progress.Progress, optional
        Gets the tasks "Segmentation: profiles" and "Segmentation: PCA".

    Returns
    -------
    Profiles
        ``shares`` (m, f) and ``embedding`` (m, d) with ``d = min(max_dims, f, m)`` when
        PCA is applied (``f > max_dims``), else ``embedding`` equals ``shares``.
    """
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    with step(progress, "Segmentation: profiles", 1) as advance:
        shares, n_zero = risk_shares(attributions.values[rows])
        advance(1)
    m, f = shares.shape
    if f > max_dims and m >= 2:
        from sklearn.decomposition import PCA

        d = int(min(max_dims, m))
        with step(progress, "Segmentation: PCA", 1) as advance:
            # Exact PCA via the f x f covariance (deterministic, svd_flip signs): much faster
            # than an SVD of the m x f matrix when m >> f.
            pca = PCA(n_components=d, svd_solver="covariance_eigh" if m > 4 * f else "full")
            embedding = pca.fit_transform(shares)
            advance(1)
        explained = float(np.sum(pca.explained_variance_ratio_)) if np.isfinite(pca.explained_variance_ratio_).all() else 1.0
        note = Note.of("profile.pca", f=f, d=d, explained=explained, n_zero=int(n_zero))
    else:
        embedding = shares.copy()
        explained = 1.0
        note = Note.of("profile.direct", f=f, n_zero=int(n_zero))
    return Profiles(
        rows=rows,
        features=tuple(attributions.features),
        shares=shares,
        embedding=np.ascontiguousarray(embedding, dtype=np.float64),
        explained_variance=explained,
        n_zero=n_zero,
        representation=note,
    )
