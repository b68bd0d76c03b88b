"""Issue 30: one data dictionary serves all the book's models.

The same config runs a raw-category LightGBM (``Geography``, ``Gender`` as categories) and a
one-hot drop-first XGBoost (``Geo_Germany``, ``Geo_Spain``, ``Gender_Male``) of the same book:
listed columns a model lacks are a note, validate and the run agree on what is mapped, encoded
levels read as the level in the dictionary's words, and the drop-first level is the entry's
``reference_level``.
"""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
import yaml

import churnlens
from churnlens import attribution
from churnlens.attribution.sources import declared_level
from churnlens.config import Config
from churnlens.reports import words
from churnlens.run.tasks import validate_inputs

N = 1_500
NUMERIC = ["Age", "Balance", "NumOfProducts"]
CONFIG = {
    "id_column": "customer_id",
    "label_column": "churned",
    "segmentation": {"stability_runs": 0},
    "features": {
        "Geography": {"label": {"en": "Country", "zh": "国家"}, "columns": ["Geo_Germany", "Geo_Spain"],
                      "reference_level": "France",
                      "values": {"France": {"en": "France", "zh": "法国"}, "Germany": {"en": "Germany", "zh": "德国"},
                                 "Spain": {"en": "Spain", "zh": "西班牙"}}},
        "Gender": {"label": {"en": "Gender", "zh": "性别"}, "columns": ["Gender_Male"], "reference_level": "Female",
                   "protected": True,
                   "values": {"Female": {"en": "Female", "zh": "女"}, "Male": {"en": "Male", "zh": "男"}}},
        "Age": {"label": {"en": "Age", "zh": "年龄"}},
        "Balance": {"label": {"en": "Balance", "zh": "余额"}},
        "NumOfProducts": {"label": {"en": "Products", "zh": "产品数"}},
    },
}


def _raw_book(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    geo = rng.choice(["France", "Germany", "Spain"], N, p=[0.5, 0.25, 0.25])
    gender = rng.choice(["Female", "Male"], N)
    frame = pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(N)],
        "Geography": geo, "Gender": gender,
        "Age": rng.integers(18, 80, N).astype(float),
        "Balance": np.round(rng.gamma(2.0, 40_000.0, N), 2),
        "NumOfProducts": rng.integers(1, 5, N).astype(float),
    })
    logit = -1.5 + 2.0 * (geo == "Germany") + 0.05 * (frame.Age - 45) + 1.0 * (frame.NumOfProducts >= 3)
    frame["churned"] = (rng.random(N) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def _one_hot(raw: pd.DataFrame) -> pd.DataFrame:
    enc = raw[["customer_id", *NUMERIC, "churned"]].copy()
    enc["Geo_Germany"] = (raw.Geography == "Germany").astype(float)
    enc["Geo_Spain"] = (raw.Geography == "Spain").astype(float)
    enc["Gender_Male"] = (raw.Gender == "Male").astype(float)
    return enc


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    d = tmp_path_factory.mktemp("dictionary")
    raw = _raw_book()
    enc = _one_hot(raw)
    X_raw = raw[["Geography", "Gender", *NUMERIC]].astype({"Geography": "category", "Gender": "category"})
    champion = lgb.train({"objective": "binary", "num_leaves": 8, "verbose": -1, "seed": 0, "num_threads": 1,
                          "min_data_per_group": 5, "cat_smooth": 1},
                         lgb.Dataset(X_raw, raw.churned), 30)
    champion.save_model(d / "champion.txt")
    cols = [*NUMERIC, "Geo_Germany", "Geo_Spain", "Gender_Male"]
    challenger = xgb.XGBClassifier(n_estimators=30, max_depth=3, random_state=0).fit(enc[cols], enc.churned)
    challenger.save_model(d / "challenger.json")
    raw.to_csv(d / "raw.csv", index=False)
    enc.to_csv(d / "encoded.csv", index=False)
    (d / "config.yaml").write_text(yaml.safe_dump(CONFIG, allow_unicode=True), encoding="utf-8")
    return d, raw, enc


def test_one_config_runs_both_models(book):
    d, raw, enc = book
    champion = churnlens.run(d / "champion.txt", raw, CONFIG)
    challenger = churnlens.run(d / "challenger.json", enc, CONFIG)
    s1, s2 = champion.sources, challenger.sources
    # the champion lacks the one-hot columns: noted, not refused
    assert s1.absent == (("Geography", "Geo_Germany"), ("Geography", "Geo_Spain"), ("Gender", "Gender_Male"))
    assert s1.undeclared == () and s2.undeclared == () and s2.absent == ()
    assert set(s1.sources) == set(s2.sources) == {"Geography", "Gender", *NUMERIC}
    assert dict(s2.reference_levels) == {"Geography": "France", "Gender": "Female"}
    levels = dict(zip(s2.columns, s2.levels))
    assert (levels["Geo_Germany"], levels["Geo_Spain"], levels["Gender_Male"]) == ("Germany", "Spain", "Male")

    # the one-hot columns decode to the raw table's own levels (France from the reference level)
    X = attribution.align(challenger.model, enc).X
    decoded = attribution.source_frame(X, s2)
    assert (decoded["Geography"].astype(str).to_numpy() == raw.Geography.to_numpy()).all()
    assert (decoded["Gender"].astype(str).to_numpy() == raw.Gender.to_numpy()).all()
    # both models find the planted Germany effect under the same source feature
    for run in (champion, challenger):
        assert run.drivers.drivers[0].feature in ("Geography", "Age")
        assert "Geography" in {d.feature for d in run.drivers.drivers[:3]}


def test_reasons_read_the_level_in_the_dictionary_words(book):
    d, raw, enc = book
    challenger = churnlens.run(d / "challenger.json", enc, CONFIG)
    cfg = challenger.config
    frame = challenger.retention_frame()
    text = frame.to_csv(index=False)
    assert "Geo_" not in text and "Gender" not in text  # Gender is protected: never a reason
    assert "Country: Germany" in text and "other" not in text
    assert words.reason_text("Geography", "Germany", cfg, "zh") == "国家：德国"
    assert words.reason_text("Geography", "France", cfg, "en") == "Country: France"
    germans = raw.Geography.to_numpy() == "Germany"
    reasons = challenger.attributions_frame()
    assert reasons["shap__Geography"].to_numpy()[germans[challenger.rows]].mean() > 0


def test_validate_agrees_with_the_run(book):
    d, _, _ = book
    out = validate_inputs(d / "challenger.json", d / "encoded.csv", d / "config.yaml")
    assert "no dictionary entry" not in out
    assert "scores: equal to xgboost's own predict_proba on 1,000 rows" in out and "all 30 trees used" in out
    out = validate_inputs(d / "champion.txt", d / "raw.csv", d / "config.yaml")
    assert "no dictionary entry" not in out
    assert "3 encoded column(s) listed in the dictionary are not columns of this model" in out
    assert "Geo_Germany (Geography)" in out


def test_declared_levels_strip_the_shared_prefix():
    assert declared_level("Geo_Germany", "Geography", ["Geo_Germany", "Geo_Spain"]) == "Germany"
    assert declared_level("Gender_Male", "Gender", ["Gender_Male"]) == "Male"
    assert declared_level("Gender_Male", "Sex", ["Gender_Male"]) == "Male"
    assert declared_level("cc.gold", "card", ["cc.gold", "cc.silver"]) == "gold"
    assert declared_level("Geography=Spain", "Geography", ["Geo_x"]) == "Spain"
    assert declared_level("male", "Sex", ["male", "female"]) == "male"  # no shared prefix: the name itself
