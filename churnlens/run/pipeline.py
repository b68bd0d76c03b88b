"""The monthly report flow: model + customer table + config -> results -> report folder.

The flow is a list of named stages (:func:`_stages`) over one frozen :class:`RunState`:
each stage reads the fields earlier stages set and returns a copy with its own fields set
(:mod:`churnlens.run.stages`). Single-core stages that do not read each other's fields are
grouped in :class:`Beside` and run two at a time. :func:`compute` runs them; :func:`churnlens.run.write.write_report`
turns the finished state into the report folder. ``churnlens report``, ``churnlens demo`` and
the Python API (:func:`churnlens.run`) all go through these two functions.

To add a step: write ``def my_step(state, env) -> RunState`` in :mod:`churnlens.run.stages`
(<= ~60 lines, returning ``replace(state, my_field=...)``), add ``my_field`` to
:class:`RunState` and ``("my step", my_step)`` to :func:`_stages` after the stages it reads
(never in a :class:`Beside` group beside a stage it reads or that reads it).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import pandas as pd

from churnlens.config import Config, beside_config, load_config
from churnlens.errors import InputFileError, OutputFolderError
from churnlens.io.atomic import check_out as check_out_folder, declare_inputs, staged_folder
from churnlens.io.sources import TableSource, resolve_data
from churnlens.progress import Progress
from churnlens.sampling import population_sample  # noqa: F401  (re-exported: tests and benchmarks)

DataLike = Union[Path, TableSource, pd.DataFrame, None]


@dataclass(frozen=True)
class ReportRequest:
    """Everything a report run was asked to do.

    ``model`` is a path, an MLflow model URI (``models:/NAME/STAGE``, ``runs:/RUN_ID/PATH``) or an
    already loaded :class:`~churnlens.attribution.LoadedModel`; ``data`` a path (CSV/Parquet file,
    Parquet folder), a database URL (with ``query``), a :class:`~churnlens.io.sources.TableSource`,
    a DataFrame, or None for the config's ``data:`` block (:func:`start` resolves it). ``out``, ``lang``, ``formats``,
    ``command`` and ``generated_at`` only matter when the report folder is written.
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


@dataclass(frozen=True)
class ReportOutcome:
    out: Path
    n_customers: int
    n_churners: int
    n_segments: int
    files: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Book:
    """What the scan keeps of every customer: a few numbers each, never the feature matrix."""

    ids: np.ndarray  # (n,)
    score: np.ndarray  # (n,) predicted churn probability
    value: Optional[np.ndarray]  # (n,) money at risk
    label: Optional[np.ndarray]  # (n,) observed churn
    kept: pd.DataFrame  # aligned features of the rows kept during the scan (index = book row)
    sample: np.ndarray  # (n,) bool: the population sample (see population_sample)
    warnings: tuple[str, ...]

    @property
    def n(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True, eq=False)
