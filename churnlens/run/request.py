"""What a report run is asked to do and what it hands back: types only (no flow, no steps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import pandas as pd

from churnlens.io.sources import TableSource
from churnlens.progress import Progress

DataLike = Union[Path, TableSource, pd.DataFrame, None]


@dataclass(frozen=True)
class ReportRequest:
    """Everything a report run was asked to do.

    ``model`` is a path, an MLflow model URI (``models:/NAME/STAGE``, ``runs:/RUN_ID/PATH``) or an
    already loaded :class:`~churnlens.attribution.LoadedModel`; ``data`` a path (CSV/Parquet file,
    Parquet folder), a database URL (with ``query``), a :class:`~churnlens.io.sources.TableSource`,
    a DataFrame, or None for the config's ``data:`` block (:func:`churnlens.run.pipeline.start`
    resolves it). ``out``, ``lang``, ``formats``, ``command`` and ``generated_at`` only matter
    when the report folder is written.
    """

    model: Any
    data: DataLike
    out: Optional[Path] = None
    config: Optional[Path] = None
    lang: str = "en"
    previous: Optional[Path] = None
    campaign: Optional[Path] = None
    trust_model: bool = False
    model_format: Optional[str] = None
    formats: tuple[str, ...] = ("html", "pdf")
    command: str = ""
    generated_at: str = ""  # ISO 8601; empty = now (UTC)
    quiet: bool = False
    attribute: Optional[str] = None  # "targeted" | "all": overrides config attribution.mode
    engine: str = "local"  # "local" | "dask"
    scheduler: Optional[str] = None  # Dask scheduler address; None starts a local cluster
    query: Optional[str] = None  # SQL selecting the table when ``data`` is a database URL
    encoding: Optional[str] = None  # CSV text encoding (overrides data.encoding)
    period: Optional[str] = None  # YYYY-MM: overrides report.period
    outcomes: Optional[Path] = None  # observed churn of last month's customers (with ``previous``)
    history: Optional[Path] = None  # folder of earlier report folders (trend page)
    strict: bool = False  # a previous folder that does not match its manifest is an error, not a warning

    @property
    def source(self) -> str:
        """How messages name the customer table."""
        data = self.data
        if isinstance(data, pd.DataFrame):
            return "data (DataFrame)"
        return data.name if isinstance(data, TableSource) else Path(data).name


@dataclass(frozen=True)
class ReportOutcome:
    out: Path
    n_customers: int
    n_churners: int
    n_segments: int
    files: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())
    warning_codes: tuple[str, ...] = field(default=())  # one per warning: data | do_not_contact_unmatched | previous_changed


@dataclass(frozen=True)
class Env:
    """What steps use but do not produce: where chunks run and where progress goes."""

    engine: Any
    progress: Progress
