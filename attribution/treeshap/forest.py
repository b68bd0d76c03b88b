"""One normalised representation of a tree ensemble, and its TreeSHAP plan.

:class:`Forest` holds every tree of an ensemble in flat numpy arrays (nodes of tree t at
``node_start[t]:node_start[t+1]``, in preorder, children as global node indices, -1 for
a leaf). The family builders (:mod:`.build`) translate LightGBM, XGBoost and scikit-learn
trees into it, with their decision conventions made explicit per node:

- ``kind``: 0 ``x <= threshold`` goes left (LightGBM, scikit-learn), 1 ``x < threshold``
  (XGBoost), 2 categorical: an integer category in the node's bitset goes left, any other
  value right (XGBoost's sets, which go right, are stored with the children swapped);
- ``missing``: 0 NaN is read as 0.0 (LightGBM ``missing_type=None``), 1 NaN or zero takes
  the default direction (LightGBM ``Zero``), 2 NaN takes the default direction;
- ``cast_float32``: the library compares float32 inputs (XGBoost, scikit-learn's
  DecisionTree); inputs are rounded to float32 before the comparisons.

Leaf values are in the ensemble's raw-output units (learning rate, tree averaging and
DART weights applied); ``intercept`` is added to the sum of the trees.
:class:`Plan` is what the kernels need beyond the trees (paths, zero fractions, per-leaf
tables, quadrature nodes); it is built once per model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from churnlens.attribution.treeshap import _kernels as K

TABLE_MAX_D = 16  # a leaf's table holds 2^d values
TABLE_TREE_BUDGET = 1 << 17  # values per tree (1 MB) before the tree switches to the linear kernel
TABLE_TOTAL_BUDGET = 1 << 25  # values over the ensemble (256 MB)


@dataclass(frozen=True, eq=False)
class Forest:
    """Flat arrays of one ensemble's trees; see the module docstring. Shapes: T trees, N nodes."""

    node_start: np.ndarray  # (T + 1,) int64
    left: np.ndarray  # (N,) int64, global index, -1 at leaves
    right: np.ndarray  # (N,) int64
    feature: np.ndarray  # (N,) int64
    kind: np.ndarray  # (N,) int8
    threshold: np.ndarray  # (N,) float64
    missing: np.ndarray  # (N,) int8
    default_left: np.ndarray  # (N,) bool
    cat_start: np.ndarray  # (N,) int64 first bitset word of a categorical node
    cat_len: np.ndarray  # (N,) int64 number of 32-bit words (0: not categorical)
    cat_words: np.ndarray  # (W,) uint32
    value: np.ndarray  # (N,) float64 leaf values in raw-output units
    cover: np.ndarray  # (N,) float64 training cover (counts or hessian sums)
    intercept: float
    n_features: int
    cast_float32: bool = False
    _plan: dict = field(default_factory=dict, repr=False)

    @property
    def n_trees(self) -> int:
        return len(self.node_start) - 1

    def prepare(self, M: np.ndarray) -> np.ndarray:
        """Input matrix as the library reads it: contiguous float64, float32-rounded if needed."""
        M = np.asarray(M, dtype=np.float64)
        if M.ndim != 2 or M.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix of {self.n_features} columns, got shape {M.shape}")
        if self.cast_float32:
            M = M.astype(np.float32).astype(np.float64)
        return np.ascontiguousarray(M)

    def plan(self, *, tables: bool = False) -> "Plan":
        """The plan, built once per model; ``tables`` adds the per-leaf tables of the classic
        kernel (:func:`~._kernels.shap_kernel`), which the default quadrature kernel does not read."""
        if tables not in self._plan:
            self._plan[tables] = _make_plan(self, tables)
        return self._plan[tables]

    def max_depth(self) -> int:
        """Edges on the longest root-to-leaf path of any tree (0 for a forest of single leaves)."""
        return int(_max_depth(self.node_start, self.left, self.right))

    def decision_args(self) -> tuple:
        return (self.node_start, self.left, self.feature, self.kind, self.threshold, self.missing,
                self.default_left, self.cat_words, self.cat_start, self.cat_len, self.value)


