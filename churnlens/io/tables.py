"""The one table reader (customer table, do-not-contact list, campaign file, last month's
segments) and the checks of the columns the config names.

Every table churnlens reads goes through :func:`iter_table` / :func:`read_table`, so the same
rules hold everywhere: id columns are read as text (``0000017`` stays ``0000017`` in the data,
the do-not-contact list and the campaign file alike), duplicate column names are refused
instead of being renamed by pandas (``age`` -> ``age.1``), and a file separated by ``;`` gets
a delimiter hint. Besides files, the customer table may be a folder of Parquet files or a SQL
query (a :class:`~churnlens.io.sources.TableSource`), streamed the same way.
"""

from __future__ import annotations

import codecs
import difflib
import functools
import hashlib
import os
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import pandas as pd

from churnlens.config import Config
from churnlens.errors import ConfigError, DataError, InputFileError
from churnlens.io.ids import RULE, describe_near_duplicates, near_duplicates, normalise_ids
from churnlens.io.digest import sha256_file  # noqa: F401  (re-exported)
from churnlens.io.sources import (
    TableSource, decode_hint, iter_dataset, iter_sql, read_encoding, redact_text, table_source,
)

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".txt", ".gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
_SEPARATORS = (";", "\t", "|")


def read_table(path: "str | Path | TableSource", *, id_column: Optional[str] = None, what: str = "Data file",
               text_columns: Sequence[str] = (), all_text: bool = False, allow_empty: bool = False,
               suffixes: Sequence[str] = TABLE_SUFFIXES) -> pd.DataFrame:
    """Read a whole CSV or Parquet table (see :func:`iter_table` for the checks).

    The id column (and ``text_columns``; every column with ``all_text``) is read as text so
    ids like ``"000123"`` keep their leading zeros.
    """
    chunks = list(iter_table(path, id_column=id_column, chunk_rows=1_000_000, what=what, text_columns=text_columns,
                             all_text=all_text, allow_empty=allow_empty, suffixes=suffixes))
    if not chunks:  # allowed empty table: keep its header
        return pd.DataFrame(columns=_header(table_source(path).path, what))
    return pd.concat(chunks, ignore_index=True)


def did_you_mean(name: str, candidates: Sequence[str], *, say_for: bool = False) -> str:
    """`` Did you mean 'x'?`` for the closest of ``candidates`` (letter case ignored), or "".

    ``say_for`` names ``name`` too (`` Did you mean 'Age' for 'age'?``), for lists of names."""
    cands = [str(c) for c in candidates]
    lower = {c.lower(): c for c in cands}
    tail = f" for {name!r}" if say_for else ""
    if name.lower() in lower:
        return f" Did you mean {lower[name.lower()]!r}{tail} (names are case-sensitive)?"
    close = difflib.get_close_matches(name.lower(), list(lower), n=2, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(lower[c]) for c in close) + tail + "?"


def _missing(column: str, role: str, frame: pd.DataFrame, source: str) -> DataError:
    cols = ", ".join(map(str, frame.columns[:40])) + (" ..." if frame.shape[1] > 40 else "")
    return DataError(
        f"Column {column!r} ({role}) is not in {source}; columns are: {cols}."
        f"{did_you_mean(column, list(frame.columns))} "
        f"Set {role} in the config to one of these columns, or add the column to the data."
    )


def _plain(v) -> str:
    """A value as the user wrote it: 50000, not np.int64(50000)."""
    v = v.item() if isinstance(v, np.generic) else v
    return repr(v) if isinstance(v, str) else str(v)


def row_examples(index: pd.Index, mask: np.ndarray, values: Optional[pd.Series] = None, limit: int = 3) -> str:
    """``"row 12 (50000), row 40 (2)"``: the first bad rows, numbered from 1 (the first data row)."""
    rows = np.flatnonzero(np.asarray(mask, dtype=bool))[:limit]
    parts = []
    for r in rows:
        label = f"row {int(index[r]) + 1:,}" if pd.api.types.is_integer_dtype(index) else f"row {r + 1:,}"
        parts.append(label if values is None else f"{label} ({_plain(values.iloc[r])})")
    more = f" and {int(np.sum(mask)) - len(rows):,} more" if int(np.sum(mask)) > len(rows) else ""
    return ", ".join(parts) + more


LABEL_WORDS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1, "no": 0, "yes": 1, "n": 0, "y": 1}


