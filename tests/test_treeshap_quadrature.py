"""The Quadrature kernel (the default) on deep trees, against shap, Lundberg's Algorithm 2 and
the classic kernel, and the kernel selection.

Path-dependent TreeSHAP as an integral of a path polynomial is where Linear TreeSHAP loses
precision beyond depth ~12; the quadrature here must stay at 1e-12 at depth 20-40 with 20-40
distinct features on a path (the Gauss-Legendre rule then has 10-20 nodes).
"""

from __future__ import annotations

import decimal

import lightgbm as lgb
import numpy as np
import pytest
import shap
import xgboost as xgb
from sklearn.ensemble import (
    ExtraTreesClassifier, GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier,
)

from churnlens.attribution import treeshap as ts
from churnlens.attribution._families import FAMILIES, family_of
from churnlens.attribution.treeshap import _kernels as K
from churnlens.attribution.treeshap import api as tsapi
from churnlens.attribution.treeshap.reference import shap_values_reference
from churnlens.errors import ConfigError, UserInputError


def _chain(depth: int, n_features: int, seed: int, skew: float = 0.5) -> ts.Forest:
    """A caterpillar tree: inner node i (depth i) splits x[i % n_features] <= 0, its left child
    is a leaf, its right child the next inner node (the last one has two leaves). Covers send
    a fraction ``skew`` (jittered) left, so zero fractions shrink to ~skew^depth."""
    rng = np.random.default_rng(seed)
    n = 2 * depth + 1
    left, right = np.full(n, -1), np.full(n, -1)
    feature, value, cover = np.zeros(n, int), np.zeros(n), np.zeros(n)
    cover[0] = 1e6
    for i in range(depth):
        k = 2 * i  # inner node i; its leaf child 2i + 1, its right child 2i + 2
        left[k], right[k], feature[k] = k + 1, k + 2, i % n_features
        share = np.clip(skew + rng.uniform(-0.1, 0.1), 0.01, 0.99)
        cover[k + 1], cover[k + 2] = cover[k] * share, cover[k] * (1 - share)
        value[k + 1] = rng.normal()
    value[n - 1] = rng.normal()
    tree = ts.TreeArrays(left=left, right=right, feature=feature, threshold=np.zeros(n), kind=0, missing=2,
                         default_left=rng.random(n) < 0.5, value=value, cover=cover)
    return ts.from_tree_arrays([tree], n_features=n_features)


def _rows(n: int, f: int, seed: int, right: float = 0.9) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.where(rng.random((n, f)) < right, 1.0, -1.0) * rng.uniform(0.1, 2.0, (n, f))
    X[rng.random((n, f)) < 0.05] = np.nan
    return X


def _exact(fr: ts.Forest, x: np.ndarray) -> np.ndarray:
    """TreeSHAP of one row by the definition in 50-digit decimal arithmetic: for every leaf,
    v (o_i - z_i) int_0^1 prod_{j != i} (z_j + t (o_j - z_j)) dt over the path's merged
    features, the polynomial expanded coefficient by coefficient (covers and values converted
    exactly). An oracle that shares nothing with the kernels but ``goes_left``; O(L D^2) per row."""
    D = decimal.Decimal
    phi = [D(0)] * fr.n_features

    def leaf(v, zs, os_):
        full = [D(1)]  # prod over the path's features of (z + t (o - z)), low degree first
        for j in zs:
            a, b = zs[j], os_[j] - zs[j]
            full = [(full[p] * a if p < len(full) else 0) + (full[p - 1] * b if p else 0) for p in range(len(full) + 1)]
        for i in zs:
            a, b = zs[i], os_[i] - zs[i]
            # divide out (a + b t) (it divides exactly), from the end where errors shrink
            m = len(full) - 1
            quo = [D(0)] * m
            if abs(b) >= abs(a):
                rem = list(full)
                for p in range(m, 0, -1):
                    quo[p - 1] = rem[p] / b
                    rem[p - 1] -= quo[p - 1] * a
            else:
                for p in range(m):
                    quo[p] = (full[p] - (quo[p - 1] * b if p else 0)) / a
            phi[i] += v * b * sum(c / (p + 1) for p, c in enumerate(quo))

    with decimal.localcontext() as ctx:
        ctx.prec = 50
        for t in range(fr.n_trees):
            stack = [(int(fr.node_start[t]), {}, {})]
            while stack:
                k, zs, os_ = stack.pop()
                if fr.left[k] < 0:
                    leaf(D(float(fr.value[k])), zs, os_)
                    continue
                f = int(fr.feature[k])
                gl = K.goes_left(x[f], fr.kind[k], fr.threshold[k], fr.missing[k], fr.default_left[k], fr.cat_words,
                                 fr.cat_start[k], fr.cat_len[k])
                for child, took in ((int(fr.left[k]), gl), (int(fr.right[k]), not gl)):
                    z = D(float(fr.cover[child])) / D(float(fr.cover[k]))
                    stack.append((child, {**zs, f: zs.get(f, D(1)) * z}, {**os_, f: os_.get(f, 1) * int(took)}))
        return np.array([float(p) for p in phi])


