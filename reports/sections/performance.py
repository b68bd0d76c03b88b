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
class Basis:
    """What the model's figures were measured on: in-sample (labels inside the scored table) and,
    when last month's outcomes were given, out-of-sample (the back-test), with the gap."""

    in_sample_auc: Optional[float]
    n_in_sample: int
    out_of_sample_auc: Optional[float]  # back-test AUC, None without last month's outcomes
    n_out_of_sample: int
    gap: Optional[float]  # in-sample AUC - out-of-sample AUC
    warnings: tuple  # Notes: looks_like_training_data, near_perfect_separation


def basis(ctx: ReportContext) -> Optional[Basis]:
    """None when neither in-sample nor out-of-sample figures exist."""
    q, b = ctx.quality, ctx.backtest if ctx.backtest is not None and ctx.backtest.basis == "backtest" else None
    if q is None and b is None:
        return None
    ins = q.auc if q is not None else None
    oos = b.auc.value if b is not None and b.auc is not None and b.auc.value == b.auc.value else None
    gap = ins - oos if ins is not None and oos is not None else None
    notes: list = []
    for src in (ctx.backtest, ctx.in_sample):  # the back-test stage's warnings (in_sample vs back-test AUC), once each
        for n in (src.notes if src is not None else ()):
            if n.code in ("backtest.looks_like_training_data", "backtest.near_perfect_separation") and \
                    all(m.code != n.code for m in notes):
                notes.append(n)
    return Basis(ins, q.n if q is not None else 0, oos, b.n_matched if b is not None else 0, gap, tuple(notes))


def basis_lines(ctx: ReportContext, kit: Kit) -> tuple[str, ...]:
    """The figures' basis in words: in-sample, out-of-sample and their gap."""
    m = basis(ctx)
    if m is None:
        return ()
    out = []
    if m.in_sample_auc is not None:
        out.append(kit.text("performance.basis_in_sample", auc=f"{m.in_sample_auc:.3f}", n=f"{m.n_in_sample:,}"))
    if m.out_of_sample_auc is not None:
        out.append(kit.text("performance.basis_out_of_sample", auc=f"{m.out_of_sample_auc:.3f}",
                            n=f"{m.n_out_of_sample:,}"))
    if m.gap is not None:
        out.append(kit.text("performance.basis_gap", gap=f"{m.gap:+.3f}"))
    elif m.in_sample_auc is not None:
        out.append(kit.text("performance.basis_in_sample_only"))
    return tuple(out)


@dataclass(frozen=True)
class PerformanceBody:
    n: int
    n_churners: int
    auc: Optional[float]
    ks: Optional[float]
    ks_threshold: Optional[float]
    brier: float
    note: str
    basis: tuple[str, ...]  # what the figures were measured on (in-sample / out-of-sample, gap)
    warnings: tuple[str, ...]  # model warnings (training data, near-perfect separation)
    deciles: tuple  # evaluation result rows (numbers only)
    calibration: tuple
    confusion: tuple[ConfusionRow, ...]
    roc: object  # ChartImage
    ks_uri: object
    gains: object
    calib: object


@dataclass(frozen=True)
class PerformanceView:
    perf: PerformanceBody


def build(ctx: ReportContext, kit: Kit) -> PerformanceView:
    q, lang = ctx.quality, kit.lang
    return PerformanceView(PerformanceBody(
        n=q.n, n_churners=q.n_churners, auc=q.auc, ks=q.ks, ks_threshold=q.ks_threshold, brier=q.brier,
        note=words.notes_text(q.notes, lang), basis=basis_lines(ctx, kit),
        warnings=tuple(words.note_text(n, lang) for n in basis(ctx).warnings), deciles=tuple(q.deciles), calibration=tuple(q.calibration),
        confusion=tuple(ConfusionRow(words.note_text(c.rule, lang), c.tp, c.fp, c.fn, c.tn, c.precision,
                                     c.recall, c.threshold) for c in q.confusion),
        roc=kit.chart("roc", lambda ax: charts.plot_roc(q, ax=ax, lang=lang), (3.2, 2.7)),
        ks_uri=kit.chart("ks", lambda ax: charts.plot_ks(q, ax=ax, lang=lang), (3.2, 2.7)),
        gains=kit.chart("gains", lambda ax: charts.plot_gains(q, ax=ax, lang=lang), (3.2, 2.7)),
        calib=kit.chart("calibration", lambda ax: charts.plot_calibration(q, ax=ax, lang=lang), (3.2, 2.7)),
    ))


NEEDS = dict(needs=(ModelQuality,), absent=("performance", "omitted.no_label"))
SECTION = Section("performance", "performance.title", build, "performance.html", **NEEDS)
QUALITY = Section("quality", "dossier.quality_title", build, "d_quality.html", **NEEDS)