def parse_labels(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Churn outcomes as documented: 0/1 (also 1.0/0.0), true/false, yes/no, y/n in any case.

    Returns ``(labels, bad)``: int8 0/1 per row (0 where bad) and the mask of rows holding
    anything else (missing values included)."""
    if pd.api.types.is_bool_dtype(values) and not values.isna().any():
        return values.to_numpy(dtype=np.int8), np.zeros(len(values), dtype=bool)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isin(v, (0.0, 1.0))
        return np.where(bad, 0, v).astype(np.int8), bad
    words = values.astype("object").map(
        lambda x: None if x is None or (isinstance(x, float) and np.isnan(x)) or x is pd.NA
        else LABEL_WORDS.get(str(x).strip().lower()))
    bad = words.isna().to_numpy()
    return np.where(bad, 0, words.fillna(0).to_numpy()).astype(np.int8), bad


def check_columns(frame: pd.DataFrame, config: Config, *, source: str) -> None:
    """Check the id, value and label columns the config names (row by row, so it also serves
    one chunk of a streamed table; duplicated ids are checked over the whole table by
    :func:`check_unique_ids`).

    Raises
    ------
    DataError
        A named column is absent, values are not numeric or labels not churn outcomes.

    The label column, when its outcomes are written as words (yes/no, true/false, y/n) or
    1.0/0.0, is recoded to 0/1 in ``frame`` (a chunk or a copy the caller owns).
    """
    if config.id_column not in frame.columns:
        raise _missing(config.id_column, "id_column", frame, source)
    ids = frame[config.id_column]
    no_id = (ids.isna() | (ids.astype(str).str.strip() == "")).to_numpy()
    if no_id.any():
        raise DataError(f"Column {config.id_column!r} (id_column) in {source} is empty in {int(no_id.sum()):,} "
                        f"row(s): {row_examples(frame.index, no_id)}. Every customer needs an id.")
    if config.value_column:
        _check_values(frame, config.value_column, source)
    if config.label_column:
        if config.label_column not in frame.columns:
            raise _missing(config.label_column, "label_column", frame, source)
        labels = frame[config.label_column]
        parsed, bad = parse_labels(labels)
        if bad.any():
            raise DataError(
                f"Column {config.label_column!r} (label_column) in {source} must hold 0/1 churn outcomes "
                f"(1 = churned; also written 1.0/0.0, true/false, yes/no or y/n, any case); found {int(bad.sum()):,} other value(s): "
                f"{row_examples(frame.index, bad, labels)}. Recode these rows, drop customers whose outcome "
                "is not known, or set label_column to the right column."
            )
        if not (pd.api.types.is_integer_dtype(labels) and not pd.api.types.is_bool_dtype(labels)):
            frame[config.label_column] = parsed


def _check_values(frame: pd.DataFrame, column: str, source: str) -> None:
    """Money at risk: numbers, finite, not negative (empty cells count as 0; 0 is allowed)."""
    if column not in frame.columns:
        raise _missing(column, "value_column", frame, source)
    col = frame[column]
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        num = pd.to_numeric(col, errors="coerce")
        bad = (col.notna() & num.isna()).to_numpy()
        raise DataError(
            f"Column {column!r} (value_column) in {source} must be numeric money amounts; found dtype "
            f"{col.dtype} with text such as {row_examples(frame.index, bad, col)}. Remove currency signs and "
            "thousands separators, or set value_column to the right column."
        )
    v = col.to_numpy(dtype=np.float64, na_value=np.nan)
    for bad, what in ((np.isinf(v), "infinite values (inf/-inf)"), (v < 0, "negative amounts")):
        if bad.any():
            raise DataError(
                f"Column {column!r} (value_column) in {source} has {what} in {int(bad.sum()):,} row(s): "
                f"{row_examples(frame.index, bad, col)}. The value column is money at risk if the customer "
                "leaves (0 or more; empty = 0): fix these rows, or set value_column to the right column."
            )


def check_unique_ids(ids: np.ndarray, config: Config, *, source: str) -> None:
    """Each customer must appear once (checked over the whole table, across chunks), ids
    compared after :func:`churnlens.io.ids.normalise_id` (as :func:`iter_table` gives them)."""
    s = pd.Series(ids)
    dup = s[s.duplicated()]
    if len(dup):
        raise DataError(
            f"Column {config.id_column!r} (id_column) in {source} has {len(dup)} duplicated ids "
            f"(e.g. {', '.join(str(v)[:40] for v in dup.unique()[:3])}); each customer must appear once (ids are "
            f"compared with {RULE})."
        )


_ENCODINGS = ("utf-8", "gb18030")  # GB18030 is a superset of GBK and GB2312 (Chinese bank exports)


def csv_encoding(path: Path, what: str = "Data file") -> str:
    """The text encoding of a CSV file: UTF-8 (with or without Excel's byte-order mark), else
    GBK/GB18030 when the whole file decodes as that (exports of Chinese banks' systems).

    Raises
    ------
    InputFileError
        Neither: the message names the first undecodable byte and how to save the file as UTF-8.
    """
    if path.suffix.lower() == ".gz":
        return "utf-8"  # compressed: pandas decompresses, then reads UTF-8
    with open(path, "rb") as fh:
        head = fh.read(3)
    if head == b"\xef\xbb\xbf":
        return "utf-8-sig"
    first_error = None
    for encoding in _ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        done = 0
        try:
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    decoder.decode(block)
                    done += len(block)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError as err:
            if first_error is None:
                first_error = (done + err.start, err.object[err.start:err.start + 1])
    at, byte = first_error
    raise InputFileError(
        f"{what} {path} is not UTF-8 text (byte 0x{byte.hex() if byte else '??'} at position {at:,} cannot be "
        "decoded), nor GBK/GB18030. Save it as UTF-8 (Excel: Save As 'CSV UTF-8 (Comma delimited)'), export it "
        "as Parquet, or give its encoding (encoding='latin-1').", argument="encoding"
    )


def _header(path: Path, what: str, encoding: Optional[str] = None) -> list[str]:
    """Column names exactly as in the file (pandas would rename a duplicate ``age`` to ``age.1``)."""
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            import pyarrow.parquet as pq

            return [str(c) for c in pq.ParquetFile(path).schema_arrow.names]
        head = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False,
                           encoding=encoding or csv_encoding(path, what))
    except InputFileError:
        raise
    except pd.errors.EmptyDataError:
        raise InputFileError(f"{what} {path} is empty (no header row). Export the table with its column names.") \
            from None
    except (UnicodeDecodeError, OSError, ValueError, pd.errors.ParserError) as err:
        raise InputFileError(f"{what} {path} could not be read as {path.suffix[1:].upper()}: "
                             f"{str(err).splitlines()[0][:200]}") from None
    except Exception as err:  # noqa: BLE001 - pyarrow raises many types for a corrupt file
        raise InputFileError(f"{what} {path} could not be read ({type(err).__name__}). Export it again as CSV or "
                             "Parquet.") from None
    return [str(c) for c in head.iloc[0].tolist()] if len(head) else []


def _check_header(path: Path, names: list[str], what: str) -> None:
    if len(names) == 1:
        seps = [s for s in _SEPARATORS if s in names[0]]
        if seps:
            shown = {"\t": "tab"}.get(seps[0], repr(seps[0]))
            raise InputFileError(
                f"{what} {path} has a single column named {names[0][:80]!r}: it looks separated by {shown}, not by "
                "commas. Export it as comma-separated CSV (Excel: Save As 'CSV UTF-8 (Comma delimited)'), or as "
                "Parquet."
            )
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise DataError(
                f"{what} {path} has two columns named {name!r} (columns {seen[name] + 1} and {i + 1}); pandas "
                f"would silently rename the second to '{name}.1' and one of them would be ignored. Rename or drop "
                "one of them and export again."
            )
        seen[name] = i


def missing_data(location: object) -> InputFileError:
    """The one message for a customer table that is not there (file or Parquet folder)."""
    return InputFileError(f"data: file {location} does not exist. Give the path of a CSV or Parquet file "
                          "(or a Parquet folder, or a database URL with query).", argument="data")


def _check_path(path: Path, what: str, suffixes: Sequence[str]) -> str:
    if not path.is_file():
        if what == "Data file":
            raise missing_data(path)
        raise InputFileError(f"{what} {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise InputFileError(f"{what} {path} has suffix {suffix!r}; expected one of {', '.join(suffixes)}. "
                             "Export the table as CSV or Parquet.")
    return suffix


def iter_table(path: "str | Path | TableSource", *, id_column: Optional[str] = None, chunk_rows: int = 100_000,
               rows: Optional[np.ndarray] = None, what: str = "Data file", text_columns: Sequence[str] = (),
               all_text: bool = False, allow_empty: bool = False,
               suffixes: Sequence[str] = TABLE_SUFFIXES) -> Iterator[pd.DataFrame]:
    """Stream a CSV or Parquet table in chunks of about ``chunk_rows`` rows.

    ``path`` may also be a :class:`~churnlens.io.sources.TableSource`: a folder of Parquet
    files, a SQL query, or a CSV with its ``encoding`` (see :mod:`churnlens.io.sources`). A CSV
    without a given encoding is read as UTF-8 (BOM allowed), else GBK/GB18030 when it decodes so.

    Parameters
    ----------
    id_column, text_columns : str, sequence of str
        Read as text (kept as in the file: leading zeros stay); ``all_text`` reads every column so.
    rows : ndarray of bool, shape (n,), optional
        Keep only these rows (a second pass that gathers the customers to attribute);
        chunks then hold the kept rows only, in table order.
    what : str
        How messages name the file ("Data file", "Do-not-contact file", ...).

    Raises
    ------
    InputFileError
        Missing, unreadable or empty file, unsupported suffix, a ``;``-separated CSV.
    DataError
        Two columns with the same name.
    """
    source = table_source(path)
    path = source.path
    text = [c for c in (id_column, *text_columns) if c]
    if source.kind == "file":
        suffix = _check_path(path, what, suffixes)
        encoding = None
        if suffix not in PARQUET_SUFFIXES:
            encoding = csv_encoding(path, what) if source.encoding is None else read_encoding(source)
        try:
            header = _header(path, what, encoding)
        except InputFileError as err:
            if source.encoding is None or "could not be read" not in str(err):
                raise
            # the encoding the user gave does not decode the header: say where and what to give
            raise InputFileError(f"data: {decode_hint(path, encoding)}", argument="data") from None
        _check_header(path, header, what)
    else:
        suffix = {"dataset": ".parquet", "sql": ".sql"}[source.kind]
    start = 0
    try:
        if source.kind != "file":
            reader = iter_dataset(source, chunk_rows=chunk_rows) if source.kind == "dataset" else \
                iter_sql(source, chunk_rows=chunk_rows)
        elif suffix in PARQUET_SUFFIXES:
            import pyarrow.parquet as pq

            reader = (b.to_pandas() for b in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows))
        else:
            reader = pd.read_csv(path, dtype=str if all_text else ({c: str for c in text} or None),
                                 chunksize=chunk_rows, low_memory=False, keep_default_na=not all_text,
                                 encoding=encoding)
        for chunk in reader:
            n = len(chunk)
            chunk.index = pd.RangeIndex(start, start + n)
            if rows is not None:
                chunk = chunk[rows[start:start + n]]
            start += n
            if len(chunk) == 0:
                continue
            for c in (list(chunk.columns) if all_text else text):
                if c in chunk.columns:
                    chunk[c] = chunk[c].astype(object).where(chunk[c].isna(), chunk[c].astype(str))
            if id_column and id_column in chunk.columns:
                chunk[id_column] = _normalised_ids(chunk, id_column, what, path if source.kind == "file"
                                                   else source.name)
            yield chunk
    except (InputFileError, DataError, ConfigError, GeneratorExit):
        raise
    except UnicodeDecodeError:
        raise InputFileError(f"data: {decode_hint(path, encoding)}", argument="data") from None
    except Exception as err:  # pandas/pyarrow raise many types for a corrupt file
        first = redact_text((str(err).strip().splitlines() or [type(err).__name__])[0][:200])
        if source.kind == "sql":  # never Path(url): it garbles the URL and keeps the password
            raise InputFileError(f"data: reading the query's rows from {source.name} failed after {start:,} row(s) "
                                 f"({type(err).__name__}: {first}).", argument="data") from None
        raise InputFileError(f"{what} {path} could not be read as {suffix[1:].upper()} "
                             f"(near row {start:,}): {first}") from None
    if start == 0 and rows is None and not allow_empty:
        if source.kind == "sql":
            raise InputFileError(f"data: the query returned no rows from {source.name}: {source.query!r}. Check its "
                                 "WHERE clause (e.g. the month) and the table it reads (or data.query).",
                                 argument="data")
        where = f"{what} {path}" if source.kind == "file" else f"Parquet folder {source.location}"
        raise InputFileError(f"{where} has no rows. Export at least one row under the header.")


def _normalised_ids(chunk: pd.DataFrame, column: str, what: str, where) -> np.ndarray:
    """The chunk's ids by :func:`churnlens.io.ids.normalise_id`; two spellings of one id in the
    chunk (``C001`` and ``C001 ``) are refused, naming them."""
    raw = chunk[column].to_numpy(dtype=object)
    norm = normalise_ids(raw)
    present = pd.notna(raw)
    if (raw[present] != norm[present]).any():
        groups = near_duplicates(raw, norm)
        if groups:
            raise DataError(
                f"{what} {where}: column {column!r} holds ids that differ only by surrounding spaces or Unicode "
                f"form: {describe_near_duplicates(groups)}. churnlens compares ids with {RULE} (as a bank means "
                "them), so these are one customer twice: correct or remove one of each.")
    return norm


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
