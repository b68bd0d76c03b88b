"""One redaction for every message and file; every CSV safe against formula injection (issue 32)."""

from __future__ import annotations

import errno
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from churnlens import cli
from churnlens.errors import DataError
from churnlens.io.csv_safety import TRIGGERS, unquote_cell, write_csv
from churnlens.redact import cap, redact, shorten, url_password
from tests.strategies import examples

ROOT = Path(__file__).resolve().parents[1]

#: passwords with every character a password may hold, '@' ':' '/' '%' included
passwords = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
                                           blacklist_characters="'\"<>"), min_size=4, max_size=30)
schemes = st.sampled_from(["postgresql", "postgresql+psycopg", "mysql+pymysql", "oracle+oracledb", "https", "http",
                           "s3", "databricks", "mssql+pyodbc", "hive"])


@settings(max_examples=examples(100))
@given(scheme=schemes, user=st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), password=passwords,
       host=st.from_regex(r"[a-z]{1,8}(\.[a-z]{2,5}){0,2}", fullmatch=True),
       tail=st.sampled_from(["", "/crm", ":5432/crm?sslmode=require", "/api/2.0"]))
def test_no_password_survives_redaction(scheme, user, password, host, tail):
    url = f"{scheme}://{user}:{password}@{host}{tail}"
    assert redact(f"could not connect to {url} (timeout)") == \
        f"could not connect to {scheme}://{user}:***@{host}{tail} (timeout)"
    assert url_password(url) == password


@pytest.mark.parametrize("text,secret", [
    ("https://mlflow.bank/api?token=abc123XYZ&run=1", "abc123XYZ"),
    ("https://b.s3.amazonaws.com/k?X-Amz-Signature=deadbeef99&X-Amz-Credential=AKIAX", "deadbeef99"),
    ("https://ghp_tokentoken1234@github.com/bank/models", "ghp_tokentoken1234"),
    ("postgresql://bank:p@ss:w/rd%40@db.internal:5432/crm", "p@ss:w/rd%40"),
])
def test_tokens_in_query_strings_and_userinfo_are_masked(text, secret):
    assert secret not in redact(text)


def test_paths_and_plain_urls_are_left_alone():
    for text in ("sqlite:///tmp/x.db", "https://host/p?mail=a@b.com", "postgresql://bank@db/crm", "C:\\data\\x.csv"):
        assert redact(text) == text


def test_cli_error_printer_masks_env_provided_uri(monkeypatch, capsys):
    """An MLflow tracking token from the environment, echoed by a library message, never reaches stderr."""
    uri = "https://ci-bot:s3cr3t-T0KEN@mlflow.bank.internal"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert cli._report_error(DataError(f"cannot reach the tracking server {uri}/api"), debug=False) == 2
    assert cli._report_error(RuntimeError(f"HTTPError at {uri}/api?token=abc"), debug=False) == 1
    err = capsys.readouterr().err
    assert "s3cr3t-T0KEN" not in err and "token=abc" not in err and "ci-bot:***@mlflow" in err


def test_log_lines_are_redacted(capsys):
    import logging

    cli._configure_logging(verbose=False)
    logging.getLogger("churnlens").warning("connecting to postgresql://u:hunter2@db/crm")
    assert "hunter2" not in capsys.readouterr().err


def test_messages_are_capped_and_values_shortened():
    assert len(cap("x" * 1_000_000)) < 4100
    assert len(shorten("y" * 1_000_000)) < 70 and shorten("y" * 1_000_000).endswith("…'")
    assert shorten(-2.5) == "-2.5"


def test_manifest_never_holds_credentials(tmp_path):
    from churnlens.io.atomic import write_manifest

    doc = write_manifest(tmp_path, "report", {"data_source": "postgresql://bank:hunter2@db/crm",
                                              "command": "churnlens report --data mysql://a:b%40c@h/d"})
    text = (tmp_path / "manifest.json").read_text()
    assert "hunter2" not in text and "b%40c" not in text and doc["data_source"] == "postgresql://bank:***@db/crm"


def test_full_disk_is_named_even_when_wrapped(capsys):
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/out/x.parquet")
        except OSError as inner:
            raise RuntimeError("writer thread failed") from inner
    except RuntimeError as err:
        assert cli._report_error(err, debug=False) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert cli._report_error(OSError("IOError: No space left on device. Detail: [errno 28]"), debug=False) == 2
    assert "disk is full" in capsys.readouterr().err


# --- formula injection: one CSV writer --------------------------------------------------------------

@settings(max_examples=examples(40))
@given(cells=st.lists(st.one_of(st.text(max_size=12), st.sampled_from(["=1+2", "-2+3+cmd|' /C calc'!A0", "@x", "+1",
                                                                          "\tx", "\rx", "-3"])), min_size=1, max_size=8),
       numbers=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=8))
def test_write_csv_never_writes_a_formula_and_keeps_numbers(tmp_path_factory, cells, numbers):
    n = min(len(cells), len(numbers))
    frame = pd.DataFrame({"=level": cells[:n], "value": numbers[:n]})
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    write_csv(frame, path)
    back = pd.read_csv(path, dtype={"'=level": str}, keep_default_na=False)
    assert list(back.columns) == ["'=level", "value"]
    assert not any(str(c).startswith(TRIGGERS) for c in back["'=level"])
    assert pd.api.types.is_numeric_dtype(back["value"]) and np.allclose(back["value"], numbers[:n])
    assert [unquote_cell(c) for c in back["'=level"]] == cells[:n]  # read back as written


# Every CSV churnlens writes goes through write_csv. The lead wires the two files restructured
# in issue 27 (run/write.py: tables/*.csv; run/loop.py: tables/<loop>.csv) and then empties PENDING.
PENDING: set = set()
INPUTS_NOT_OUTPUTS = {"churnlens/demo/book.py"}  # the demo's own input book (read back as data)


def test_every_csv_writer_goes_through_write_csv():
    found = set()
    for folder in ("churnlens", "attribution", "segmentation", "reports"):
        for p in (ROOT / folder).rglob("*.py"):
            if re.search(r"\.to_csv\(", p.read_text(encoding="utf-8")):
                found.add(p.relative_to(ROOT).as_posix())
    assert found - {"churnlens/io/csv_safety.py"} - INPUTS_NOT_OUTPUTS <= PENDING, sorted(found)
