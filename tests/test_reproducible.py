"""Same inputs + --generated-at => byte-identical output folder, every file included (PDF and
XLSX metadata too, run timings nowhere); and the dossier's reproduce command writes a new
folder that matches the original."""

from __future__ import annotations

import filecmp
import io
import json
import shlex
import shutil
import zipfile
from pathlib import Path

import pytest

from churnlens import cli
from churnlens.io import parallel
from churnlens.reports.sections.run_record import reproduce_command

GENERATED_AT = "2026-11-30T08:00:00+00:00"
FILES = ("attributions.parquet", "cards.html", "cards.pdf", "dossier.html", "dossier.pdf", "inputs/config.yaml", "inputs/customers.csv",
         "inputs/model.txt", "inputs/truth.csv", "manifest.json", "month_summary.json", "explanations.parquet", "reference_profile.json",
         "report.html", "report.pdf", "retention_list.csv", "retention_list.xlsx", "scores.parquet",
         "segment_signatures.json", "segments.csv", "tables/claims.csv", "tables/control_plan.csv", "tables/drivers.csv",
         "tables/in_sample.csv", "tables/retention_plan.csv", "tables/segment_profiles.csv", "tables/segment_quality.csv",
         "tables/segment_rules.csv", "tables/segment_rules.sql")


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The demo run twice into the same --out (the first result moved aside in between), first
    with the documents and lists written by two processes, then by one."""
    root = tmp_path_factory.mktemp("repro")
    out = root / "demo-report"
    argv = ["demo", "--out", str(out), "--customers", "1000", "--generated-at", GENERATED_AT, "--quiet"]
    assert cli.main(argv) == 0
    first = root / "first"
    shutil.move(out, first)
    with pytest.MonkeyPatch.context() as mp:  # the second run writes everything in one process
        mp.setenv(parallel.SERIAL_ENV, "1")
        assert cli.main(["--verbose", *argv]) == 0  # logging timings changes no file
    return first, out


def test_same_files(two_runs):
    first, second = two_runs
    assert _files(first) == _files(second) == sorted(FILES)


@pytest.mark.parametrize("name", FILES)
def test_every_file_is_byte_identical(two_runs, name):
    first, second = two_runs
    assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_manifest_lists_every_file(two_runs):
    _, second = two_runs
    manifest = json.loads((second / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["outputs"]) == set(FILES) - {"manifest.json"}


def test_no_timings_in_any_document(two_runs):
    _, second = two_runs
    manifest = json.loads((second / "manifest.json").read_text(encoding="utf-8"))
    assert "timings_seconds" not in manifest and manifest["schema"] == "churnlens.report/1"
    for doc in ("dossier.html", "report.html"):
        text = (second / doc).read_text(encoding="utf-8")
        assert "Run time by stage" not in text, doc


def test_pdf_dates_come_from_generated_at(two_runs, tmp_path):
    import pypdf

    from churnlens.reports.render import write_pdf

    write_pdf("<html><body>x</body></html>", tmp_path / "a.pdf", created=GENERATED_AT)
    meta = pypdf.PdfReader(tmp_path / "a.pdf").metadata
    assert meta["/CreationDate"].startswith("D:20261130080000") and meta["/ModDate"].startswith("D:20261130080000")
    meta = pypdf.PdfReader(two_runs[1] / "dossier.pdf").metadata
    assert meta["/CreationDate"].startswith("D:20261130080000")


def test_xlsx_dates_come_from_generated_at(two_runs):
    data = (two_runs[1] / "retention_list.xlsx").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}  # fixed, not the time of writing
        core = z.read("docProps/core.xml").decode()
    assert core.count("2026-11-30T08:00:00Z") == 2  # created and modified


def test_reproduce_command_writes_a_new_folder_that_matches(two_runs):
    _, second = two_runs
    command = json.loads((second / "manifest.json").read_text(encoding="utf-8"))["command"]
    again = reproduce_command(command, GENERATED_AT)
    assert again.new == str(second) + "-reproduced" and str(second) in again.compare
    assert f"--out {second}-reproduced" in again.command and again.command.startswith("churnlens demo --out")
    html = (second / "dossier.html").read_text(encoding="utf-8")
    assert again.command in html and "-reproduced" in html and "diff -r" in html
    assert cli.main(shlex.split(again.command)[1:]) == 0
    new = Path(again.new)
    cmp = filecmp.dircmp(second, new, ignore=["manifest.json", "dossier.html", "dossier.pdf"])
    assert not cmp.left_only and not cmp.right_only
    differing = set(cmp.diff_files) | {f"{d}/{f}" for d, sub in cmp.subdirs.items() for f in sub.diff_files}
    assert not differing, differing
    assert not (filecmp.cmpfiles(second, new, ["report.html"], shallow=False)[1])


def test_reproduce_command_of_a_report_keeps_every_option():
    rc = reproduce_command("churnlens report --model m.txt --data d.csv --out 'my reports/nov' --lang zh", GENERATED_AT)
    assert rc.command == ("churnlens report --model m.txt --data d.csv --out 'my reports/nov-reproduced' --lang zh "
                          "--generated-at 2026-11-30T08:00:00+00:00")
    assert rc.out == "my reports/nov" and rc.compare.endswith("'my reports/nov' 'my reports/nov-reproduced'")
    rc = reproduce_command("churnlens report --model m.txt --data d.csv", "")  # default folder named explicitly
    assert rc.command == "churnlens report --out churnlens-report-reproduced --model m.txt --data d.csv"
    assert reproduce_command("churnlens segment --out x", GENERATED_AT).out == ""  # not a report folder
