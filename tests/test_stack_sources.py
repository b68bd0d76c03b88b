"""Tables from a database (SQLAlchemy, tested on SQLite) and partitioned Parquet folders."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from churnlens import cli
from churnlens.config import parse_config
from churnlens.errors import ConfigError, InputFileError
from churnlens.io.sources import fingerprint, resolve_data, table_source
from churnlens.io.tables import iter_table, read_table
from tests.stack_inputs import book, write_inputs


@pytest.fixture()
def sqlite_book(tmp_path):
    frame = book(250)
    db = tmp_path / "dwh.db"
    with sqlite3.connect(db) as conn:
        frame.to_sql("customers", conn, index=False)
    return frame, db


def test_sql_query_streams_in_chunks_and_keeps_ids_as_text(sqlite_book):
    frame, db = sqlite_book
    src = table_source(f"sqlite:///{db}", query="SELECT * FROM customers ORDER BY customer_id")
    chunks = list(iter_table(src, id_column="customer_id", chunk_rows=100))
    assert [len(c) for c in chunks] == [100, 100, 50]
    got = pd.concat(chunks, ignore_index=True)
    assert got["customer_id"].iloc[:3].tolist() == ["0000000", "0000001", "0000002"]
    pd.testing.assert_frame_equal(got[["logins", "aum"]], frame[["logins", "aum"]])
    # fingerprint: query text + digest of the rows read, equal for the same rows, different for others
    fp = fingerprint(src)
    assert fp["query"] == "SELECT * FROM customers ORDER BY customer_id" and fp["rows"] == 250
    other = table_source(f"sqlite:///{db}", query="SELECT * FROM customers WHERE logins > 2 ORDER BY customer_id")
    assert fingerprint(other)["rows_sha256"] != fp["rows_sha256"]
    again = table_source(f"sqlite:///{db}", query="SELECT * FROM customers ORDER BY customer_id")
    assert fingerprint(again)["rows_sha256"] == fp["rows_sha256"]


def test_bad_query_names_query_and_url(sqlite_book):
    _, db = sqlite_book
    src = table_source(f"sqlite:///{db}", query="SELECT * FROM no_such_table")
    with pytest.raises(InputFileError, match="the query failed.*no such table.*no_such_table"):
        read_table(src, id_column="customer_id")


def test_url_without_query_and_query_without_url_are_refused(tmp_path):
    with pytest.raises(InputFileError, match="is a database URL: give query") as err:
        table_source("postgresql://analyst@dwh/bank")
    assert err.value.argument == "query"
    with pytest.raises(InputFileError, match="query: needs a database URL as data"):
        table_source(tmp_path / "x.csv", query="select 1")


def test_config_url_with_password_is_refused_env_reference_allowed(monkeypatch, sqlite_book):
    with pytest.raises(ConfigError, match=r"data\.url.*contains a password.*\$\{DB_PASSWORD\}"):
        parse_config({"data": {"url": "postgresql://analyst:hunter2@dwh/bank", "query": "select 1"}})
    cfg = parse_config({"data": {"url": "postgresql://analyst:${PGPASS}@dwh/bank", "query": "select 1"}})
    assert "hunter2" not in str(cfg.model_dump())
    _, db = sqlite_book
    monkeypatch.setenv("DWH", str(db.parent))
    cfg = parse_config({"data": {"url": "sqlite:///${DWH}/dwh.db", "query": "SELECT * FROM customers"}})
    src = resolve_data(None, config=cfg)
    assert src.kind == "sql" and len(read_table(src, id_column="customer_id")) == 250


def test_partitioned_parquet_folder(tmp_path):
    frame = book(120)
    root = tmp_path / "book"
    for region, part in frame.groupby("region", sort=True):
        (root / f"month=2026-11" / f"region={region}").mkdir(parents=True)
        pq.write_table(pa.Table.from_pandas(part.drop(columns="region"), preserve_index=False),
                       root / "month=2026-11" / f"region={region}" / "part-0.parquet")
    src = table_source(root)
    assert src.kind == "dataset"
    got = read_table(src, id_column="customer_id")
    assert len(got) == 120 and set(got["region"].astype(str)) == set(frame.region)
    assert sorted(got.customer_id) == sorted(frame.customer_id)
    fp = fingerprint(src)
    assert fp["files"] == 3 and len(fp["sha256"]) == 64


def test_validate_and_report_read_from_sqlite(tmp_path, sqlite_book, capsys):
    frame, db = sqlite_book
    d = write_inputs(tmp_path)
    url = f"sqlite:///{db}"
    code = cli.main(["validate", "--model", str(d / "model.txt"), "--data", url, "--query",
                     "SELECT * FROM customers", "--config", str(d / "config.yaml")])
    assert code == 0, capsys.readouterr().err
    assert "250 rows" in capsys.readouterr().out
    out = tmp_path / "rep"
    code = cli.main(["report", "--model", str(d / "model.txt"), "--data", url, "--query", "SELECT * FROM customers",
                     "--config", str(d / "config.yaml"), "--out", str(out), "--format", "html", "--quiet",
                     "--generated-at", "2026-11-30T08:00:00+00:00"])
    assert code == 0, capsys.readouterr().err
    import json

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["data_source"]["kind"] == "sql" and manifest["data_source"]["rows"] == 250
    assert manifest["data_source"]["query"] == "SELECT * FROM customers"
    assert pd.read_csv(out / "retention_list.csv", dtype=str)["customer_id"].str.len().eq(7).all()
