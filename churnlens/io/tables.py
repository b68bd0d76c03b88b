"""Reading the customer table (CSV or Parquet) and checking the columns the config names."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import pandas as pd

from churnlens.config import Config
from churnlens.errors import ConfigError, DataError, InputFileError
from churnlens.io.sources import TableSource, decode_hint, iter_dataset, iter_sql, read_encoding, table_source

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def sha256_file(path: Path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def read_table(path: "str | Path | TableSource", *, id_column: Optional[str] = None) -> pd.DataFrame:
    """Read a whole CSV or Parquet customer table (see :func:`iter_table` for the checks).

    The id column is read as text so ids like ``"000123"`` keep their leading zeros.
    """
    return pd.concat(list(iter_table(path, id_column=id_column, chunk_rows=1_000_000)), ignore_index=True)


def _missing(column: str, role: str, frame: pd.DataFrame, source: str) -> DataError:
    cols = ", ".join(map(str, frame.columns[:40])) + (" ..." if frame.shape[1] > 40 else "")
    return DataError(
        f"Column {column!r} ({role}) is not in {source}; columns are: {cols}. "
        f"Set {role} in the config to one of these columns, or add the column to the data."
    )


def check_columns(frame: pd.DataFrame, config: Config, *, source: str) -> None:
    """Check the id, value and label columns the config names (row by row, so it also serves
    one chunk of a streamed table; duplicated ids are checked over the whole table by
    :func:`check_unique_ids`).

    Raises
    ------
    DataError
        A named column is absent, values are not numeric or labels not 0/1.
    """
    if config.id_column not in frame.columns:
        raise _missing(config.id_column, "id_column", frame, source)
    if config.value_column:
        if config.value_column not in frame.columns:
            raise _missing(config.value_column, "value_column", frame, source)
        if not pd.api.types.is_numeric_dtype(frame[config.value_column]):
            raise DataError(
                f"Column {config.value_column!r} (value_column) in {source} must be numeric money amounts; "
                f"found dtype {frame[config.value_column].dtype}."
            )
    if config.label_column:
        if config.label_column not in frame.columns:
            raise _missing(config.label_column, "label_column", frame, source)
        labels = frame[config.label_column]
        bad = ~labels.isin([0, 1])
        if bad.any():
            examples = ", ".join(map(repr, labels[bad].unique()[:3]))
            raise DataError(
                f"Column {config.label_column!r} (label_column) in {source} must hold 0/1 churn outcomes; "
                f"found {int(bad.sum())} other values (e.g. {examples})."
            )


def check_unique_ids(ids: np.ndarray, config: Config, *, source: str) -> None:
    """Each customer must appear once (checked over the whole table, across chunks)."""
    s = pd.Series(ids)
    dup = s[s.duplicated()]
    if len(dup):
        raise DataError(
            f"Column {config.id_column!r} (id_column) in {source} has {len(dup)} duplicated ids "
            f"(e.g. {', '.join(map(str, dup.unique()[:3]))}); each customer must appear once."
        )


def iter_table(path: "str | Path | TableSource", *, id_column: Optional[str] = None, chunk_rows: int = 100_000,
               rows: Optional[np.ndarray] = None) -> Iterator[pd.DataFrame]:
    """Stream a CSV or Parquet table in chunks of about ``chunk_rows`` rows.

    ``path`` may also be a :class:`~churnlens.io.sources.TableSource`: a folder of Parquet
    files, a SQL query, or a CSV with its ``encoding`` (see :mod:`churnlens.io.sources`).

    Parameters
    ----------
    rows : ndarray of bool, shape (n,), optional
        Keep only these rows (a second pass that gathers the customers to attribute);
        chunks then hold the kept rows only, in table order.

    Raises
    ------
    InputFileError
        As :func:`read_table`.
    """
    source = table_source(path)
    path = source.path
    if source.kind == "file" and not path.is_file():
        raise InputFileError(f"data: file {path} does not exist. Give the path of a CSV or Parquet file.",
                             argument="data")
    suffix = {"file": path.suffix.lower(), "dataset": ".parquet", "sql": ".sql"}[source.kind]
    if source.kind == "file" and suffix not in TABLE_SUFFIXES:
        raise InputFileError(f"Data file {path} has suffix {suffix!r}; expected one of {', '.join(TABLE_SUFFIXES)}. "
                             "Export the customer table as CSV or Parquet.")
    start = 0
    try:
        if source.kind != "file":
            reader = iter_dataset(source, chunk_rows=chunk_rows) if source.kind == "dataset" else \
                iter_sql(source, chunk_rows=chunk_rows)
        elif suffix == ".csv":
            reader = pd.read_csv(path, dtype={id_column: str} if id_column else None, chunksize=chunk_rows,
                                 low_memory=False, encoding=read_encoding(source))
        else:
            import pyarrow.parquet as pq

            reader = (b.to_pandas() for b in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows))
        for chunk in reader:
            n = len(chunk)
            chunk.index = pd.RangeIndex(start, start + n)
            if rows is not None:
                chunk = chunk[rows[start:start + n]]
            start += n
            if len(chunk) == 0:
                continue
            if id_column and id_column in chunk.columns:
                chunk[id_column] = chunk[id_column].astype(str)
            yield chunk
    except (InputFileError, ConfigError, GeneratorExit):
        raise
    except UnicodeDecodeError:
        raise InputFileError(f"data: {decode_hint(path, read_encoding(source))}", argument="data") from None
    except Exception as err:  # pandas/pyarrow raise many types for a corrupt file
        raise InputFileError(f"Data file {path} could not be read as {suffix[1:].upper()} "
                             f"(near row {start:,}): {err}") from None
    if start == 0 and rows is None:
        raise InputFileError(f"Data {source.kind if source.kind != 'file' else 'file'} {source.name} has no rows. "
                             "Export at least one customer.")


def value_array(frame: pd.DataFrame, config: Config) -> Optional[np.ndarray]:
    """Money at risk per customer (float64, NaN -> 0), or None without a value column."""
    if not config.value_column:
        return None
    return frame[config.value_column].astype("float64").fillna(0.0).to_numpy()


def mask_id(customer_id: str) -> str:
    """Mask an id for reports: keep the first two and last two characters."""
    s = str(customer_id)
    if len(s) <= 4:
        return "*" * len(s)
    return s[:2] + "*" * (len(s) - 4) + s[-2:]
