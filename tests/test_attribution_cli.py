"""Bad models and bad data through the command line: each gives its message and exit code 2.

Attributions that do not add up are an internal failure: exit code 1 and nothing written.
"""

from __future__ import annotations

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier

from churnlens import cli
from churnlens.attribution import explain, from_estimator
from churnlens.errors import AdditivityError

N = 300


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A real LightGBM model with a pandas categorical feature, its CSV and a few bad model files."""
    d = tmp_path_factory.mktemp("attr_cli")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "customer_id": [f"C{i:04d}" for i in range(N)],
        "logins": rng.poisson(5, N).astype(float),
        "region": pd.Categorical(rng.choice(["east", "north", "south"], N)),
        "aum": rng.lognormal(10, 1, N),
    })
    y = ((frame.logins < 3) | (frame.region == "east")).astype(int).to_numpy()
    X = frame[["logins", "region", "aum"]]
    params = {"verbose": -1, "num_leaves": 4, "min_data_per_group": 5, "seed": 0, "deterministic": True,
              "num_threads": 1}
    lgb.train({**params, "objective": "binary"}, lgb.Dataset(X, y), 10).save_model(d / "model.txt")
    lgb.train({**params, "objective": "multiclass", "num_class": 3}, lgb.Dataset(X, y + (frame.logins > 5)),
              3).save_model(d / "multiclass.txt")
    lgb.train({**params, "objective": "regression"}, lgb.Dataset(X, frame.aum.to_numpy()), 3).save_model(d / "regression.txt")
    numeric = frame[["logins", "aum"]]
    sio.dump(GradientBoostingRegressor(n_estimators=3, random_state=0).fit(numeric, frame.aum), d / "regressor.skops")
    sio.dump(RandomForestClassifier(n_estimators=3, random_state=0).fit(numeric, y), d / "forest.skops")
    joblib.dump(RandomForestClassifier(n_estimators=3, random_state=0).fit(numeric, y), d / "forest.joblib")
    frame.to_csv(d / "customers.csv", index=False)
    return d


def _run(argv, capsys) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _validate(model, data, capsys, *extra):
    return _run(["validate", "--model", model, "--data", data, *extra], capsys)


# --- bad model files ------------------------------------------------------------------------


def _text_file(d, name, text):
    (d / name).write_text(text, encoding="utf-8")
    return d / name


def _truncated(d):
    text = (d / "model.txt").read_text()
    return _text_file(d, "truncated.txt", text[: text.index("Tree=3")])  # cut at a tree boundary


def _edited(d):
    # a split on feature index 7 of a 3-feature model: LightGBM itself would crash the process
    lines = (d / "model.txt").read_text().split("\n")
    k = next(i for i, line in enumerate(lines) if line.startswith("split_feature="))
    lines[k] = "split_feature=7" + lines[k][len("split_feature=0"):]
    return _text_file(d, "edited.txt", "\n".join(lines))


def _corrupt_skops(d):
    data = (d / "forest.skops").read_bytes()
    (d / "corrupt.skops").write_bytes(data[: len(data) // 2])
    return d / "corrupt.skops"


BAD_MODELS = {
    "random text named model.txt": (lambda d: _text_file(d, "notes.txt", "hello, not a model\n"),
                                    r"notes\.txt is not in a supported format .*--model-format"),
    "multiclass LightGBM": (lambda d: d / "multiclass.txt",
                            r"objective 'multiclass.*3 output\(s\); churnlens explains binary churn classifiers"),
    "LightGBM regression": (lambda d: d / "regression.txt", r"objective 'regression'.*binary churn classifiers"),
    "scikit-learn regressor": (lambda d: d / "regressor.skops",
                               r"GradientBoostingRegressor, a regression model; churnlens explains binary"),
    "corrupt skops": (_corrupt_skops, r"corrupt\.skops is not a readable skops file"),
    "pickle without --trust-model": (lambda d: d / "forest.joblib",
                                     r"(?s)joblib/pickle file\. Loading a pickle runs arbitrary code.*skops\.io\.dump"
                                     r".*set --trust-model"),
    "truncated LightGBM text": (_truncated, r"truncated\.txt looks like a LightGBM text model but cannot be read: "
                                           r"the line 'end of trees' is missing"),
    "edited LightGBM text": (_edited, r"tree 0 splits on feature index 7, but the model has 3 features"),
    "JSON that is no model": (lambda d: _text_file(d, "dump.json", '{"name": "tree"}'),
                            r"dump\.json is not in a supported format \(found: unknown_json\)"),
}


@pytest.mark.parametrize("case", sorted(BAD_MODELS))
def test_bad_model_file_exits_2_with_its_message(case, inputs, capsys):
    make, message = BAD_MODELS[case]
    code, err = _validate(make(inputs), inputs / "customers.csv", capsys)
    assert code == 2, err
    assert err.startswith("churnlens: error: Model")
    assert pd.Series([err]).str.contains(message, regex=True).item(), err


def test_format_override_names_the_format_it_tried(inputs, capsys):
    code, err = _validate(inputs / "model.txt", inputs / "customers.csv", capsys, "--model-format", "xgboost")
    assert code == 2 and "model.txt is not a readable XGBoost model" in err
    assert "[bt]" not in err  # XGBoost's C++ stack trace is not shown
    code, err = _validate(inputs / "model.txt", inputs / "customers.csv", capsys, "--model-format", "skops")
    assert code == 2 and "model.txt is not a readable skops file" in err


def test_trusted_pickle_loads_and_report_refuses_untrusted_before_writing(inputs, tmp_path, capsys):
    code, _ = _validate(inputs / "forest.joblib", inputs / "customers.csv", capsys, "--trust-model")
    assert code == 0
    out = tmp_path / "report"
    code, err = _run(["report", "--model", inputs / "forest.joblib", "--data", inputs / "customers.csv",
                      "--out", out, "--format", "html", "--quiet"], capsys)
    assert code == 2 and "--trust-model" in err and not out.exists()


# --- bad data -------------------------------------------------------------------------------


def _bad_csv(d, name, edit):
    frame = pd.read_csv(d / "customers.csv", dtype={"customer_id": str})
    edit(frame)
    frame.to_csv(d / name, index=False)
    return d / name


def _set(frame, column, row, value):
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value


def test_unseen_category_exits_2_naming_column_and_values(inputs, tmp_path, capsys):
    data = _bad_csv(inputs, "unseen.csv", lambda f: _set(f, "region", 3, "west"))
    expected = ("unseen.csv does not fit the model (1 column(s)):\n  - column 'region': 1 category not seen in "
                "training: 'west' (1 row(s)); the model knows 'east', 'north', 'south'")
    code, err = _validate(inputs / "model.txt", data, capsys)
    assert code == 2 and expected in err
    # the report's chunked scan gives the same message, before anything is written
    out = tmp_path / "report"
    code, err = _run(["report", "--model", inputs / "model.txt", "--data", data, "--out", out, "--format", "html",
                      "--quiet"], capsys)
    assert code == 2 and expected in err and not out.exists()


def test_text_in_numeric_column_exits_2(inputs, capsys):
    data = _bad_csv(inputs, "text.csv", lambda f: _set(f, "logins", 5, "twelve"))
    code, err = _validate(inputs / "model.txt", data, capsys)
    assert code == 2
    assert "column 'logins': expected numbers, found text such as 'twelve' in 1 row(s)" in err


def test_every_bad_column_is_reported_in_one_message(inputs, capsys):
    def edit(f):
        _set(f, "logins", 5, "twelve")
        _set(f, "region", 7, "west")
        _set(f, "aum", 1, "lots")

    code, err = _validate(inputs / "model.txt", _bad_csv(inputs, "all_bad.csv", edit), capsys)
    assert code == 2 and "(3 column(s))" in err
    assert all(f"column '{c}'" in err for c in ("logins", "region", "aum"))


def test_missing_feature_column_exits_2(inputs, capsys):
    data = _bad_csv(inputs, "missing.csv", lambda f: f.pop("aum"))
    code, err = _validate(inputs / "model.txt", data, capsys)
    assert code == 2
    assert ("missing.csv is missing 1 column(s) the model needs: aum. Columns present: customer_id, logins, "
            "region") in err


def test_extra_columns_are_ignored_with_one_warning(inputs, capsys):
    def edit(f):
        f["notes"] = "x"
        f["branch"] = 1

    code = cli.main(["validate", "--model", str(inputs / "model.txt"), "--data",
                     str(_bad_csv(inputs, "extra.csv", edit))])
    out = capsys.readouterr().out
    assert code == 0
    warnings = [line for line in out.splitlines() if "warning:" in line]
    assert warnings == ["  warning: extra.csv: 2 column(s) not used by the model were ignored: notes, branch"]


def test_csv_category_strings_explain_like_the_training_frame(inputs, tmp_path, capsys):
    out = tmp_path / "a.parquet"
    code, _ = _run(["explain", "--model", inputs / "model.txt", "--data", inputs / "customers.csv", "--out", out,
                    "--quiet"], capsys)
    assert code == 0
    frame = pd.read_parquet(out)
    booster = lgb.Booster(model_file=str(inputs / "model.txt"))
    train = pd.read_csv(inputs / "customers.csv")
    train["region"] = pd.Categorical(train["region"], categories=["east", "north", "south"])
    contrib = booster.predict(train[["logins", "region", "aum"]], pred_contrib=True)
    np.testing.assert_allclose(frame[["shap__logins", "shap__region", "shap__aum"]].to_numpy(), contrib[:, :3],
                               atol=1e-6)


# --- additivity -----------------------------------------------------------------------------


def test_additivity_failure_exits_1_and_writes_nothing(inputs, tmp_path, capsys, monkeypatch):
    from churnlens.attribution._families import _LightGBM

    original = _LightGBM.contribs
    # a wrong base value (as from a model file whose trees do not match its header)
    monkeypatch.setattr(_LightGBM, "contribs", lambda self, est, M: (lambda p, b: (p, b + 0.01))(*original(self, est, M)))
    out = tmp_path / "a.parquet"
    code, err = _run(["explain", "--model", inputs / "model.txt", "--data", inputs / "customers.csv", "--out", out,
                      "--quiet"], capsys)
    assert code == 1
    assert err.startswith("churnlens: attribution check failed: Attributions do not add up to the model output "
                          "(rows 0-299): max |base + sum(attributions) - output| = 0.01")
    assert "do not raise the tolerance" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_additivity_is_checked_on_every_chunk(monkeypatch):
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    X.loc[350, "a"] = 99.0  # a marker in the fourth 100-row chunk only
    y = (X.a + rng.normal(size=400) > 0).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4, "seed": 0, "deterministic": True},
                        lgb.Dataset(X, y), 5)
    model = from_estimator(booster)
    fam = type(model._backend.family)
    original = fam.raw
    monkeypatch.setattr(fam, "raw", lambda self, est, M: original(self, est, M) + 1e-3 * (M[:, 0] == 99.0))
    with pytest.raises(AdditivityError, match=r"rows 300-399\): max .* = 0\.001 "):
        explain(model, X, customer_ids=np.arange(400), chunk_rows=100)
    monkeypatch.setattr(fam, "raw", original)
    a = explain(model, X, customer_ids=np.arange(400), chunk_rows=100)
    # stored as float32, the check ran on the float64 values before the cast
    assert a.values.dtype == np.float32 and a.additivity_max_error < 1e-12
    exact = booster.predict(X, pred_contrib=True)
    assert np.abs(exact[:, :2].astype(np.float32) - a.values).max() == 0.0
