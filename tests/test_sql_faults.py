"""Issue 30: database sources keep secrets, refuse a missing SQLite file and say which part of a
connection failed (SQLite for real; server messages as PostgreSQL/MySQL drivers word them)."""

from __future__ import annotations

import sqlite3
import sys

import pytest

from churnlens import cli
from churnlens.errors import InputFileError
from churnlens.io import sources
from churnlens.io.sources import connection_part, redact_text, redact_url, table_source
from churnlens.io.tables import read_table
from tests.stack_inputs import book, write_inputs

SECRET = "s3cr@t!:/x"
URL = f"postgresql://alice:{SECRET}@dwh.bank.local:5432/bank"


def test_passwords_are_masked_even_with_at_signs():
    assert redact_url(URL) == "postgresql://alice:***@dwh.bank.local:5432/bank"
    assert redact_url("postgresql://alice@dwh/bank") == "postgresql://alice@dwh/bank"
    assert redact_url("sqlite:////data/dwh.db") == "sqlite:////data/dwh.db"
    said = redact_text(f"could not use {URL} (driver said: 'oracle+oracledb://u:p@w@h/s')")
    assert "s3cr" not in said and "p@w" not in said and "alice:***@dwh.bank.local" in said


@pytest.mark.parametrize("installed", [True, False])
def test_url_masked_with_or_without_sqlalchemy(tmp_path, capsys, monkeypatch, installed):
    d = write_inputs(tmp_path)
    if not installed:
        monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    code = cli.main(["validate", "--model", str(d / "model.txt"), "--data", URL, "--query", "SELECT 1",
                     "--config", str(d / "config.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and "s3cr" not in err and "t!" not in err
    assert "postgresql://alice:***@dwh.bank.local:5432/bank" in err  # not garbled into a path
    assert "pip install 'churnlens[sql]'" in err


def test_missing_sqlite_file_is_refused_and_not_created(tmp_path, capsys):
    d = write_inputs(tmp_path)
    db = tmp_path / "nope.db"
    code = cli.main(["validate", "--model", str(d / "model.txt"), "--data", f"sqlite:///{db}",
                     "--query", "SELECT * FROM customers", "--config", str(d / "config.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and f"SQLite database file {db} does not exist" in err
    assert not db.exists()


def test_no_rows_speak_of_the_query(tmp_path):
    db = tmp_path / "dwh.db"
    with sqlite3.connect(db) as conn:
        book(20).to_sql("customers", conn, index=False)
    src = table_source(f"sqlite:///{db}", query="SELECT * FROM customers WHERE logins > 1000")
    with pytest.raises(InputFileError, match="the query returned no rows from sqlite:///.*WHERE clause") as err:
        read_table(src, id_column="customer_id")
    assert "Export" not in str(err.value) and "header" not in str(err.value)


PG = 'connection to server at "dwh.bank.local" (10.0.0.7), port 5432 failed: '
MESSAGES = {
    "auth": PG + 'FATAL:  password authentication failed for user "alice"',
    "host": PG + "Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?",
    "database": PG + 'FATAL:  database "bnak" does not exist',
}


@pytest.mark.parametrize("part", sorted(MESSAGES))
def test_connection_failures_name_the_part(monkeypatch, part):
    sa = pytest.importorskip("sqlalchemy")

    class Engine:
        def connect(self):
            raise sa.exc.OperationalError("connect", {}, Exception(MESSAGES[part] + f" (url {URL})"))

        def dispose(self):
            pass

    monkeypatch.setattr(sources, "_engine", lambda source: Engine())
    with pytest.raises(InputFileError) as err:
        read_table(table_source(URL, query="SELECT * FROM customers"), id_column="customer_id")
    msg = str(err.value)
    assert f"could not connect to postgresql://alice:***@dwh.bank.local:5432/bank ({part} failed" in msg
    assert sources.CONNECTION_ADVICE[part] in msg and "check the query" not in msg.lower()
    assert "s3cr" not in msg and err.value.argument == "data"
    assert connection_part(MESSAGES[part]) == part


def test_query_failures_still_name_the_query(tmp_path):
    db = tmp_path / "dwh.db"
    with sqlite3.connect(db) as conn:
        book(20).to_sql("customers", conn, index=False)
    with pytest.raises(InputFileError, match="query: the query failed.*no such table") as err:
        read_table(table_source(f"sqlite:///{db}", query="SELECT * FROM nope"), id_column="customer_id")
    assert err.value.argument == "query"
