"""The public Python API: the report flow for notebooks and scripts (see docs/api.md).

>>> import churnlens
>>> r = churnlens.run("model.txt", "customers.csv", "config.yaml")   # doctest: +SKIP
>>> r.segments_frame().head()                                         # doctest: +SKIP
>>> r.write("report-2026-11", lang="zh")                              # doctest: +SKIP

``churnlens.run`` computes everything (scores, exact attributions, segments, actions,
quality, stability, campaign effect) and returns a :class:`Run`; :meth:`Run.write` writes
the report folder exactly as ``churnlens report`` does. The command line is a thin layer
over this module. Errors are the typed errors of :mod:`churnlens.errors`; their messages
name the argument (``model``, ``data`` ...) or config key at fault.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from churnlens import attribution
from churnlens.attribution.drivers import DriverSums
from churnlens.attribution.io import frame as attribution_frame
from churnlens.attribution.registry import is_model_uri
from churnlens.attribution.results import Attributions, CrossCheck
from churnlens.config import Config, load_config, parse_config
from churnlens.errors import ConfigError, UserInputError
from churnlens.io.sources import TableSource, redact_url
from churnlens.params import Options, Period, validate_params
from churnlens.progress import Progress
from churnlens.reports.context import NAMES, read_name
from churnlens.run.lists import retention_list
from churnlens.results import AlignedFeatures, Book, Results, SourceFeatures
from churnlens.run import pipeline, tables, tasks
from churnlens.run.customer import write_customer
from churnlens.run.engine import make_engine
from churnlens.run.request import Env, ReportOutcome, ReportRequest
from churnlens.run.stages import table_chunks
from churnlens.run.write import machine_names, write_report
from churnlens.segmentation.history import segments_frame
from churnlens.segmentation.results import ChurnerSet, Segmentation, Segments
from churnlens.reports.notebook import RunSummary, SegmentLine, summary_html

PathLike = Union[str, os.PathLike]
ModelLike = Union[PathLike, Any]  # a path, a fitted estimator, a Booster, or a LoadedModel
DataLike = Union[PathLike, pd.DataFrame, None]  # a file, Parquet folder, database URL (with query), or None
ConfigLike = Union[PathLike, Mapping[str, Any], Config, None]

__all__ = ["Config", "Run", "ReportOutcome", "demo", "evaluate_files", "explain", "explain_to_file", "load_config",
           "load_model", "redact_url", "run", "segment", "segment_file", "validate", "check_out", "customer"]


# --- arguments ----------------------------------------------------------------------------------

def _is_path(obj: object) -> bool:
    return isinstance(obj, (str, os.PathLike))


def _config(config: ConfigLike) -> tuple[Config, Optional[Path]]:
    """A :class:`Config` and the file it came from (paths in it are relative to that file)."""
    if config is None or _is_path(config):
        path = None if config is None else Path(config)
        return load_config(path), path
    if isinstance(config, Config):
        return config, None
    if isinstance(config, Mapping):
        return parse_config(dict(config), source="config (dict)"), None
    raise ConfigError(f"config: expected a path to a YAML file, a dict or a churnlens.Config; found a "
                      f"{type(config).__name__}.", argument="config")


def load_model(model: ModelLike, *, model_format: Optional[str] = None, trust_model: bool = False,
               levels: Optional[Mapping[str, Sequence[str]]] = None) -> attribution.LoadedModel:
    """Load a model file or wrap a fitted estimator for exact attributions.

    Parameters
    ----------
    model : path, MLflow URI or estimator
        A file (LightGBM .txt/.json, XGBoost .json/.ubj, .skops, or .joblib/.pkl with
        ``trust_model=True``), an MLflow model URI (``models:/NAME/STAGE``, ``models:/NAME/VERSION``,
        ``runs:/RUN_ID/PATH``; extra ``churnlens[mlflow]``), or an in-memory fitted binary classifier: ``LGBMClassifier``,
        ``lightgbm.Booster``, ``XGBClassifier``, ``xgboost.Booster``, a scikit-learn tree
        ensemble, or a scikit-learn ``Pipeline`` ending in one of those.
    model_format : {"lightgbm", "xgboost", "skops", "pickle"}, optional
        Override the format detected from the file.
    trust_model : bool
        Allow unpickling (runs code from the file: only for files you trust).
    levels : mapping of feature to levels, optional
        Training levels of native categorical features whose model file does not store them
        (``Config.levels()``: the dictionary's ``values`` keys, in training order).

    Returns
    -------
    LoadedModel
        ``.info`` holds the model card facts (family, trees, features, sha256);
        ``.predict_proba(X)`` gives the churn probability, shape (n,).
    """
    if isinstance(model, attribution.LoadedModel):
        return attribution.model.with_levels(model, dict(levels or {}))
    if is_model_uri(model):
        return attribution.load_model(str(model), trust_model=trust_model, levels=dict(levels or {}))
    if _is_path(model):
        path = Path(model)
        if not path.is_file():
            raise UserInputError(f"model: file {path} does not exist. Give the path of the trained model.",
                                 argument="model")
        return attribution.load_model(path, model_format=model_format, trust_model=trust_model,
                                      levels=dict(levels or {}))
    return attribution.model.with_levels(attribution.from_estimator(model, path=f"<{type(model).__name__}>"),
                                         dict(levels or {}))


def _frame(data: DataLike, config: Config, config_path: Optional[Path] = None, *, query: Optional[str] = None,
           encoding: Optional[str] = None) -> pd.DataFrame:
    """The whole customer table, ids as text (a path or URL is not wrapped in Path: ``sqlite:///x.db``)."""
    if data is None or _is_path(data):
        return tasks.read_checked(data, config, query=query, encoding=encoding, config_path=config_path)
    if not isinstance(data, pd.DataFrame):
        raise UserInputError(f"data: expected a path to a CSV/Parquet file or a pandas DataFrame; found a "
                             f"{type(data).__name__}.", argument="data")
    chunks = list(table_chunks(data, id_column=config.id_column, chunk_rows=max(len(data), 1)))
    frame = chunks[0] if len(chunks) == 1 else pd.concat(chunks)  # one chunk: a copy already
    return tasks.check_frame(frame, config, source="data (DataFrame)")


def explain(model: ModelLike, data: DataLike, config: ConfigLike = None, *, model_format: Optional[str] = None,
            trust_model: bool = False, query: Optional[str] = None, encoding: Optional[str] = None):
    """Exact SHAP attributions of every customer.

    Parameters
    ----------
    model : path or estimator
        As :func:`load_model`.
    data : path, URL, DataFrame or None
        The customer table: the model's features plus the config's id column. A CSV/Parquet
        file, a folder of Parquet files, a SQLAlchemy URL (with ``query``), or None for the
        config's ``data:`` block. A DataFrame without the id column is taken as it is, its
        index as the ids (``instance_names``).
    config : path, dict or Config, optional
        ``id_column`` and ``output_space`` are used (defaults: ``customer_id``, ``log_odds``).
    query, encoding : str, optional
        The SQL when ``data`` is a database URL; the text encoding of a CSV (utf-8, utf-8-sig,
        gbk, gb18030, latin-1).

    Returns
    -------
    shap.Explanation
        ``values`` (n, f) float32 in ``output_space`` units, ``base_values`` (n,),
        ``data`` (n, f) the aligned feature values, ``feature_names`` (f,), ``instance_names``
        (n,) the customer ids. ``base_values + values.sum(1)`` is the model's output.
        Slice it like shap's (``e[0]``, ``e[:, "balance"]``) and plot it with ``shap.plots``.
    """
    cfg, config_path = _config(config)
    loaded = load_model(model, model_format=model_format, trust_model=trust_model, levels=cfg.levels())
    if isinstance(data, pd.DataFrame) and cfg.id_column not in data.columns:  # any X, as shap's explainers take
        data = data.assign(**{cfg.id_column: data.index.astype(str)})
    frame = _frame(data, cfg, config_path, query=query, encoding=encoding)
    aligned = attribution.align(loaded, frame, source=_source(data), known=cfg.data_columns())
    attr = attribution.explain(loaded, aligned.X, customer_ids=frame[cfg.id_column].to_numpy(),
                               output_space=cfg.output_space)
    return _explanation(attr, aligned.X)


def segment(attributions: Union[PathLike, attribution.Attributions], config: ConfigLike = None) -> tasks.Segmented:
    """Segment the churners of computed attributions by why they are leaving, as ``churnlens
    segment`` does (churners selected by score: ``churners.by`` "score" or "top_fraction").

    Parameters
    ----------
    attributions : path or Attributions
        An ``attributions.parquet`` (of ``churnlens explain`` or a report folder), or the
        attributions of a :class:`Run` (``run.get(Attributions)``).
    config : path, dict or Config, optional

    Returns
    -------
    Segmented
        ``churners`` (ChurnerSet), ``segmentation``, ``segments`` (one SegmentSummary each) and
        ``frame()``: the rows of ``segments.csv``.
    """
    cfg, _ = _config(config)
    if _is_path(attributions):
        path = Path(attributions)
        if not path.is_file():
            raise UserInputError(f"attributions: file {path} does not exist. Give an attributions.parquet written "
                                 "by churnlens explain or churnlens report.", argument="attributions")
        attributions = attribution.read_attributions(path)
    if not isinstance(attributions, attribution.Attributions):
        raise UserInputError(f"attributions: expected a path to attributions.parquet or Attributions; found a "
                             f"{type(attributions).__name__}.", argument="attributions")
    return tasks.segment_churners(attributions, cfg)


def _source(data: DataLike) -> str:
    if data is None:
        return "data (config)"
    return (redact_url(str(data)) if "://" in str(data) else Path(data).name) if _is_path(data) else "data (DataFrame)"


def _explanation(attr: attribution.Attributions, X: pd.DataFrame):
    """shap's ``Explanation``: ``data`` numeric (a categorical feature as its level's code, as
    shap's own explainers give it, so ``.cohorts(n)`` and the plots work), the levels themselves
    in ``display_data``."""
    import shap  # noqa: PLC0415 -- listed lazy import: shap is slow to import

    text = [c for c, dt in zip(X.columns, X.dtypes) if not pd.api.types.is_numeric_dtype(dt)
            or isinstance(dt, pd.CategoricalDtype)]
    if text:
        data = X.assign(**{c: pd.Categorical(X[c]).codes.astype(np.float64) for c in text})
        data = data.assign(**{c: data[c].where(X[c].notna(), np.nan) for c in text})
    else:  # every column a number already (the usual book): one float64 copy, no per-column frames
        data = X
    return shap.Explanation(values=attr.values, base_values=np.full(attr.n, attr.base_value),
                            data=np.array(data.to_numpy(dtype=np.float64), dtype=np.float64, copy=True),
                            display_data=X.to_numpy(dtype=object) if text else None,
                            feature_names=list(attr.features), instance_names=list(attr.customer_ids))


# --- the report flow ----------------------------------------------------------------------------

@validate_params(attribute=Options("targeted", "all", optional=True), engine=Options("local", "dask"),
                 period=Period(), progress=Options(True, False), trust_model=Options(True, False),
                 strict=Options(True, False))
def run(model: ModelLike, data: DataLike, config: ConfigLike = None, *, previous: Optional[PathLike] = None,
        campaign: Optional[PathLike] = None, attribute: Optional[str] = None, trust_model: bool = False,
        model_format: Optional[str] = None, engine: str = "local", scheduler: Optional[str] = None,
        progress: bool = False, query: Optional[str] = None, encoding: Optional[str] = None,
        period: Optional[str] = None, outcomes: Optional[PathLike] = None,
        history: Optional[PathLike] = None, strict: bool = False) -> "Run":
    """Score, explain, segment and plan actions for a customer book.

    Parameters
    ----------
    model : path or estimator
        As :func:`load_model`.
    data : path, URL, DataFrame or None
        The customer table, streamed in ``attribution.chunk_rows`` chunks: a CSV/Parquet file, a
        folder of Parquet files (hive partitions become columns), a SQLAlchemy URL with ``query``
        (credentials as ``${VAR}`` from the environment), or None for the config's ``data:`` block.
    config : path, dict or Config, optional
        The configuration (docs/config.md); paths inside a config file are relative to it.
    previous : path, optional
        Last month's report folder: stability (PSI, driver drift) and segment migration.
    campaign : path, optional
        Campaign outcomes (customer id, arm, observed churn) for the uplift section.
    attribute : {"targeted", "all"}, optional
        Overrides ``attribution.mode``.
    trust_model, model_format
        As :func:`load_model`.
    engine : {"local", "dask"}
        Where scoring and attributions run; ``scheduler`` is a Dask address (``tcp://host:8786``),
        without it a local cluster is started.
    progress : bool
        Progress bars on stderr (interactive terminals only).
    query, encoding : str, optional
        The SQL when ``data`` is a database URL (overrides ``data.query``); the text encoding
        of a CSV (overrides ``data.encoding``).
    period : str, optional
        Reporting period ``YYYY-MM`` (overrides ``report.period``).
    outcomes : path, optional
        Observed churn of last month's customers (CSV/Parquet: id column and ``churned`` 0/1);
        with ``previous``: back-test of last month's published scores and list, measured campaign
        effect and uplift. Without it, ``label_column`` of this table serves for last month's customers.
    history : path, optional
        Folder of earlier months' report folders: the trend page.
    strict : bool
        Refuse (instead of a warning) a ``previous`` folder whose files do not match its manifest.

    Returns
    -------
    Run
    """
    cfg, config_path = _config(config)
    if not (data is None or _is_path(data) or isinstance(data, pd.DataFrame)):
        _frame(data, cfg)  # raises the typed error naming ``data``
    if not (_is_path(model) or isinstance(model, attribution.LoadedModel)):
        model = load_model(model)
    req = ReportRequest(
        model=(str(model) if is_model_uri(model) else Path(model)) if _is_path(model) else model,
        data=data,  # a path, URL, DataFrame or None: resolved by pipeline.start (never wrapped in Path)
        config=config_path, previous=None if previous is None else Path(previous),
        campaign=None if campaign is None else Path(campaign), trust_model=trust_model, model_format=model_format,
        attribute=attribute, engine=engine, scheduler=scheduler, formats=(), query=query, encoding=encoding,
        period=period,
        outcomes=None if outcomes is None else Path(outcomes), history=None if history is None else Path(history),
        strict=strict,
    )
    results = pipeline.start(req, cfg)
    with make_engine(engine, scheduler=scheduler) as eng, Progress(quiet=not progress) as bars:
        results = pipeline.compute(results, Env(eng, bars))
    return Run(results)


def generated_at_text(value: Optional[str]) -> str:
    """The timestamp printed in the reports: ``value`` (ISO 8601), else SOURCE_DATE_EPOCH, else now (UTC)."""
    if value:
        try:
            return datetime.fromisoformat(value).isoformat()
        except ValueError:
            raise UserInputError(f"generated_at: {value!r} is not an ISO 8601 time like 2026-11-30T08:00:00+00:00.",
                                 argument="generated_at") from None
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), timezone.utc).isoformat()
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _formats(formats: Union[str, Sequence[str]]) -> tuple[str, ...]:
    items = formats.split(",") if isinstance(formats, str) else formats
    return tuple(f.strip().lower() for f in items if f.strip())


