"""A report folder written by the real flow (:mod:`tests.flow_fixture`'s demo book and model), for
the relationship-manager cards and the customer explanation: a do-not-contact list, customers who
refused personalised marketing (listed with a generic action that has talking points), every
customer to contact carded, HTML only (the PDFs are rendered by the tests that need them)."""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churnlens import attribution
from churnlens.config import Config
from churnlens.demo import book as demo
from churnlens.reports.context import ReportContext
from churnlens.results import Results
from churnlens.run.write import run_facts, write_report
from tests.flow_fixture import _book, _model, demo_config, run_flow

N = 1500
GENERIC = {"action": {"en": "General savings newsletter", "zh": "通用储蓄资讯"}, "channel": "email", "cost": 0.5,
           "uplift": 0.01, "talking_points": [{"en": "Mention the general savings offer", "zh": "介绍通用储蓄优惠"}]}


@dataclass(frozen=True)
class Folder:
    path: Path  # the report folder
    data: Path  # the customer table it was computed from
    results: Results
    config: Config
    do_not_contact: tuple[str, ...]
    refused: tuple[str, ...]

    def context(self, lang: str) -> ReportContext:
        return ReportContext(lang, run_facts(self.results, out=self.path, staging=self.path), self.results)


@functools.lru_cache(maxsize=1)
def written_folder() -> Folder:
    tmp = Path(tempfile.mkdtemp(prefix="churnlens-folder-fixture-"))
    model = _model(N, 0)
    data = _book(N, 1, tmp, label=True)
    customers = pd.read_csv(data, dtype={"customer_id": str})
    score = attribution.load_model(model).predict_proba(demo.model_frame(customers))
    churners = np.sort(customers["customer_id"].to_numpy()[score >= 0.5])
    dnc, refused = tuple(churners[:7]), tuple(churners[7:10])
    pd.DataFrame({"customer_id": dnc}).to_csv(tmp / "dnc.csv", index=False)
    pd.DataFrame({"customer_id": refused}).to_csv(tmp / "refused.csv", index=False)
    config = demo_config(do_not_contact=str(tmp / "dnc.csv"), no_personalisation=str(tmp / "refused.csv"),
                         generic_action=GENERIC, cards={"top_n": 1000},
                         refusal_contact={"en": "Call 95555 to refuse", "zh": "请致电 95555 拒绝"})
    out = tmp / "report-2026-11"
    results = run_flow(model, data, config, out=out, formats=("html",), generated_at="2026-11-25T02:30:00+00:00")
    out.mkdir()
    write_report(results, out)
    return Folder(out, data, results, config, dnc, refused)
