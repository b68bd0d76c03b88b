"""Where a customer table comes from: a file, a partitioned Parquet folder, or a SQL query.

:func:`table_source` turns the ``data`` argument (plus ``query`` / ``encoding``, or the config's
``data:`` block) into one :class:`TableSource`; :func:`churnlens.io.tables.iter_table`
streams any of them in chunks. This module also decodes CSV text (``encoding``) and turns
a decoding failure into advice, and fingerprints the source for the manifest (file SHA-256;
for a folder the SHA-256 of its files; for SQL the query text plus a SHA-256 of the rows read).

SQL needs the optional ``churnlens[sql]`` extra (SQLAlchemy) and the database's own driver
(``psycopg`` for PostgreSQL, ``oracledb`` for Oracle, ``PyHive`` for Hive, built in for SQLite).
Credentials come from the environment only: ``${VAR}`` in a URL is replaced by the variable.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import pandas as pd

from churnlens.io.digest import sha256_file
from churnlens.errors import ConfigError, InputFileError
from churnlens.redact import redact, url_password

ENCODINGS = ("utf-8", "utf-8-sig", "gbk", "gb18030", "latin-1")
PARQUET_SUFFIXES = (".parquet", ".pq")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


@dataclass(frozen=True)
class TableSource:
    """One customer table.

    Attributes
    ----------
    kind : {"file", "dataset", "sql"}
        A CSV/Parquet file, a folder of Parquet files (``pyarrow.dataset``, hive partitions
        become columns), or a SQLAlchemy URL with a query.
    location : str
        Path, folder, or URL as given (``${VAR}`` references kept unexpanded, so no secret is
        stored or printed).
    query : str, optional
        SQL text (``kind == "sql"``).
    encoding : str, optional
        CSV text encoding; None reads UTF-8 (a leading BOM is allowed).
    """

    kind: str
    location: str
    query: Optional[str] = None
    encoding: Optional[str] = None
    # rows digest of the last complete pass (SQL): filled while streaming, not part of equality
    _seen: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        """Short name for messages: the file or folder name, or the redacted URL."""
        if self.kind == "sql":
            return redact_url(self.location)
        return Path(self.location).name

    @property
    def path(self) -> Path:
        return Path(self.location)


def is_url(text: str | os.PathLike) -> bool:
    """True for ``scheme://...`` (a SQLAlchemy URL); Windows drive letters are one letter."""
    s = str(text)
    return bool(_URL.match(s)) and len(s.split(":", 1)[0]) > 1


def expand_env(value: str, *, key: str, argument: Optional[str] = None) -> str:
    """Replace ``${VAR}`` by the environment variable, naming ``key`` (a config key, or the
    argument that gave the value) when a variable is unset."""

    def sub(m: re.Match) -> str:
        if m.group(1) not in os.environ:
            raise ConfigError(f"{key}: environment variable {m.group(1)} is not set (used as ${{{m.group(1)}}} "
                              f"in {redact_url(value)!r}). Set it in the environment of the job, or write the value "
                              "directly.", argument=argument, key=None if argument else key)
        return os.environ[m.group(1)]

    return _ENV_REF.sub(sub, value)


def redact_url(url: str) -> str:
    """The URL with any password or token replaced by ``***`` (for messages and the manifest):
    :func:`churnlens.redact.redact`, the one redaction of every message."""
    return redact(url)


def redact_text(text: str) -> str:
    """``text`` (a driver's message) with every credential masked: :func:`churnlens.redact.redact`."""
    return redact(str(text))


SQL_HINT = "pip install 'churnlens[sql]' (plus the database driver, e.g. psycopg for PostgreSQL)"


def check_url_has_no_password(url: str, *, key: str) -> None:
    """A URL in a config file may name a password only as ``${VAR}`` (credentials stay in the environment)."""
    password = url_password(url)
    if password is not None and not _ENV_REF.fullmatch(password):
        raise ConfigError(f"{key}: the database URL {redact_url(url)!r} contains a password. Config files are "
                          "shared and archived: put the password in an environment variable and write "
                          "${DB_PASSWORD} in its place (or let the driver read it, e.g. PGPASSWORD).", key=key)


