"""Attribution engine: every model family agrees with shap's TreeExplainer and adds up."""

from __future__ import annotations

import json

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import shap
import skops.io as sio
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier, GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from churnlens.attribution import align, cross_check, explain, from_estimator, load_model
from churnlens.errors import InputFileError, ModelError
from churnlens.notes import Note

N = 400


def _identity(x):  # module-level so skops records it as a (non-reviewed) function reference
    return x


@pytest.fixture(scope="module")
def numeric_data():
    rng = np.random.default_rng(7)
    X = pd.DataFrame({
        "logins_30d": rng.poisson(4, N).astype(float),
        "balance": rng.lognormal(8, 1, N),
        "tenure_m": rng.integers(1, 120, N).astype(float),
        "products": rng.integers(1, 5, N).astype(float),
    })
    logit = -0.6 * X.logins_30d + 1.5 + 0.3 * (X.products == 1) - 0.01 * X.tenure_m
    y = (rng.random(N) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y.to_numpy()


def _shap_oracle(est, X):
    """shap's TreeExplainer values for the churn class, shape (n, f)."""
    v = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent").shap_values(X, check_additivity=False)
    v = np.asarray(v)
    return v[:, :, 1] if v.ndim == 3 else v


SKLEARN = {
    "gbc": lambda: GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0),
    "hist": lambda: HistGradientBoostingClassifier(max_iter=15, random_state=0),
    "rf": lambda: RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0),
    "et": lambda: ExtraTreesClassifier(n_estimators=10, max_depth=5, random_state=0),
}
FAMILY = {"gbc": "sklearn_gbm", "hist": "sklearn_hist_gbm", "rf": "random_forest", "et": "extra_trees"}


@pytest.mark.parametrize("kind", sorted(SKLEARN))
def test_sklearn_families_match_shap_and_add_up(kind, numeric_data, tmp_path):
    X, y = numeric_data
    est = SKLEARN[kind]().fit(X, y)
    sio.dump(est, tmp_path / "m.skops")
    model = load_model(tmp_path / "m.skops")
    assert model.info.family == FAMILY[kind] and model.info.format == "skops"
    assert model.feature_names == tuple(X.columns)
    a = explain(model, X, customer_ids=np.arange(N))
    np.testing.assert_allclose(a.values, _shap_oracle(est, X.to_numpy()), atol=1e-6)
    if kind in ("rf", "et"):
        raw = est.predict_proba(X)[:, 1]
        assert model.info.raw_output == "probability" and a.output_space == "probability"
    else:
        raw = est.decision_function(X)
        assert model.info.raw_output == "log_odds"
    np.testing.assert_allclose(a.raw_score, raw, atol=1e-12)
    np.testing.assert_allclose(a.base_value + a.values.astype(np.float64).sum(1), raw, atol=1e-5)
    np.testing.assert_allclose(a.score, est.predict_proba(X)[:, 1], atol=1e-12)
    assert a.additivity_max_error < 1e-9


def test_lightgbm_booster_text_json_and_classifier(numeric_data, tmp_path):
    X, y = numeric_data
    booster = lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 0}, lgb.Dataset(X, y), 20)
    booster.save_model(tmp_path / "m.txt")
    (tmp_path / "m.json").write_text(json.dumps(booster.dump_model()))
    clf = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1, random_state=0).fit(X, y)
    sio.dump(clf, tmp_path / "clf.skops")
    expected = _shap_oracle(booster, X)
    for name in ("m.txt", "m.json"):
        model = load_model(tmp_path / name)
        assert model.info.family == "lightgbm" and model.info.n_trees == 20 and model.info.max_depth >= 3
        a = explain(model, X, customer_ids=np.arange(N))
        np.testing.assert_allclose(a.values, expected, atol=1e-6)
        np.testing.assert_allclose(a.raw_score, booster.predict(X, raw_score=True), atol=1e-12)
        np.testing.assert_allclose(a.base_value + a.values.astype(np.float64).sum(1), a.raw_score, atol=1e-5)
    model = load_model(tmp_path / "clf.skops")
    a = explain(model, X, customer_ids=np.arange(N))
    np.testing.assert_allclose(a.values, _shap_oracle(clf, X), atol=1e-6)
    np.testing.assert_allclose(a.score, clf.predict_proba(X)[:, 1], atol=1e-12)


