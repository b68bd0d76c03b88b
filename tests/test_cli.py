"""CLI contract (--help of each command: tests/test_cli_help.py): exit codes and messages for bad input, nothing half-written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from churnlens import cli

ROOT = Path(__file__).resolve().parents[1]


def test_python_cli_py_runs_as_script():
    proc = subprocess.run([sys.executable, str(ROOT / "cli.py"), "validate", "--help"], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0 and "--model" in proc.stdout


@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory):
    """A tiny real LightGBM model, its customer table and a config."""
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "logins": rng.poisson(5, n).astype(float),
        "complaints": rng.poisson(0.3, n).astype(float),
        "aum": rng.lognormal(10, 1, n),
    })
    y = ((frame.logins < 3) | (frame.complaints > 1)).astype(int)
    frame["churned"] = y
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4, "deterministic": True,
                         "num_threads": 1, "seed": 0},
                        lgb.Dataset(frame[["logins", "complaints", "aum"]], y), num_boost_round=10)
    booster.save_model(d / "model.txt")
    frame.to_csv(d / "customers.csv", index=False)
    (d / "config.yaml").write_text("id_column: customer_id\nlabel_column: churned\nvalue_column: aum\n")
    return d


def _run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_missing_model_file_exits_2_and_writes_nothing(small_inputs, tmp_path, capsys):
    out = tmp_path / "report"
    code, err = _run(["report", "--model", tmp_path / "nope.txt", "--data", small_inputs / "customers.csv",
                      "--out", out, "--quiet"], capsys)
    assert code == 2
    assert "nope.txt does not exist" in err and "--model" in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_data_file_exits_2(small_inputs, tmp_path, capsys):
    out = tmp_path / "report"
    code, err = _run(["report", "--model", small_inputs / "model.txt", "--data", tmp_path / "missing.csv",
                      "--out", out, "--quiet"], capsys)
    assert code == 2
    assert "missing.csv does not exist" in err
    assert list(tmp_path.iterdir()) == []


def test_unreadable_config_exits_2(small_inputs, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("features: [unclosed\n")
    out = tmp_path / "report"
    code, err = _run(["report", "--model", small_inputs / "model.txt", "--data", small_inputs / "customers.csv",
                      "--config", bad, "--out", out, "--quiet"], capsys)
    assert code == 2
    assert "bad.yaml is not readable YAML" in err
    assert not out.exists()


def test_invalid_config_key_names_the_key(small_inputs, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("churners: {by: score, threshold: 7}\n")
    code, err = _run(["validate", "--model", small_inputs / "model.txt", "--data", small_inputs / "customers.csv",
                      "--config", bad], capsys)
    assert code == 2
    assert "churners.threshold" in err and "7" in err


def test_model_features_absent_from_data_exits_2(small_inputs, tmp_path, capsys):
    frame = pd.read_csv(small_inputs / "customers.csv").drop(columns=["logins"])
    data = tmp_path / "customers.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "report"
    code, err = _run(["report", "--model", small_inputs / "model.txt", "--data", data,
                      "--config", small_inputs / "config.yaml", "--out", out, "--quiet"], capsys)
    assert code == 2
    assert "logins" in err and "customers.csv" in err
    assert not out.exists()


def test_value_column_absent_names_role_and_columns(small_inputs, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("value_column: aum_avg_3m\n")
    code, err = _run(["validate", "--model", small_inputs / "model.txt", "--data", small_inputs / "customers.csv",
                      "--config", cfg], capsys)
    assert code == 2
    assert "Column 'aum_avg_3m' (value_column) is not in customers.csv; columns are: customer_id" in err


def test_validate_reports_fit(small_inputs, capsys):
    code = cli.main(["validate", "--model", str(small_inputs / "model.txt"), "--data",
                     str(small_inputs / "customers.csv"), "--config", str(small_inputs / "config.yaml")])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: model.txt (lightgbm, 10 trees, 3 features) fits customers.csv (400 rows).")


def test_out_folder_with_foreign_files_is_refused(small_inputs, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    code, err = _run(["report", "--model", small_inputs / "model.txt", "--data", small_inputs / "customers.csv",
                      "--config", small_inputs / "config.yaml", "--out", out, "--quiet"], capsys)
    assert code == 2
    assert "not a churnlens report folder" in err
    assert (out / "thesis.docx").read_text() == "precious"


def test_pickle_model_refused_without_trust(small_inputs, tmp_path, capsys):
    import joblib

    clf = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(
        pd.read_csv(small_inputs / "customers.csv")[["logins", "complaints", "aum"]],
        pd.read_csv(small_inputs / "customers.csv")["churned"])
    path = tmp_path / "model.joblib"
    joblib.dump(clf, path)
    code, err = _run(["validate", "--model", path, "--data", small_inputs / "customers.csv"], capsys)
    assert code == 2
    assert "--trust-model" in err


def _playbook_config(d: Path, tmp_path: Path, rules: str) -> Path:
    (tmp_path / "rules.yaml").write_text(rules, encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    cfg.write_text((d / "config.yaml").read_text() + "playbook_file: rules.yaml\nreport: {control_share: 0.0}\n")
    return cfg


def test_playbook_file_beside_the_config_is_used(small_inputs, tmp_path, capsys):
    cfg = _playbook_config(small_inputs, tmp_path, (
        "- when: {driver: logins, direction: up, condition: {op: '<', value: 3}}\n"
        "  action: {en: 'Call about the app', zh: '致电介绍手机银行'}\n"
        "  channel: phone\n"))
    out = tmp_path / "report"
    code = cli.main(["report", "--model", str(small_inputs / "model.txt"), "--data", str(small_inputs / "customers.csv"),
                     "--config", str(cfg), "--out", str(out), "--format", "html", "--quiet"])
    assert code == 0, capsys.readouterr().err
    rl = pd.read_csv(out / "retention_list.csv")
    assert (rl["action"] == "Call about the app").any()
    assert (out / "retention_list.xlsx").is_file()


def test_playbook_file_with_unknown_driver_exits_2(small_inputs, tmp_path, capsys):
    cfg = _playbook_config(small_inputs, tmp_path, (
        "- when: {driver: login, direction: up}\n"
        "  action: {en: 'Call', zh: '致电'}\n"))
    out = tmp_path / "report"
    code, err = _run(["report", "--model", small_inputs / "model.txt", "--data", small_inputs / "customers.csv",
                      "--config", cfg, "--out", out, "--quiet"], capsys)
    assert code == 2
    assert "login" in err and "logins" in err
    assert not out.exists()


def test_playbook_file_missing_translation_exits_2(small_inputs, tmp_path, capsys):
    cfg = _playbook_config(small_inputs, tmp_path, "- when: {driver: logins}\n  action: {en: 'Call'}\n")
    code, err = _run(["validate", "--model", small_inputs / "model.txt", "--data", small_inputs / "customers.csv",
                      "--config", cfg], capsys)
    assert code == 2
    assert "playbook.0.action.zh: Field required" in err


def _png_bytes() -> bytes:
    import io

    from matplotlib.figure import Figure

    buf = io.BytesIO()
    Figure(figsize=(0.5, 0.5)).savefig(buf, format="png")
    return buf.getvalue()


def test_config_files_resolve_beside_the_config_and_ids_are_hashed(small_inputs, tmp_path, monkeypatch, capsys):
    frame = pd.read_csv(small_inputs / "customers.csv", dtype={"customer_id": str})
    (tmp_path / "logo.png").write_bytes(_png_bytes())
    blocked = frame.loc[frame["churned"] == 1, "customer_id"].head(5)
    blocked.to_frame().to_csv(tmp_path / "dnc.csv", index=False)
    cfg = tmp_path / "config.yaml"
    cfg.write_text((small_inputs / "config.yaml").read_text()
                   + "report: {do_not_contact: dnc.csv, logo: logo.png, hash_ids: true, control_share: 0.0}\n"
                   + "churners: {by: label}\n")
    monkeypatch.chdir(small_inputs)  # paths must not depend on the working directory
    monkeypatch.setenv("CHURNLENS_ID_SALT", "a-team-secret-salt")
    out = tmp_path / "report"
    code = cli.main(["report", "--model", "model.txt", "--data", "customers.csv", "--config", str(cfg),
                     "--out", str(out), "--format", "html", "--quiet"])
    assert code == 0, capsys.readouterr().err
    rl = pd.read_csv(out / "retention_list.csv", dtype={"customer_id": str})
    assert len(rl) == int(frame["churned"].sum()) - 5
    assert rl["customer_id"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert not set(rl["customer_id"]) & set(frame["customer_id"])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'src="data:image/png;base64,' in html


def test_hash_ids_without_salt_exits_2(small_inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CHURNLENS_ID_SALT", raising=False)
    cfg = tmp_path / "config.yaml"
    cfg.write_text((small_inputs / "config.yaml").read_text() + "report: {hash_ids: true}\n")
    code, err = _run(["report", "--model", small_inputs / "model.txt", "--data", small_inputs / "customers.csv",
                      "--config", cfg, "--out", tmp_path / "out", "--quiet"], capsys)
    assert code == 2
    assert "CHURNLENS_ID_SALT" in err


def test_bad_value_in_a_later_chunk_names_the_rows(small_inputs, tmp_path, capsys):
    frame = pd.read_csv(small_inputs / "customers.csv", dtype={"customer_id": str})
    frame["logins"] = frame["logins"].astype(object)
    frame.loc[250, "logins"] = "abc"
    data = tmp_path / "customers.csv"
    frame.to_csv(data, index=False)
    cfg = tmp_path / "config.yaml"
    cfg.write_text((small_inputs / "config.yaml").read_text() + "attribution: {chunk_rows: 100}\n")
    code, err = _run(["report", "--model", small_inputs / "model.txt", "--data", data, "--config", cfg,
                      "--out", tmp_path / "out", "--quiet"], capsys)
    assert code == 2
    assert "logins" in err and "abc" in err
    assert "rows 201-300 of customers.csv" in err
    assert not (tmp_path / "out").exists()


def test_duplicated_ids_across_chunks_exit_2(small_inputs, tmp_path, capsys):
    frame = pd.read_csv(small_inputs / "customers.csv", dtype={"customer_id": str})
    frame.loc[350, "customer_id"] = frame.loc[10, "customer_id"]  # same id in two different chunks
    data = tmp_path / "customers.csv"
    frame.to_csv(data, index=False)
    cfg = tmp_path / "config.yaml"
    cfg.write_text((small_inputs / "config.yaml").read_text() + "attribution: {chunk_rows: 100}\n")
    out = tmp_path / "out"
    code, err = _run(["report", "--model", small_inputs / "model.txt", "--data", data, "--config", cfg,
                      "--out", out, "--quiet"], capsys)
    assert code == 2
    assert f"1 duplicated ids (e.g. {frame.loc[10, 'customer_id']})" in err
    assert not out.exists()
    code, err = _run(["validate", "--model", small_inputs / "model.txt", "--data", data], capsys)
    assert code == 2 and "duplicated ids" in err