class RunState:
    """One run, filled stage by stage. ``None`` = not computed (yet, or not applicable).

    Row-aligned fields below ``rows`` describe the attributed customers (the selected
    churners plus the population sample, or everyone with ``attribution.mode: all``), in
    book order; ``rows`` are their positions in the book.
    """

    request: ReportRequest
    config: Config
    # load model: the model and everything the user can get wrong, checked before the scan
    model: Any = None  # LoadedModel
    sources: Any = None  # FeatureSources: model columns -> source features (data dictionary)
    rules: tuple = ()  # PlaybookRule
    do_not_contact: Optional[frozenset] = None
    salt: str = ""
    campaign_table: Optional[pd.DataFrame] = None
    # read and score
    book: Optional[Book] = None
    book_churners: Any = None  # ChurnerSet over the whole book
    in_sample: Optional[np.ndarray] = None  # (n,) bool: the global views' sample
    # gather
    rows: Optional[np.ndarray] = None  # (m,) book positions attributed
    X: Optional[pd.DataFrame] = None  # (m, f) aligned features; source features once attributed
    X_model: Optional[pd.DataFrame] = None  # (m, c) the model's own aligned columns (cross-check)
    # attributions
    attributions: Any = None  # Attributions (m, f)
    reasons: Any = None  # ReasonCodes (m, k): features and values, worded by reports
    driver_sums: Any = None  # DriverSums over the weighted blocks
    # checks and summaries
    cross_check: Any = None  # CrossCheck
    interactions: tuple = ()  # SegmentInteractions per segment (top interacting driver pairs)
    drivers: Any = None  # GlobalDrivers
    churners: Any = None  # ChurnerSet over the attributed rows
    segmentation: Any = None  # Segmentation
    segments: tuple = ()  # SegmentSummary
    previous: Any = None  # last month's segments (PreviousSegments)
    migration: Any = None  # Migration
    quality: Any = None  # ModelQuality
    monitoring: Any = None  # Monitoring
    segment_keys: Optional[np.ndarray] = None  # (m,) segment key of each attributed row ("" = not a churner)
    profiles: Any = None  # SegmentProfiles
    segment_rules: Any = None  # SegmentRules: surrogate-tree rules and per-segment quality
    targeting: Any = None  # Targeting
    customer_rule: Optional[np.ndarray] = None  # (m,) matching customer-level playbook rule
    plans: tuple = ()  # SegmentPlan
    retention: Any = None  # RetentionList (machine words)
    retention_terms: Any = None  # (uplift, extra_cost) of the list, set by expected_values when it changes them
    campaign: Any = None  # CampaignEffect
    # the monthly loop (churnlens.run.loop)
    outcomes: Optional[pd.DataFrame] = None  # customer_id, churned of last month's customers
    published: Any = None  # Published: last month's scores and list
    history: tuple = ()  # MonthSummary of earlier months
    history_skipped: int = 0
    backtest: Any = None  # BackTest of last month's scores
    in_sample_figures: Any = None  # BackTest with basis "in_sample" (labels in this table)
    measured: Any = None  # MeasuredCampaign of last month's list
    budget_plan: Any = None  # BudgetPlan
    trend: Any = None  # Trend
    omitted: tuple[tuple[str, str], ...] = ()  # (section id, reason code)
    timings: tuple[tuple[str, float], ...] = ()  # (stage, seconds)

    @property
    def source(self) -> str:
        """How messages name the customer table."""
        data = self.request.data
        if isinstance(data, pd.DataFrame):
            return "data (DataFrame)"
        return data.name if isinstance(data, TableSource) else Path(data).name

    @property
    def value(self) -> Optional[np.ndarray]:
        """(m,) money at risk of the attributed rows, None without a value column."""
        return None if self.book.value is None else self.book.value[self.rows]

    @property
    def sample_pos(self) -> np.ndarray:
        """Positions of the population sample among the attributed rows."""
        return np.flatnonzero(self.in_sample[self.rows])

    @property
    def n_sample(self) -> int:
        return int(self.in_sample.sum())

    @property
    def sample_attributions(self):
        """The population sample's attributions (the attributions themselves, not a copy, when
        every attributed row is in the sample: ``attribution.mode: all``)."""
        from churnlens.attribution import take

        pos = self.sample_pos
        return self.attributions if len(pos) == self.attributions.n else take(self.attributions, pos)

    @property
    def sample_X(self) -> pd.DataFrame:
        """The population sample's source features (``X`` itself when every row is in it)."""
        pos = self.sample_pos
        return self.X if len(pos) == len(self.X) else self.X.iloc[pos]


@dataclass(frozen=True)
class Env:
    """What stages use but do not produce: where chunks run and where progress goes."""

    engine: Any
    progress: Progress


Stage = Callable[[RunState, Env], RunState]


@dataclass(frozen=True)
class Beside:
    """Two lanes of stages that read nothing the other writes: ``lane`` runs here while
    ``beside`` runs in a thread (:func:`churnlens.io.parallel.together`), both from the same
    state; their fields are then merged. Serially it is ``lane`` then ``beside``, so notes
    of omitted sections keep that order. Only ``lane`` may call numba's parallel kernels
    (numba's fallback threading layer, workqueue, is not thread-safe)."""

    lane: tuple[tuple[str, Stage], ...]
    beside: tuple[tuple[str, Stage], ...]