@dataclass(frozen=True, eq=False)
class Plan:
    par: np.ndarray  # (N,) parent (global), -1 at roots
    side: np.ndarray  # (N,) 0 left child, 1 right child
    pos: np.ndarray  # (N,) bit position of the parent's feature among the path's distinct features
    prev: np.ndarray  # (N,) node below the previous edge on the same feature, or -1
    zm: np.ndarray  # (N,) merged zero fraction of that feature down to this node
    mode: np.ndarray  # (T,) MODE_TABLE or MODE_LINEAR
    leaf_start: np.ndarray  # (T + 1,)
    leaf_node: np.ndarray  # (L,)
    leaf_d: np.ndarray  # (L,) distinct features on the leaf's path
    leaf_u0: np.ndarray  # (L,) offset into uf / uz / ur
    leaf_a0: np.ndarray  # (L,) offset into A (table trees)
    uf: np.ndarray  # distinct path features, by bit position
    uz: np.ndarray  # their merged zero fractions
    ur: np.ndarray  # (1 - z) / z
    A: np.ndarray  # per-leaf tables A(H)
    tq: np.ndarray  # (T,) quadrature nodes per tree (linear trees)
    tn: np.ndarray  # (T, Q) nodes on [0, 1]
    tw: np.ndarray  # (T, Q) weights
    gx: np.ndarray  # (Q+1, Q+1) Gauss-Legendre nodes on [0, 1] for q = 1..Q (row q)
    gw: np.ndarray
    expected: float  # intercept + sum of the trees' cover-weighted mean leaf values
    max_nodes: int
    max_leaves: int
    max_d: int
    depth: np.ndarray  # (N,) edges from the tree's root
    max_depth: int


@njit(cache=True)
def _paths(node_start, left, right, feature, cover, par, side, pos, prev, zm, dn):
    for t in range(node_start.shape[0] - 1):
        s, e = node_start[t], node_start[t + 1]
        par[s] = -1
        dn[s] = 0
        for k in range(s, e):
            if left[k] >= 0:
                par[left[k]] = k
                side[left[k]] = 0
                par[right[k]] = k
                side[right[k]] = 1
        for k in range(s + 1, e):
            p = par[k]
            f = feature[p]
            ze = cover[k] / cover[p] if cover[p] > 0 else 0.5
            ze = max(ze, K.ZERO_FLOOR)
            a = p
            found = -1
            while a != s:
                if feature[par[a]] == f:
                    found = a
                    break
                a = par[a]
            prev[k] = found
            if found >= 0:
                pos[k] = pos[found]
                dn[k] = dn[p]
                zm[k] = max(zm[found] * ze, K.ZERO_FLOOR)
            else:
                pos[k] = dn[p]
                dn[k] = dn[p] + 1
                zm[k] = ze


@njit(cache=True)
def _max_depth(node_start, left, right):
    depth = np.zeros(left.shape[0], np.int64)
    best = 0
    for t in range(node_start.shape[0] - 1):
        for k in range(node_start[t], node_start[t + 1]):  # preorder: a parent comes before its children
            if left[k] >= 0:
                depth[left[k]] = depth[right[k]] = depth[k] + 1
            elif depth[k] > best:
                best = depth[k]
    return best


@njit(cache=True)
def _depths(node_start, par, depth):
    for t in range(node_start.shape[0] - 1):
        s = node_start[t]
        depth[s] = 0
        for k in range(s + 1, node_start[t + 1]):  # preorder: a parent comes before its children
            depth[k] = depth[par[k]] + 1


@njit(cache=True)
def _leaf_paths(leaf_node, leaf_u0, leaf_d, node_start_of_leaf, par, feature, pos, zm, uf, uz):
    for li in range(leaf_node.shape[0]):
        k = leaf_node[li]
        u0 = leaf_u0[li]
        d = leaf_d[li]
        for p in range(d):
            uf[u0 + p] = -1
        a = k
        s = node_start_of_leaf[li]
        while a != s:
            p = pos[a]
            if uf[u0 + p] < 0:  # the deepest edge on a feature holds its merged fraction
                uf[u0 + p] = feature[par[a]]
                uz[u0 + p] = zm[a]
            a = par[a]


@njit(cache=True)
def _tables(leaf_node, leaf_d, leaf_u0, leaf_a0, is_table, value, uz, W, A):
    for li in range(leaf_node.shape[0]):
        if not is_table[li]:
            continue
        d = leaf_d[li]
        a0 = leaf_a0[li]
        u0 = leaf_u0[li]
        v = value[leaf_node[li]]
        full = (1 << d) - 1
        # Q(T) = prod_{j in T} z_j by the lowest bit; a(S) = w(|S|, d) v Q(U - S)
        Q = np.empty(1 << d, np.float64)
        Q[0] = 1.0
        for T in range(1, 1 << d):
            low = T & (-T)
            p = 0
            while (1 << p) != low:
                p += 1
            Q[T] = Q[T ^ low] * uz[u0 + p]
        for S in range(1 << d):
            c = 0
            x = S
            while x:
                x &= x - 1
                c += 1
            A[a0 + S] = W[d, c] * v * Q[full ^ S]
        for p in range(d):  # subset sums: A(H) = sum over S subset H
            bit = 1 << p
            for H in range(1 << d):
                if H & bit:
                    A[a0 + H] += A[a0 + (H ^ bit)]


@njit(cache=True)
def _leaf_mass(leaf_u0, leaf_d, uz, out):
    for li in range(leaf_u0.shape[0]):
        m = 1.0
        for p in range(leaf_d[li]):
            m *= uz[leaf_u0[li] + p]
        out[li] = m


