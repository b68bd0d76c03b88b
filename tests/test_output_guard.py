"""One output guard for every command (issue 32): no command writes over an input, into an input
dataset, or over a file churnlens did not write; staging names fit any legal folder name."""

from __future__ import annotations

import hashlib
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from churnlens import cli

FEATURES = ["logins", "complaints", "tenure"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("guard")
    rng = np.random.default_rng(1)
    n = 200
    frame = pd.DataFrame({"customer_id": [f"{i:06d}" for i in range(n)], "logins": rng.poisson(5, n).astype(float),
                          "complaints": rng.poisson(0.4, n).astype(float), "tenure": rng.integers(1, 99, n).astype(float)})
    frame["churned"] = ((frame.logins < 4) | (frame.complaints > 1)).astype(int)
    lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4, "num_threads": 1, "seed": 0},
              lgb.Dataset(frame[FEATURES], frame.churned), num_boost_round=5).save_model(root / "model.txt")
    frame.to_parquet(root / "book.parquet")
    lake = root / "lake"
    lake.mkdir()
    frame.iloc[:100].to_parquet(lake / "part-0.parquet")
    frame.iloc[100:].to_parquet(lake / "part-1.parquet")
    (root / "config.yaml").write_text("label_column: churned\nchurners: {by: label}\nsegmentation: {stability_runs: 0}\n",
                                      encoding="utf-8")
    return root


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.err


def test_explain_out_equal_to_data_is_refused_and_data_kept(inputs, capsys):
    before = _digest(inputs / "book.parquet")
    code, err = _run(["explain", "--model", inputs / "model.txt", "--data", inputs / "book.parquet",
                      "--out", inputs / "book.parquet", "--quiet"], capsys)
    assert code == 2 and "is an input of this run" in err
    assert _digest(inputs / "book.parquet") == before


def test_explain_out_over_a_users_parquet_is_refused_but_own_file_replaced(inputs, tmp_path, capsys):
    mine = tmp_path / "my_scores.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(mine)
    before = _digest(mine)
    argv = ["explain", "--model", inputs / "model.txt", "--data", inputs / "book.parquet", "--quiet"]
    code, err = _run([*argv, "--out", mine], capsys)
    assert code == 2 and "not written by churnlens" in err and _digest(mine) == before
    own = tmp_path / "attr.parquet"
    assert _run([*argv, "--out", own], capsys)[0] == 0
    assert _run([*argv, "--out", own], capsys)[0] == 0  # churnlens's own file: replaced
    (tmp_path / "text.parquet").write_text("not parquet")
    code, err = _run([*argv, "--out", tmp_path / "text.parquet"], capsys)
    assert code == 2 and "not written by churnlens" in err


def test_explain_out_inside_the_input_dataset_is_refused(inputs, capsys):
    code, err = _run(["explain", "--model", inputs / "model.txt", "--data", inputs / "lake",
                      "--out", inputs / "lake" / "attr.parquet", "--quiet"], capsys)
    assert code == 2 and "inside the input folder" in err
    assert sorted(p.name for p in (inputs / "lake").iterdir()) == ["part-0.parquet", "part-1.parquet"]


def test_segment_and_evaluate_out_inside_or_equal_to_an_input_are_refused(inputs, tmp_path, capsys):
    attr = tmp_path / "attr.parquet"
    assert _run(["explain", "--model", inputs / "model.txt", "--data", inputs / "book.parquet", "--out", attr,
                 "--quiet"], capsys)[0] == 0
    code, err = _run(["evaluate", "--model", inputs / "model.txt", "--data", inputs / "lake", "--config",
                      inputs / "config.yaml", "--out", inputs / "lake" / "eval", "--format", "html", "--quiet"], capsys)
    assert code == 2 and "inside the input folder" in err
    assert not (inputs / "lake" / "eval").exists()
    code, err = _run(["segment", "--attributions", attr, "--out", attr, "--quiet"], capsys)
    assert code == 2 and "is an input of this run" in err


def test_staging_names_fit_a_250_character_out_name(inputs, tmp_path):
    from churnlens.io.atomic import aside_prefix, staged_folder

    target = tmp_path / ("r" * 250)
    assert len(aside_prefix(target, "partial")) + 8 <= 255
    assert aside_prefix(target, "partial") != aside_prefix(tmp_path / ("r" * 249 + "s"), "partial")
    with staged_folder(target, kind="segments") as staging:
        (staging / "x.txt").write_text("x")
        from churnlens.io.atomic import write_manifest

        write_manifest(staging, "segments", {})
    assert (target / "x.txt").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no staging folder left


def test_report_into_a_parquet_dataset_is_refused(inputs, tmp_path, capsys):
    from churnlens.io.atomic import staged_folder
    from churnlens.errors import OutputFolderError

    with pytest.raises(OutputFolderError, match="inside the input folder"):
        with staged_folder(inputs / "lake" / "2026-11", kind="report", keep=[inputs / "lake", inputs / "model.txt"]):
            pass
    assert not (inputs / "lake" / "2026-11").exists()


def test_zero_tree_xgboost_model_is_refused_not_a_crash(inputs, tmp_path, capsys):
    """A 0-tree XGBoost model crashed the interpreter (SIGSEGV in the TreeSHAP plan): refused at load."""
    xgb = pytest.importorskip("xgboost")
    frame = pd.read_parquet(inputs / "book.parquet")
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(frame[FEATURES], frame.churned),
                        num_boost_round=0)
    booster.save_model(tmp_path / "x0.json")
    code, err = _run(["explain", "--model", tmp_path / "x0.json", "--data", inputs / "book.parquet",
                      "--out", tmp_path / "a.parquet", "--quiet"], capsys)
    assert code == 2 and "holds no trees" in err


def test_treeshap_plan_of_an_empty_forest_raises_instead_of_crashing():
    from churnlens.attribution.treeshap.build import from_tree_arrays
    from churnlens.attribution.treeshap.forest import _make_plan

    with pytest.raises(ValueError, match="without trees"):
        _make_plan(from_tree_arrays([], n_features=3))
