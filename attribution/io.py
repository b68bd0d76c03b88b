"""``attributions.parquet``: customer_id, score, base_value, one ``shap__<feature>`` per feature,
then raw_score (the model's raw output) and, when only part of the book is attributed, weight.

The parquet schema metadata carries what the columns do not (output space, method,
additivity error, feature order), so :func:`read_attributions` returns exactly the
:class:`Attributions` that was written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from churnlens.attribution.results import Attributions
from churnlens.errors import InputFileError

PREFIX = "shap__"
_META = b"churnlens.attributions"
_RAW = b"churnlens.raw_score"  # float64 little-endian bytes, one per row
REQUIRED = ("customer_id", "score", "base_value")
DICTIONARY_COLUMNS = ("customer_id", "base_value", "weight")


def frame(a: Attributions) -> pd.DataFrame:
    """The columns of ``attributions.parquet`` as a DataFrame, shape (n, f + 4 or 5)."""
    return _block_table(a).to_pandas()


def _block_table(a: Attributions):
    import pyarrow as pa

    cols = {
        "customer_id": pa.array(a.customer_ids),
        "score": pa.array(np.asarray(a.score, dtype=np.float64)),
        "base_value": pa.array(np.full(a.n, a.base_value, dtype=np.float64)),
    }
    for j, name in enumerate(a.features):
        cols[PREFIX + name] = pa.array(np.ascontiguousarray(a.values[:, j], dtype=np.float32))
    cols["raw_score"] = pa.array(np.asarray(a.raw_score, dtype=np.float64))
    if a.weight is not None:
        cols["weight"] = pa.array(np.asarray(a.weight, dtype=np.float64))
    return pa.table(cols)


def _meta(a: Attributions, additivity_max_error: float) -> dict:
    return {_META: json.dumps({
        "version": 2,
        "features": list(a.features),
        "base_value": a.base_value,  # JSON floats round-trip exactly (repr)
        "output_space": a.output_space,
        "additivity_max_error": additivity_max_error,
        "method": a.method,
    }).encode("utf-8")}


class AttributionsWriter:
    """Write ``attributions.parquet`` block by block as attributions are computed, so the file
    never needs the whole matrix at once; the metadata (max additivity error over all blocks)
    is added when the writer closes. The file appears under ``path`` only after ``close``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._writer = None
        self._first: Attributions | None = None
        self._max_err = 0.0

    def write(self, block: Attributions) -> None:
        import pyarrow.parquet as pq

        table = _block_table(block)
        if self._writer is None:
            # dictionary encoding only where values repeat: on the attribution and score columns
            # (distinct floats) it costs most of the writing time and makes the file larger
            self._writer = pq.ParquetWriter(self._tmp, table.schema, use_dictionary=list(DICTIONARY_COLUMNS))
            self._first = block
        elif block.features != self._first.features or (block.weight is None) != (self._first.weight is None):
            raise ValueError("attribution blocks of one file must share features and weighting")
        self._writer.write_table(table)
        self._max_err = max(self._max_err, block.additivity_max_error)

    def close(self) -> None:
        if self._writer is None:
            raise ValueError("no attributions were written")
        self._writer.add_key_value_metadata(_meta(self._first, self._max_err))
        self._writer.close()
        os.replace(self._tmp, self.path)


def write_attributions(path: str | Path, attributions: Attributions) -> None:
    """Write ``attributions`` to a parquet file (atomically: temp file, then rename)."""
    writer = AttributionsWriter(path)
    writer.write(attributions)
    writer.close()


def read_attributions(path: str | Path) -> Attributions:
    """Read a file written by :func:`write_attributions` (or any file with the SPEC columns).

    Files without churnlens metadata get ``raw_score = base_value + sum(values)``,
    ``output_space`` "log_odds", NaN additivity error and a method saying so.

    Raises
    ------
    InputFileError
        Missing or unreadable file, or missing columns (named in the message).
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"attributions: file {path} does not exist. Write it first with churnlens.explain_to_file "
                             f"(command `churnlens explain`), out={path.name}.", argument="attributions")
    try:
        table = pq.read_table(path)
    except Exception as err:
        raise InputFileError(f"Attributions file {path} is not a readable parquet file: {err}") from None
    names = table.column_names
    # key-values added at close by AttributionsWriter live in the file footer, not the schema
    meta_raw = {**(table.schema.metadata or {}), **(pq.read_metadata(path).metadata or {})}
    meta = json.loads(meta_raw[_META].decode("utf-8")) if _META in meta_raw else None
    features = list(meta["features"]) if meta else [c[len(PREFIX):] for c in names if c.startswith(PREFIX)]
    missing = [c for c in REQUIRED if c not in names] + [PREFIX + f for f in features if PREFIX + f not in names]
    if missing or not features:
        what = ", ".join(missing) if missing else f"any '{PREFIX}<feature>' column"
        raise InputFileError(
            f"Attributions file {path} lacks {what}. Expected columns: customer_id, score, base_value and one "
            f"'{PREFIX}<feature>' per feature; found: {', '.join(names)}. Recreate it with 'churnlens explain'."
        )
    n = table.num_rows
    ids = table.column("customer_id").to_numpy()
    if ids.dtype.kind in "OUT":
        ids = pd.Index(ids).to_numpy(copy=True)  # same representation as explain() produces
    values = np.empty((n, len(features)), dtype=np.float32)
    for j, f in enumerate(features):
        values[:, j] = table.column(PREFIX + f).to_numpy()
    score = np.asarray(table.column("score").to_numpy(), dtype=np.float64)
    weight = np.asarray(table.column("weight").to_numpy(), dtype=np.float64) if "weight" in names else None
    if meta:
        base = float(meta["base_value"])
        if "raw_score" in names:
            raw = np.asarray(table.column("raw_score").to_numpy(), dtype=np.float64)
        elif _RAW in meta_raw:  # files of version 1 kept raw scores in the metadata
            raw = np.frombuffer(meta_raw[_RAW], dtype="<f8").astype(np.float64)
        else:
            raw = None
        if raw is None or raw.shape != (n,):
            raw = base + values.sum(axis=1, dtype=np.float64)
        return Attributions(
            customer_ids=ids, features=tuple(features), values=values, base_value=base, raw_score=raw,
            score=score, output_space=str(meta["output_space"]),
            additivity_max_error=float(meta["additivity_max_error"]), method=str(meta["method"]), weight=weight,
        )
    base = float(table.column("base_value").to_numpy()[0]) if n else 0.0
    return Attributions(
        customer_ids=ids, features=tuple(features), values=values, base_value=base,
        raw_score=base + values.sum(axis=1, dtype=np.float64), score=score, output_space="log_odds",
        additivity_max_error=float("nan"),
        method=f"read from {path.name} (no churnlens metadata; raw score reconstructed from the attributions)",
        weight=weight,
    )


def stored_additivity_error(a: Attributions) -> float:
    """Largest ``|base + sum(values) - model output|`` recomputed from the values as
    ``attributions.parquet`` stores them (float32), summed in float64: what a reader of the file
    can verify (``additivity_max_error`` is measured in float64 before the cast). The model
    output is ``raw_score`` in log-odds space and ``score`` in probability space. NaN for no rows."""
    if a.n == 0:
        return float("nan")
    stored = np.asarray(a.values, dtype=np.float32).astype(np.float64)
    output = np.asarray(a.raw_score if a.output_space == "log_odds" else a.score, dtype=np.float64)
    return float(np.max(np.abs(a.base_value + stored.sum(axis=1) - output)))
