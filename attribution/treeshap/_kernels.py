"""numba kernels: exact path-dependent TreeSHAP over the normalised trees of :mod:`.forest`.

Notation (one leaf l): U = the distinct features on the root-to-l path, d = |U|; for
j in U, z_j = product of the cover ratios of the path's edges on j ("zero fraction") and
o_j(x) = 1 if x follows every edge on j, else 0 ("one fraction"). Path-dependent TreeSHAP
is the Shapley value of the product game v(S) = v_l prod_{j in S} o_j prod_{j in U-S} z_j,
summed over leaves:

    phi_i = v_l (o_i - z_i) int_0^1 prod_{j in U, j != i} (z_j + t (o_j - z_j)) dt      (1)

(the Shapley weight |S|!(d-|S|-1)!/d! is the Beta integral of t^|S| (1-t)^(d-1-|S|)).

The default evaluation of (1), :func:`quad_kernel` (Quadrature TreeSHAP; the idea of
Wettenstein, Mitchell & Yu 2026): the integrand is a polynomial of degree d - 1, so a
Gauss-Legendre rule with q = ceil(D/2) nodes t_j (D the deepest path's distinct features in
the tree) integrates it exactly. One preorder walk per tree and block of rows carries the
path product P(t_j) = prod (z + t_j (o - z)) down, sums v_l P_l(t_j) back up, and credits
each edge with sum_j w_j S(t_j) (o - z)/(z + t_j (o - z)): O(nodes x q) per tree and row,
with nothing per row but multiplications, additions and selects (o is 0 or 1, so every
factor has two possible values, formed once per node and t_j outside the loops over rows).
Rows are the innermost loop (vectorised); the state lives in per-depth arrays, not per node.
A feature met again deeper on a path replaces its earlier factor by the merged one (a ratio,
three cases by the two edges' one fractions); the earlier edge's credit for the leaves below
is cancelled exactly. The work per node and row is q = ceil(D/2) multiply-adds: at most
the paper's fixed 8 for paths of <= 16 features (3 for depth-6 trees), growing past it only
as exactness at depth 20+ requires; nothing grows with the square of the depth, there is
no power basis and no division by zero fractions per row (EXTEND/UNWIND and Linear TreeSHAP
lose digits there: tests/test_treeshap_quadrature.py).

The previous evaluation, :func:`shap_kernel` ("classic", selectable for comparison), chooses
per tree by :func:`plan`:

- *table* (shallow trees; the idea of FastTreeSHAP v2): o is 0/1, so a leaf's
  contribution depends on x only through the "hot" set H = {j: o_j = 1}. With
  c(S) = v_l prod_{j in U-S} z_j and A(H) = sum_{S subset H} w(|S|, d) c(S), (1) becomes
  phi_i = -A(H) for a cold i and phi_i = (1 - z_i)/z_i A(H - {i}) for a hot i. A is
  precomputed once per leaf (2^d values, subset-sum transform); a row costs one pass over
  the nodes to form every leaf's H as a bit mask, then d table reads per leaf.
- *linear* (deep trees): the same quadrature as the default kernel, one row at a time
  with the factors divided per row.

Interaction values use the same hot set and per-leaf quadrature (see
:func:`interactions_kernel`). Everything is float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# kind: 0 numeric (x <= thr goes left), 1 numeric (x < thr goes left), 2 categorical
# (integer category in the node's set goes left, anything else right).
# missing: 0 NaN is read as 0.0 (LightGBM missing_type None); 1 NaN or |x| <= 1e-35 takes
# the default direction (LightGBM Zero); 2 NaN takes the default direction.
KIND_LE, KIND_LT, KIND_CAT = 0, 1, 2
MISS_AS_ZERO, MISS_ZERO, MISS_NAN = 0, 1, 2
ZERO_FLOOR = 1e-100  # z = 0 (an empty child) would divide by zero; its terms vanish anyway
MODE_TABLE, MODE_LINEAR = 0, 1
ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=True, inline="always")
def goes_left(x, kind, thr, missing, dleft, words, cstart, clen):
    if np.isnan(x):
        if missing == MISS_AS_ZERO:
            x = 0.0
        else:
            return dleft
    elif missing == MISS_ZERO and abs(x) <= 1e-35:
        return dleft
    if kind == KIND_LE:
        return x <= thr
    if kind == KIND_LT:
        return x < thr
    c = int(x)  # C-style truncation, as LightGBM and XGBoost cast categories
    if c < 0 or c >= clen * 32:
        return False
    return (words[cstart + (c >> 5)] >> np.uint32(c & 31)) & np.uint32(1) == np.uint32(1)


@njit(cache=True)
def preorder(left, right, root, out):
    """Write the preorder of the tree rooted at ``root`` into ``out``; return the count."""
    stack = np.empty(left.shape[0] + 1, np.int64)
    top, n = 0, 0
    stack[0] = root
    top = 1
    while top > 0:
        top -= 1
        k = stack[top]
        out[n] = k
        n += 1
        if left[k] >= 0:
            stack[top] = right[k]
            stack[top + 1] = left[k]
            top += 2
    return n


@njit(cache=True)
def _directions(x, s, e, left, feature, kind, thr, missing, dleft, words, cstart, clen, gl):
    for k in range(s, e):
        if left[k] >= 0:
            gl[k - s] = goes_left(x[feature[k]], kind[k], thr[k], missing[k], dleft[k], words, cstart[k], clen[k])


@njit(cache=True)
def _masks(s, e, par, side, pos, gl, mask):
    mask[0] = ALL
    for k in range(s + 1, e):
        p = par[k] - s
        off = np.uint64(gl[p] != (side[k] == 0))  # 1 when x leaves the path here (branch-free)
        mask[k - s] = mask[p] & ~(off << np.uint64(pos[k]))


@njit(cache=True)
def _table_masks(XT, nb, s, e, l0, l1, left, feature, kind, thr, missing, dleft, words, cstart, clen, par, side,
                 pos, glb, maskb, leaf_node, leaf_d, leaf_a0, A, hl, ahl):
    """Hot set H of every leaf of one tree for the block's rows (and the table value A(H)).

    Rows are the innermost loop everywhere (``XT`` is the block transposed, (f, block)):
    fixed trip counts and independent, vectorisable work."""
    for k in range(s, e):
        if left[k] >= 0:
            xs = XT[feature[k]]
            kk = k - s
            for rr in range(nb):
                glb[kk, rr] = goes_left(xs[rr], kind[k], thr[k], missing[k], dleft[k], words, cstart[k], clen[k])
    for rr in range(nb):
        maskb[0, rr] = ALL
    for k in range(s + 1, e):
        p = par[k] - s
        kk = k - s
        lft = side[k] == 0
        sh = np.uint64(pos[k])
        for rr in range(nb):
            off = np.uint64(glb[p, rr] != lft)  # 1 when x leaves the path here
            maskb[kk, rr] = maskb[p, rr] & ~(off << sh)
    for li in range(l0, l1):
        kk = leaf_node[li] - s
        full = (np.uint64(1) << np.uint64(leaf_d[li])) - np.uint64(1)
        a0 = leaf_a0[li]
        j = li - l0
        for rr in range(nb):
            H = np.int64(maskb[kk, rr] & full)
            hl[j, rr] = H
            ahl[j, rr] = A[a0 + H]


@njit(cache=True, fastmath=True, error_model="numpy")
def _table_block(acc, nb, l0, l1, leaf_d, leaf_u0, leaf_a0, uf, ur, A, hl, ahl):
    """Credit one tree's leaves to the block's rows; ``acc`` is (f, block) so that the
    innermost loop runs over rows: independent updates, fixed trip count."""
    for li in range(l0, l1):
        a0, u0, j = leaf_a0[li], leaf_u0[li], li - l0
        for p in range(leaf_d[li]):
            f = uf[u0 + p]
            rp = ur[u0 + p]
            bit = np.int64(1) << p
            for rr in range(nb):
                H = hl[j, rr]
                hot = rp * A[a0 + (H ^ bit)]
                acc[f, rr] += hot if H & bit else -ahl[j, rr]


@njit(cache=True)
def _linear_tree(r, out, s, e, left, feature, value, par, side, prev, zm, gl, om, P, S, tn, tw, q):
    for j in range(q):
        P[0, j] = 1.0
    for k in range(s + 1, e):
        kk, pp = k - s, par[k] - s
        o = 1.0 if gl[pp] == (side[k] == 0) else 0.0
        z = zm[k]
        pk = prev[k]
        if pk < 0:
            for j in range(q):
                P[kk, j] = P[pp, j] * (z + tn[j] * (o - z))
        else:
            oo = om[pk - s]
            o = o * oo
            zo = zm[pk]
            for j in range(q):
                P[kk, j] = P[pp, j] * (z + tn[j] * (o - z)) / (zo + tn[j] * (oo - zo))
        om[kk] = o
        for j in range(q):
            S[kk, j] = 0.0
    for k in range(e - 1, s, -1):
        kk, pp = k - s, par[k] - s
        if left[k] < 0:
            v = value[k]
            for j in range(q):
                S[kk, j] = v * P[kk, j]
        o, z, pk = om[kk], zm[k], prev[k]
        c = 0.0
        if pk < 0:
            for j in range(q):
                S[pp, j] += S[kk, j]
                c += tw[j] * S[kk, j] * (o - z) / (z + tn[j] * (o - z))
        else:
            oo, zo = om[pk - s], zm[pk]
            for j in range(q):
                S[pp, j] += S[kk, j]
                c += tw[j] * S[kk, j] * ((o - z) / (z + tn[j] * (o - z)) - (oo - zo) / (zo + tn[j] * (oo - zo)))
        out[r, feature[par[k]]] += c


@njit(parallel=True, cache=True)
def shap_kernel(X, out, node_start, left, feature, kind, thr, missing, dleft, words, cstart, clen, value,
                par, side, pos, prev, zm, mode, leaf_start, leaf_node, leaf_d, leaf_u0, leaf_a0, uf, ur, A,
                tq, tn, tw, max_nodes, max_leaves, max_q, block):
    """Add every tree's TreeSHAP values of the rows of ``X`` (n, f) into ``out`` (n, f)."""
    n = X.shape[0]
    n_trees = node_start.shape[0] - 1
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        r0 = b * block
        r1 = min(n, r0 + block)
        nb = r1 - r0
        gl = np.zeros(max_nodes, np.bool_)
        mask = np.empty(max_nodes, np.uint64)
        om = np.empty(max_nodes, np.float64)
        P = np.empty((max_nodes, max_q), np.float64)
        S = np.empty((max_nodes, max_q), np.float64)
        glb = np.zeros((max_nodes, block), np.bool_)
        maskb = np.empty((max_nodes, block), np.uint64)
        XT = np.empty((X.shape[1], block), np.float64)
        hl = np.empty((max_leaves, block), np.int64)
        ahl = np.empty((max_leaves, block), np.float64)
        acc = np.zeros((out.shape[1], block), np.float64)
        # trees outside, rows inside: one tree's tables stay in cache for the whole block
        for rr in range(nb):
            for f in range(X.shape[1]):
                XT[f, rr] = X[r0 + rr, f]
        for t in range(n_trees):
            s, e = node_start[t], node_start[t + 1]
            if e - s <= 1:
                continue
            l0, l1 = leaf_start[t], leaf_start[t + 1]
            if mode[t] == MODE_TABLE:
                _table_masks(XT, nb, s, e, l0, l1, left, feature, kind, thr, missing, dleft, words, cstart, clen, par,
                             side, pos, glb, maskb, leaf_node, leaf_d, leaf_a0, A, hl, ahl)
                _table_block(acc, nb, l0, l1, leaf_d, leaf_u0, leaf_a0, uf, ur, A, hl, ahl)
            else:
                for r in range(r0, r1):
                    _directions(X[r], s, e, left, feature, kind, thr, missing, dleft, words, cstart, clen, gl)
                    _linear_tree(r, out, s, e, left, feature, value, par, side, prev, zm, gl, om, P, S,
                                 tn[t], tw[t], tq[t])
        for rr in range(nb):
            for f in range(out.shape[1]):
                out[r0 + rr, f] += acc[f, rr]


