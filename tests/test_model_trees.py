"""Issue 30: churnlens scores (and explains) the trees the model's owner scores with.

Early-stopped models of every family, saved and loaded as a bank would, are compared with the
library's own ``predict_proba``: scores, attribution sums, the model card facts, and the
score-parity check (which must stop a run whose scores are not the owner's).
"""

from __future__ import annotations

import dataclasses

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from scipy.special import expit
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier

from churnlens import attribution
from churnlens.attribution.parity import require_parity, sample_rows, score_parity
from churnlens.errors import ModelError

N = 3_000


def _book(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "Age": rng.integers(18, 80, N).astype(float),
        "Balance": np.round(rng.gamma(2.0, 40_000.0, N), 2),
        "NumOfProducts": rng.integers(1, 5, N).astype(float),
        "Tenure": rng.integers(0, 11, N).astype(float),
    })
    logit = 0.06 * (X.Age - 45) + 0.8 * (X.NumOfProducts >= 3) - 0.1 * X.Tenure
    # noisy labels: boosting overfits after a few rounds, so early stopping stops early
    y = (rng.random(N) < expit(logit + rng.normal(0, 1.5, N))).astype(int)
    return X, y


def _sums(model, X):
    attr = attribution.explain(model, X, customer_ids=np.arange(len(X)).astype(str), output_space="log_odds")
    return expit(attr.base_value + attr.values.astype(np.float64).sum(1)), attr


def test_xgboost_early_stopped_json_is_scored_at_its_best_iteration(tmp_path):
    X, y = _book()
    clf = xgb.XGBClassifier(n_estimators=300, learning_rate=0.5, max_depth=5, early_stopping_rounds=20,
                            random_state=0)
    clf.fit(X[:2000], y[:2000], eval_set=[(X[2000:], y[2000:])], verbose=False)
    path = tmp_path / "model.json"
    clf.save_model(path)
    owner = xgb.XGBClassifier()
    owner.load_model(path)
    expected = owner.predict_proba(X)[:, 1].astype(np.float64)
    booster = owner.get_booster()
    all_trees = booster.predict(xgb.DMatrix(X))
    assert booster.num_boosted_rounds() > clf.best_iteration + 1  # the file keeps the later rounds
    assert np.max(np.abs(all_trees - expected)) > 0.05  # and they change the score

    model = attribution.load_model(path)
    assert model.info.best_iteration == clf.best_iteration
    assert model.info.n_trees == clf.best_iteration + 1 == model.info.n_trees_used
    assert model.info.trees_in_file == booster.num_boosted_rounds()
    assert model.info.trees_dropped == model.info.trees_in_file - model.info.n_trees
    np.testing.assert_allclose(model.predict_proba(X), expected, atol=1e-6, rtol=0)
    sums, attr = _sums(model, X)
    np.testing.assert_allclose(sums, expected, atol=2e-5, rtol=0)
    np.testing.assert_allclose(attr.score, expected, atol=1e-6, rtol=0)

    parity = score_parity(model, X)
    assert parity.n_rows == 1000 and parity.precision == "float32" and parity.tolerance == 1e-6
    assert parity.passed and parity.max_abs_diff < 1e-6
    assert (parity.trees_used, parity.trees_in_file, parity.best_iteration) == (
        model.info.n_trees, model.info.trees_in_file, clf.best_iteration)
    # the cross-check reads the same trees: XGBoost's own pred_contribs on the kept trees
    check = attribution.cross_check(model, X[:200], attr.values[:200].astype(np.float64))
    assert check.passed


def test_validate_states_the_trees_and_the_parity(tmp_path):
    from churnlens.run.tasks import validate_inputs

    X, y = _book(5)
    clf = xgb.XGBClassifier(n_estimators=300, learning_rate=0.5, max_depth=5, early_stopping_rounds=20,
                            random_state=0)
    clf.fit(X[:2000], y[:2000], eval_set=[(X[2000:], y[2000:])], verbose=False)
    clf.save_model(tmp_path / "model.json")
    rounds = clf.get_booster().num_boosted_rounds()
    frame = X.assign(customer_id=[f"C{i}" for i in range(N)], churned=y)
    frame.to_csv(tmp_path / "customers.csv", index=False)
    (tmp_path / "config.yaml").write_text("id_column: customer_id\nlabel_column: churned\n", encoding="utf-8")
    out = validate_inputs(tmp_path / "model.json", tmp_path / "customers.csv", tmp_path / "config.yaml")
    assert f"{clf.best_iteration + 1} trees" in out.splitlines()[0]
    assert "scores: equal to xgboost's own predict_proba on 1,000 rows" in out
    assert f"{clf.best_iteration + 1} of the {rounds} trees stored are used (best_iteration {clf.best_iteration}" in out


def test_parity_stops_a_model_scored_with_all_its_trees(tmp_path):
    X, y = _book(1)
    clf = xgb.XGBClassifier(n_estimators=300, learning_rate=0.5, max_depth=5, early_stopping_rounds=20,
                            random_state=0)
    clf.fit(X[:2000], y[:2000], eval_set=[(X[2000:], y[2000:])], verbose=False)
    path = tmp_path / "model.json"
    clf.save_model(path)
    model = attribution.load_model(path)
    b = model._backend
    broken = dataclasses.replace(model, _backend=dataclasses.replace(b, estimator=b.owner))  # the old behaviour
    parity = score_parity(broken, X)
    assert not parity.passed and parity.max_abs_diff > 0.05
    with pytest.raises(ModelError, match="differ from the model library's own predict_proba") as err:
        require_parity(parity)
    assert err.value.argument == "model" and f"row {parity.worst_row}" in str(err.value)
    assert require_parity(score_parity(model, X)).passed


