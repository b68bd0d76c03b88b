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
    assert summary["counts"]["churners"] > 0 and summary["counts"]["segments"] >= 1
    assert str(out / "retention_list.csv") in summary["paths"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
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
    assert _last_json(captured.out) == {"status": "error", "exit_code": 2, "command": "validate", "out": None,
                                        "counts": {}, "paths": [], "warnings": 0}


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