def test_xgboost_json_ubj_and_classifier(numeric_data, tmp_path):
    X, y = numeric_data
    clf = xgb.XGBClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, y)
    clf.save_model(tmp_path / "m.json")
    clf.get_booster().save_model(tmp_path / "m.ubj")
    sio.dump(clf, tmp_path / "clf.skops")
    expected = _shap_oracle(clf.get_booster(), X)
    margin = clf.predict(X, output_margin=True)
    for name, fmt in (("m.json", "xgboost_json"), ("m.ubj", "xgboost_ubj"), ("clf.skops", "skops")):
        model = load_model(tmp_path / name)
        assert (model.info.family, model.info.format, model.info.n_trees) == ("xgboost", fmt, 20)
        a = explain(model, X, customer_ids=np.arange(N))
        np.testing.assert_allclose(a.values, expected, atol=1e-6)
        np.testing.assert_allclose(a.raw_score, margin, atol=1e-6)
        # XGBoost computes in float32: additivity holds to float32 precision
        np.testing.assert_allclose(a.base_value + a.values.astype(np.float64).sum(1), a.raw_score, atol=1e-5)
    check = cross_check(model, X.iloc[:50], a.values[:50])
    assert check.max_abs_diff < 1e-5 and check.reference == f"XGBoost {xgb.__version__} pred_contribs"
    assert check.compared.get("theirs").code == "crosscheck.xgboost" and a.method.startswith("TreeSHAP (path-dependent), churnlens' own")


def test_closed_form_stump(tmp_path):
    """One split on x (x <= 0.5: -1.0 for 30 rows, else 2.0 for 10 rows); z unused.

    Path-dependent TreeSHAP: base = (30*-1 + 10*2)/40 = -0.25; phi_x = leaf - base."""
    dump = {
        "name": "tree", "version": "v4", "num_class": 1, "num_tree_per_iteration": 1, "label_index": 0,
        "max_feature_idx": 1, "objective": "binary sigmoid:1", "feature_names": ["x", "z"],
        "feature_infos": {"x": {"min_value": 0, "max_value": 1, "values": []},
                          "z": {"min_value": 0, "max_value": 1, "values": []}},
        "tree_info": [{"tree_index": 0, "num_leaves": 2, "num_cat": 0, "shrinkage": 1, "tree_structure": {
            "split_index": 0, "split_feature": 0, "split_gain": 1.0, "threshold": 0.5, "decision_type": "<=",
            "default_left": True, "missing_type": "None", "internal_value": -0.25, "internal_weight": 40,
            "internal_count": 40,
            "left_child": {"leaf_index": 0, "leaf_value": -1.0, "leaf_weight": 30, "leaf_count": 30},
            "right_child": {"leaf_index": 1, "leaf_value": 2.0, "leaf_weight": 10, "leaf_count": 10}}}],
        "pandas_categorical": None,
    }
    (tmp_path / "stump.json").write_text(json.dumps(dump))
    model = load_model(tmp_path / "stump.json")
    X = pd.DataFrame({"x": [0.0, 1.0, 0.5], "z": [5.0, -3.0, 0.0]})
    a = explain(model, X, customer_ids=["a", "b", "c"])
    assert a.base_value == pytest.approx(-0.25, abs=1e-12)
    np.testing.assert_allclose(a.values, [[-0.75, 0.0], [2.25, 0.0], [-0.75, 0.0]], atol=1e-7)
    np.testing.assert_allclose(a.raw_score, [-1.0, 2.0, -1.0])
    np.testing.assert_allclose(a.score, 1 / (1 + np.exp(-a.raw_score)))


@pytest.fixture(scope="module")
def mixed_data():
    rng = np.random.default_rng(3)
    city = rng.choice(["Beijing", "Shanghai", "Shenzhen", "Chengdu"], N)
    seg = rng.choice(["mass", "affluent", "private"], N)
    bal = rng.lognormal(8, 1, N)
    bal[::9] = np.nan
    age = rng.integers(18, 80, N).astype(float)
    X = pd.DataFrame({"city": city, "segment": seg, "balance": bal, "age": age, "logins": rng.poisson(3, N).astype(float)})
    logit = 1.0 * (X.city == "Shenzhen") - 0.8 * (X.segment == "private") - 0.02 * (X.age - 45) - 0.3 * X.logins
    y = (rng.random(N) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y.to_numpy()


def _pipeline(final):
    pre = ColumnTransformer([
        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=True), ["city"]),
        ("ordinal", OrdinalEncoder(), ["segment"]),
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["balance"]),
        ("keep", "passthrough", ["age"]),
    ], remainder="passthrough")
    return Pipeline([("pre", pre), ("model", final)])


