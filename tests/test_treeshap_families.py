"""churnlens' own TreeSHAP on every tree family, against shap / the libraries' own contributions.

Oracles: shap's TreeExplainer (its C++ TreeSHAP in float64; for XGBoost the parsed trees,
``model_type="internal"``, because XGBoost's own pred_contribs is float32), LightGBM/XGBoost
pred_contrib, the library's own prediction (additivity), and Lundberg's Algorithm 2 in plain
numpy (attribution/treeshap/reference.py, itself checked against shap here) where shap has
no support (native categorical splits of HistGradientBoosting and XGBoost).
"""

from __future__ import annotations

import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import shap
import xgboost as xgb
from sklearn.ensemble import (
    ExtraTreesClassifier, GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier,
)

from churnlens.attribution import treeshap as ts
from churnlens.attribution._families import FAMILIES, family_of
from churnlens.attribution.treeshap.reference import shap_values_reference

N, F = 400, 6


def _data(nan: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, F))
    X[:, 2] = np.round(X[:, 2], 1)  # ties on thresholds
    y = (X[:, 0] + X[:, 1] * X[:, 2] + 0.5 * rng.normal(size=N) > 0).astype(int)
    if nan:
        X[rng.random((N, F)) < nan] = np.nan
    return X, y


def _shap(est, X, internal=False):
    e = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")
    if internal:
        e.model.model_type = "internal"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phi = np.asarray(e.shap_values(X, check_additivity=False), np.float64)
    base = np.atleast_1d(np.asarray(e.expected_value, np.float64))
    if phi.ndim == 3:
        phi, base = phi[:, :, 1], base[1:]
    return phi, float(base[0])


def _ours(est, X):
    fam = FAMILIES[family_of(est)]
    est = fam.unwrap(est)
    phi, base = fam.contribs(est, X)
    return fam, est, phi, base


SKLEARN = {
    "gbm": lambda: GradientBoostingClassifier(n_estimators=30, max_depth=4, learning_rate=0.2, random_state=0),
    "rf": lambda: RandomForestClassifier(n_estimators=25, min_samples_leaf=2, random_state=0),
    "rf_deep": lambda: RandomForestClassifier(n_estimators=5, random_state=0),  # deep trees: linear kernel
    "et": lambda: ExtraTreesClassifier(n_estimators=25, max_depth=8, random_state=0),
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=15, random_state=0),
}