def _shapley_weights(dmax: int) -> np.ndarray:
    """W[d, s] = s! (d - s - 1)! / d! for 0 <= s < d."""
    W = np.zeros((dmax + 1, dmax + 1))
    for d in range(1, dmax + 1):
        c = 1.0  # C(d - 1, s)
        for s in range(d):
            W[d, s] = 1.0 / (d * c)
            c = c * (d - 1 - s) / (s + 1)
    return W


def _gauss(qmax: int) -> tuple[np.ndarray, np.ndarray]:
    gx = np.zeros((qmax + 1, max(qmax, 1) + 1))
    gw = np.zeros_like(gx)
    for q in range(1, qmax + 1):
        x, w = np.polynomial.legendre.leggauss(q)
        gx[q, :q] = (x + 1) / 2
        gw[q, :q] = w / 2
    return gx, gw


def _make_plan(fr: Forest, tables: bool = True) -> Plan:
    N, T = len(fr.left), fr.n_trees
    if T == 0 or N == 0:  # the compiled kernels index the first tree: an empty forest would crash them
        raise ValueError("TreeSHAP plan of a forest without trees (0 trees); load_model refuses such models")
    par = np.empty(N, np.int64)
    side = np.zeros(N, np.int8)
    pos = np.zeros(N, np.int64)
    prev = np.full(N, -1, np.int64)
    zm = np.ones(N, np.float64)
    dn = np.zeros(N, np.int64)
    _paths(fr.node_start, fr.left, fr.right, fr.feature, fr.cover, par, side, pos, prev, zm, dn)
    depth = np.zeros(N, np.int64)
    _depths(fr.node_start, par, depth)
    is_leaf = fr.left < 0
    tree_of = np.repeat(np.arange(T), np.diff(fr.node_start))
    leaf_node = np.flatnonzero(is_leaf).astype(np.int64)
    leaf_tree = tree_of[leaf_node]
    leaf_start = np.searchsorted(leaf_tree, np.arange(T + 1)).astype(np.int64)
    leaf_d = dn[leaf_node]
    leaf_u0 = np.concatenate([[0], np.cumsum(leaf_d)[:-1]]).astype(np.int64)
    uf = np.empty(int(leaf_d.sum()), np.int64)
    uz = np.empty(int(leaf_d.sum()), np.float64)
    _leaf_paths(leaf_node, leaf_u0, leaf_d, fr.node_start[leaf_tree], par, fr.feature, pos, zm, uf, uz)
    ur = (1.0 - uz) / uz
    # per tree: tables when small enough, else the linear kernel
    max_d_tree = np.zeros(T, np.int64)
    np.maximum.at(max_d_tree, leaf_tree, leaf_d)
    size = np.zeros(T, np.float64)
    np.add.at(size, leaf_tree, np.exp2(np.minimum(leaf_d, 60)))
    mode = np.full(T, K.MODE_LINEAR, np.int8)
    total = 0.0
    for t in range(T):
        if tables and max_d_tree[t] <= TABLE_MAX_D and size[t] <= TABLE_TREE_BUDGET and total + size[t] <= TABLE_TOTAL_BUDGET:
            mode[t] = K.MODE_TABLE
            total += size[t]
    is_table = mode[leaf_tree] == K.MODE_TABLE
    sizes = np.where(is_table, 1 << np.minimum(leaf_d, TABLE_MAX_D), 0).astype(np.int64)
    leaf_a0 = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    A = np.zeros(int(sizes.sum()), np.float64)
    max_d = int(leaf_d.max()) if len(leaf_d) else 0
    if len(A):  # (not compiled at all where only the quadrature kernel runs)
        _tables(leaf_node, leaf_d, leaf_u0, leaf_a0, is_table, fr.value, uz, _shapley_weights(max(max_d, 1)), A)
    tq = np.maximum((max_d_tree + 1) // 2, 1)
    qmax = int(tq.max()) if T else 1
    gx, gw = _gauss(max(qmax, (max_d + 1) // 2, 1))
    tn = gx[tq, :qmax].copy()
    tw = gw[tq, :qmax].copy()
    leaf_mass = np.ones(len(leaf_node))
    _leaf_mass(leaf_u0, leaf_d, uz, leaf_mass)
    expected = float(fr.intercept + np.sum(fr.value[leaf_node] * leaf_mass))
    return Plan(par, side, pos, prev, zm, mode, leaf_start, leaf_node, leaf_d, leaf_u0, leaf_a0, uf, uz, ur, A,
                tq.astype(np.int64), tn, tw, gx, gw, expected, int(np.diff(fr.node_start).max(initial=1)),
                int(np.diff(leaf_start).max(initial=1)), max_d, depth, int(depth.max(initial=0)))
