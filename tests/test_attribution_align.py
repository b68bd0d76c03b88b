"""Aligning customer tables (CSV strings, column order, dtypes) with the model."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from churnlens.attribution import align, explain, load_model
from churnlens.errors import DataError

N = 600
REGIONS = ["north", "south", "east", "west"]


@pytest.fixture(scope="module")
def cat_model(tmp_path_factory):
    rng = np.random.default_rng(11)
    X = pd.DataFrame({
        "balance": rng.lognormal(8, 1, N),
        "region": pd.Categorical(rng.choice(REGIONS, N), categories=REGIONS),
        "logins": rng.poisson(4, N).astype(float),
        "tier": pd.Categorical(rng.choice([1, 2, 3], N), categories=[1, 2, 3]),
    })
    X.loc[::13, "region"] = np.nan
    logit = 1.2 * (X.region == "east") - 0.4 * X.logins + 1 + 0.5 * (X.tier == 3)
    y = (rng.random(N) < 1 / (1 + np.exp(-logit))).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 7, "min_data_per_group": 5, "cat_smooth": 1,
                         "verbose": -1, "seed": 0}, lgb.Dataset(X, y), 25)
    d = tmp_path_factory.mktemp("cat")
    booster.save_model(d / "m.txt")
    csv = d / "book.csv"
    X.assign(customer_id=np.arange(N)).iloc[:, ::-1].to_csv(csv, index=False)  # reversed column order
    return booster, load_model(d / "m.txt"), X, csv


def test_csv_strings_give_same_predictions_and_attributions(cat_model):
    booster, model, X, csv = cat_model
    data = pd.read_csv(csv)
    assert not pd.api.types.is_numeric_dtype(data["region"])  # pandas 3: text is the str dtype
    aligned = align(model, data, source="book.csv")
    assert list(aligned.X.columns) == ["balance", "region", "logins", "tier"]
    assert list(aligned.X["region"].cat.categories) == REGIONS
    assert aligned.ignored_columns == ("customer_id",)
    assert aligned.warnings == ("book.csv: 1 column(s) not used by the model were ignored: customer_id",)
    np.testing.assert_array_equal(model.predict_raw(aligned.X), booster.predict(X, raw_score=True))
    from_csv = explain(model, aligned.X, customer_ids=data["customer_id"])
    in_memory = explain(model, X, customer_ids=np.arange(N))
    assert from_csv == in_memory
    np.testing.assert_allclose(in_memory.values, booster.predict(X, pred_contrib=True)[:, :-1], atol=1e-7)


def test_missing_column_names_file_and_columns(cat_model):
    _, model, X, _ = cat_model
    with pytest.raises(DataError, match=r"book\.csv is missing 1 column\(s\) the model needs: logins\. "
                                         r"Columns present: balance, region, tier"):
        align(model, X.drop(columns="logins"), source="book.csv")


def test_unseen_category_and_text_in_numeric_reported_together(cat_model):
    _, model, X, _ = cat_model
    bad = X.astype({"region": object, "balance": object}).copy()
    bad.loc[3, "region"] = "central"
    bad.loc[5, "balance"] = "n/a"
    bad.loc[6, "balance"] = "n/a"
    with pytest.raises(DataError, match=r"(?s)book\.csv does not fit the model \(2 column\(s\)\).*"
                                         r"'balance': expected numbers, found text such as 'n/a' in 2 row\(s\).*"
                                         r"'region': 1 category not seen in training: 'central' \(1 row\(s\)\)"):
        align(model, bad, source="book.csv")


def test_numeric_category_codes_from_csv(cat_model):
    _, model, X, _ = cat_model
    data = X.astype({"region": str, "tier": "int64"})
    data.loc[X.region.isna(), "region"] = np.nan
    aligned = align(model, data)
    assert list(aligned.X["tier"].cat.categories) == [1, 2, 3]
    np.testing.assert_array_equal(aligned.X["tier"].cat.codes, X["tier"].cat.codes)
    with pytest.raises(DataError, match=r"'tier': 1 category not seen in training: 7"):
        align(model, data.assign(tier=7))


def test_pipeline_categories_from_encoders(tmp_path):
    rng = np.random.default_rng(5)
    X = pd.DataFrame({"city": rng.choice(["A", "B", "C"], N), "plan": rng.choice(["basic", "gold"], N),
                      "age": rng.integers(18, 80, N).astype(float)})
    y = ((X.city == "C") ^ (rng.random(N) < 0.2)).astype(int)
    pipe = Pipeline([("pre", ColumnTransformer([
        ("oh", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ("ord", OrdinalEncoder(), ["plan"]),
    ], remainder="passthrough")), ("m", HistGradientBoostingClassifier(max_iter=10))]).fit(X, y)
    sio.dump(pipe, tmp_path / "p.skops")
    model = load_model(tmp_path / "p.skops")
    new = X.copy()
    new.loc[0, "city"] = "Z"  # the one-hot encoder ignores unknown cities: a warning, not an error
    aligned = align(model, new, source="new.csv")
    assert any("'city': 1 category not seen in training ('Z')" in w for w in aligned.warnings)
    np.testing.assert_allclose(model.predict_proba(aligned.X), pipe.predict_proba(new)[:, 1], atol=1e-12)
    new.loc[1, "plan"] = "platinum"  # the ordinal encoder raises on unknowns: a data error
    with pytest.raises(DataError, match=r"'plan': 1 category not seen in training: 'platinum'"):
        align(model, new, source="new.csv")


def test_lightgbm_json_dump_with_categories_matches_text_model(cat_model, tmp_path):
    import json

    booster, text_model, X, csv = cat_model
    (tmp_path / "m.json").write_text(json.dumps(booster.dump_model()))
    json_model = load_model(tmp_path / "m.json")
    assert json_model.info.format == "lightgbm_json"
    data = pd.read_csv(csv)
    a_json = explain(json_model, align(json_model, data).X, customer_ids=data["customer_id"])
    a_text = explain(text_model, align(text_model, data).X, customer_ids=data["customer_id"])
    assert a_json == a_text