def check_encoding(encoding: Optional[str], *, key: Optional[str] = None) -> Optional[str]:
    """The canonical name of a supported CSV encoding (``key``: the config key that gave it;
    None for the ``encoding`` argument)."""
    if encoding is None:
        return None
    norm = encoding.strip().lower().replace("_", "-")
    norm = {"utf8": "utf-8", "utf8-sig": "utf-8-sig", "latin1": "latin-1", "cp936": "gbk"}.get(norm, norm)
    if norm not in ENCODINGS:
        raise ConfigError(f"{key or 'encoding'}: {encoding!r} is not supported; use one of {', '.join(ENCODINGS)}.",
                          argument=None if key else "encoding", key=key)
    return norm


#: URL schemes that name files on the web or in cloud storage, not a database (SQLAlchemy) URL
STORAGE_SCHEMES = {"http": "a web address", "https": "a web address", "ftp": "an FTP address",
                   "sftp": "an SFTP address", "s3": "an S3 (cloud storage) address", "s3a": "an S3 (cloud storage) address",
                   "gs": "a Google Cloud Storage address", "gcs": "a Google Cloud Storage address",
                   "abfs": "an Azure storage address", "abfss": "an Azure storage address", "az": "an Azure storage address",
                   "wasb": "an Azure storage address", "wasbs": "an Azure storage address", "hdfs": "an HDFS address",
                   "file": "a file: URL"}


def storage_kind(text: str) -> Optional[str]:
    """What a web or cloud-storage URL is (``"an S3 (cloud storage) address"``), else None."""
    if not is_url(text):
        return None
    return STORAGE_SCHEMES.get(str(text).split(":", 1)[0].lower())


def refuse_storage_url(text: str, *, key: Optional[str] = None, argument: Optional[str] = None) -> None:
    """A web or cloud-storage URL given as the customer table: not supported, said so."""
    kind = storage_kind(text)
    if kind is None:
        return
    name = key or argument or "data"
    raise InputFileError(f"{name}: {redact_url(text)} is {kind}; churnlens reads the customer table from a file or "
                         "Parquet folder on this machine (or a mounted share), or from a database URL "
                         "(postgresql://..., with query). Download or mount the files and give their local path.",
                         argument=argument, key=key)


def table_source(data: str | os.PathLike | TableSource, *, query: Optional[str] = None,
                 encoding: Optional[str] = None) -> TableSource:
    """Describe the ``data`` argument as a :class:`TableSource` (checks only what needs no connection)."""
    if isinstance(data, TableSource):
        return data
    encoding = check_encoding(encoding)
    text = str(data)
    refuse_storage_url(text, argument="data")
    if is_url(text):
        if not query:
            raise InputFileError(f"data: {redact_url(text)} is a database URL: give query, the SQL that "
                                 "selects the customer table (or data.query in the config).", argument="query")
        return TableSource("sql", text, query=query, encoding=encoding)
    if query:
        raise InputFileError(f"query: needs a database URL as data (like postgresql://user@host/db); "
                             f"data {text} is a path.", argument="query")
    if Path(text).is_dir():
        return TableSource("dataset", text, encoding=encoding)
    return TableSource("file", text, encoding=encoding)


# --- CSV text ---------------------------------------------------------------------------------

def read_encoding(source: TableSource) -> str:
    """Codec for pandas: UTF-8 reads with an optional BOM (Excel's "CSV UTF-8")."""
    return "utf-8-sig" if source.encoding in (None, "utf-8") else source.encoding


def decode_hint(path: Path, encoding: str) -> str:
    """Where ``path`` first fails to decode, and which ``encoding`` to give instead."""
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)()
    offset, line = 0, 1
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                pos = max(err.start, 0)
                bad = block[pos:pos + 1].hex() if pos < len(block) else "??"
                line += block[:pos].count(b"\n")
                shown = "UTF-8" if encoding.startswith("utf-8") else encoding
                return (f"file {path} is not {shown} (byte 0x{bad} at byte {offset + pos:,}, line {line:,}); "
                        f"if it was exported from Excel/Chinese Windows, give encoding='gbk' (or 'gb18030'); "
                        f"for Western European exports give encoding='latin-1'; or save the file as UTF-8.")
            offset += len(block)
            line += block.count(b"\n")
    return f"file {path} could not be decoded as {encoding}; give the right encoding ({', '.join(ENCODINGS)})."


