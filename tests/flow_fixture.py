"""A small but real run for the report tests, the benchmark and the screenshots: results from
the real flow (:func:`churnlens.run.pipeline.compute`), nothing wired by hand.

Two months of the demo book (planted churn mechanisms) are scored by the demo LightGBM model:
last month's report folder is written, then this month runs with ``previous`` (PSI, drift,
migration), a campaign file with a planted 30% effect, a do-not-contact list and labels. Only
the run facts (paths, hashes, versions) of the documents are fixed here, so rendered pages do
not depend on where the test runs.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import yaml

from churnlens import attribution
from churnlens.config import Config, parse_config
from churnlens.demo import book as demo
from churnlens.progress import Progress
from churnlens.reports.context import InputFile, PackageVersion, ReportContext, RunFacts
from churnlens.results import Results
from churnlens.run.engine import LocalEngine
from churnlens.run.pipeline import compute, start
from churnlens.run.request import Env, ReportRequest
from churnlens.run.write import write_report

EVIL = "<script>alert(1)</script>"
DO_NOT_CONTACT = 7  # churners on the do-not-contact list
_TMP = tempfile.TemporaryDirectory(prefix="churnlens-flow-fixture-")


def demo_config(*, evil_feature: Optional[str] = None, logo: Optional[str] = None, **report) -> Config:
    data = yaml.safe_load(demo.DEMO_CONFIG_PATH.read_text(encoding="utf-8"))
    data.setdefault("report", {})
    data["report"].update({"title": None, "period": "2026-11", "institution": "Demo Bank"}, **report)
    if logo is not None:
        data["report"]["logo"] = logo
    if evil_feature is not None:
        data["features"][evil_feature]["label"] = {"en": EVIL, "zh": EVIL}
    # enough stability re-clusterings to flag unstable segments, few enough to stay fast
    data.setdefault("segmentation", {}).update({"stability_runs": 3, "sample": 5000})
    return parse_config(data, source="demo_config.yaml")


def _model(n: int, seed: int) -> Path:
    path = Path(_TMP.name) / f"model-{n}-{seed}.txt"
    if not path.exists():  # through the model file, as the flow reads it (the file stores pandas_categorical)
        demo.train_demo_model(demo.generate_book(max(n, 2000), seed=seed), seed=seed).save_model(str(path))
    return path


def _book(n: int, seed: int, folder: Path, *, label: bool) -> Path:
    customers = demo.generate_book(n, seed=seed).customers
    if not label:
        customers = customers.drop(columns=[demo.LABEL_COLUMN])
    path = folder / f"customers-{seed}.csv"
    customers.to_csv(path, index=False)
    return path


def run_flow(model: Path, data: Path, config: Config, *, until: tuple = (), **request) -> Results:
    """The real flow's results for one month (up to ``until`` result types when given)."""
    req = ReportRequest(model=model, data=data, **request)
    return compute(start(req, config), Env(LocalEngine(), Progress(quiet=True)), until=until or None)


def results_until(*kinds: type, n: int = 1500, seed: int = 0) -> Results:
    """The results of the demo book up to the steps giving ``kinds`` (cheap: nothing after them runs)."""
    folder = Path(tempfile.mkdtemp(dir=_TMP.name))
    config = demo_config()
    return run_flow(_model(n, seed), _book(n, seed + 1, folder, label=True), config, until=kinds)


def _campaign(data: Path, model: Path, config: Config, folder: Path, seed: int) -> Path:
    """A campaign on this month's likely churners with a planted 30% effect."""
    customers = pd.read_csv(data, dtype={config.id_column: str})
    score = attribution.load_model(model).predict_proba(demo.model_frame(customers))
    rng = np.random.default_rng(seed)
    m = score >= config.churners.threshold
    treated = rng.random(len(customers)) < 0.8
    churned = customers[demo.LABEL_COLUMN].to_numpy().astype(bool) & ~(treated & (rng.random(len(customers)) < 0.3))
    path = folder / "campaign.csv"
    pd.DataFrame({config.id_column: customers[config.id_column][m], "arm": np.where(treated[m], "treatment", "control"),
                  "churned": churned[m].astype(int)}).to_csv(path, index=False)
    return path


def _do_not_contact(data: Path, model: Path, config: Config, folder: Path) -> Path:
    customers = pd.read_csv(data, dtype={config.id_column: str})
    score = attribution.load_model(model).predict_proba(demo.model_frame(customers))
    ids = np.sort(customers[config.id_column].to_numpy()[score >= config.churners.threshold])[:DO_NOT_CONTACT]
    path = folder / "do_not_contact.csv"
    pd.DataFrame({config.id_column: ids}).to_csv(path, index=False)
    return path


def facts_for(n: int, config: Config, model_info) -> RunFacts:
    """Run facts fixed for the tests (paths, hashes and versions do not depend on the machine)."""
    info = dataclasses.replace(model_info, path="/data/bank/model.txt", sha256="ab" * 32)
    return RunFacts(
        generated_at="2026-11-25T02:30:00+00:00", period="2026-11",
        title=config.report.title.get("en") if config.report.title else "",
        institution=config.report.institution.get("en"),
        command="churnlens report --model model.txt --data customers.csv --config config.yaml --out report",
        seed=config.seed, model=info,
        inputs=(InputFile("model", "/data/bank/model.txt", "ab" * 32),
                InputFile("data", "/data/bank/customers.csv", "cd" * 32, n),
                InputFile("config", "/data/bank/config.yaml", "ef" * 32)),
        n_customers=n, packages=(PackageVersion("lightgbm", "4.7.0"), PackageVersion("shap", "0.51.0"),
                                 PackageVersion("hdbscan", "0.8.44")),
        attributed=f"all {n:,} customers", n_attributed=n,
    )


@functools.lru_cache(maxsize=4)
def build_context(n: int = 2000, *, lang: str = "en", seed: int = 0, config: Optional[Config] = None,
                  with_label: bool = True, with_previous: bool = True, with_campaign: bool = True) -> ReportContext:
    """Run the demo book of ``n`` customers through the real flow (see the module docstring).

    Cached: the context is frozen, so test modules of one session share it.
    """
    config = config or demo_config()
    folder = Path(tempfile.mkdtemp(dir=_TMP.name))
    model = _model(n, seed)
    data = _book(n, seed + 1, folder, label=with_label)
    if not with_label:
        (folder / "labelled").mkdir()
    labelled = data if with_label else _book(n, seed + 1, folder / "labelled", label=True)
    dnc = str(_do_not_contact(labelled, model, config, folder))
    config = config.model_copy(update={"report": config.report.model_copy(update={"do_not_contact": dnc}),
                                       **({} if with_label else {"label_column": None})})
    previous = None
    if with_previous:
        previous = folder / "report-2026-10"
        prev_config = config.model_copy(update={"report": config.report.model_copy(update={"period": "2026-10"})})
        prev_data = _book(n, seed + 2, folder, label=with_label)
        prev = run_flow(model, prev_data, prev_config, out=previous, formats=("html",))
        previous.mkdir()
        write_report(prev, previous)
    campaign = _campaign(labelled, model, config, folder, seed) if with_campaign else None
    results = run_flow(model, data, config, previous=previous, campaign=campaign)
    facts = facts_for(n, config, results[attribution.LoadedModel].info)
    return ReportContext(lang, facts, results)


def relabel(ctx: ReportContext, lang: str) -> ReportContext:
    """The same run reported in another language (results carry no words: only ``lang`` changes)."""
    return ctx.replace(lang=lang)
