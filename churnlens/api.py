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
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from churnlens import attribution
from churnlens.config import Config, load_config, parse_config
from churnlens.errors import ConfigError, UserInputError
from churnlens.progress import Progress
from churnlens.run import pipeline, tasks
from churnlens.run.pipeline import ReportOutcome, ReportRequest, RunState
from churnlens.run.stages import table_chunks
from churnlens.io.sources import redact_url
from churnlens.attribution.registry import is_model_uri

PathLike = Union[str, os.PathLike]
ModelLike = Union[PathLike, Any]  # a path, a fitted estimator, a Booster, or a LoadedModel
DataLike = Union[PathLike, pd.DataFrame, None]  # a file, Parquet folder, database URL (with query), or None
ConfigLike = Union[PathLike, Mapping[str, Any], Config, None]

__all__ = ["Config", "Run", "ReportOutcome", "demo", "evaluate_files", "explain", "explain_to_file", "load_config",
           "load_model", "redact_url", "run", "segment_file", "validate", "check_out"]


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
    frame = pd.concat(list(table_chunks(data, id_column=config.id_column, chunk_rows=max(len(data), 1))))
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
        config's ``data:`` block.
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
    frame = _frame(data, cfg, config_path, query=query, encoding=encoding)
    aligned = attribution.align(loaded, frame, source=_source(data), known=cfg.data_columns())
    attr = attribution.explain(loaded, aligned.X, customer_ids=frame[cfg.id_column].to_numpy(),
                               output_space=cfg.output_space)
    return _explanation(attr, aligned.X)


def _source(data: DataLike) -> str:
    if data is None:
        return "data (config)"
    return (redact_url(str(data)) if "://" in str(data) else Path(data).name) if _is_path(data) else "data (DataFrame)"


def _explanation(attr: attribution.Attributions, X: pd.DataFrame):
    import shap

    return shap.Explanation(values=attr.values, base_values=np.full(attr.n, attr.base_value),
                            data=X.to_numpy(dtype=object) if any(not pd.api.types.is_numeric_dtype(X[c])
                                                                 for c in X.columns) else X.to_numpy(),
                            feature_names=list(attr.features), instance_names=list(attr.customer_ids))


# --- the report flow ----------------------------------------------------------------------------

def run(model: ModelLike, data: DataLike, config: ConfigLike = None, *, previous: Optional[PathLike] = None,
        campaign: Optional[PathLike] = None, attribute: Optional[str] = None, trust_model: bool = False,
        model_format: Optional[str] = None, engine: str = "local", scheduler: Optional[str] = None,
        progress: bool = False, query: Optional[str] = None, encoding: Optional[str] = None,
        period: Optional[str] = None, outcomes: Optional[PathLike] = None,
        history: Optional[PathLike] = None) -> "Run":
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
    )
    from churnlens.run.engine import make_engine

    state = pipeline.start(req, cfg)
    with make_engine(engine, scheduler=scheduler) as eng, Progress(quiet=not progress) as bars:
        state = pipeline.compute(state, pipeline.Env(eng, bars))
    return Run(state)


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