# the report's names (churnlens.reports.context.NAMES) and what only a notebook user needs
RUN_NAMES = {**NAMES, "model": (attribution.LoadedModel, None), "driver_sums": (DriverSums, None)}


class Run:
    """One computed run: its results by name and by type, as DataFrames, as shap objects, a
    notebook summary, and :meth:`write` for the report folder.

    ``run.segments``, ``run["segments"]`` and ``run.get(Segments)`` read the run's results
    (the names are those of :data:`churnlens.reports.context.NAMES`: ``attributions``, ``drivers``,
    ``segmentation``, ``segments``, ``plans``, ``quality``, ``monitoring``, ``campaign``,
    ``backtest``, ``in_sample``, ``measured``, ``budget``, ``trend`` ...); a result this run did
    not compute reads as None. :meth:`table` gives every table of the report folder's
    ``tables/`` from the same function that writes it.
    """

    __slots__ = ("_results",)

    def __init__(self, results: Results) -> None:
        self._results = results

    # -- results ------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name in RUN_NAMES:
            return read_name(self._results, name, RUN_NAMES)
        raise AttributeError(f"Run has no {name!r}; results by name: {', '.join(sorted(RUN_NAMES))}")

    def __getitem__(self, name: str) -> Any:
        if name not in RUN_NAMES:
            raise KeyError(f"{name!r}: no such result; results by name: {', '.join(sorted(RUN_NAMES))}")
        return read_name(self._results, name, RUN_NAMES)

    def get(self, kind: type) -> Any:
        """The result of type ``kind`` (e.g. ``churnlens.segmentation.results.Segmentation``), or None."""
        return self._results.get(kind)

    def names(self) -> tuple[str, ...]:
        """The names of the results this run holds."""
        return tuple(n for n, (kind, _) in RUN_NAMES.items() if kind in self._results)

    @property
    def n_customers(self) -> int:
        return self._results[Book].n

    @property
    def n_churners(self) -> int:
        return self._results[ChurnerSet].count

    @property
    def warnings(self) -> tuple[str, ...]:
        return self._results[Book].warnings

    @property
    def scores(self) -> pd.Series:
        """Predicted churn probability of every customer, shape (n,), indexed by customer id."""
        book = self._results[Book]
        return pd.Series(book.score, index=pd.Index(book.ids, name="customer_id"), name="score")

    @property
    def attributions(self):
        """Exact attributions of the attributed customers (churners plus the population
        sample; everyone with ``attribute="all"``) as a ``shap.Explanation``: ``values``
        (m, f), ``base_values`` (m,), ``data`` (m, f), ``feature_names``, ``instance_names``
        (customer ids). Sliceable and plottable like shap's."""
        return _explanation(self._results[Attributions], self._results[SourceFeatures].frame)

    def cohorts(self):
        """The attributions as ``shap.Cohorts`` keyed by segment (``"S1"``, ... and ``"MIX"``
        for churners of no segment), over the churners: ``shap.plots.bar(run.cohorts().abs.mean(0))``."""
        import shap  # noqa: PLC0415 -- listed lazy import: shap is slow to import

        keys = self._results[Segments].keys
        churners = self._results[ChurnerSet].mask
        e = self.attributions
        names = {s.key: s.key for s in self._results[Segments].items}
        return shap.Cohorts(**{names.get(k, k) or "MIX": e[np.flatnonzero(churners & (keys == k))]
                               for k in sorted(set(keys[churners].astype(str)))})

    # -- DataFrames ---------------------------------------------------------------------------
    def table(self, name: str) -> pd.DataFrame:
        """A table of the report folder's ``tables/`` (``drivers``, ``segment_profiles``,
        ``retention_plan``, ``backtest`` ...), by the function that writes the file."""
        frames = tables.tables(self._results)
        if name not in frames:
            raise KeyError(f"{name!r}: no such table in this run; tables: {', '.join(sorted(frames))}")
        return frames[name]

    def attributions_frame(self) -> pd.DataFrame:
        """The rows of ``attributions.parquet``: customer_id, score, base_value, ``shap__<feature>``
        per feature, raw_score, weight; shape (m, f + 5)."""
        return attribution_frame(self._results[Attributions])

    def segments_frame(self) -> pd.DataFrame:
        """The rows of ``segments.csv``: one per churner (customer_id, segment, segment_name,
        membership_strength, secondary_segment)."""
        return segments_frame(self._results[Segmentation], self._results[Segments].items,
                              names=machine_names(self._results))

    def retention_frame(self) -> pd.DataFrame:
        """The rows of ``retention_list.csv`` (machine words: the same in every report language)."""
        return retention_list(self._results).frame.copy()

    def drivers_frame(self) -> pd.DataFrame:
        """The rows of ``tables/drivers.csv``."""
        return self.table("drivers")

    def profiles_frame(self) -> pd.DataFrame:
        """The rows of ``tables/segment_profiles.csv``."""
        return self.table("segment_profiles")

    # -- display ------------------------------------------------------------------------------
    def _repr_html_(self) -> str:

        r = self._results
        segs = tuple(SegmentLine(s.key, s.size, s.share, s.mean_score, s.value_at_risk) for s in r[Segments].items)
        return summary_html(RunSummary(
            n_customers=r[Book].n, n_attributed=len(r[AlignedFeatures].rows), n_churners=r[ChurnerSet].count,
            n_segments=r[Segmentation].n_segments, segments=segs,
            additivity_max_error=r[Attributions].additivity_max_error,
            cross_check_max_abs_diff=r[CrossCheck].max_abs_diff, model=r[attribution.LoadedModel].info.family,
        ), lang="en")

    def __repr__(self) -> str:
        r = self._results
        return (f"<churnlens.Run: {r[Book].n:,} customers, {r[ChurnerSet].count:,} churners in "
                f"{r[Segmentation].n_segments} segment(s), additivity error "
                f"{r[Attributions].additivity_max_error:.1e}>")

    # -- the report folder --------------------------------------------------------------------
    @validate_params(lang=Options("en", "zh"), progress=Options(True, False))
    def write(self, out: PathLike, *, lang: str = "en", formats: Union[str, Sequence[str]] = ("html", "pdf"),
              generated_at: Optional[str] = None, command: str = "", progress: bool = False) -> ReportOutcome:
        """Write the report folder exactly as ``churnlens report`` does (docs/report-folder.md).

        Parameters
        ----------
        out : path
            The folder; written atomically (a failed write leaves a previous folder as it was).
        lang : {"en", "zh"}
        formats : sequence of {"html", "pdf"}, or "html,pdf"
        generated_at : str, optional
            ISO 8601 time printed in the documents; fix it for byte-identical output.
            Default: SOURCE_DATE_EPOCH, else now.
        command : str
            The command line recorded in the dossier and manifest; default: the Python call
            that reproduces this run (``churnlens.run(...)`` with its arguments, then ``write``).

        Returns
        -------
        ReportOutcome
            ``out``, counts and the files written.
        """
        base = self._results[ReportRequest]
        req = replace(base, out=Path(out), lang=lang, formats=_formats(formats),
                      generated_at=generated_at_text(generated_at),
                      command=command or python_recipe(base, Path(out), lang))
        pipeline.check_request(req)
        with Progress(quiet=not progress) as bars, pipeline.staged_report(req, self._results[Config]) as staging:
            return write_report(self._results.with_(req), staging, progress=bars)