# (depth, distinct features, left share of the covers, tolerance of Algorithm 2 itself)
CHAINS = [(24, 24, 0.5, 1e-12), (40, 40, 0.5, 1e-12), (30, 30, 0.95, 1e-12),
          # repeated features and shares 0.3: Algorithm 2's UNWIND divides by small zero fractions
          # and drifts to ~1e-11 (measured against the exact value); the quadrature stays at 1e-16
          (36, 25, 0.3, 3e-11)]


@pytest.mark.parametrize("depth,n_features,skew,alg2_tol", CHAINS)
def test_deep_chain_is_exact(depth, n_features, skew, alg2_tol):
    fr = _chain(depth, n_features, seed=depth, skew=skew)
    X = _rows(40, n_features, seed=depth)
    pl = fr.plan()
    assert pl.max_depth == depth and pl.max_d == min(depth, n_features)
    phi, base = ts.shap_values(fr, X)
    for r in range(2):
        np.testing.assert_allclose(phi[r], _exact(fr, X[r]), atol=1e-14, rtol=0)
    ref, ref_base = shap_values_reference(fr, X)
    np.testing.assert_allclose(phi, ref, atol=alg2_tol, rtol=0)
    assert abs(base - ref_base) < 1e-12
    assert np.max(np.abs(base + phi.sum(1) - ts.predict(fr, X))) < 1e-12
    assert np.abs(phi[:, (depth - 1) % n_features]).max() > 0  # some rows' hot path reaches the bottom


@pytest.fixture(scope="module")
def deep_data():
    rng = np.random.default_rng(5)
    n, f = 6000, 30
    X = rng.normal(size=(n, f))
    y = (X[:, :10].sum(1) + 4 * rng.normal(size=n) > 0).astype(int)  # noisy: fully grown trees get deep
    return X, y


def _agrees(phi, ref, fr, Xf, what, always=(0,)):
    """``phi`` (n, f, forest column order) agrees with ``ref`` to 1e-12; where it does not, the
    exact value decides: ours must be within 1e-14 of it and ``ref`` the one more than 1e-12 off
    (EXTEND/UNWIND divides by zero fractions and drifts on deep trees). Rows ``always`` are
    checked against the exact value too."""
    bad = np.flatnonzero((np.abs(phi - ref) > 1e-12).any(1))
    assert len(bad) <= max(3, len(phi) // 50), f"{what}: {len(bad)} rows differ by more than 1e-12"
    for r in sorted(set(bad.tolist()) | set(always)):
        ex = _exact(fr, Xf[r])
        assert np.abs(phi[r] - ex).max() < 1e-14, (what, r)
        if r in bad:
            assert np.abs(ref[r] - ex).max() > 1e-12, (what, r)
    return len(bad)


DEEP = {
    "one_tree": lambda: RandomForestClassifier(n_estimators=1, bootstrap=False, random_state=0),
    "rf": lambda: RandomForestClassifier(n_estimators=4, random_state=0),
    "et": lambda: ExtraTreesClassifier(n_estimators=3, random_state=0),
    "gbm": lambda: GradientBoostingClassifier(n_estimators=3, max_depth=None, random_state=0),
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=3, max_leaf_nodes=None, min_samples_leaf=2,
                                                  random_state=0),
    "hgb_cat": lambda: HistGradientBoostingClassifier(max_iter=3, max_leaf_nodes=None, min_samples_leaf=2,
                                                      categorical_features=[0, 1], random_state=0),
    "xgb": lambda: xgb.XGBClassifier(n_estimators=3, max_depth=26, min_child_weight=0, random_state=0),
}