def test_lightgbm_booster_kept_after_early_stopping_is_cut_at_best_iteration(tmp_path):
    X, y = _book(2)
    train, valid = lgb.Dataset(X[:2000], y[:2000]), lgb.Dataset(X[2000:], y[2000:])
    params = {"objective": "binary", "learning_rate": 0.5, "num_leaves": 31, "verbose": -1, "seed": 0}
    bst = lgb.train(params, train, 300, valid_sets=[valid], keep_training_booster=True,
                    callbacks=[lgb.early_stopping(20, verbose=False)])
    assert 0 < bst.best_iteration < bst.current_iteration()
    expected = bst.predict(X)  # the owner's prediction: best_iteration
    assert np.max(np.abs(bst.predict(X, num_iteration=-1) - expected)) > 0.05
    model = attribution.from_estimator(bst)
    assert model.info.best_iteration == bst.best_iteration == model.info.n_trees
    assert model.info.trees_in_file == bst.num_trees()
    np.testing.assert_allclose(model.predict_proba(X), expected, atol=1e-12, rtol=0)
    sums, attr = _sums(model, X)
    np.testing.assert_allclose(sums, expected, atol=2e-5, rtol=0)
    parity = score_parity(model, X)
    assert parity.passed and parity.tolerance == 1e-9 and parity.precision == "float64"
    assert attribution.cross_check(model, X[:200], attr.values[:200].astype(np.float64)).passed

    # LGBMClassifier with early stopping, saved as text: the file holds the best iteration only
    clf = lgb.LGBMClassifier(n_estimators=300, learning_rate=0.5, verbose=-1, random_state=0)
    clf.fit(X[:2000], y[:2000], eval_set=[(X[2000:], y[2000:])], callbacks=[lgb.early_stopping(20, verbose=False)])
    path = tmp_path / "model.txt"
    clf.booster_.save_model(path)
    model = attribution.load_model(path)
    assert model.info.n_trees == clf.best_iteration_ == model.info.trees_in_file
    np.testing.assert_allclose(model.predict_proba(X), clf.predict_proba(X)[:, 1], atol=1e-12, rtol=0)
    assert score_parity(model, X).passed


@pytest.mark.parametrize("kind", ["gbm", "hgb"])
def test_sklearn_early_stopped_models_score_as_predict_proba(tmp_path, kind):
    import skops.io as sio

    X, y = _book(3)
    if kind == "gbm":
        est = GradientBoostingClassifier(n_estimators=300, learning_rate=0.5, max_depth=4, n_iter_no_change=5,
                                         validation_fraction=0.3, random_state=0).fit(X, y)
        fitted = est.n_estimators_
    else:
        est = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.5, early_stopping=True,
                                             n_iter_no_change=5, validation_fraction=0.3, random_state=0).fit(X, y)
        fitted = est.n_iter_
    assert fitted < 300  # early stopping stopped it
    path = tmp_path / "model.skops"
    sio.dump(est, path)
    model = attribution.load_model(path)
    assert model.info.n_trees == fitted == model.info.trees_in_file == model.info.best_iteration
    expected = est.predict_proba(X)[:, 1]
    np.testing.assert_allclose(model.predict_proba(X), expected, atol=1e-12, rtol=0)
    sums, _ = _sums(model, X)
    np.testing.assert_allclose(sums, expected, atol=2e-5, rtol=0)
    parity = score_parity(model, X)
    assert parity.passed and parity.max_abs_diff < 1e-12 and parity.best_iteration == fitted


def test_models_without_early_stopping_state_none():
    X, y = _book(4)
    model = attribution.from_estimator(xgb.XGBClassifier(n_estimators=10, random_state=0).fit(X, y))
    assert model.info.best_iteration is None and model.info.trees_in_file == model.info.n_trees == 10
    model = attribution.from_estimator(GradientBoostingClassifier(n_estimators=7, random_state=0).fit(X, y))
    assert model.info.best_iteration is None and model.info.n_trees == 7


def test_parity_sample_is_deterministic_and_covers_small_tables():
    assert list(sample_rows(5)) == [0, 1, 2, 3, 4]
    pos = sample_rows(10_000)
    assert len(pos) == len(np.unique(pos)) == 1000 and pos[0] == 0 and pos[-1] == 9_999
    assert np.array_equal(pos, sample_rows(10_000))


def test_model_card_states_the_trees_used(tmp_path):
    import html

    import churnlens

    X, y = _book(6)
    clf = xgb.XGBClassifier(n_estimators=300, learning_rate=0.5, max_depth=5, early_stopping_rounds=20,
                            random_state=0)
    clf.fit(X[:2000], y[:2000], eval_set=[(X[2000:], y[2000:])], verbose=False)
    clf.save_model(tmp_path / "model.json")
    rounds = clf.get_booster().num_boosted_rounds()
    frame = X.assign(customer_id=[f"C{i}" for i in range(N)])
    run = churnlens.run(tmp_path / "model.json", frame, {"id_column": "customer_id",
                                                          "segmentation": {"stability_runs": 0}})
    owner = xgb.XGBClassifier()
    owner.load_model(tmp_path / "model.json")
    np.testing.assert_allclose(run.scores.to_numpy(), owner.predict_proba(X)[:, 1], atol=1e-6, rtol=0)
    for lang, expected in (("en", f"{clf.best_iteration + 1} used of the {rounds} stored in the file"),
                           ("zh", f"文件中共 {rounds} 棵树，使用其中 {clf.best_iteration + 1} 棵")):
        run.write(tmp_path / f"out_{lang}", lang=lang, formats="html", generated_at="2026-12-01T00:00:00+00:00")
        page = html.unescape((tmp_path / f"out_{lang}" / "dossier.html").read_text(encoding="utf-8"))
        assert expected in page
        assert "iteration_range" in page