def python_recipe(req: ReportRequest, out: Path, lang: str) -> str:
    """The Python calls that reproduce a run written from Python (paths absolute, so it works
    from any folder; in-memory models and tables are named by kind)."""
    def arg(v: Any) -> str:
        if isinstance(v, (str, os.PathLike)):
            text = str(v)
            return repr(text if "://" in text or text.startswith(("models:/", "runs:/")) else
                        str(Path(text).absolute()))
        if isinstance(v, pd.DataFrame):
            return "<DataFrame>"
        if isinstance(v, TableSource):
            return repr(v.location if v.kind == "sql" else str(Path(v.path).absolute()))
        return f"<{type(v).__name__}>"

    opts = [f"{k}={arg(getattr(req, k))}" for k in ("previous", "campaign", "outcomes", "history")
            if getattr(req, k) is not None]
    opts += [f"{k}={getattr(req, k)!r}" for k in ("attribute", "period") if getattr(req, k) is not None]
    if req.engine != "local":
        opts.append(f"engine={req.engine!r}")
    args = ", ".join([arg(req.model), arg(req.data), arg(req.config) if req.config else "None", *opts])
    return f"import churnlens; churnlens.run({args}).write({str(out.absolute())!r}, lang={lang!r})"


# --- the other commands -------------------------------------------------------------------------

