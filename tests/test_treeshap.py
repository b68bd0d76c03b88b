"""churnlens' own TreeSHAP (attribution/treeshap) against known answers and library oracles."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from churnlens.attribution import treeshap as ts
from churnlens.attribution.treeshap import forest as F


def _stump():
    # x0 <= 0.5: -1.0 (30 rows) else 2.0 (10 rows)
    tree = ts.TreeArrays(left=np.array([1, -1, -1]), right=np.array([2, -1, -1]), feature=np.array([0, 0, 0]),
                         threshold=np.array([0.5, 0, 0]), kind=0, missing=2, default_left=np.array([True] * 3),
                         value=np.array([0.0, -1.0, 2.0]), cover=np.array([40.0, 30.0, 10.0]))
    return ts.from_tree_arrays([tree], n_features=2)


def test_closed_form_stump():
    fr = _stump()
    phi, base = ts.shap_values(fr, np.array([[0.0, 5.0], [1.0, 5.0], [np.nan, 0.0]]))
    assert base == pytest.approx(-0.25, abs=1e-15)
    np.testing.assert_allclose(phi, [[-0.75, 0.0], [2.25, 0.0], [-0.75, 0.0]], atol=1e-15)


@pytest.fixture(scope="module")
def lgb_case():
    rng = np.random.default_rng(0)
    n, f = 600, 6
    X = rng.normal(size=(n, f))
    X[rng.random((n, f)) < 0.1] = np.nan
    X[:, 3] = rng.integers(0, 5, n)
    X[rng.random(n) < 0.05, 3] = np.nan
    y = (np.nan_to_num(X[:, 0]) * np.nan_to_num(X[:, 1]) + (X[:, 3] == 2) + rng.normal(size=n) > 0).astype(int)
    b = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 5, "num_leaves": 15},
                  lgb.Dataset(X, y, categorical_feature=[3]), 15)
    return X, b


@pytest.mark.parametrize("table_max_d", [F.TABLE_MAX_D, 0])  # table kernel, linear kernel
def test_lightgbm_matches_pred_contrib(lgb_case, table_max_d, monkeypatch):
    X, b = lgb_case
    monkeypatch.setattr(F, "TABLE_MAX_D", table_max_d)
    fr = ts.from_lightgbm_dump(b.dump_model())
    phi, base = ts.shap_values(fr, X)
    ref = b.predict(X, pred_contrib=True)
    raw = b.predict(X, raw_score=True)
    np.testing.assert_allclose(phi, ref[:, :-1], atol=1e-12, rtol=0)
    assert abs(base - ref[0, -1]) < 1e-12
    np.testing.assert_allclose(ts.predict(fr, X), raw, atol=1e-12, rtol=0)
    assert np.max(np.abs(base + phi.sum(1) - raw)) < 1e-12


def test_interactions_match_shap(lgb_case):
    import shap

    X, b = lgb_case
    Xn = np.nan_to_num(X[:100])
    Xn[:, 3] = 0.0  # shap's interaction values do not support LightGBM categorical splits
    bn = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 7}, lgb.Dataset(Xn, (Xn[:, 0] > 0).astype(int)), 5)
    fr = ts.from_lightgbm_dump(bn.dump_model())
    ref = np.asarray(shap.TreeExplainer(bn).shap_interaction_values(Xn))
    got = ts.interaction_values(fr, Xn, features=range(Xn.shape[1]))
    np.testing.assert_allclose(got, ref, atol=1e-12, rtol=0)
    sub = ts.interaction_values(fr, Xn, features=[1, 0])
    np.testing.assert_allclose(sub, ref[:, [1, 0]][:, :, [1, 0]], atol=1e-12, rtol=0)
