"""The monthly report flow: model + customer table + config -> results -> report folder.

:func:`start` checks a request and seeds the results with it and the config; :func:`compute`
runs the declared steps of :data:`churnlens.run.flow.FLOW` over them
(:mod:`churnlens.run.step`); :func:`churnlens.run.write.write_report` turns the results into
the report folder. ``churnlens report``, ``churnlens demo`` and the Python API
(:func:`churnlens.run`) all go through these functions.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Optional

import pandas as pd

from churnlens.attribution.registry import is_model_uri
from churnlens.config import Config, beside_config, load_config, override
from churnlens.demo.book import write_demo_inputs
from churnlens.errors import InputFileError, OutputFolderError
from churnlens.io.atomic import check_out as check_out_folder, check_out_vs_inputs, declare_inputs, staged_folder
from churnlens.io.sources import TableSource, is_url, resolve_data
from churnlens.io.tables import missing_data
from churnlens.progress import Progress
from churnlens.results import Results
from churnlens.run import step as steps
from churnlens.run.flow import FLOW
from churnlens.run.engine import LocalEngine, make_engine
from churnlens.run.step import compute as compute_flow
from churnlens.run.request import DataLike, Env, ReportOutcome, ReportRequest  # noqa: F401  (re-exported)
from churnlens.run.write import write_report
from churnlens.sampling import population_sample  # noqa: F401  (re-exported: tests and benchmarks)


def compute(results: Results, env: Env, *, until: Optional[tuple[type, ...]] = None) -> Results:
    """Run the flow's steps over ``results`` (seeded by :func:`start`); with ``until``, only the
    steps needed to give those result types (e.g. ``until=(Attributions,)``)."""
    flow = FLOW.until(*until) if until else FLOW
    return compute_flow(flow, results, env)


def check_request(req: ReportRequest) -> None:
    """Fail on missing inputs before any work (and before any output folder is touched)."""
    if isinstance(req.model, (str, Path)) and not is_model_uri(req.model) and not Path(req.model).is_file():
        raise InputFileError(f"model: file {req.model} does not exist. Give the path of the trained model "
                             "(LightGBM .txt/.json, XGBoost .json/.ubj, .skops, or .joblib/.pkl with trust_model).",
                             argument="model")
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
    """Options that override config keys (``attribute``, ``period``), validated as the config
    file's keys are, and file paths in the config (logo, do-not-contact list) made relative to
    the config file's folder."""
    report = config.report
    update = {f"report.{k}": str(beside_config(req.config, getattr(report, k))) for k in ("logo", "do_not_contact",
                                                                                         "no_personalisation")
              if getattr(report, k)}
    if req.attribute is not None:
        update["attribution.mode"] = req.attribute
    if req.period is not None:
        update["report.period"] = req.period
    return override(config, update) if update else config


def start(req: ReportRequest, config: Optional[Config] = None) -> Results:
    """The results of a checked request before any step: the request (``data`` path, URL or
    None resolved to the :class:`~churnlens.io.sources.TableSource` to read) and the config
    (given, or read from ``req.config``, with the request's overrides)."""
    config = config if config is not None else load_config(req.config)
    if not isinstance(req.data, pd.DataFrame):
        req = replace(req, data=resolve_data(req.data, query=req.query, encoding=req.encoding, config=config,
                                             config_path=req.config))
    check_request(req)
    return Results.of(req, with_overrides(config, req))


def run_report(req: ReportRequest, *, progress: Optional[Progress] = None) -> ReportOutcome:
    """Run the whole flow and publish the report folder atomically."""
    results = start(req)
    with make_engine(req.engine, scheduler=req.scheduler) as engine:
        results = compute(results, Env(engine, progress or Progress(quiet=True)))
    with staged_report(req, results[Config]) as staging:
        return write_report(results, staging, progress=progress)


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
    data = req.data.path if isinstance(req.data, TableSource) and req.data.kind != "sql" else \
        req.data if isinstance(req.data, (str, Path)) else None
    check_out_vs_inputs(req.out, [req.model if isinstance(req.model, (str, Path)) else None, data, req.config,
                                  req.campaign, req.previous, req.outcomes])
    check_out_folder(req.out, kind="report")


def staged_report(req: ReportRequest, config: Config):
    """The staging folder of ``req.out`` (:func:`churnlens.io.atomic.staged_folder`): inputs of
    this run that lie inside the old folder (model, data, config, campaign, logo,
    do-not-contact list) are kept, or the run is refused when they lie directly in it."""
    check_out(req)
    keep = (req.model, req.data, req.config, req.campaign, config.report.logo, config.report.do_not_contact,
            config.report.no_personalisation)
    return staged_folder(req.out, kind="report", keep=[Path(p) for p in keep if isinstance(p, (str, Path)) and p])


def run_demo(out: Path, *, n_customers: int, seed: int, lang: str = "en", formats: tuple[str, ...] = ("html", "pdf"),
             command: str = "", generated_at: str = "", progress: Optional[Progress] = None) -> ReportOutcome:
    """Generate the demo book, model and config into ``out/inputs`` and run the report path on them.

    Inputs and report are staged together, so a failed demo leaves ``out`` as it was.
    """
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
        results = compute(start(req), Env(LocalEngine(), progress))
        return write_report(results, staging, progress=progress)