@pytest.mark.parametrize("name", sorted(SKLEARN))
def test_sklearn_matches_shap_and_adds_up(name):
    X, y = _data()
    est = SKLEARN[name]().fit(X, y)
    fam, est, phi, base = _ours(est, X)
    ref, ref_base = _shap(est, X)
    np.testing.assert_allclose(phi, ref, atol=1e-12, rtol=0)
    assert abs(base - ref_base) < 1e-12
    raw = fam.raw(est, X)  # decision_function, or predict_proba[:, 1] for forests (shap's model_output='raw')
    assert np.max(np.abs(base + phi.sum(1) - raw)) < 1e-12
    np.testing.assert_allclose(ts.predict(fam.forest(est), X), raw, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", ["rf", "et", "hgb"])
def test_sklearn_missing_values_follow_the_library(name):
    X, y = _data(nan=0.15)
    est = SKLEARN[name]().fit(X, y)
    fam, est, phi, base = _ours(est, X)
    raw = fam.raw(est, X)
    np.testing.assert_allclose(ts.predict(fam.forest(est), X), raw, atol=1e-12, rtol=0)
    assert np.max(np.abs(base + phi.sum(1) - raw)) < 1e-12
    ref, ref_base = shap_values_reference(fam.forest(est), X[:80])
    np.testing.assert_allclose(phi[:80], ref, atol=1e-12, rtol=0)
    assert abs(base - ref_base) < 1e-12


def test_hist_gbm_native_categorical():
    rng = np.random.default_rng(1)
    X, y = _data(nan=0.05)
    X[:, 4] = rng.integers(0, 7, N).astype(float)
    X[rng.random(N) < 0.05, 4] = np.nan
    X[:, 1] = rng.integers(0, 4, N).astype(float)
    y = ((np.isin(X[:, 4], [1, 3, 5]) ^ (X[:, 1] == 2)) | (np.nan_to_num(X[:, 0]) > 1)).astype(int)
    est = HistGradientBoostingClassifier(max_iter=25, categorical_features=[1, 4], random_state=0).fit(X, y)
    fam = FAMILIES[family_of(est)]
    est = fam.unwrap(est)  # as loaded: the family reads category codes, align encodes them
    fam.check(est, "m")
    Xt = X.copy()
    Xt[:3, 4] = np.nan  # a category unseen in training: align makes it missing, as HGB itself does
    phi, base = fam.contribs(est, Xt)
    raw = fam.raw(est, Xt)
    assert np.max(np.abs(base + phi.sum(1) - raw)) < 1e-12
    ref, ref_base, note = fam.cross_reference(est, Xt[:100], categorical=True)
    np.testing.assert_allclose(phi[:100], ref, atol=1e-12, rtol=0)
    assert note.code == "crosscheck.algorithm2" and abs(base - ref_base) < 1e-12
    assert np.abs(phi[:, [1, 4]]).mean() > np.abs(phi[:, [2, 3, 5]]).mean()  # the categorical signal is credited


def test_reference_algorithm_matches_shap():
    X, y = _data(nan=0.1)
    b = lgb.train({"objective": "binary", "num_leaves": 15, "verbose": -1, "min_data_in_leaf": 5},
                  lgb.Dataset(X, y), 10)
    fr = ts.from_lightgbm_dump(b.dump_model())
    ref = b.predict(X, pred_contrib=True)
    phi, base = shap_values_reference(fr, X)
    np.testing.assert_allclose(phi, ref[:, :-1], atol=1e-12, rtol=0)
    assert abs(base - ref[0, -1]) < 1e-12


@pytest.mark.parametrize("booster", ["gbtree", "dart"])
def test_xgboost_matches_shap_and_pred_contribs(booster):
    X, y = _data(nan=0.1)
    params = {"n_estimators": 40, "max_depth": 5, "learning_rate": 0.3, "booster": booster, "random_state": 0}
    if booster == "dart":
        params.update(rate_drop=0.2)
    est = xgb.XGBClassifier(**params).fit(X, y)
    fam, bst, phi, base = _ours(est, X)
    fr = fam.forest(bst)
    raw64 = ts.predict(fr, X)
    assert np.max(np.abs(base + phi.sum(1) - raw64)) < 1e-12
    np.testing.assert_allclose(raw64, fam.raw(bst, X), atol=2e-5, rtol=0)  # XGBoost predicts in float32
    own, own_base = fam.library_contribs(bst, X)  # float32 as well
    np.testing.assert_allclose(phi, own, atol=2e-5, rtol=0)
    if booster == "gbtree":  # shap's own C++ TreeSHAP on its parse of the trees, float64
        ref, ref_base = _shap(bst, X, internal=True)
        np.testing.assert_allclose(phi, ref, atol=1e-12, rtol=0)
    ref, ref_base = shap_values_reference(fr, X[:60])
    np.testing.assert_allclose(phi[:60], ref, atol=1e-12, rtol=0)
    assert abs(base - ref_base) < 1e-12


def test_xgboost_categorical_splits_and_missing():
    rng = np.random.default_rng(2)
    X, y = _data(nan=0.1)
    cat = rng.integers(0, 8, N)
    y = (np.isin(cat, [0, 2, 7]) ^ (np.nan_to_num(X[:, 0]) > 0.5)).astype(int)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(F)])
    df["c"] = pd.Categorical(cat, categories=range(8))
    df.loc[rng.random(N) < 0.05, "c"] = np.nan
    est = xgb.XGBClassifier(n_estimators=20, max_depth=4, enable_categorical=True, tree_method="hist",
                            max_cat_to_onehot=1, random_state=0).fit(df, y)
    bst = est.get_booster()
    fam = FAMILIES["xgboost"]
    fr = fam.forest(bst)
    assert np.any(fr.cat_len > 0)  # partition-based categorical splits were built
    M = df.assign(c=df["c"].cat.codes.where(df["c"].notna(), np.nan).astype(float)).to_numpy(np.float64)
    phi, base = ts.shap_values(fr, M)
    dm = xgb.DMatrix(df, enable_categorical=True)
    own = bst.predict(dm, pred_contribs=True).astype(np.float64)
    np.testing.assert_allclose(phi, own[:, :-1], atol=2e-5, rtol=0)
    raw64 = ts.predict(fr, M)
    np.testing.assert_allclose(raw64, bst.predict(dm, output_margin=True), atol=2e-5, rtol=0)
    assert np.max(np.abs(base + phi.sum(1) - raw64)) < 1e-12
    ref, ref_base = shap_values_reference(fr, M[:80])
    np.testing.assert_allclose(phi[:80], ref, atol=1e-12, rtol=0)


def test_interactions_match_shap_on_sklearn_and_xgboost():
    X, y = _data()
    Xs = X[:60]
    for est in (SKLEARN["gbm"]().fit(X, y), SKLEARN["rf"]().fit(X, y),
                xgb.XGBClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y)):
        fam = FAMILIES[family_of(est)]
        e = fam.unwrap(est)
        got = fam.interactions(e, Xs, range(F))
        ex = shap.TreeExplainer(e)
        if fam.name == "xgboost":
            ex.model.model_type = "internal"
        ref = np.asarray(ex.shap_interaction_values(Xs), np.float64)
        if ref.ndim == 4:
            ref = ref[..., 1]
        np.testing.assert_allclose(got, ref, atol=1e-12, rtol=0, err_msg=fam.name)
        phi, _ = fam.contribs(e, Xs)
        np.testing.assert_allclose(got.sum(2), phi, atol=1e-12, rtol=0)


def test_results_do_not_depend_on_chunks_or_partitions():
    # rows are independent in the kernels: any split of the rows (explain's chunks, Dask
    # partitions) gives bit-identical values, in both the table and the linear kernel
    for name, nan in (("rf_deep", 0.05), ("gbm", 0.0)):
        X, y = _data(nan=nan)
        est = SKLEARN[name]().fit(X, y)
        fam = FAMILIES[family_of(est)]
        whole, base = fam.contribs(est, X)
        parts = [fam.contribs(est, X[a:b]) for a, b in ((0, 1), (1, 77), (77, 250), (250, N))]
        assert np.array_equal(whole, np.concatenate([p[0] for p in parts])) and all(p[1] == base for p in parts)
