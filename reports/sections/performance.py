"""Model performance on labelled data: AUC, KS, Brier, lift, confusion, calibration.

The same view is the report's performance section and the dossier's quality section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.evaluation.results import ModelQuality
from churnlens.reports import charts, words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class ConfusionRow:
    rule: str
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float
    threshold: float


@dataclass(frozen=True)
class PerformanceBody:
    n: int
    n_churners: int
    auc: Optional[float]
    ks: Optional[float]
    ks_threshold: Optional[float]
    brier: float
    note: str
    deciles: tuple  # evaluation result rows (numbers only)
    calibration: tuple
    confusion: tuple[ConfusionRow, ...]
    roc: object  # ChartImage
    ks_uri: object
    gains: object
    calib: object


@dataclass(frozen=True)
class PerformanceView:
    perf: Optional[PerformanceBody]  # None without a label column, see ``reason``
    reason: str


def build(ctx: ReportContext, kit: Kit) -> PerformanceView:
    q, lang = ctx.quality, kit.lang
    return PerformanceView(PerformanceBody(
        n=q.n, n_churners=q.n_churners, auc=q.auc, ks=q.ks, ks_threshold=q.ks_threshold, brier=q.brier,
        note=words.notes_text(q.notes, lang), deciles=tuple(q.deciles), calibration=tuple(q.calibration),
        confusion=tuple(ConfusionRow(words.note_text(c.rule, lang), c.tp, c.fp, c.fn, c.tn, c.precision,
                                     c.recall, c.threshold) for c in q.confusion),
        roc=kit.chart("roc", lambda ax: charts.plot_roc(q, ax=ax, lang=lang), (3.2, 2.7)),
        ks_uri=kit.chart("ks", lambda ax: charts.plot_ks(q, ax=ax, lang=lang), (3.2, 2.7)),
        gains=kit.chart("gains", lambda ax: charts.plot_gains(q, ax=ax, lang=lang), (3.2, 2.7)),
        calib=kit.chart("calibration", lambda ax: charts.plot_calibration(q, ax=ax, lang=lang), (3.2, 2.7)),
    ), "")


NEEDS = dict(needs=(ModelQuality,), absent=("performance", "omitted.no_label"))
SECTION = Section("performance", "performance.title", build, "performance.html", **NEEDS)
QUALITY = Section("quality", "dossier.quality_title", build, "d_quality.html", **NEEDS)