@pytest.mark.parametrize("kind", ["hist", "rf"])
def test_pipeline_attributions_summed_to_source_columns(kind, mixed_data, tmp_path):
    X, y = mixed_data
    pipe = _pipeline(SKLEARN[kind]()).fit(X, y)
    sio.dump(pipe, tmp_path / "p.skops")
    model = load_model(tmp_path / "p.skops")
    assert model.feature_names == ("city", "segment", "balance", "age", "logins")
    assert model.info.pipeline_steps == ("ColumnTransformer", type(pipe[-1]).__name__)
    Xa = align(model, X.assign(customer_id=np.arange(N)), source="book.csv").X
    a = explain(model, Xa, customer_ids=np.arange(N))
    # oracle: shap on the transformed matrix, encoded columns summed by hand
    T = pipe[0].transform(X)
    T = T.toarray() if hasattr(T, "toarray") else T
    ref = _shap_oracle(pipe[-1], np.asarray(T, dtype=float))
    names = list(pipe[0].get_feature_names_out())
    by_hand = np.column_stack([
        ref[:, [i for i, n in enumerate(names) if n.startswith("onehot__city_")]].sum(1),
        ref[:, names.index("ordinal__segment")],
        ref[:, names.index("num__balance")],
        ref[:, names.index("keep__age")],
        ref[:, names.index("remainder__logins")],
    ])
    assert sum(n.startswith("onehot__city_") for n in names) == 4
    np.testing.assert_allclose(a.values, by_hand, atol=1e-6)
    np.testing.assert_allclose(a.score, pipe.predict_proba(X)[:, 1], atol=1e-12)
    np.testing.assert_allclose(a.base_value + a.values.astype(np.float64).sum(1), a.raw_score, atol=1e-5)
    check = cross_check(model, Xa.iloc[:50], a.values[:50])
    assert check.n_rows == 50 and check.max_abs_diff < 1e-6 and check.reference.startswith(f"shap {shap.__version__}")


def test_cross_check_lightgbm_is_independent_of_pred_contrib(numeric_data, tmp_path):
    X, y = numeric_data
    booster = lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1}, lgb.Dataset(X, y), 10)
    model = from_estimator(booster)
    a = explain(model, X, customer_ids=np.arange(N))
    check = cross_check(model, X.iloc[:100], a.values[:100])
    # churnlens' own TreeSHAP checked against LightGBM's own (a different implementation)
    assert check.max_abs_diff < 1e-6 and check.reference == f"LightGBM {lgb.__version__} pred_contrib"
    assert check.compared == Note.of("crosscheck.pair", ours=Note.of("crosscheck.churnlens"),
                                     theirs=Note.of("crosscheck.lightgbm", version=lgb.__version__))
    assert check.passed and check.tolerance == 1e-4 and a.additivity_ok  # the verdicts the dossier prints
    # a wrong input is detected: attributions of other rows differ, and the check fails
    wrong = cross_check(model, X.iloc[100:200], a.values[:100])
    assert wrong.max_abs_diff > 1e-2 and not wrong.passed


def test_pickle_requires_trust(numeric_data, tmp_path):
    X, y = numeric_data
    est = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y)
    joblib.dump(est, tmp_path / "m.joblib")
    with pytest.raises(ModelError, match=r"(?s)arbitrary code.*skops.*set trust_model"):
        load_model(tmp_path / "m.joblib")
    model = load_model(tmp_path / "m.joblib", trust_model=True)
    assert model.info.format == "pickle"
    np.testing.assert_allclose(model.predict_proba(X), est.predict_proba(X)[:, 1], atol=1e-12)


