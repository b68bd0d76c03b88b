"""Fuzzing ``churnlens customer`` (issues 32 and 33): any id (real, padded, unknown, hostile
text), any state of the output path and of the report folder gets exit 0 or 2 with a short
message, never 1 or a traceback; the report folder is never written to, a file the user owns is
never replaced, and a written explanation holds that customer only.

Fixed seeds in CI (``tests/strategies.examples``); ``HYPOTHESIS_PROFILE=long`` runs 25x more.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnlens import cli
from tests.folder_fixture import written_folder
from tests.strategies import examples


@pytest.fixture(scope="module")
def folder():
    return written_folder()


@pytest.fixture(scope="module")
def listed(folder):
    f = pd.read_csv(folder.path / "retention_list.csv", dtype={"customer_id": str})
    return tuple(f["customer_id"])


def _snapshot(root: Path) -> dict:
    if not root.exists():
        return {}
    if root.is_file():
        return {"": hashlib.sha256(root.read_bytes()).hexdigest()}
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


hostile = st.one_of(
    st.text(min_size=0, max_size=40),
    st.sampled_from(["../../etc/passwd", "=HYPERLINK(\"x\")", "C0000001; DROP TABLE x", "\x00", " ", "*",
                     "C" * 5000, "'C0000001'", "C0000001\nC0000002"]),
)
out_states = st.sampled_from(["absent", "absent", "user_file", "folder", "inside_report", "missing_parent"])
folder_damage = st.sampled_from(["none", "none", "none", "no_manifest", "list_cut", "no_explanations", "not_a_folder"])


def _damaged(src: Path, tmp: Path, damage: str) -> Path:
    if damage == "not_a_folder":
        p = tmp / "report.txt"
        p.write_text("not a report folder", encoding="utf-8")
        return p
    if damage == "none":
        return src
    dst = tmp / "report"
    shutil.copytree(src, dst)
    if damage == "no_manifest":
        (dst / "manifest.json").unlink()
    elif damage == "list_cut":
        data = (dst / "retention_list.csv").read_bytes()
        (dst / "retention_list.csv").write_bytes(data[: len(data) // 2])
    elif damage == "no_explanations":
        (dst / "explanations.parquet").unlink()
    return dst


@settings(max_examples=examples(20), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), out_state=out_states, damage=folder_damage)
def test_customer_exits_0_or_2_and_touches_nothing_of_the_user(folder, listed, tmp_path_factory, capsys, data,
                                                                out_state, damage):
    tmp = tmp_path_factory.mktemp("fuzz-customer")
    if data.draw(st.booleans(), label="real id"):
        i = data.draw(st.sampled_from(listed[:50]))
        cid = data.draw(st.sampled_from([i, f" {i}\t", i.lower()]), label="id")
    else:
        cid = data.draw(hostile, label="id")
    report = _damaged(folder.path, tmp, damage)
    out = {"absent": tmp / "expl.html", "user_file": tmp / "mine.html", "folder": tmp / "dir",
           "inside_report": (report / "x.html") if report.is_dir() else tmp / "y.html",
           "missing_parent": tmp / "no" / "such" / "expl.html"}[out_state]
    if out_state == "user_file":
        out.write_text("<p>my own page</p>", encoding="utf-8")
    if out_state == "folder":
        out.mkdir()
    before_report, before_out = _snapshot(report), _snapshot(out)

    # "--": an id may start with "-", as a user would pass it
    code = cli.main(["customer", "--report", str(report), "--out", str(out), "--", cid])
    err = capsys.readouterr().err

    assert code in (0, 2), f"id {cid!r}, out {out_state}, folder {damage}: exit {code}\n{err}"
    assert "Traceback" not in err and "internal error" not in err
    assert _snapshot(report) == before_report  # the report folder is only read
    if code == 2:
        assert err.startswith("churnlens: error: ") and len(err) < 5000
        assert _snapshot(out) == before_out  # nothing of the user's replaced or half-written
    else:
        assert out_state in ("absent", "missing_parent") and damage in ("none",)
        page = out.read_text(encoding="utf-8")
        others = [i for i in listed if i != cid.strip() and len(i) > 3]
        assert not any(i in page for i in others[:200])  # no other customer's id