# --- Parquet folders and SQL ------------------------------------------------------------------

def iter_dataset(source: TableSource, *, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """A folder of Parquet files (hive ``key=value`` sub-folders become columns), files in name order."""
    import pyarrow.dataset as ds

    files = dataset_files(source.path)
    if not files:
        raise InputFileError(f"data: folder {source.location} holds no .parquet files. Give a CSV or Parquet "
                             "file, or a folder of Parquet files (a partitioned dataset).", argument="data")
    dataset = ds.dataset([str(f) for f in files], format="parquet", partitioning="hive",
                         partition_base_dir=str(source.path))
    for batch in dataset.to_batches(batch_size=chunk_rows):
        if batch.num_rows:
            yield batch.to_pandas()


def dataset_files(folder: Path) -> list[Path]:
    """Parquet files under ``folder`` in a fixed order (relative path), hidden files skipped."""
    found = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in PARQUET_SUFFIXES
             and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _sqlalchemy(source: TableSource):
    try:
        import sqlalchemy as sa
    except ImportError:
        raise InputFileError(f"data: {source.name} is a database URL; reading a database needs SQLAlchemy: "
                             f"{SQL_HINT}.", argument="data") from None
    return sa


def sqlite_file(url: str) -> Optional[Path]:
    """The database file a ``sqlite://`` URL names; None for in-memory databases and other dialects."""
    m = re.match(r"^sqlite(?:\+\w+)?://(/?)([^?]*)", url)
    if not m:
        return None
    path = m.group(2)
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


def _engine(source: TableSource):
    sa = _sqlalchemy(source)
    url = expand_env(source.location, key="data", argument="data")
    db = sqlite_file(url)
    if db is not None and not db.is_file():
        # SQLite would create an empty database and report "no such table": nothing is created
        raise InputFileError(f"data: the SQLite database file {db} does not exist (from {source.name}). Give the path "
                             "of an existing database: sqlite:///relative/path.db or sqlite:////absolute/path.db.",
                             argument="data")
    try:
        return sa.create_engine(url)
    except Exception as err:  # unknown dialect, missing driver module, malformed URL
        raise InputFileError(f"data: SQLAlchemy cannot use the URL {source.name} ({type(err).__name__}: "
                             f"{redact_text(str(err))}). Check the dialect and install its driver: "
                             f"{SQL_HINT}.", argument="data") from None


# which part of a connection failed, from the driver's message (PostgreSQL, MySQL, Oracle, SQL
# Server, Hive, SQLite wordings); first match wins
_CONNECTION_PARTS = (
    ("auth", ("password authentication failed", "authentication failed", "access denied", "login failed",
              "invalid password", "no password supplied", "ora-01017", "invalid username", "not authorized",
              "permission denied for database", "pg_hba.conf")),
    ("database", ("does not exist", "unknown database", "ora-12514", "cannot open database")),
    ("host", ("could not connect", "connection refused", "could not translate host name", "name or service not known",
              "nodename nor servname", "no route to host", "timed out", "timeout expired", "network is unreachable",
              "server closed the connection", "can't connect", "ora-12541",
              "temporary failure in name resolution", "connection reset")),
)
CONNECTION_ADVICE = {
    "host": "the database server did not answer: check the host name and port in the URL, that the server is "
            "running, and that this machine can reach it (VPN, firewall)",
    "auth": "the server refused the login: check the user name and the password (the environment variable the "
            "URL names, e.g. ${DB_PASSWORD}, or the driver's own, e.g. PGPASSWORD)",
    "database": "the server answered but the database named in the URL is not there: check its name",
    "other": "check the URL, the network and the credentials",
}


def connection_part(message: str) -> str:
    """``"host"``, ``"auth"``, ``"database"`` or ``"other"``: which part of a connection failed."""
    low = message.lower()
    for part, needles in _CONNECTION_PARTS:
        if any(n in low for n in needles):
            return part
    return "other"


def iter_sql(source: TableSource, *, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Rows of ``source.query`` in chunks (server-side cursor where the driver has one).

    After a complete pass ``source._seen`` holds ``rows`` and ``rows_sha256`` (SHA-256 over
    the column names and pandas' per-row hashes of every chunk, in order).
    """
    sa = _sqlalchemy(source)
    engine = _engine(source)
    digest, n = hashlib.sha256(), 0
    try:
        try:
            conn = engine.connect()
        except sa.exc.SQLAlchemyError as err:
            first = redact_text(str(getattr(err, "orig", None) or err).strip().splitlines()[0])
            part = connection_part(first)
            raise InputFileError(f"data: could not connect to {source.name} ({part} failed: {type(err).__name__}: "
                                 f"{first}); {CONNECTION_ADVICE[part]}.", argument="data") from None
        with conn:
            result = conn.execution_options(stream_results=True).execute(sa.text(source.query))
            columns = list(result.keys())
            digest.update("\x1f".join(columns).encode())
            while True:
                rows = result.fetchmany(chunk_rows)
                if not rows:
                    break
                chunk = pd.DataFrame.from_records(rows, columns=columns)
                digest.update(pd.util.hash_pandas_object(chunk, index=False).to_numpy().tobytes())
                n += len(chunk)
                yield chunk
    except GeneratorExit:
        raise
    except sa.exc.SQLAlchemyError as err:
        first = redact_text(str(getattr(err, "orig", None) or err).strip().splitlines()[0])
        raise InputFileError(f"query: the query failed on {source.name} ({type(err).__name__}: {first}). "
                             f"Check the query (or data.query): {source.query!r}.", argument="query") from None
    finally:
        engine.dispose()
    source._seen.update(rows=n, rows_sha256=digest.hexdigest())


def fingerprint(source: TableSource) -> dict:
    """Manifest entry of the data: path/URL, SHA-256 (file, folder) or query + rows digest (SQL)."""
    if source.kind == "file":
        return {"kind": "file", "path": str(source.location), "sha256": sha256_file(source.path)}
    if source.kind == "dataset":
        digest = hashlib.sha256()
        files = dataset_files(source.path)
        for f in files:
            digest.update(f.relative_to(source.path).as_posix().encode() + b"\0" + sha256_file(f).encode())
        return {"kind": "dataset", "path": str(source.location), "sha256": digest.hexdigest(), "files": len(files)}
    if "rows_sha256" not in source._seen:
        for _ in iter_sql(source, chunk_rows=100_000):
            pass
    return {"kind": "sql", "url": redact_url(source.location), "query": source.query,
            "rows": source._seen["rows"], "rows_sha256": source._seen["rows_sha256"]}


def resolve_data(data: Optional[str | os.PathLike | TableSource], *, query: Optional[str] = None,
                 encoding: Optional[str] = None, config=None, config_path: Optional[Path] = None) -> TableSource:
    """The table to read: the ``data``/``query``/``encoding`` arguments over the config's ``data:`` block.

    ``config`` is a :class:`~churnlens.config.Config`; ``data.path`` is relative to the config file.
    """
    if isinstance(data, TableSource):
        return data
    block = getattr(config, "data", None)
    if data is None and block is not None:
        if block.url:
            data, query = block.url, query or block.query
        elif block.path:
            p = Path(block.path)
            data = p if p.is_absolute() or config_path is None else Path(config_path).parent / p
    elif block is not None and data is not None and is_url(data):
        query = query or block.query
    if data is None:
        raise InputFileError("data: no customer table given. Give data (a CSV/Parquet file, a Parquet folder or a "
                             "database URL with query), or set data.path / data.url in the config.", argument="data")
    return table_source(data, query=query, encoding=encoding or getattr(block, "encoding", None))