def test_skops_with_unreviewed_type_is_refused(numeric_data, tmp_path):
    X, y = numeric_data
    pipe = make_pipeline(FunctionTransformer(_identity, feature_names_out="one-to-one"), GradientBoostingClassifier(n_estimators=3)).fit(X, y)
    sio.dump(pipe, tmp_path / "p.skops")
    with pytest.raises(ModelError, match=r"not reviewed as safe: .*_identity"):
        load_model(tmp_path / "p.skops")
    model = load_model(tmp_path / "p.skops", trust_model=True)
    np.testing.assert_allclose(model.predict_proba(X), pipe.predict_proba(X)[:, 1], atol=1e-12)


def test_model_errors(numeric_data, tmp_path):
    X, y = numeric_data
    with pytest.raises(InputFileError, match=r"nope\.txt does not exist"):
        load_model(tmp_path / "nope.txt")
    (tmp_path / "notes.txt").write_text("hello, not a model")
    with pytest.raises(ModelError, match="not in a supported format"):
        load_model(tmp_path / "notes.txt")
    sio.dump(LogisticRegression().fit(X, y), tmp_path / "lr.skops")
    with pytest.raises(ModelError, match=r"LogisticRegression.*cannot explain exactly"):
        load_model(tmp_path / "lr.skops")
    multi = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1}, lgb.Dataset(X, y + (X.products > 2)), 3)
    multi.save_model(tmp_path / "multi.txt")
    with pytest.raises(ModelError, match="binary churn classifiers"):
        load_model(tmp_path / "multi.txt")
    with pytest.raises(ModelError, match="model_format: unknown format 'onnx'"):
        load_model(tmp_path / "multi.txt", model_format="onnx")
    # integer-coded native categorical_features are explained exactly (issue 17), no longer refused
    Xc = X.assign(products=X.products - 1)
    hist = HistGradientBoostingClassifier(max_iter=3, categorical_features=[3]).fit(Xc, y)
    sio.dump(hist, tmp_path / "hcat.skops")
    hcat = load_model(tmp_path / "hcat.skops", trust_model=True)
    a = explain(hcat, align(hcat, Xc).X, customer_ids=np.arange(len(Xc)))
    np.testing.assert_allclose(a.raw_score, hist.decision_function(Xc), atol=1e-12)
    assert a.additivity_max_error < 1e-9


def test_hist_gbm_native_categorical_is_explained_and_cross_checked(numeric_data, tmp_path):
    X, y = numeric_data
    Xc = X.assign(products=X.products - 1)
    hist = HistGradientBoostingClassifier(max_iter=20, categorical_features=[3], random_state=0).fit(Xc, y)
    sio.dump(hist, tmp_path / "hcat.skops")
    model = load_model(tmp_path / "hcat.skops", trust_model=True)
    a = explain(model, Xc, customer_ids=np.arange(N))
    np.testing.assert_allclose(a.raw_score, hist.decision_function(Xc), atol=1e-12)
    assert a.additivity_max_error < 1e-9
    check = cross_check(model, Xc.iloc[:40], a.values[:40])
    assert check.passed and check.max_abs_diff < 1e-6  # float32 values against the float64 reference
    assert check.compared.get("theirs") == Note.of("crosscheck.algorithm2")


def test_model_info_facts(numeric_data, tmp_path):
    import hashlib

    X, y = numeric_data
    est = GradientBoostingClassifier(n_estimators=7, max_depth=2, random_state=0).fit(X, y)
    sio.dump(est, tmp_path / "m.skops")
    info = load_model(tmp_path / "m.skops").info
    assert info.sha256 == hashlib.sha256((tmp_path / "m.skops").read_bytes()).hexdigest()
    assert (info.n_trees, info.max_depth, info.n_features) == (7, 2, 4)
    assert info.objective == "binary log-loss" and info.raw_output == "log_odds"


def test_skops_round_trip_equals_in_memory_pipeline(mixed_data, tmp_path):
    X, y = mixed_data
    pipe = _pipeline(SKLEARN["gbc"]()).fit(X, y)
    sio.dump(pipe, tmp_path / "p.skops")
    loaded = load_model(tmp_path / "p.skops")
    memory = from_estimator(pipe)
    assert loaded.feature_names == memory.feature_names
    a = explain(loaded, align(loaded, X).X, customer_ids=np.arange(N))
    assert a == explain(memory, align(memory, X).X, customer_ids=np.arange(N))
    np.testing.assert_allclose(a.raw_score, pipe.decision_function(X), atol=1e-12)
