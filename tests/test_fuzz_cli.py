"""Fuzzing the CLI with degenerate books and configs (issue 32): every generated book (no
churners, all churners, one row, identical customers, one constant feature), model (single-leaf
trees) and config (legal or not) gets exit 0 or 2 with a message, never 1, a traceback or a
signal; the output folder holds a whole report or is untouched.

The CI profile is derandomized (fixed seeds) and small; ``HYPOTHESIS_PROFILE=long pytest
tests/test_fuzz_*.py`` runs many more examples.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings

from churnlens import cli
from tests.strategies import (books, config_texts, examples, folder_states, make_folder_state, model_shapes,
                              train_lightgbm)


def _snapshot(folder: Path) -> dict:
    if not folder.exists():
        return {}
    if folder.is_file():
        return {"": hashlib.sha256(folder.read_bytes()).hexdigest()}
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(argv, capsys) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err


@settings(max_examples=examples(4))
@given(book=books(max_rows=300, max_features=3), shape=model_shapes, config=config_texts, state=folder_states)
def test_report_on_generated_books_exits_0_or_2(tmp_path_factory, capsys, book, shape, config, state):
    frame, kind = book
    tmp = tmp_path_factory.mktemp("fuzz")
    features = [c for c in frame.columns if c.startswith("f")]
    if not train_lightgbm(frame, features, path=tmp / "model.txt", **shape):
        return
    frame.to_csv(tmp / "book.csv", index=False)
    (tmp / "config.yaml").write_text(config + "segmentation: {stability_runs: 0}\n"
                                     if "segmentation" not in config else config, encoding="utf-8")
    out = tmp / "out"
    make_folder_state(out, state)
    before = _snapshot(out)
    code, err = _run(["report", "--model", tmp / "model.txt", "--data", tmp / "book.csv", "--config",
                      tmp / "config.yaml", "--out", out, "--format", "html", "--quiet",
                      "--generated-at", "2026-11-30T08:00:00+00:00"], capsys)
    assert code in (0, 2), f"{kind} book, config {config!r}: exit {code}\n{err}"
    assert "Traceback" not in err and "internal error" not in err
    if code == 2:
        assert err.startswith("churnlens: error: ") and len(err) < 5000
        assert _snapshot(out) == before  # nothing of the user's replaced
    else:
        assert (out / "manifest.json").is_file() and (out / "report.html").is_file()
    assert not [p for p in tmp.iterdir() if ".partial-" in p.name]


@settings(max_examples=examples(8))
@given(book=books(max_rows=200, max_features=3), shape=model_shapes)
def test_explain_and_validate_on_generated_books_exit_0_or_2(tmp_path_factory, capsys, book, shape):
    frame, kind = book
    tmp = tmp_path_factory.mktemp("fuzz")
    features = [c for c in frame.columns if c.startswith("f")]
    if not train_lightgbm(frame, features, path=tmp / "model.txt", **shape):
        return
    frame.to_parquet(tmp / "book.parquet")
    (tmp / "config.yaml").write_text("label_column: churned\nvalue_column: balance\n", encoding="utf-8")
    base = ["--model", tmp / "model.txt", "--data", tmp / "book.parquet", "--config", tmp / "config.yaml"]
    for argv in (["validate", *base], ["explain", *base, "--out", tmp / "a.parquet", "--quiet"]):
        code, err = _run(argv, capsys)
        assert code in (0, 2), f"{kind} book: {argv[0]} exit {code}\n{err}"
        assert "Traceback" not in err