def _stages() -> tuple:
    from churnlens.run import loop
    from churnlens.run import stages as s

    return (
        ("load model", s.load_inputs),
        ("loop inputs", loop.loop_inputs),
        ("read and score", s.read_and_score),
        ("gather", s.gather),
        ("attributions", s.attribute),
        # single-core steps side by side: HDBSCAN beside the cross-check and the model's quality
        Beside(lane=(("cross-check", s.cross_check), ("global drivers", s.global_drivers),
                     ("model quality", s.model_quality)),
               beside=(("segmentation", s.segment), ("describe segments", s.describe_segments))),
        # numba's interaction kernel and the profiles beside scikit-learn's rule trees and the list
        Beside(lane=(("segment interactions", s.segment_interactions), ("segment profiles", s.segment_profiles)),
               beside=(("segment rules", s.segment_rules), ("retention list", s.plan_actions))),
        ("back-test", loop.backtest),
        ("monitoring", s.monitoring),
        ("measured campaign", loop.measured_campaign),
        ("expected values", loop.expected_values),
        ("campaign effect", s.campaign),
        ("trend", loop.history_trend),
    )


def _run(stages: tuple[tuple[str, Stage], ...], state: RunState, env: Env) -> RunState:
    """Run ``stages`` in order, recording each one's time in ``state.timings`` (stages that
    leave their section out, adding to ``state.omitted``, are not timed)."""
    for name, stage in stages:
        t0 = time.perf_counter()
        done = stage(state, env)
        if done.omitted == state.omitted:
            done = replace(done, timings=done.timings + ((name, round(time.perf_counter() - t0, 3)),))
        state = done
    return state


def _merge(start: RunState, a: RunState, b: RunState) -> RunState:
    """``a`` with the fields ``b`` set since ``start``; ``omitted`` and ``timings`` are appended."""
    update = {}
    for f in fields(RunState):
        name = f.name
        if name in ("omitted", "timings"):
            update[name] = getattr(a, name) + getattr(b, name)[len(getattr(start, name)):]
        elif getattr(b, name) is not getattr(start, name):
            if getattr(a, name) is not getattr(start, name):
                raise RuntimeError(f"stages side by side both set RunState.{name}")
            update[name] = getattr(b, name)
    return replace(a, **update)


def compute(state: RunState, env: Env) -> RunState:
    """Run every stage of :func:`_stages` in order (a :class:`Beside` group's two lanes at the
    same time), recording each stage's time in ``state.timings``."""
    from churnlens.io.parallel import together

    for step in _stages():
        if isinstance(step, Beside):
            start_state = state
            a, b = together(lambda: _run(step.lane, start_state, env), lambda: _run(step.beside, start_state, env))
            state = _merge(start_state, a, b)
        else:
            state = _run((step,), state, env)
    return state


def check_request(req: ReportRequest) -> None:
    """Fail on missing inputs before any work (and before any output folder is touched)."""
    from churnlens.attribution.registry import is_model_uri
    from churnlens.io.sources import is_url

    if isinstance(req.model, (str, Path)) and not is_model_uri(req.model) and not Path(req.model).is_file():
        raise InputFileError(f"model: file {req.model} does not exist. Give the path of the trained model "
                             "(LightGBM .txt/.json, XGBoost .json/.ubj, .skops, or .joblib/.pkl with trust_model).",
                             argument="model")
    from churnlens.io.tables import missing_data

    if isinstance(req.data, (str, Path)) and not is_url(str(req.data)) and not Path(req.data).exists():
        raise missing_data(req.data)
    if isinstance(req.data, TableSource) and req.data.kind != "sql" and not req.data.path.exists():
        raise missing_data(req.data.location)
    if req.previous is not None and not Path(req.previous).is_dir():
        raise InputFileError(f"previous: {req.previous} is not a folder; give last month's report folder.",
                             argument="previous")
    if req.campaign is not None and not Path(req.campaign).is_file():
        raise InputFileError(f"campaign: file {req.campaign} does not exist. Give a CSV of "
                             "customer id, arm (treatment/control) and observed churn.", argument="campaign")
    if req.outcomes is not None and not Path(req.outcomes).is_file():
        raise InputFileError(f"outcomes: file {req.outcomes} does not exist. Give a CSV or Parquet file of customer id "
                             "and churned (0/1) for last month's customers.", argument="outcomes")
    if req.history is not None and not Path(req.history).is_dir():
        raise InputFileError(f"history: {req.history} is not a folder; give the folder holding earlier months' "
                             "report folders.", argument="history")
    bad = [f for f in req.formats if f not in ("html", "pdf")]
    if bad:
        raise InputFileError(f"formats: unknown format(s) {', '.join(bad)} in {','.join(req.formats)}; "
                             "use html, pdf or both.", argument="formats")