def demo(out: PathLike, *, customers: int = 50_000, seed: int = 0, lang: str = "en",
         formats: Union[str, Sequence[str]] = ("html", "pdf"), generated_at: Optional[str] = None,
         command: str = "", progress: bool = False) -> ReportOutcome:
    """Generate the synthetic demo bank (customers, model, config) into ``out/inputs`` and write
    its report folder into ``out`` through the same flow as :func:`run`."""
    with Progress(quiet=not progress) as bars:
        return pipeline.run_demo(Path(out), n_customers=customers, seed=seed, lang=lang, formats=_formats(formats),
                                 command=command, generated_at=generated_at_text(generated_at), progress=bars)


def _model_arg(model):
    return str(model) if is_model_uri(model) else Path(model)


def _data_arg(data):
    return None if data is None else str(data) if "://" in str(data) else Path(data)


def explain_to_file(model: PathLike, data: Optional[PathLike], config: Optional[PathLike], out: PathLike, *,
                    trust_model: bool = False, model_format: Optional[str] = None, query: Optional[str] = None,
                    encoding: Optional[str] = None) -> int:
    """Exact attributions of every customer written to ``out`` (Parquet). Returns the rows written.
    ``data``, ``query`` and ``encoding`` as in :func:`run`; ``model`` a file or an MLflow URI."""
    return tasks.explain_to_parquet(_model_arg(model), _data_arg(data), _opt_path(config), Path(out),
                                    trust_model=trust_model, model_format=model_format, query=query,
                                    encoding=encoding)


