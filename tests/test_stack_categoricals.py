"""Native categoricals: XGBoost (levels from the model, else the dictionary) and
HistGradientBoosting categorical_features, explained exactly from CSV text."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

xgb = pytest.importorskip("xgboost")
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402

from churnlens import attribution  # noqa: E402
from churnlens.config import parse_config  # noqa: E402
from churnlens.errors import DataError, ModelError  # noqa: E402

REGIONS = ["华东", "华北", "华南", "西部"]  # sorted, as pandas orders categories


def _book(n=300, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"logins": rng.poisson(4, n).astype(float),  # numeric first: HGB reorders columns
                       "region": pd.Categorical(rng.choice(REGIONS, n)),
                       "tier": pd.Categorical(rng.choice(["basic", "gold", "silver"], n))})
    df.loc[:9, "logins"] = np.nan
    y = (df.region.isin(["华东", "西部"]) ^ (df.logins > 4) | (df.tier == "gold")).astype(int)
    return df, y


def _as_csv(df):
    """What a CSV reader gives: text columns, with one level the model never saw."""
    csv = df.astype({"region": "str", "tier": "str"})
    csv.loc[12, "region"] = "东北"
    return csv


# --- an independent oracle: path-dependent TreeSHAP by enumerating feature subsets ----------

def _cond(nodes, bitsets, x, S, i=0):
    nd = nodes[i]
    if nd["is_leaf"]:
        return float(nd["value"])
    f = int(nd["feature_idx"])
    if f in S:
        v = x[f]
        if np.isnan(v):
            left = bool(nd["missing_go_to_left"])
        elif nd["is_categorical"]:
            word = bitsets[nd["bitset_idx"]][int(v) // 32]
            left = bool((int(word) >> (int(v) % 32)) & 1)
        else:
            left = v <= nd["num_threshold"]
        return _cond(nodes, bitsets, x, S, int(nd["left"] if left else nd["right"]))
    lo, hi = int(nd["left"]), int(nd["right"])
    return (nodes[lo]["count"] * _cond(nodes, bitsets, x, S, lo)
            + nodes[hi]["count"] * _cond(nodes, bitsets, x, S, hi)) / nd["count"]


def _brute_shap(est, M):
    """Attributions in input column order; HGB's trees see categorical columns first."""
    perm = np.r_[np.flatnonzero(est.is_categorical_), np.flatnonzero(~est.is_categorical_)]
    M = M[:, perm]
    trees = [(p.nodes, p.raw_left_cat_bitsets) for it in est._predictors for p in it]
    f = M.shape[1]
    out = np.zeros_like(M)
    for r, x in enumerate(M):
        v = {S: sum(_cond(n, b, x, set(S)) for n, b in trees)
             for k in range(f + 1) for S in itertools.combinations(range(f), k)}
        for j in range(f):
            for S in v:
                if j in S:
                    continue
                w = math.factorial(len(S)) * math.factorial(f - len(S) - 1) / math.factorial(f)
                out[r, j] += w * (v[tuple(sorted(S + (j,)))] - v[S])
    back = np.empty_like(out)
    back[:, perm] = out
    return back


def test_hist_gbm_categorical_exact_from_csv_text():
    df, y = _book()
    est = HistGradientBoostingClassifier(max_iter=8, max_depth=3, categorical_features="from_dtype",
                                         random_state=0).fit(df, y)
    model = attribution.from_estimator(est)
    aligned = attribution.align(model, _as_csv(df))
    assert aligned.warnings == ("column 'region': 1 row(s) with 1 category not seen in training ('东北') are "
                                "treated as missing values, as the model itself does",)
    assert aligned.X["region"].isna().sum() == 1 and list(aligned.X["region"].cat.categories) == REGIONS
    # same probabilities as the model on its own pandas input (unknown level -> missing there too)
    native = df.copy()
    native["region"] = native["region"].cat.add_categories(["东北"])
    native.loc[12, "region"] = "东北"
    np.testing.assert_allclose(model.predict_proba(aligned.X), est.predict_proba(native)[:, 1], rtol=1e-12)
    attr = attribution.explain(model, aligned.X, customer_ids=np.arange(len(df)))
    assert attr.additivity_max_error < 1e-9
    M = attribution.model.encode(model, aligned.X.iloc[:25])
    np.testing.assert_allclose(attr.values[:25], _brute_shap(est, M), atol=2e-6)
    # the planted effect: region carries attribution
    assert np.abs(attr.values[:, 1]).mean() > 0.05


