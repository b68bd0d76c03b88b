"""A second, deliberately plain TreeSHAP: Lundberg et al.'s Algorithm 2 in numpy.

Used by the auditors' cross-check where no library implementation exists (scikit-learn's
HistGradientBoosting with native categorical splits, which shap does not parse). It shares
nothing with :mod:`._kernels` but the normalised trees of :class:`~.forest.Forest` (whose
parse the additivity check verifies against the library's own prediction): the decisions
are re-implemented with numpy, and the algorithm is the original path-extension recursion
(EXTEND / UNWIND, "Consistent individualized feature attribution for tree ensembles",
Lundberg, Erion & Lee 2018, Algorithm 2), vectorised over rows: the recursion visits both
children of every node, and the "one fraction" of an edge is the per-row indicator that
the row takes it. O(T L D^2) numpy operations on (n,) vectors: meant for samples.
"""

from __future__ import annotations

import numpy as np

from churnlens.attribution.treeshap import _kernels as K
from churnlens.attribution.treeshap.forest import Forest


def _goes_left(fr: Forest, k: int, X: np.ndarray) -> np.ndarray:
    x = X[:, fr.feature[k]].copy()
    nan = np.isnan(x)
    miss = int(fr.missing[k])
    default = np.zeros(len(x), bool)
    if miss == K.MISS_AS_ZERO:
        x[nan] = 0.0
    else:
        default = nan.copy()
        if miss == K.MISS_ZERO:
            default |= np.abs(np.where(nan, 1.0, x)) <= 1e-35
    kind = int(fr.kind[k])
    with np.errstate(invalid="ignore"):
        if kind == K.KIND_LE:
            left = x <= fr.threshold[k]
        elif kind == K.KIND_LT:
            left = x < fr.threshold[k]
        else:
            words = fr.cat_words[fr.cat_start[k]:fr.cat_start[k] + fr.cat_len[k]]
            members = np.flatnonzero(np.unpackbits(words.view(np.uint8), bitorder="little"))
            c = np.trunc(np.where(np.isnan(x), -1.0, x))
            left = np.isin(c, members.astype(np.float64))
    return np.where(default, bool(fr.default_left[k]), left)


def _extend(path: list, pz: float, po: np.ndarray, feature: int) -> list:
    path = [list(e) for e in path]
    length = len(path)
    path.append([feature, pz, po, np.ones_like(po) if length == 0 else np.zeros_like(po)])
    for i in range(length - 1, -1, -1):
        path[i + 1][3] = path[i + 1][3] + po * path[i][3] * (i + 1) / (length + 1)
        path[i][3] = pz * path[i][3] * (length - i) / (length + 1)
    return path


def _unwind(path: list, i: int) -> list:
    path = [list(e) for e in path]
    last = len(path) - 1
    o, z = path[i][2], path[i][1]
    hot = o != 0
    safe_o = np.where(hot, o, 1.0)
    n_ = path[last][3]
    for j in range(last - 1, -1, -1):
        t = path[j][3]
        w_hot = n_ * (last + 1) / ((j + 1) * safe_o)
        w_cold = t * (last + 1) / (z * (last - j))
        path[j][3] = np.where(hot, w_hot, w_cold)
        n_ = np.where(hot, t - w_hot * z * (last - j) / (last + 1), n_)
    for j in range(i, last):
        path[j][0], path[j][1], path[j][2] = path[j + 1][0], path[j + 1][1], path[j + 1][2]
    return path[:last]


def shap_values_reference(fr: Forest, M: np.ndarray) -> tuple[np.ndarray, float]:
    """Path-dependent TreeSHAP values ``(phi (n, f), base)`` by Algorithm 2 (see the module)."""
    X = fr.prepare(M)
    n = X.shape[0]
    phi = np.zeros((n, fr.n_features))
    base = float(fr.intercept)
    for t in range(fr.n_trees):
        root = int(fr.node_start[t])

        def mean(k: int) -> float:
            if fr.left[k] < 0:
                return float(fr.value[k])
            lc, rc = int(fr.left[k]), int(fr.right[k])
            c = fr.cover[k]
            if c <= 0:
                return 0.5 * (mean(lc) + mean(rc))
            return (fr.cover[lc] * mean(lc) + fr.cover[rc] * mean(rc)) / c

        base += mean(root)
        stack = [(root, [], 1.0, np.ones(n), -1)]
        while stack:
            k, path, pz, po, pf = stack.pop()
            path = _extend(path, pz, po, pf)
            if fr.left[k] < 0:
                v = float(fr.value[k])
                for i in range(1, len(path)):
                    w = sum(e[3] for e in _unwind(path, i))
                    phi[:, path[i][0]] += w * (path[i][2] - path[i][1]) * v
                continue
            f = int(fr.feature[k])
            iz, io = 1.0, np.ones(n)
            for i in range(1, len(path)):
                if path[i][0] == f:
                    iz, io = path[i][1], path[i][2]
                    path = _unwind(path, i)
                    break
            gl = _goes_left(fr, k, X)
            lc, rc = int(fr.left[k]), int(fr.right[k])
            for child, took in ((rc, ~gl), (lc, gl)):
                z = fr.cover[child] / fr.cover[k] if fr.cover[k] > 0 else 0.5
                stack.append((child, path, max(iz * z, K.ZERO_FLOOR), io * took, f))
    return phi, base
