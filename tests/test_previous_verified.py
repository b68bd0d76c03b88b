"""Last month's folder verified against its manifest's hashes (issue 32)."""

from __future__ import annotations

import json
import logging

import pytest

from churnlens.errors import InputFileError
from churnlens.io.atomic import verify_folder, write_manifest
from churnlens.run.preflight import verify_previous


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "2026-10"
    d.mkdir()
    (d / "segments.csv").write_text("customer_id,segment\n1,a\n", encoding="utf-8")
    (d / "reference_profile.json").write_text("{}", encoding="utf-8")
    write_manifest(d, "report", {})
    return d


def test_intact_folder_verifies(folder):
    check = verify_previous(folder)
    assert check.ok and check.problems == ()


def test_hand_edited_file_is_named_in_a_warning_and_refused_with_strict(folder, caplog):
    (folder / "segments.csv").write_text("customer_id,segment\n1,b\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="churnlens"):
        check = verify_previous(folder)
    assert check.changed == ("segments.csv",) and not check.ok
    assert "segments.csv" in caplog.text and "changed since churnlens wrote them" in caplog.text
    with pytest.raises(InputFileError, match="segments.csv"):
        verify_previous(folder, strict=True)


def test_cut_manifest_and_missing_file(folder, caplog):
    (folder / "reference_profile.json").unlink()
    assert verify_folder(folder).missing == ("reference_profile.json",)
    text = (folder / "manifest.json").read_text(encoding="utf-8")
    (folder / "manifest.json").write_text(text[: len(text) // 2], encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="churnlens"):
        check = verify_previous(folder)
    assert check.manifest == "unreadable" and check.problems == ("manifest.json",)
    assert "manifest.json is cut" in caplog.text
    with pytest.raises(InputFileError, match="manifest.json is cut"):
        verify_previous(folder, strict=True)
    (folder / "manifest.json").unlink()
    assert verify_folder(folder).manifest == "missing"


def test_only_the_files_the_run_reads_are_hashed(folder):
    (folder / "notes.txt").write_text("x")
    doc = json.loads((folder / "manifest.json").read_text())
    doc["outputs"]["report.pdf"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(doc))
    assert verify_previous(folder).ok  # report.pdf is not read by the next run
    assert verify_folder(folder).missing == ("report.pdf",)