def segment_file(attributions: PathLike, config: Optional[PathLike], out: PathLike) -> tasks.SegmentOutcome:
    """Segment the churners of an attributions file into ``out/segments.csv``."""
    return tasks.segment_attributions(Path(attributions), _opt_path(config), Path(out))


def evaluate_files(models: Sequence[PathLike], data: Optional[PathLike], config: Optional[PathLike], out: PathLike, *,
                   trust_model: bool = False, model_format: Optional[str] = None, lang: str = "en",
                   generated_at: Optional[str] = None, query: Optional[str] = None,
                   encoding: Optional[str] = None, data_for: Optional[Mapping[str, PathLike]] = None,
                   formats: Union[str, Sequence[str]] = ("html", "pdf")) -> str:
    """Compare models on the same labelled customers with evidence (bootstrap intervals, DeLong's
    test); writes the comparison into ``out``. ``data_for`` maps a model (its file name) to its
    own encoding of the customers (matched by id). Returns the verdict (in ``lang``)."""
    return tasks.evaluate_models([_model_arg(m) for m in models], _data_arg(data), _opt_path(config), Path(out),
                                 trust_model=trust_model, model_format=model_format, lang=lang,
                                 generated_at=generated_at_text(generated_at), query=query, encoding=encoding,
                                 data_for={k: Path(v) for k, v in (data_for or {}).items()},
                                 formats=_formats(formats))