@njit(parallel=True, cache=True)
def predict_kernel(X, out, node_start, left, right, feature, kind, thr, missing, dleft, words, cstart, clen, value):
    """Sum of the trees' leaf values per row (float64), added into ``out`` (n,)."""
    n_trees = node_start.shape[0] - 1
    for r in prange(X.shape[0]):
        acc = 0.0
        for t in range(n_trees):
            k = node_start[t]
            while left[k] >= 0:
                if goes_left(X[r, feature[k]], kind[k], thr[k], missing[k], dleft[k], words, cstart[k], clen[k]):
                    k = left[k]
                else:
                    k = right[k]
            acc += value[k]
        out[r] += acc


@njit(cache=True)
def _leaf_pairs(r, out, fmap, v, d, H, u0, uf, uz, gx, gw, fvals, cvals, P, s_):
    """Interaction terms of one leaf; ``fmap`` maps a feature to its slot in ``out`` or -1."""
    q = (d + 1) // 2
    for p in range(d):
        z = uz[u0 + p]
        hot = (H >> np.uint64(p)) & np.uint64(1)
        cvals[p] = (1.0 - z) if hot else -z
    for j in range(q):
        prod, ssum = 1.0, 0.0
        for p in range(d):
            z = uz[u0 + p]
            f = z + gx[q, j] * cvals[p]  # z + t (o - z)
            fvals[p, j] = f
            prod *= f
            ssum += cvals[p] / f
        P[j] = prod
        s_[j] = ssum
    for a in range(d):
        ia = fmap[uf[u0 + a]]
        if ia < 0:
            continue
        ca = cvals[a]
        phi, rows = 0.0, 0.0
        for j in range(q):
            pa = gw[q, j] * P[j] / fvals[a, j]
            phi += pa
            rows += pa * (s_[j] - ca / fvals[a, j])
        out[r, ia, ia] += v * ca * (phi - 0.5 * rows)
        for b in range(a + 1, d):
            ib = fmap[uf[u0 + b]]
            if ib < 0:
                continue
            acc = 0.0
            for j in range(q):
                acc += gw[q, j] * P[j] / (fvals[a, j] * fvals[b, j])
            val = 0.5 * v * ca * cvals[b] * acc
            out[r, ia, ib] += val
            out[r, ib, ia] += val


