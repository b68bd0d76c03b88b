"""The additivity check's reference is the library's own prediction, computed without the
public-API overhead it used to carry (joblib dispatch, a DMatrix copy, a text dump of every
tree) but with the very same numbers, bit for bit; and ``churnlens.explain`` gives the same
Explanation as before its pandas shortcuts."""

from __future__ import annotations

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

import churnlens
from churnlens.attribution import explain, from_estimator
from churnlens.attribution._families import FAMILIES, family_of

N, F = 300, 6


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(N, F))
    y = (rng.random(N) < 1 / (1 + np.exp(-(X[:, 0] - X[:, 1] * X[:, 2])))).astype(int)
    Xn = X.copy()
    Xn[::7, 0] = np.nan  # missing values: each library's own missing-value rule
    Xn[::5, 3] = np.nan
    return X, Xn, y


@pytest.mark.parametrize("cls", [RandomForestClassifier, ExtraTreesClassifier])
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_forest_reference_is_predict_proba_bit_for_bit(cls, n_jobs, data):
    X, Xn, y = data
    est = cls(n_estimators=25, n_jobs=n_jobs, random_state=0).fit(Xn, y)  # trained with missing values
    fam = FAMILIES[family_of(est)]
    for M in (X, Xn):
        with joblib.parallel_config(backend="sequential"):  # scikit-learn's own sum, trees in order
            expected = est.predict_proba(M)[:, 1]
        got = fam.raw(est, M)
        assert got.dtype == np.float64 and got.shape == (N,)
        np.testing.assert_array_equal(got, expected)
        # the threaded sum adds the same trees in another order: equal up to rounding only
        np.testing.assert_allclose(got, est.predict_proba(M)[:, 1], rtol=0, atol=1e-15)
    # and it is the forest's own input check: infinities are refused as predict_proba refuses them
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError) as ours:
        fam.raw(est, bad)
    with pytest.raises(ValueError) as theirs:
        est.predict_proba(bad)
    assert str(ours.value) == str(theirs.value)


def _xgb(X, y, **params):
    return xgb.train({"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "seed": 0, **params},
                     xgb.DMatrix(X, y, missing=np.nan), 12)


@pytest.mark.parametrize("params", [{}, {"num_parallel_tree": 3}, {"booster": "dart", "rate_drop": 0.2}],
                         ids=["gbtree", "parallel", "dart"])
def test_xgboost_reference_is_its_own_margin_bit_for_bit(params, data):
    X, Xn, y = data
    bst = _xgb(Xn, y, **params)
    fam = FAMILIES["xgboost"]
    assert fam._inplace(bst) == (params.get("booster") != "dart")  # dart's in-place margins differ: DMatrix
    for M in (X, Xn):
        expected = bst.predict(xgb.DMatrix(M, missing=np.nan), output_margin=True)
        np.testing.assert_array_equal(fam.raw(bst, M), expected.astype(np.float64))
    # the stored tree count read from the configuration, not a text dump of every tree
    for b in (bst, bst[:5]):
        assert fam._stored_trees(b) == len(b.get_dump())


def test_xgboost_early_stopped_keeps_its_tree_counts(data):
    X, Xn, y = data
    clf = xgb.XGBClassifier(n_estimators=60, max_depth=3, early_stopping_rounds=3, random_state=0)
    clf.fit(Xn[:200], y[:200], eval_set=[(Xn[200:], y[200:])], verbose=False)
    bst = clf.get_booster()
    assert bst.num_boosted_rounds() > clf.best_iteration + 1
    model = from_estimator(clf)
    assert model.info.trees_in_file == len(bst.get_dump()) and model.info.n_trees == clf.best_iteration + 1
    a = explain(model, pd.DataFrame(Xn, columns=model.feature_names), customer_ids=np.arange(N))
    np.testing.assert_allclose(a.score, clf.predict_proba(Xn)[:, 1], rtol=0, atol=1e-7)  # float32 predictions


def test_lightgbm_header_is_cached_per_booster_and_tree_count(data):
    X, Xn, y = data
    ds = lgb.Dataset(Xn, y, params={"verbose": -1}, free_raw_data=False)
    bst = lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 0, "sigmoid": 2.0}, ds, 5,
                    keep_training_booster=True)
    first = from_estimator(bst)
    assert first.info.objective.startswith("binary") and "sigmoid:2" in first.info.objective
    assert first._backend.raw_scale == 2.0 and first.info.n_trees == 5
    bst.update()  # one more tree on the same object: the cached facts are not reused
    again = from_estimator(bst)
    assert again.info.n_trees == 6 and again.info.objective == first.info.objective
    a = explain(again, pd.DataFrame(Xn, columns=again.feature_names), customer_ids=np.arange(N))
    np.testing.assert_array_equal(a.raw_score, 2.0 * bst.predict(Xn, raw_score=True))
    assert a.additivity_max_error < 1e-9


def test_public_explain_equals_the_attributions_and_the_data(data):
    X, Xn, y = data
    bst = lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 0}, lgb.Dataset(Xn, y), 15)
    names = [f"f{i}" for i in range(F)]
    frame = pd.DataFrame(Xn, columns=names, index=[f"c{i}" for i in range(N)])
    model = from_estimator(bst)
    want = explain(model, pd.DataFrame(Xn, columns=model.feature_names), customer_ids=frame.index)
    for _ in range(2):  # the second call reuses the cached checks: same numbers
        e = churnlens.explain(bst, frame.rename(columns=dict(zip(names, model.feature_names))))
        np.testing.assert_array_equal(e.values, want.values)
        np.testing.assert_array_equal(e.base_values, np.full(N, want.base_value))
        np.testing.assert_array_equal(e.data, Xn)  # NaN in the same places
        assert e.data.dtype == np.float64 and e.data.flags.writeable
        assert list(e.instance_names) == list(frame.index) and list(e.feature_names) == list(model.feature_names)
    assert not np.shares_memory(e.data, frame.to_numpy())


def test_a_model_refitted_in_place_is_explained_with_its_new_trees(data):
    """The forest parsed from a model object is cached per object; refitting that object (or
    another boosting round) must not leave the old trees in use (the additivity check refused
    the stale forest before)."""
    X, Xn, y = data
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(F)])
    rf = RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0).fit(X, y)
    churnlens.explain(rf, frame)
    rf.set_params(random_state=1).fit(X, 1 - y)
    e = churnlens.explain(rf, frame)
    np.testing.assert_allclose(e.base_values + e.values.astype(np.float64).sum(1), rf.predict_proba(X)[:, 1],
                               rtol=0, atol=1e-6)
    rf.set_params(warm_start=True, n_estimators=12).fit(X, 1 - y)  # four more trees on the same list
    e = churnlens.explain(rf, frame)
    np.testing.assert_allclose(e.base_values + e.values.astype(np.float64).sum(1), rf.predict_proba(X)[:, 1],
                               rtol=0, atol=1e-6)
    bst = _xgb(X, y)
    names = {f"f{i}": f"f{i}" for i in range(F)}
    xf = pd.DataFrame(X, columns=list(names))
    churnlens.explain(bst, xf)
    bst.update(xgb.DMatrix(X, y), iteration=bst.num_boosted_rounds())
    e = churnlens.explain(bst, xf)
    np.testing.assert_allclose(e.base_values + e.values.astype(np.float64).sum(1),
                               bst.predict(xgb.DMatrix(X), output_margin=True), rtol=0, atol=1e-5)