def validate(model: PathLike, data: Optional[PathLike] = None, config: Optional[PathLike] = None, *,
             trust_model: bool = False, model_format: Optional[str] = None, query: Optional[str] = None,
             encoding: Optional[str] = None, previous: Optional[PathLike] = None,
             campaign: Optional[PathLike] = None, strict: bool = False) -> str:
    """Check that model, data, config, ``previous`` and ``campaign`` fit together with the same
    checks and messages as :func:`run`; writes nothing. Returns what was found."""
    return tasks.validate_inputs(_model_arg(model), _data_arg(data), _opt_path(config), trust_model=trust_model,
                                 model_format=model_format, query=query, encoding=encoding,
                                 previous=_opt_path(previous), campaign=_opt_path(campaign), strict=strict)


@validate_params(lang=Options("en", "zh"))
def customer(customer_id: Any, *, report: PathLike, out: Optional[PathLike] = None, lang: str = "en") -> Path:
    """Write one customer's explanation on request from a report folder (``churnlens customer``):
    one page in English and Chinese (``lang`` first) with the data used in business words, the
    main reasons with their sizes, what would change the outcome, the action proposed and how to
    refuse personalised marketing (``report.refusal_contact``), with the model and data
    fingerprints of the month. Only this customer's rows of the folder are read.

    Parameters
    ----------
    customer_id : str
        The id as in the customer table (surrounding spaces and Unicode forms normalised as
        everywhere in churnlens; leading zeros and letter case are part of it).
    report : path
        A report folder written by ``churnlens report``.
    out : path, optional
        ``.pdf`` or ``.html``; default ``explanation-<id>.pdf`` in the working folder. An existing
        file is replaced only when churnlens wrote it; never inside ``report``.
    lang : {"en", "zh"}
        The language printed first (both are always on the page).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    UnknownCustomerError
        No customer of the folder has this id.
    """
    return write_customer(customer_id, Path(report), None if out is None else Path(out), lang=lang)


def check_out(out: PathLike, *, previous: Optional[PathLike] = None) -> None:
    """Fail fast, before computing anything, when ``out`` is not a folder a report may replace:
    not empty and not a churnlens report folder, holding files churnlens did not write, another
    kind of churnlens folder, or the same folder as ``previous``. Raises OutputFolderError."""
    pipeline.check_out(ReportRequest(model=None, data=None, out=Path(out), previous=_opt_path(previous)))


def _opt_path(p: Optional[PathLike]) -> Optional[Path]:
    return None if p is None else Path(p)
