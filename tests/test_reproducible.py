"""Same inputs + --generated-at => byte-identical output folder, every file included; and the
dossier's reproduce command writes a new folder that matches the original."""

from __future__ import annotations

import filecmp
import json
import shlex
import shutil
from pathlib import Path

import pytest

from churnlens import cli
from churnlens.reports.render import reproduce_command

GENERATED_AT = "2026-11-30T08:00:00+00:00"
FILES = ("attributions.parquet", "dossier.html", "dossier.pdf", "inputs/config.yaml", "inputs/customers.csv",
         "inputs/model.txt", "inputs/truth.csv", "manifest.json", "reference_profile.json", "report.html",
         "report.pdf", "retention_list.csv", "retention_list.xlsx", "segment_signatures.json", "segments.csv")
# the XLSX writer with fixed workbook metadata comes with branch `stack`; remove this once merged
# (and manifest.json records its SHA-256); remove both once merged
PENDING = {"retention_list.xlsx", "manifest.json"}


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The demo run twice into the same --out (the first result moved aside in between)."""
    root = tmp_path_factory.mktemp("repro")
    out = root / "demo-report"
    argv = ["demo", "--out", str(out), "--customers", "2000", "--generated-at", GENERATED_AT, "--quiet"]
    assert cli.main(argv) == 0
    first = root / "first"
    shutil.move(out, first)
    assert cli.main(["--verbose", *argv]) == 0  # logging timings changes no file
    return first, out


def test_same_files(two_runs):
    first, second = two_runs
    assert _files(first) == _files(second) == sorted(FILES)


@pytest.mark.parametrize("name", [pytest.param(f, marks=pytest.mark.xfail(reason="deterministic XLSX: branch stack",
                                                                         strict=False)) if f in PENDING else f
                                  for f in FILES])
def test_every_file_is_byte_identical(two_runs, name):
    first, second = two_runs
    assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_manifest_differs_at_most_in_pending_hashes(two_runs):
    first, second = two_runs
    a, b = (json.loads((d / "manifest.json").read_text(encoding="utf-8")) for d in (first, second))
    for m in (a, b):
        for name in PENDING:
            m["outputs"].pop(name, None)
    assert a == b


def test_no_timings_in_any_document(two_runs):
    _, second = two_runs
    manifest = json.loads((second / "manifest.json").read_text(encoding="utf-8"))
    assert "timings_seconds" not in manifest and manifest["schema"] == "churnlens.report/1"
    assert "Run time by stage" not in (second / "dossier.html").read_text(encoding="utf-8")


def test_pdf_dates_come_from_generated_at(two_runs, tmp_path):
    from churnlens.reports.render import write_pdf

    import pypdf

    write_pdf("<html><body>x</body></html>", tmp_path / "a.pdf", created=GENERATED_AT)
    meta = pypdf.PdfReader(tmp_path / "a.pdf").metadata
    assert meta["/CreationDate"].startswith("D:20261130080000") and meta["/ModDate"].startswith("D:20261130080000")


def test_reproduce_command_writes_a_new_folder_that_matches(two_runs, capsys):
    _, second = two_runs
    command = json.loads((second / "manifest.json").read_text(encoding="utf-8"))["command"]
    again = reproduce_command(command, GENERATED_AT)
    assert again.new == str(second) + "-reproduced" and str(second) in again.compare
    assert f"--out {second}-reproduced" in again.command and again.command.startswith("churnlens demo --out")
    html = (second / "dossier.html").read_text(encoding="utf-8")
    assert again.command in html and "-reproduced" in html
    assert cli.main(shlex.split(again.command)[1:]) == 0
    new = Path(again.new)
    cmp = filecmp.dircmp(second, new, ignore=["manifest.json", "dossier.html", "dossier.pdf"])
    differing = set(cmp.diff_files) | {f"inputs/{f}" for f in cmp.subdirs["inputs"].diff_files}
    assert not cmp.left_only and not cmp.right_only
    assert differing <= PENDING, differing
