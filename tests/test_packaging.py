"""The wheel installs one import name, ``churnlens``, holding every module, template and
catalogue of the source tree; the owner's folder names are not importable on their own."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_SUFFIXES = (".html", ".css", ".yaml")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """Build the wheel from a copy of the source (the build writes build/ and egg-info beside it)."""
    src = tmp_path_factory.mktemp("src") / "churnlens"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", "build",
                                                             "dist", "tests", "docs", "benchmarks", "demo-report"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                           str(out), str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = out.glob("churnlens-*.whl")
    return zipfile.ZipFile(path)


def _expected_files() -> set[str]:
    """Every .py file and template/catalogue of the package folders, at its installed path."""
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-dir"]
    expected = set()
    for package, folder in package_dir.items():
        others = [Path(f) for p, f in package_dir.items() if p != package and Path(f) != Path(folder)]
        for p in (ROOT / folder).rglob("*"):
            if "__pycache__" in p.parts or not p.is_file() or p.suffix not in (".py", *DATA_SUFFIXES):
                continue
            rel = p.relative_to(ROOT)
            if any(rel.is_relative_to(o) for o in others):
                continue  # belongs to another mapped package
            expected.add(package.replace(".", "/") + "/" + p.relative_to(ROOT / folder).as_posix())
    return expected


def test_only_top_level_name_is_churnlens(wheel):
    info = next(n for n in wheel.namelist() if n.endswith(".dist-info/top_level.txt"))
    assert wheel.read(info).decode().split() == ["churnlens"]
    tops = {n.split("/")[0] for n in wheel.namelist() if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"churnlens"}


def test_every_module_template_and_catalogue_is_in_the_wheel(wheel):
    expected = _expected_files()
    assert "churnlens/attribution/model.py" in expected and "churnlens/reports/i18n/zh.yaml" in expected
    missing = sorted(expected - set(wheel.namelist()))
    assert not missing, missing


def test_owner_folders_are_not_import_names(tmp_path):
    code = ("import importlib.util, sys\n"
            "names = ['attribution', 'segmentation', 'reports', 'cli']\n"
            "found = [n for n in names if importlib.util.find_spec(n) is not None]\n"
            "assert not found, found\n"
            "import churnlens.attribution, churnlens.reports\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-c", "import attribution"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode != 0 and "No module named 'attribution'" in done.stderr


def test_metadata_license_expression_and_xlsxwriter_core(wheel):
    """Issue 30: the licence is an SPDX expression (PEP 639; the table form stops building with
    setuptools after 2027-02-18) and XlsxWriter is a core dependency (every report has its XLSX)."""
    (meta,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    text = wheel.read(meta).decode("utf-8")
    lines = text.splitlines()
    assert "License-Expression: Apache-2.0" in lines
    assert not any(line.startswith("License: ") for line in lines)
    core = [line for line in lines if line.startswith("Requires-Dist: ") and "extra ==" not in line]
    assert any(line.lower().startswith("requires-dist: xlsxwriter") for line in core), core