@njit(parallel=True, cache=True)
def interactions_kernel(X, out, fmap, node_start, left, feature, kind, thr, missing, dleft, words, cstart, clen,
                        value, par, side, pos, leaf_start, leaf_node, leaf_d, leaf_u0, uf, uz, gx, gw,
                        max_nodes, max_d, leaf_use, tree_use):
    """Shapley interaction values among the features with ``fmap[f] >= 0``, added into
    ``out`` (n, m, m); the diagonal holds phi_i - sum_{j != i} Phi_ij over ALL features j.

    Per leaf, with c_j = o_j - z_j and f_j(t) = z_j + t c_j:
    Phi_ij = v_l c_i c_j / 2 int prod_{k != i, j} f_k(t) dt  (a Beta-integral weight for
    the d - 1 players other than j), exact by Gauss-Legendre with ceil(d/2) nodes.
    Only leaves with ``leaf_use`` (a listed feature on the path) can add to ``out``; trees
    without such a leaf (``tree_use`` False) are skipped.
    """
    n_trees = node_start.shape[0] - 1
    for r in prange(X.shape[0]):
        gl = np.zeros(max_nodes, np.bool_)
        mask = np.empty(max_nodes, np.uint64)
        fvals = np.empty((max_d + 1, max_d + 1), np.float64)
        cvals = np.empty(max_d + 1, np.float64)
        P = np.empty(max_d + 1, np.float64)
        s_ = np.empty(max_d + 1, np.float64)
        for t in range(n_trees):
            s, e = node_start[t], node_start[t + 1]
            if e - s <= 1:
                continue
            if not tree_use[t]:
                continue
            _directions(X[r], s, e, left, feature, kind, thr, missing, dleft, words, cstart, clen, gl)
            _masks(s, e, par, side, pos, gl, mask)
            for li in range(leaf_start[t], leaf_start[t + 1]):
                d = leaf_d[li]
                if d == 0 or not leaf_use[li]:
                    continue
                k = leaf_node[li]
                H = mask[k - s] & ((np.uint64(1) << np.uint64(d)) - np.uint64(1))
                _leaf_pairs(r, out, fmap, value[k], d, H, leaf_u0[li], uf, uz, gx, gw, fvals, cvals, P, s_)


