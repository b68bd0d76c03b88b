"""Exact pairwise interaction values of a loaded model (pipelines included), against shap."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import shap
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from churnlens.attribution import explain, from_estimator, interaction_matrix, top_pairs


def _book(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n),
                      "city": rng.choice(["x", "y", "z"], n)})
    y = ((X.a > 0) & (X.b > 0) | (X.city == "z")).astype(int).to_numpy()  # a x b interact
    return X, y


def test_pipeline_interactions_group_encoded_columns_and_match_shap():
    X, y = _book()
    pre = ColumnTransformer([("oh", OneHotEncoder(), ["city"])], remainder="passthrough")
    pipe = Pipeline([("pre", pre), ("rf", RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0))]).fit(X, y)
    model = from_estimator(pipe)
    feats = list(model.feature_names)
    got = interaction_matrix(model, X.iloc[:50], feats)
    Z = pre.transform(X.iloc[:50])
    ref = np.asarray(shap.TreeExplainer(pipe.named_steps["rf"]).shap_interaction_values(Z))[..., 1]
    names = pre.get_feature_names_out()
    src = [next(i for i, f in enumerate(feats) if n.endswith("__" + f) or n.startswith(f"oh__{f}_")) for n in names]
    G = np.zeros((len(names), len(feats)))
    G[np.arange(len(names)), src] = 1.0
    np.testing.assert_allclose(got, np.einsum("nij,ia,jb->nab", ref, G, G), atol=1e-9, rtol=0)
    # rows add up to the attributions (all features listed)
    a = explain(model, X.iloc[:50], customer_ids=np.arange(50))
    np.testing.assert_allclose(got.sum(2), a.values, atol=1e-6)


def test_top_pairs_finds_the_planted_interaction():
    X, y = _book(2000)
    Xn = X.drop(columns="city").assign(d=np.random.default_rng(1).normal(size=2000))
    y = ((Xn.a > 0) & (Xn.b > 0)).astype(int).to_numpy() | (Xn.c > 1.5).to_numpy()
    booster = lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1}, lgb.Dataset(Xn, y), 30)
    model = from_estimator(booster)
    pairs = top_pairs(model, Xn.iloc[:300], ["a", "b", "c", "d"], k=2)
    assert {pairs[0].feature_a, pairs[0].feature_b} == {"a", "b"} and pairs[0].n_rows == 300
    assert pairs[0].mean_abs > 3 * pairs[1].mean_abs
    Phi = interaction_matrix(model, Xn.iloc[:300], ["a", "b"])
    assert abs(pairs[0].mean_signed - float(np.mean(Phi[:, 0, 1] + Phi[:, 1, 0]))) < 1e-12