def test_hist_gbm_integer_coded_categorical_exact():
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"x": rng.normal(size=300), "products": rng.integers(1, 5, 300).astype(float)})
    y = ((X.products == 3) ^ (X.x > 0)).astype(int)
    est = HistGradientBoostingClassifier(max_iter=5, max_depth=3, categorical_features=[1]).fit(X, y)
    model = attribution.from_estimator(est)
    attr = attribution.explain(model, attribution.align(model, X).X, customer_ids=np.arange(300))
    np.testing.assert_allclose(attr.raw_score, est.decision_function(X), atol=1e-12)
    M = attribution.model.encode(model, attribution.align(model, X.iloc[:20]).X)
    np.testing.assert_allclose(attr.values[:20], _brute_shap(est, M), atol=2e-6)


def test_hist_gbm_text_categories_with_many_levels_are_explained_and_cross_checked():
    """30 text levels (beyond shap's 23-level reach): churnlens' own TreeSHAP reads the bitsets
    exactly, and the cross-check (Algorithm 2) agrees."""
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"branch": pd.Categorical([f"B{i:02d}" for i in rng.integers(0, 30, 400)]),
                       "x": rng.normal(size=400)})
    y = (df.x + (df.branch.cat.codes % 3 == 0) > 0.5).astype(int)
    est = HistGradientBoostingClassifier(max_iter=6, categorical_features="from_dtype", random_state=0).fit(df, y)
    model = attribution.from_estimator(est)
    X = attribution.align(model, df).X
    attr = attribution.explain(model, X, customer_ids=np.arange(len(df)))
    np.testing.assert_allclose(attr.raw_score, est.decision_function(df), atol=1e-12)
    assert attr.additivity_max_error < 1e-9
    check = attribution.cross_check(model, X.iloc[:50], attr.values[:50].astype(np.float64))
    assert check.passed and check.max_abs_diff < 1e-6


def _xgb(df, y):
    return xgb.XGBClassifier(n_estimators=8, max_depth=3, enable_categorical=True, tree_method="hist", n_jobs=1,
                             random_state=0).fit(df, y)


def test_xgboost_categories_from_the_model_file(tmp_path):
    df, y = _book()
    df = df.assign(region=df.region.cat.rename_categories(["east", "north", "south", "west"]))
    clf = _xgb(df, y)
    clf.get_booster().save_model(tmp_path / "model.json")
    model = attribution.load_model(tmp_path / "model.json")
    cols = {c.name: c.categories for c in model._backend.columns}
    assert cols == {"logins": None, "region": ("east", "north", "south", "west"), "tier": ("basic", "gold", "silver")}
    csv = df.astype({"region": "str", "tier": "str"})
    aligned = attribution.align(model, csv)
    attr = attribution.explain(model, aligned.X, customer_ids=np.arange(len(df)))
    # XGBoost's own contributions, computed on its own pandas input (it maps the categories itself)
    own = clf.get_booster().predict(xgb.DMatrix(df, enable_categorical=True), pred_contribs=True)
    np.testing.assert_allclose(attr.values, own[:, :-1], atol=1e-5)
    assert attr.base_value == pytest.approx(float(own[0, -1]), abs=1e-6)