@pytest.mark.parametrize("name", sorted(DEEP))
def test_deep_trees_of_every_family_match_shap(deep_data, name):
    X, y = deep_data
    if name == "hgb_cat":  # native categorical splits on two integer-coded columns
        X = X.copy()
        X[:, :2] = np.floor(np.abs(X[:, :2]) * 4).clip(0, 9)
    est = DEEP[name]().fit(X, y)
    fam = FAMILIES[family_of(est)]
    est = fam.unwrap(est)
    fr = fam.forest(est)
    pl = fr.plan()
    assert pl.max_depth >= 20 and pl.max_d >= 14, (pl.max_depth, pl.max_d)
    Xs = X[:300]
    phi, base = fam.contribs(est, Xs)
    if fam.name == "xgboost":  # shap's own C++ TreeSHAP on its parse (XGBoost's pred_contribs is float32)
        e = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")
        e.model.model_type = "internal"
        ref = np.asarray(e.shap_values(Xs, check_additivity=False), np.float64)
        own, ref_base = fam.library_contribs(est, Xs)  # shap's parse drops base_score: XGBoost's own base
        assert abs(base - ref_base) < 2e-5  # (float32)
        ref_base = base
        raw = ts.predict(fr, Xs)  # XGBoost predicts in float32
    else:
        ref, ref_base = fam.reference(est, Xs)  # shap's C++ TreeSHAP, float64
        raw = fam.raw(est, Xs)
    assert abs(base - ref_base) < 1e-12
    assert np.max(np.abs(base + phi.sum(1) - raw)) < 1e-12
    cols = fam.forest_columns(est)
    Xf = fr.prepare(fam.forest_input(est, Xs))
    phi_f = phi if cols is None else phi[:, cols]
    _agrees(phi_f, ref if cols is None else ref[:, cols], fr, Xf, "shap")
    alg2, alg2_base = shap_values_reference(fr, Xf[:5])
    _agrees(phi_f[:5], alg2, fr, Xf, "Algorithm 2", always=())
    assert abs(base - alg2_base) < 1e-12
    classic, _ = ts.shap_values(fr, Xf, kernel="classic")
    np.testing.assert_allclose(phi_f, classic, atol=1e-12, rtol=0)


def test_deep_lightgbm_matches_pred_contrib(deep_data):
    X, y = deep_data
    b = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 1500, "min_data_in_leaf": 1,
                   "min_sum_hessian_in_leaf": 0, "learning_rate": 0.3, "seed": 0}, lgb.Dataset(X, y), 3)
    fr = ts.from_lightgbm_dump(b.dump_model())
    assert fr.plan().max_depth >= 20
    Xs = X[:300]
    phi, base = ts.shap_values(fr, Xs)
    ref = b.predict(Xs, pred_contrib=True)  # LightGBM's own TreeSHAP, float64
    _agrees(phi, ref[:, :-1], fr, fr.prepare(Xs), "pred_contrib")
    assert abs(base - ref[0, -1]) < 1e-12
    assert np.max(np.abs(base + phi.sum(1) - b.predict(Xs, raw_score=True))) < 1e-12


