"""Schedule-friendly CLI: --period, ${VAR} paths in the config, one JSON summary line on stdout."""

from __future__ import annotations

import json

import pytest

from churnlens import cli
from tests.stack_inputs import write_inputs

FIXED = "2026-12-01T06:00:00+00:00"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_inputs(tmp_path_factory.mktemp("cli"))


def _last_json(out: str) -> dict:
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, lines  # stdout holds exactly the summary line
    return json.loads(lines[0])


def test_report_json_summary_period_and_env_paths(inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BOOK_DIR", str(inputs))
    cfg = tmp_path / "job.yaml"
    cfg.write_text((inputs / "config.yaml").read_text() + "data: {path: '${BOOK_DIR}/customers.csv'}\n"
                   "report: {period: '2026-10'}\n", encoding="utf-8")
    out = tmp_path / "2026-11"
    code = cli.main(["report", "--model", str(inputs / "model.txt"), "--config", str(cfg), "--out", str(out),
                     "--format", "html", "--period", "2026-11", "--generated-at", FIXED, "--json", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = _last_json(captured.out)
    assert summary["status"] == "ok" and summary["exit_code"] == 0 and summary["command"] == "report"
    assert summary["out"] == str(out) and summary["counts"]["customers"] == 300
    assert summary["counts"]["churners"] > 0
    assert str(out / "retention_list.csv") in summary["paths"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    # 300 customers: the line counts the segments the report names (none may have the evidence)
    assert summary["counts"]["segments"] == manifest["segmentation"]["n_segments"]
    assert summary["warnings"] == manifest["warnings"]
    assert manifest["config"]["report"]["period"] == "2026-11"  # --period overrides report.period
    assert manifest["inputs"][1]["path"] == str((inputs / "customers.csv").absolute())


def test_json_summary_on_error_and_exit_code_2(inputs, tmp_path, capsys):
    cfg = tmp_path / "job.yaml"
    cfg.write_text("report: {logo: '${NO_SUCH_VAR}/logo.png'}\n", encoding="utf-8")
    code = cli.main(["validate", "--model", str(inputs / "model.txt"), "--data", str(inputs / "customers.csv"),
                     "--config", str(cfg), "--json"])
    captured = capsys.readouterr()
    assert code == 2
    assert "report.logo: environment variable NO_SUCH_VAR is not set" in captured.err
    line = _last_json(captured.out)
    assert line == {"status": "error", "exit_code": 2, "command": "validate", "out": None,
                    "counts": {}, "paths": [], "warnings": [], "message": line["message"]}
    # the scheduler's log keeps the reason, as the user was told it (on stderr)
    assert line["message"].startswith("error: ") and "report.logo: environment variable NO_SUCH_VAR" in line["message"]
    assert line["message"] in captured.err


def test_validate_json_keeps_stdout_machine_readable(inputs, capsys):
    code = cli.main(["validate", "--model", str(inputs / "model.txt"), "--data", str(inputs / "customers.csv"),
                     "--config", str(inputs / "config.yaml"), "--json"])
    captured = capsys.readouterr()
    assert code == 0 and "OK:" in captured.err
    assert _last_json(captured.out)["status"] == "ok"


@pytest.mark.parametrize("bad", ["2026-13", "202611", "Nov-2026"])
def test_bad_period_is_a_usage_error(inputs, bad, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["report", "--model", "m.txt", "--data", "d.csv", "--period", bad])
    assert exc.value.code == 2 and "is not a month like 2026-11" in capsys.readouterr().err


def test_no_data_anywhere_names_both_ways(inputs, capsys):
    code = cli.main(["validate", "--model", str(inputs / "model.txt")])
    err = capsys.readouterr().err
    assert code == 2 and "--data: no customer table given" in err and "data.path / data.url in the config" in err


def test_api_run_reads_a_sqlite_url_as_given(inputs, tmp_path):
    """The API hands a database URL through unchanged (a Path would turn sqlite:/// into sqlite:/)."""
    import sqlite3

    import pandas as pd

    import churnlens

    frame = pd.read_csv(inputs / "customers.csv", dtype={"customer_id": str})
    db = tmp_path / "dwh.db"
    with sqlite3.connect(db) as conn:
        frame.to_sql("customers", conn, index=False)
    r = churnlens.run(inputs / "model.txt", f"sqlite:///{db}", inputs / "config.yaml",
                      query="SELECT * FROM customers ORDER BY customer_id", period="2026-11")
    assert r.n_customers == 300 and r.config.report.period == "2026-11"
    from_csv = churnlens.run(inputs / "model.txt", inputs / "customers.csv", inputs / "config.yaml")
    assert r.scores.sort_index().to_numpy().tolist() == from_csv.scores.sort_index().to_numpy().tolist()
    assert r.scores.index[0] == "0000000"  # ids stay text


def test_passwords_are_masked_in_the_recorded_command():
    line = cli._command_line(["report", "--data", "postgresql://analyst:hunter2@dwh/bank", "--query", "select 1"])
    assert "hunter2" not in line and "postgresql://analyst:***@dwh/bank" in line


def test_report_workbook_in_the_report_language_and_reproducible(inputs, tmp_path, capsys):
    openpyxl = pytest.importorskip("openpyxl")
    outs = []
    for name, lang in (("a", "zh"), ("b", "zh"), ("c", "en")):
        out = tmp_path / name
        code = cli.main(["report", "--model", str(inputs / "model.txt"), "--data", str(inputs / "customers.csv"),
                         "--config", str(inputs / "config.yaml"), "--out", str(out), "--format", "html", "--quiet",
                         "--lang", lang, "--generated-at", FIXED, "--period", "2026-11"])
        assert code == 0, capsys.readouterr().err
        outs.append(out)
    a, b, c = outs
    assert (a / "retention_list.xlsx").read_bytes() == (b / "retention_list.xlsx").read_bytes()
    zh, en = openpyxl.load_workbook(a / "retention_list.xlsx"), openpyxl.load_workbook(c / "retention_list.xlsx")
    assert zh.sheetnames[0] == "汇总" and en.sheetnames[0] == "Summary"
    assert zh.worksheets[1]["A1"].value == "客户编号" and en.worksheets[1]["A1"].value == "Customer ID"
    assert zh["汇总"]["B2"].value == "2026-11"
    # the machine-readable list does not change with the language
    assert (a / "retention_list.csv").read_bytes() == (c / "retention_list.csv").read_bytes()
    listed = sum(ws.max_row - 1 for ws in zh.worksheets[1:])
    assert listed == len((a / "retention_list.csv").read_text(encoding="utf-8").splitlines()) - 1