def test_xgboost_chinese_levels_from_the_dictionary():
    df, y = _book()
    clf = _xgb(df, y)
    csv = _as_csv(df)
    with pytest.raises(DataError, match=r"column 'region' is categorical in the model, but the model file does not "
                                        r"store its categories.*features\.region\.values"):
        attribution.align(attribution.from_estimator(clf), csv)
    config = parse_config({"features": {"region": {"label": {"en": "Region", "zh": "地区"},
                                                   "values": {r: {"en": r, "zh": r} for r in REGIONS}}}})
    model = attribution.model.with_levels(attribution.from_estimator(clf), config.levels())
    aligned = attribution.align(model, csv)
    assert "1 row(s) with 1 category not seen in training ('东北')" in aligned.warnings[0]
    attr = attribution.explain(model, aligned.X, customer_ids=np.arange(len(df)))
    # Reference: XGBoost's own contributions from its own pandas input, on a twin trained on the
    # same codes with ASCII names (XGBoost 3.2 mis-stores Chinese category text, so its pandas
    # path cannot be the reference for the Chinese model itself).
    ascii_df = df.assign(region=df.region.cat.rename_categories(["e", "n", "s", "w"]))
    twin = _xgb(ascii_df, y)
    ascii_df.loc[12, "region"] = np.nan  # XGBoost treats an unknown category as missing
    own = twin.get_booster().predict(xgb.DMatrix(ascii_df, enable_categorical=True), pred_contribs=True)
    np.testing.assert_allclose(attr.values, own[:, :-1], atol=1e-5)
    cc = attribution.cross_check(model, aligned.X.iloc[:40], attr.values[:40].astype(float))
    assert cc.max_abs_diff < 1e-5 and "pred_contribs" in cc.reference


def test_cli_xgboost_chinese_categories_via_config_values(tmp_path, capsys):
    from churnlens import cli

    df, y = _book()
    _xgb(df, y).get_booster().save_model(tmp_path / "model.ubj")
    data = df.astype({"region": "str", "tier": "str"}).assign(customer_id=[f"{i:06d}" for i in range(len(df))])
    data.to_csv(tmp_path / "book.csv", index=False, encoding="gb18030")
    args = ["validate", "--model", str(tmp_path / "model.ubj"), "--data", str(tmp_path / "book.csv"),
            "--encoding", "gb18030"]
    assert cli.main(args) == 2
    assert "features.region.values" in capsys.readouterr().err
    values = "".join(f"      {r}: {{en: {r}, zh: {r}}}\n" for r in REGIONS)
    (tmp_path / "c.yaml").write_text("features:\n  region:\n    label: {en: Region, zh: 地区}\n    values:\n" + values,
                                     encoding="utf-8")
    assert cli.main(args + ["--config", str(tmp_path / "c.yaml")]) == 0
    assert "OK: model.ubj (xgboost" in capsys.readouterr().out


def test_report_with_hist_gbm_categories_from_a_gbk_file(tmp_path, capsys):
    import json

    import skops.io as sio

    from churnlens import cli

    df, y = _book(400)
    est = HistGradientBoostingClassifier(max_iter=8, max_depth=3, categorical_features="from_dtype",
                                         random_state=0).fit(df, y)
    sio.dump(est, tmp_path / "hgb.skops")
    data = _as_csv(df).assign(customer_id=[f"{i:07d}" for i in range(len(df))], churned=y)
    data.to_csv(tmp_path / "book.csv", index=False, encoding="gbk")
    (tmp_path / "c.yaml").write_text("label_column: churned\nsegmentation: {stability_runs: 0}\n", encoding="utf-8")
    out = tmp_path / "rep"
    code = cli.main(["report", "--model", str(tmp_path / "hgb.skops"), "--data", str(tmp_path / "book.csv"),
                     "--encoding", "gbk", "--config", str(tmp_path / "c.yaml"), "--out", str(out), "--format",
                     "html", "--generated-at", "2026-11-30T08:00:00+00:00"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "1 row(s) with 1 category not seen in training ('东北')" in err
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["attribution"]["additivity_max_error"] < 1e-6
    assert manifest["attribution"]["cross_check"]["max_abs_diff"] < 1e-5
    assert "Algorithm 2" in manifest["attribution"]["cross_check"]["reference"]  # independent of the numba kernels