def test_kernels_agree_and_are_selectable(monkeypatch):
    fr = _chain(30, 20, seed=1)
    X = _rows(100, 20, seed=2)
    quad, b1 = ts.shap_values(fr, X, kernel="quadrature")
    classic, b2 = ts.shap_values(fr, X, kernel="classic")
    np.testing.assert_allclose(quad, classic, atol=1e-12, rtol=0)
    assert b1 == b2
    assert np.array_equal(ts.shap_values(fr, X)[0], quad)  # the default
    monkeypatch.setenv(tsapi.KERNEL_ENV, "classic")
    assert np.array_equal(ts.shap_values(fr, X)[0], classic)
    monkeypatch.setenv(tsapi.KERNEL_ENV, "linear")
    with pytest.raises(ConfigError) as e:
        ts.shap_values(fr, X)
    assert e.value.key == tsapi.KERNEL_ENV
    with pytest.raises(UserInputError) as e:
        ts.shap_values(fr, X, kernel="fast")
    assert e.value.argument == "kernel"


def test_quadrature_values_do_not_depend_on_the_block_or_the_threads(monkeypatch):
    # rows are independent: every block size and every split of the rows among threads (and
    # so every chunk or partition) gives the same bits
    fr = _chain(36, 25, seed=3)
    X = _rows(203, 25, seed=4)
    whole = ts.shap_values(fr, X)[0]
    pl = fr.plan()
    Xp = fr.prepare(X)
    for blk, cuts in ((16, (0, 203)), (48, (0, 7, 150, 203)), (256, (0, 1, 2, 203))):
        out = np.zeros_like(whole)
        for r0, r1 in zip(cuts[:-1], cuts[1:]):
            K.quad_kernel(Xp, out, r0, r1, fr.node_start, fr.left, fr.feature, fr.kind, fr.threshold, fr.missing,
                          fr.default_left, fr.cat_words, fr.cat_start, fr.cat_len, fr.value, pl.par, pl.side,
                          pl.depth, pl.prev, pl.zm, pl.tq, pl.tn, pl.tw, pl.max_depth, pl.tn.shape[1], blk)
        assert np.array_equal(out, whole)
    for threads in (1, 3):
        monkeypatch.setattr(tsapi, "_threads", lambda: threads)
        assert np.array_equal(ts.shap_values(fr, X)[0], whole)
    assert tsapi.quad_tasks(203, 2) == ([(0, 102), (102, 203)], 102)
    assert tsapi.quad_tasks(2000, 2) == ([(0, 1000), (1000, 2000)], 250)  # equal blocks of <= 256 rows


def test_model_facts_read_depth_and_trees_from_the_forest():
    # LightGBM and XGBoost facts come from the cached forest (one parse per model): the same
    # tree count and deepest path as the libraries' own dumps
    import json

    rng = np.random.default_rng(3)
    X = rng.normal(size=(800, 6))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=800) > 0).astype(int)

    def depth(node, kids):
        return max((depth(c, kids) + 1 for c in kids(node)), default=0)

    b = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 40, "min_data_in_leaf": 3}, lgb.Dataset(X, y), 12)
    lgb_kids = lambda n: [n[k] for k in ("left_child", "right_child") if k in n]  # noqa: E731
    want = max(depth(t["tree_structure"], lgb_kids) for t in b.dump_model()["tree_info"])
    facts = FAMILIES["lightgbm"].facts(b)
    assert (facts.n_trees, facts.max_depth) == (12, want) and want > 6
    bst = xgb.XGBClassifier(n_estimators=9, max_depth=5, random_state=0).fit(X, y).get_booster()
    dumps = [json.loads(t) for t in bst.get_dump(dump_format="json")]
    want = max(depth(t, lambda n: n.get("children", [])) for t in dumps)
    facts = FAMILIES["xgboost"].facts(bst)
    assert (facts.n_trees, facts.max_depth) == (9, want) and want == 5


def test_lightgbm_model_text_is_checked_once_per_booster_and_tree_count(monkeypatch):
    import churnlens.attribution._families as fams  # the check calls _lgb_json.tree_problem, imported there

    calls = []
    real = fams.tree_problem
    monkeypatch.setattr(fams, "tree_problem", lambda lines: calls.append(1) or real(lines))
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] > 0).astype(int)
    b = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y), 3, keep_training_booster=True)
    fam = FAMILIES["lightgbm"]
    fam.check(b, "m")
    fam.check(b, "m")
    assert len(calls) == 1
    b.update()  # one more tree: the model text changed, it is checked again
    fam.check(b, "m")
    assert len(calls) == 2


