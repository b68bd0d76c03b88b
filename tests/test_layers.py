"""The layer contracts of pyproject.toml ([tool.importlinter]) hold: foundation < stages <
reports < run < api < cli, stages and reports seeing other stages' results only.

import-linter finds modules by walking the package folder, but churnlens' subpackages live in
the owner's root folders (setuptools package-dir). The test lays the package out as it is
installed (following package-dir) in a temporary folder and runs lint-imports there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def installed_layout(dest: Path) -> Path:
    """Copy every package folder of pyproject's package-dir to where it installs; returns ``dest``."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package, folder in sorted(setup["package-dir"].items(), key=lambda kv: kv[0].count(".")):
        shutil.copytree(ROOT / folder, dest / package.replace(".", "/"), ignore=ignore, dirs_exist_ok=True)
    return dest


def _lint(tree: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(exe), str(ROOT / "pyproject.toml")], cwd=tree, env=env, capture_output=True, text=True)


def test_import_contracts_are_kept(tmp_path):
    done = _lint(installed_layout(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout and "BROKEN" not in done.stdout


def test_a_report_module_importing_a_stage_computation_breaks_the_contract(tmp_path):
    """The contracts can fail: the same tree with one forbidden import is refused."""
    tree = installed_layout(tmp_path)
    with open(tree / "churnlens" / "reports" / "formatting.py", "a", encoding="utf-8") as fh:
        fh.write("\nfrom churnlens.segmentation import clustering  # noqa\n")
    done = _lint(tree)
    assert done.returncode != 0
    assert "Reports import the stages' results only BROKEN" in done.stdout