# --- Quadrature TreeSHAP: one preorder pass per tree and block of rows, depth-independent per node --


@njit(cache=True)
def _block_directions(gl, xs, nb, kind, thr, missing, dleft, words, cs, cl):
    """Direction (True: left) of the block's rows at one node; the common cases branch-free."""
    if missing == MISS_NAN and kind == KIND_LE:
        for rr in range(nb):
            x = xs[rr]
            gl[rr] = (x <= thr) | (dleft & (x != x))
    elif missing == MISS_NAN and kind == KIND_LT:
        for rr in range(nb):
            x = xs[rr]
            gl[rr] = (x < thr) | (dleft & (x != x))
    elif missing == MISS_AS_ZERO and kind == KIND_LE:
        for rr in range(nb):
            x = xs[rr]
            gl[rr] = (x <= thr) | ((x != x) & (0.0 <= thr))
    else:
        for rr in range(nb):
            gl[rr] = goes_left(xs[rr], kind, thr, missing, dleft, words, cs, cl)


@njit(cache=True)
def _quad_tree(XT, acc, nb, s, e, q, tn, tw, h0, left, feature, kind, thr, missing, dleft, words, cstart, clen,
               value, par, side, depth, prev, zm, P, S, GL, OM, at, c):
    """One tree's TreeSHAP values of the block's rows, added into ``acc`` (f, block).

    Levels, not nodes, hold the state of the inner nodes on the current path: ``P[l]`` the
    path polynomial at the t_j of the node open at depth l, ``S[l]`` the sum of
    v_leaf P_leaf(t_j) over the leaves below it so far, ``GL[l]`` its rows' directions,
    ``OM[l]`` the merged one fraction of its edge. An inner node is closed when the preorder
    walk leaves its subtree: its edge is credited with sum_j w_j S(t_j) (o - z)/(z + t_j (o - z))
    and S is passed up. A leaf is credited at once: its own term reduces to
    v (o - z) sum_j w_j P_parent(t_j). Everything that depends on the node and t_j only is
    formed once per node, outside the loops over rows.
    """
    top = -1
    for k in range(s, e):
        dk = depth[k]
        while top >= dk:
            _quad_close(acc, nb, q, tn, tw, h0, feature, par, side, depth, prev, zm, at[top], top, S, OM, c)
            top -= 1
        if dk == 0:
            P0 = P[0]
            for j in range(q):
                for rr in range(nb):
                    P0[j, rr] = 1.0
        else:
            gp = GL[dk - 1]
            Pp = P[dk - 1]
            om = OM[dk]
            lft = side[k] == 0
            z = zm[k]
            pk = prev[k]
            if left[k] < 0:  # a leaf: credit its edge and add v P to its parent's sum at once
                v = value[k]
                Sp = S[dk - 1]
                for rr in range(nb):
                    c[rr] = 0.0
                if pk < 0:
                    b1 = v * (1.0 - z)
                    b0 = -v * z
                    for rr in range(nb):
                        om[rr] = gp[rr] == lft
                    for j in range(q):
                        t, w = tn[j], tw[j]
                        a1 = v * (z + t * (1.0 - z))
                        a0 = v * (z * (1.0 - t))
                        c1, c0 = w * b1, w * b0
                        pj, sj = Pp[j], Sp[j]
                        if lft:  # the first child of its parent: it starts the parent's sum
                            for rr in range(nb):
                                x = pj[rr]
                                o = om[rr]
                                c[rr] += x * (c1 if o else c0)
                                sj[rr] = x * (a1 if o else a0)
                        else:
                            for rr in range(nb):
                                x = pj[rr]
                                o = om[rr]
                                c[rr] += x * (c1 if o else c0)
                                sj[rr] += x * (a1 if o else a0)
                else:
                    oo = OM[depth[pk]]
                    for rr in range(nb):
                        om[rr] = oo[rr] & (gp[rr] == lft)
                    zo = zm[pk]
                    for j in range(q):
                        t, w = tn[j], tw[j]
                        f1, f0 = z + t * (1.0 - z), z * (1.0 - t)
                        g1, g0 = zo + t * (1.0 - zo), zo * (1.0 - t)
                        # v P_leaf = v P_parent f / g; credit (o-z)/f - (oo-zo)/g (zero when oo = 0)
                        a11, a10, a00 = v * f1 / g1, v * f0 / g1, v * f0 / g0
                        c11 = w * v * ((1.0 - z) - f1 * (1.0 - zo) / g1) / g1
                        c10 = w * v * (-z - f0 * (1.0 - zo) / g1) / g1
                        pj, sj = Pp[j], Sp[j]
                        if lft:
                            for rr in range(nb):
                                x = pj[rr]
                                o, u = om[rr], oo[rr]
                                c[rr] += x * (c11 if o else (c10 if u else 0.0))
                                sj[rr] = x * (a11 if o else (a10 if u else a00))
                        else:
                            for rr in range(nb):
                                x = pj[rr]
                                o, u = om[rr], oo[rr]
                                c[rr] += x * (c11 if o else (c10 if u else 0.0))
                                sj[rr] += x * (a11 if o else (a10 if u else a00))
                a = acc[feature[par[k]]]
                for rr in range(nb):
                    a[rr] += c[rr]
                continue
            Pk = P[dk]
            if pk < 0:
                for rr in range(nb):
                    om[rr] = gp[rr] == lft
                for j in range(q):
                    t = tn[j]
                    f1 = z + t * (1.0 - z)
                    f0 = z * (1.0 - t)
                    pj, qj = Pp[j], Pk[j]
                    for rr in range(nb):
                        qj[rr] = pj[rr] * (f1 if om[rr] else f0)
            else:
                oo = OM[depth[pk]]
                for rr in range(nb):
                    om[rr] = oo[rr] & (gp[rr] == lft)
                zo = zm[pk]
                for j in range(q):
                    t = tn[j]
                    f1, f0 = z + t * (1.0 - z), z * (1.0 - t)
                    g1, g0 = zo + t * (1.0 - zo), zo * (1.0 - t)
                    r11, r10, r00 = f1 / g1, f0 / g1, f0 / g0
                    pj, qj = Pp[j], Pk[j]
                    for rr in range(nb):
                        qj[rr] = pj[rr] * (r11 if om[rr] else (r10 if oo[rr] else r00))
        _block_directions(GL[dk], XT[feature[k]], nb, kind[k], thr[k], missing[k], dleft[k], words, cstart[k],
                          clen[k])
        at[dk] = k
        top = dk
    while top >= 1:
        _quad_close(acc, nb, q, tn, tw, h0, feature, par, side, depth, prev, zm, at[top], top, S, OM, c)
        top -= 1