def test_default_kernel_leaves_numba_thread_pool_unstarted():
    # the quadrature kernel runs on plain threads: a process that forks (the forked writers)
    # afterwards holds no numba thread pool
    import subprocess
    import sys

    code = ("import numpy as np\n"
            "from numba.np.ufunc import parallel\n"
            "from churnlens.attribution import treeshap as ts\n"
            "t = ts.TreeArrays(left=np.array([1, -1, -1]), right=np.array([2, -1, -1]), feature=np.zeros(3, int),\n"
            "    threshold=np.array([0.5, 0, 0]), kind=0, missing=2, default_left=np.ones(3, bool),\n"
            "    value=np.array([0.0, -1.0, 2.0]), cover=np.array([40.0, 30.0, 10.0]))\n"
            "phi, base = ts.shap_values(ts.from_tree_arrays([t], n_features=2), np.zeros((500, 2)))\n"
            "assert np.all(phi[:, 0] == -0.75), phi\n"
            "print(parallel._is_initialized)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("params", [{"zero_as_missing": True}, {"use_missing": False}, {}])
def test_lightgbm_missing_types_in_both_kernels(params):
    # missing_type Zero (NaN and 0 take the default direction), None (NaN read as 0.0) and NaN;
    # rows with NaN and exact zeros where training had none (None) or had them
    rng = np.random.default_rng(6)
    n = 1500
    X = rng.normal(size=(n, 5))
    X[rng.random((n, 5)) < 0.15] = 0.0
    if params != {"use_missing": False}:
        X[rng.random((n, 5)) < 0.1] = np.nan
    y = (np.nan_to_num(X[:, 0]) + (X[:, 1] == 0) + rng.normal(size=n) > 0.5).astype(int)
    b = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 31, "min_data_in_leaf": 5, **params},
                  lgb.Dataset(X, y), 20)
    kinds = {nd.get("missing_type") for t in b.dump_model()["tree_info"] for nd in _lgb_nodes(t["tree_structure"])}
    want = {"zero_as_missing": "Zero", "use_missing": "None"}.get(next(iter(params), ""), "NaN")
    assert want in kinds
    Xt = X[:400].copy()
    Xt[rng.random(Xt.shape) < 0.1] = np.nan
    Xt[rng.random(Xt.shape) < 0.1] = 0.0
    fr = ts.from_lightgbm_dump(b.dump_model())
    ref = b.predict(Xt, pred_contrib=True)
    for kernel in ("quadrature", "classic"):
        phi, base = ts.shap_values(fr, Xt, kernel=kernel)
        np.testing.assert_allclose(phi, ref[:, :-1], atol=1e-12, rtol=0, err_msg=kernel)
        assert np.max(np.abs(base + phi.sum(1) - b.predict(Xt, raw_score=True))) < 1e-12


def _lgb_nodes(node):
    stack = [node]
    while stack:
        nd = stack.pop()
        if "split_index" in nd:
            yield nd
            stack += [nd["left_child"], nd["right_child"]]


def test_very_deep_chain_keeps_the_state_small(monkeypatch):
    # a 300-level chain over 60 features (q = 30): the per-task state caps the block, the
    # values stay exact
    fr = _chain(300, 60, seed=9, skew=0.5)
    X = _rows(30, 60, seed=9, right=0.99)
    pl = fr.plan()
    assert pl.max_depth == 300 and pl.tn.shape[1] == 30
    monkeypatch.setattr(tsapi, "QUAD_STATE_BYTES", 16 * 301 * 30 * 4)  # 4 rows per block
    phi, base = ts.shap_values(fr, X)
    for r in range(2):
        np.testing.assert_allclose(phi[r], _exact(fr, fr.prepare(X)[r]), atol=1e-14, rtol=0)
    assert np.max(np.abs(base + phi.sum(1) - ts.predict(fr, X))) < 1e-12
    assert np.abs(phi[:, 30:]).max() > 1e-6  # rows reach far down the chain