@dataclass(frozen=True, eq=False)
class Run:
    """One computed run: results as objects and as DataFrames, a notebook summary, and
    :meth:`write` for the report folder.

    Attributes
    ----------
    state : RunState
        Every stage's result (``churnlens.run.pipeline.RunState``).
    """

    state: RunState

    # -- objects ------------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self.state.config

    @property
    def model(self) -> attribution.LoadedModel:
        return self.state.model

    @property
    def n_customers(self) -> int:
        return self.state.book.n

    @property
    def n_churners(self) -> int:
        return self.state.churners.count

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.state.book.warnings

    @property
    def scores(self) -> pd.Series:
        """Predicted churn probability of every customer, shape (n,), indexed by customer id."""
        return pd.Series(self.state.book.score, index=pd.Index(self.state.book.ids, name="customer_id"),
                         name="score")

    @property
    def attributions(self):
        """Exact attributions of the attributed customers (churners plus the population
        sample; everyone with ``attribute="all"``) as a ``shap.Explanation``: ``values``
        (m, f), ``base_values`` (m,), ``data`` (m, f), ``feature_names``, ``instance_names``
        (customer ids). Sliceable and plottable like shap's."""
        return _explanation(self.state.attributions, self.state.X)

    @property
    def segmentation(self):
        """The :class:`~churnlens.segmentation.results.Segmentation` of the churners."""
        return self.state.segmentation

    @property
    def segments(self) -> tuple:
        """One :class:`~churnlens.segmentation.results.SegmentSummary` per segment."""
        return self.state.segments

    @property
    def drivers(self):
        """The :class:`~churnlens.attribution.results.GlobalDrivers` of the whole book."""
        return self.state.drivers

    @property
    def plans(self) -> tuple:
        """One :class:`~churnlens.actions.results.SegmentPlan` per segment."""
        return self.state.plans

    @property
    def quality(self):
        """:class:`~churnlens.evaluation.results.ModelQuality`, None without ``label_column``."""
        return self.state.quality

    @property
    def monitoring(self):
        """:class:`~churnlens.monitoring.results.Monitoring`, None without ``previous``."""
        return self.state.monitoring

    @property
    def campaign(self):
        """:class:`~churnlens.campaign.results.CampaignEffect`, None without ``campaign``."""
        return self.state.campaign

    @property
    def backtest(self):
        """:class:`~churnlens.evaluation.results.BackTest` of last month's published scores, None without
        ``previous`` and outcomes (an outcomes file or ``label_column``)."""
        return self.state.backtest

    @property
    def in_sample(self):
        """:class:`~churnlens.evaluation.results.BackTest` with basis ``in_sample`` (labels in this table), or None."""
        return self.state.in_sample_figures

    @property
    def measured_campaign(self):
        """:class:`~churnlens.campaign.results.MeasuredCampaign` of last month's list, or None."""
        return self.state.measured

    @property
    def budget(self):
        """:class:`~churnlens.actions.results.BudgetPlan` of this month's list, None without ``budget`` in the config."""
        return self.state.budget_plan

    @property
    def trend(self):
        """:class:`~churnlens.monitoring.results.Trend` over ``history``, or None."""
        return self.state.trend

    # -- DataFrames ---------------------------------------------------------------------------
    def attributions_frame(self) -> pd.DataFrame:
        """The rows of ``attributions.parquet``: customer_id, score, base_value, ``shap__<feature>``
        per feature, raw_score, weight; shape (m, f + 5)."""
        from churnlens.attribution.io import frame

        return frame(self.state.attributions)

    def segments_frame(self) -> pd.DataFrame:
        """The rows of ``segments.csv``: one per churner (customer_id, segment, segment_name,
        membership_strength)."""
        from churnlens.run.write import machine_names
        from churnlens.segmentation.history import segments_frame

        return segments_frame(self.state.segmentation, self.state.segments, names=machine_names(self.state))

    def retention_frame(self) -> pd.DataFrame:
        """The rows of ``retention_list.csv`` (machine words: the same in every report language)."""
        return self.state.retention.frame.copy()

    def drivers_frame(self) -> pd.DataFrame:
        """One row per feature, strongest first: feature, group, mean_abs, mean_signed, share,
        direction and the risk range (risk_op, risk_low, risk_high, risk_categories)."""
        rows = []
        for d in self.state.drivers.drivers:
            r = d.risk_range
            rows.append({"feature": d.feature, "group": d.group, "mean_abs": d.mean_abs,
                         "mean_signed": d.mean_signed, "share": d.share, "direction": d.direction,
                         "risk_op": r.op if r else None, "risk_low": r.low if r else None,
                         "risk_high": r.high if r else None, "risk_categories": r.categories if r else ()})
        return pd.DataFrame(rows)

    def profiles_frame(self) -> pd.DataFrame:
        """One row per segment: key, size, share of churners, mean score, value at risk,
        stability (Jaccard) and the top drivers; one ``profile__<feature>`` column per feature
        (mean risk-raising attribution share, the signature matched month over month)."""
        rows = []
        for s in self.state.segments:
            row = {"segment": s.key, "size": s.size, "share": s.share, "mean_score": s.mean_score,
                   "value_at_risk": s.value_at_risk, "stability": s.stability,
                   "top_drivers": ", ".join(s.top_drivers)}
            row.update({f"profile__{f}": v for f, v in zip(s.profile_features, s.profile)})
            rows.append(row)
        return pd.DataFrame(rows)

    # -- display ------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        from churnlens.reports.notebook import RunSummary, SegmentLine, summary_html

        st = self.state
        segs = tuple(SegmentLine(s.key, s.size, s.share, s.mean_score, s.value_at_risk) for s in st.segments)
        return summary_html(RunSummary(
            n_customers=st.book.n, n_attributed=len(st.rows), n_churners=st.churners.count,
            n_segments=st.segmentation.n_segments, segments=segs,
            additivity_max_error=st.attributions.additivity_max_error,
            cross_check_max_abs_diff=st.cross_check.max_abs_diff, model=st.model.info.family,
        ), lang="en")

    def __repr__(self) -> str:
        st = self.state
        return (f"<churnlens.Run: {st.book.n:,} customers, {st.churners.count:,} churners in "
                f"{st.segmentation.n_segments} segment(s), additivity error {st.attributions.additivity_max_error:.1e}>")

    # -- the report folder --------------------------------------------------------------------
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
            The command line recorded in the dossier and manifest.
        progress : bool

        Returns
        -------
        ReportOutcome
            ``out``, counts and the files written.
        """
        if lang not in ("en", "zh"):
            raise UserInputError(f"lang: {lang!r} is not a report language; use 'en' or 'zh'.", argument="lang")
        req = replace(self.state.request, out=Path(out), lang=lang, formats=_formats(formats),
                      generated_at=generated_at_text(generated_at), command=command)
        pipeline.check_request(req)
        from churnlens.run.write import write_report

        with Progress(quiet=not progress) as bars, pipeline.staged_report(req, self.state.config) as staging:
            return write_report(replace(self.state, request=req), staging, progress=bars)


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
             campaign: Optional[PathLike] = None) -> str:
    """Check that model, data, config, ``previous`` and ``campaign`` fit together with the same
    checks and messages as :func:`run`; writes nothing. Returns what was found."""
    return tasks.validate_inputs(_model_arg(model), _data_arg(data), _opt_path(config), trust_model=trust_model,
                                 model_format=model_format, query=query, encoding=encoding,
                                 previous=_opt_path(previous), campaign=_opt_path(campaign))


def check_out(out: PathLike, *, previous: Optional[PathLike] = None) -> None:
    """Fail fast, before computing anything, when ``out`` is not a folder a report may replace:
    not empty and not a churnlens report folder, holding files churnlens did not write, another
    kind of churnlens folder, or the same folder as ``previous``. Raises OutputFolderError."""
    pipeline.check_out(ReportRequest(model=None, data=None, out=Path(out), previous=_opt_path(previous)))


def _opt_path(p: Optional[PathLike]) -> Optional[Path]:
    return None if p is None else Path(p)