def with_overrides(config: Config, req: ReportRequest) -> Config:
    """Options that override config keys (``attribute``), and file paths in the config (logo,
    do-not-contact list) made relative to the config file's folder."""
    report = config.report
    files = {k: str(beside_config(req.config, getattr(report, k))) for k in ("logo", "do_not_contact")
             if getattr(report, k)}
    update: dict = {"report": report.model_copy(update=files)} if files else {}
    if req.attribute is not None:
        update["attribution"] = config.attribution.model_copy(update={"mode": req.attribute})
    if req.period is not None:
        update["report"] = update.get("report", report).model_copy(update={"period": req.period})
    return config.model_copy(update=update) if update else config


def start(req: ReportRequest, config: Optional[Config] = None) -> RunState:
    """The empty state of a checked request (``config`` given, or read from ``req.config``); a
    ``data`` path, URL or None becomes the :class:`~churnlens.io.sources.TableSource` to read."""
    config = config if config is not None else load_config(req.config)
    if not isinstance(req.data, pd.DataFrame):
        req = replace(req, data=resolve_data(req.data, query=req.query, encoding=req.encoding, config=config,
                                             config_path=req.config))
    check_request(req)
    return RunState(request=req, config=with_overrides(config, req))


def run_report(req: ReportRequest, *, progress: Optional[Progress] = None) -> ReportOutcome:
    """Run the whole flow and publish the report folder atomically."""
    from churnlens.run.engine import make_engine
    from churnlens.run.write import write_report

    state = start(req)
    with make_engine(req.engine, scheduler=req.scheduler) as engine:
        state = compute(state, Env(engine, progress or Progress(quiet=True)))
    with staged_report(req, state.config) as staging:
        return write_report(state, staging, progress=progress)


# --- the report folder: nothing the user owns is replaced ----------------------------------------

def _same_folder(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def check_out(req: ReportRequest) -> None:
    """Fail fast, before any computation, when ``req.out`` could not be replaced by this report:
    a folder with files churnlens did not write, another kind of churnlens folder, or the same
    folder as ``previous`` (which the next month needs)."""
    if req.out is None:
        return
    if req.previous is not None and _same_folder(req.previous, req.out):
        raise OutputFolderError(f"out: {req.out} is the same folder as previous ({req.previous}): this month's "
                                "report would replace last month's, which the next run needs as previous. "
                                "Write each month to its own folder.")
    check_out_folder(req.out, kind="report")


def staged_report(req: ReportRequest, config: Config):
    """The staging folder of ``req.out`` (:func:`churnlens.io.atomic.staged_folder`): inputs of
    this run that lie inside the old folder (model, data, config, campaign, logo,
    do-not-contact list) are kept, or the run is refused when they lie directly in it."""
    check_out(req)
    keep = (req.model, req.data, req.config, req.campaign, config.report.logo, config.report.do_not_contact)
    return staged_folder(req.out, kind="report", keep=[Path(p) for p in keep if isinstance(p, (str, Path)) and p])


def run_demo(out: Path, *, n_customers: int, seed: int, lang: str = "en", formats: tuple[str, ...] = ("html", "pdf"),
             command: str = "", generated_at: str = "", progress: Optional[Progress] = None) -> ReportOutcome:
    """Generate the demo book, model and config into ``out/inputs`` and run the report path on them.

    Inputs and report are staged together, so a failed demo leaves ``out`` as it was.
    """
    from churnlens.demo.book import write_demo_inputs
    from churnlens.run.engine import LocalEngine
    from churnlens.run.write import write_report

    if n_customers < 500:
        raise InputFileError(f"n_customers: {n_customers} is too small for a meaningful demo; use at least 500.",
                             argument="n_customers")
    out = Path(out).absolute()
    # the demo writes its inputs afresh: the old folder's inputs/ is replaced with the rest
    with staged_folder(out, kind="report", keep_recorded_inputs=False) as staging:
        inputs = write_demo_inputs(staging / "inputs", n_customers=n_customers, seed=seed)
        declare_inputs(staging, [p.relative_to(staging).as_posix() for p in sorted((staging / "inputs").rglob("*"))
                                 if p.is_file()])
        req = ReportRequest(model=inputs.model, data=inputs.customers, config=inputs.config, out=out, lang=lang,
                            formats=formats, command=command, generated_at=generated_at)
        progress = progress or Progress(quiet=True)
        state = compute(start(req), Env(LocalEngine(), progress))
        return write_report(state, staging, progress=progress)