@njit(cache=True)
def _quad_close(acc, nb, q, tn, tw, h0w, feature, par, side, depth, prev, zm, k, lv, S, OM, c):
    Sk, Sp, om = S[lv], S[lv - 1], OM[lv]
    first = side[k] == 0
    z = zm[k]
    pk = prev[k]
    for rr in range(nb):
        c[rr] = 0.0
    if pk < 0:
        for j in range(q):
            t, w = tn[j], tw[j]
            h1 = w * (1.0 - z) / (z + t * (1.0 - z))
            h0 = h0w[j]
            sj, pj = Sk[j], Sp[j]
            if first:  # the first child of its parent: it starts the parent's sum
                for rr in range(nb):
                    x = sj[rr]
                    c[rr] += x * (h1 if om[rr] else h0)
                    pj[rr] = x
            else:
                for rr in range(nb):
                    x = sj[rr]
                    c[rr] += x * (h1 if om[rr] else h0)
                    pj[rr] += x
    else:
        oo = OM[depth[pk]]
        zo = zm[pk]
        for j in range(q):
            t, w = tn[j], tw[j]
            g1 = (1.0 - zo) / (zo + t * (1.0 - zo))
            h1 = w * ((1.0 - z) / (z + t * (1.0 - z)) - g1)
            h0 = w * (-1.0 / (1.0 - t) - g1)
            sj, pj = Sk[j], Sp[j]
            if first:
                for rr in range(nb):
                    x = sj[rr]
                    c[rr] += x * (h1 if om[rr] else (h0 if oo[rr] else 0.0))
                    pj[rr] = x
            else:
                for rr in range(nb):
                    x = sj[rr]
                    c[rr] += x * (h1 if om[rr] else (h0 if oo[rr] else 0.0))
                    pj[rr] += x
    a = acc[feature[par[k]]]
    for rr in range(nb):
        a[rr] += c[rr]


