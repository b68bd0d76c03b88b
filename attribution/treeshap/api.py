"""Entry points over a :class:`~.forest.Forest`: predictions, SHAP values, interaction values."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Sequence

import numpy as np

from churnlens.attribution.treeshap import _kernels as K
from churnlens.errors import ConfigError, UserInputError
from churnlens.attribution.treeshap.forest import Forest

ROW_BLOCK = 64  # rows per parallel task of the classic kernel: a tree's tables are reused over the block
QUAD_BLOCK = 256  # at most this many rows per parallel task of the quadrature kernel
QUAD_STATE_BYTES = 64 << 20  # per task (thread)
KERNELS = ("quadrature", "classic")
KERNEL_ENV = "CHURNLENS_TREESHAP_KERNEL"  # "classic" selects the previous kernel (for comparison)


def _threads() -> int:
    """numba's thread count (NUMBA_NUM_THREADS, or ``numba.set_num_threads`` once numba's own
    threads run), read without starting numba's thread pool: the quadrature kernel runs on
    plain threads, and a process that forks is better off without a numba pool."""
    import numba
    from numba.np.ufunc import parallel

    if getattr(parallel, "_is_initialized", True):
        return max(int(numba.get_num_threads()), 1)
    return max(int(numba.config.NUMBA_NUM_THREADS), 1)


def quad_tasks(n: int, threads: int) -> tuple[list[tuple[int, int]], int]:
    """Row ranges of the quadrature kernel, one per thread, and the rows per block within
    them: blocks as large as possible (the per-node work that does not depend on the row is
    done once per block) up to :data:`QUAD_BLOCK`, and equal. Rows are independent, so the
    values do not depend on either."""
    per = -(-n // threads) if n else 0
    ranges = [(min(i * per, n), min((i + 1) * per, n)) for i in range(threads)]
    ranges = [(a, b) for a, b in ranges if b > a]
    block = -(-per // max(1, -(-per // QUAD_BLOCK))) if per else 1
    return ranges, int(block)


def _quad(X: np.ndarray, out: np.ndarray, forest: Forest, pl) -> None:
    fr = forest
    ranges, block = quad_tasks(X.shape[0], _threads())
    # the per-depth state of a task, P and S of (depth + 1, q, block) float64, stays within
    # QUAD_STATE_BYTES however deep the trees (a LightGBM chain may be hundreds of levels)
    per_row = 16 * (pl.max_depth + 1) * pl.tn.shape[1]
    block = max(1, min(block, QUAD_STATE_BYTES // per_row))

    def run(rows: tuple[int, int]) -> None:
        K.quad_kernel(X, out, rows[0], rows[1], fr.node_start, fr.left, fr.feature, fr.kind, fr.threshold, fr.missing,
                      fr.default_left, fr.cat_words, fr.cat_start, fr.cat_len, fr.value, pl.par, pl.side, pl.depth,
                      pl.prev, pl.zm, pl.tq, pl.tn, pl.tw, pl.max_depth, pl.tn.shape[1], block)

    if len(ranges) <= 1:
        for r in ranges:
            run(r)
        return
    # a pool per call: cheap next to the kernel, and nothing left behind for a fork to inherit
    with ThreadPoolExecutor(len(ranges)) as pool:
        list(pool.map(run, ranges))


def kernel_name(kernel: Optional[str] = None) -> str:
    """The kernel to use: ``kernel``, else the environment's ``CHURNLENS_TREESHAP_KERNEL``, else
    "quadrature"."""
    if kernel is not None:
        if kernel not in KERNELS:
            raise UserInputError(f"kernel: expected one of {', '.join(KERNELS)}; found {kernel!r}.", argument="kernel")
        return kernel
    name = os.environ.get(KERNEL_ENV) or "quadrature"
    if name not in KERNELS:
        raise ConfigError(f"environment variable {KERNEL_ENV}: expected one of {', '.join(KERNELS)}; found {name!r}.",
                          key=KERNEL_ENV)
    return name


def predict(forest: Forest, M: np.ndarray) -> np.ndarray:
    """Raw output of the ensemble, shape (n,), float64: intercept + sum of leaf values."""
    X = forest.prepare(M)
    out = np.full(X.shape[0], forest.intercept, dtype=np.float64)
    fr = forest
    K.predict_kernel(X, out, fr.node_start, fr.left, fr.right, fr.feature, fr.kind, fr.threshold, fr.missing,
                     fr.default_left, fr.cat_words, fr.cat_start, fr.cat_len, fr.value)
    return out


def shap_values(forest: Forest, M: np.ndarray, *, kernel: Optional[str] = None) -> tuple[np.ndarray, float]:
    """Exact path-dependent TreeSHAP values.

    Parameters
    ----------
    forest : Forest
    M : ndarray, shape (n, f)
        The estimator's input matrix (its own column order and encoding).
    kernel : "quadrature" or "classic", optional
        ``quadrature`` (the default; :func:`~._kernels.quad_kernel`) or the previous per-leaf
        table / linear kernel (:func:`~._kernels.shap_kernel`). Both are exact; their values
        differ by rounding only (<= 1e-12). Default: the environment variable
        ``CHURNLENS_TREESHAP_KERNEL``, else quadrature.

    Returns
    -------
    phi : ndarray of float64, shape (n, f)
    base : float
        Expected value; ``base + phi.sum(1) == predict(forest, M)`` up to rounding.
    """
    X = forest.prepare(M)
    out = np.zeros(X.shape, dtype=np.float64)
    fr = forest
    if kernel_name(kernel) == "quadrature":
        pl = forest.plan()
        _quad(X, out, forest, pl)
        return out, pl.expected
    pl = forest.plan(tables=True)
    K.shap_kernel(X, out, fr.node_start, fr.left, fr.feature, fr.kind, fr.threshold, fr.missing, fr.default_left,
                  fr.cat_words, fr.cat_start, fr.cat_len, fr.value, pl.par, pl.side, pl.pos, pl.prev, pl.zm, pl.mode,
                  pl.leaf_start, pl.leaf_node, pl.leaf_d, pl.leaf_u0, pl.leaf_a0, pl.uf, pl.ur, pl.A, pl.tq, pl.tn,
                  pl.tw, pl.max_nodes, pl.max_leaves, pl.tn.shape[1], ROW_BLOCK)
    return out, pl.expected


def interaction_values(forest: Forest, M: np.ndarray, *, features: Sequence[int]) -> np.ndarray:
    """Exact SHAP interaction values among ``features`` (shap's definition).

    Parameters
    ----------
    forest : Forest
    M : ndarray, shape (n, f)
    features : sequence of m distinct column indices

    Returns
    -------
    ndarray of float64, shape (n, m, m)
        ``out[:, a, b]`` (a != b) is Phi_ij for i = features[a], j = features[b]
        (symmetric; half of the pair's joint effect each way, as in shap); the diagonal is
        the main effect phi_i - sum over ALL other features j of Phi_ij, so with every
        feature listed a row sums to the SHAP values.
    """
    idx = np.asarray(list(features), dtype=np.int64)
    if idx.ndim != 1 or len(set(idx.tolist())) != len(idx) or np.any((idx < 0) | (idx >= forest.n_features)):
        raise ValueError(f"features must be distinct column indices in [0, {forest.n_features}), got {list(features)}")
    X = forest.prepare(M)
    pl = forest.plan()
    if pl.max_d > 63:
        raise ValueError(f"a tree path uses {pl.max_d} distinct features; interaction values support at most 63")
    fmap = np.full(forest.n_features, -1, np.int64)
    fmap[idx] = np.arange(len(idx))
    # a leaf without a listed feature on its path adds nothing: skip it (and trees of such leaves)
    hits = np.concatenate([[0], np.cumsum(fmap[pl.uf] >= 0)])
    leaf_use = hits[pl.leaf_u0 + pl.leaf_d] > hits[pl.leaf_u0]
    used = np.concatenate([[0], np.cumsum(leaf_use)])
    tree_use = used[pl.leaf_start[1:]] > used[pl.leaf_start[:-1]]
    out = np.zeros((X.shape[0], len(idx), len(idx)), dtype=np.float64)
    fr = forest
    K.interactions_kernel(X, out, fmap, fr.node_start, fr.left, fr.feature, fr.kind, fr.threshold, fr.missing,
                          fr.default_left, fr.cat_words, fr.cat_start, fr.cat_len, fr.value, pl.par, pl.side, pl.pos,
                          pl.leaf_start, pl.leaf_node, pl.leaf_d, pl.leaf_u0, pl.uf, pl.uz, pl.gx, pl.gw,
                          pl.max_nodes, max(pl.max_d, 1), leaf_use, tree_use)
    return out