@njit(cache=True, nogil=True)
def quad_kernel(X, out, row0, row1, node_start, left, feature, kind, thr, missing, dleft, words, cstart, clen, value,
                par, side, depth, prev, zm, tq, tn, tw, max_depth, max_q, block):
    """Add every tree's TreeSHAP values of rows ``row0:row1`` of ``X`` (n, f) into ``out``
    (n, f) by Gauss-Legendre quadrature of the Shapley integral (1), ``tq[t]`` nodes for tree
    t (exact: the integrand is a polynomial of degree < 2 tq[t]), ``block`` rows at a time.
    Rows are independent and innermost: any split of the rows gives bit-identical values.
    Serial and without the GIL: the caller runs disjoint row ranges on threads (a serial
    kernel compiles in half the time of a ``prange`` one)."""
    nf = X.shape[1]
    n_trees = node_start.shape[0] - 1
    th = -tw / (1.0 - tn)  # the credit factor -w_j / (1 - t_j) of a cold edge
    XT = np.empty((nf, block), np.float64)
    acc = np.empty((nf, block), np.float64)
    P = np.empty((max_depth + 1, max_q, block), np.float64)
    S = np.empty((max_depth + 1, max_q, block), np.float64)
    GL = np.zeros((max_depth + 1, block), np.bool_)
    OM = np.zeros((max_depth + 1, block), np.bool_)
    at = np.zeros(max_depth + 1, np.int64)
    c = np.empty(block, np.float64)
    for r0 in range(row0, row1, block):
        nb = min(row1, r0 + block) - r0
        for rr in range(nb):
            for f in range(nf):
                XT[f, rr] = X[r0 + rr, f]
                acc[f, rr] = 0.0
        for t in range(n_trees):
            s, e = node_start[t], node_start[t + 1]
            if e - s <= 1:
                continue
            _quad_tree(XT, acc, nb, s, e, tq[t], tn[t], tw[t], th[t], left, feature, kind, thr, missing, dleft, words,
                       cstart, clen, value, par, side, depth, prev, zm, P, S, GL, OM, at, c)
        for rr in range(nb):
            for f in range(nf):
                out[r0 + rr, f] += acc[f, rr]
