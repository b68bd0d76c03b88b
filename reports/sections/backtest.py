"""Back-test: last month's published scores and list against what happened, with intervals;
in-sample figures labelled as such, with the warnings the stage raised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.evaluation.results import BackTest, Estimate
from churnlens.reports import charts, words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class MetricRow:
    basis: str
    n: int
    auc: Estimate
    ks: Estimate
    brier: Estimate
    top_lift: Estimate


@dataclass(frozen=True)
class GroupRow:
    label: str
    customers: int
    churners: int
    rate: Estimate


@dataclass(frozen=True)
class BacktestView:
    intro: str  # "" without a back-test (in-sample figures only)
    rows: tuple[MetricRow, ...]
    deciles: tuple[tuple[object, Estimate], ...]  # (DecileRow, realised lift)
    calibration: tuple[tuple[object, Estimate], ...]  # (CalibrationRow, observed rate)
    hits: tuple[GroupRow, ...]
    warnings: tuple[str, ...]
    in_sample_note: str
    chart: object  # ChartImage or None
    reason: str  # why there is nothing to show ("" otherwise)


def _row(b: BackTest, kit: Kit) -> MetricRow:
    return MetricRow(kit.text(f"backtest.basis_{b.basis}"), b.n_matched, b.auc, b.ks, b.brier, b.top_decile_lift)


def _warnings(ctx: ReportContext, kit: Kit) -> tuple[str, ...]:
    out = []
    for b in (ctx.backtest, ctx.in_sample):
        for note in (b.notes if b is not None else ()):
            w = words.note_text(note, kit.lang)
            if w not in out:
                out.append(w)
    return tuple(out)


def build(ctx: ReportContext, kit: Kit) -> BacktestView:
    b, ins = ctx.backtest, ctx.in_sample
    if b is None and ins is None:
        return BacktestView("", (), (), (), (), (), "", None, kit.omitted("backtest", "omitted.no_outcomes"))
    rows = tuple(_row(x, kit) for x in (b, ins) if x is not None)
    intro, deciles, calib, hits, chart = "", (), (), (), None
    if b is not None:
        intro = kit.text("backtest.intro", source=kit.text(f"backtest.source_{b.score_source}"), n=f"{b.n_matched:,}",
                         outcomes=kit.text(f"backtest.{b.outcome_source}"), level=f"{b.level:.0%}",
                         n_boot=b.auc.n_boot, seed=b.seed)
        deciles = tuple(zip(b.quality.deciles, b.decile_lift))
        calib = tuple(zip(b.quality.calibration, b.calibration_rate))
        hits = tuple(GroupRow(kit.text(f"backtest.group_{h.group}", key=h.key), h.customers, h.churners, h.rate)
                     for h in b.hit_rates)
        chart = kit.chart("backtest lift", lambda ax: charts.plot_backtest_lift(b, ax=ax, lang=kit.lang), (3.4, 2.7))
    note = kit.text("backtest.in_sample_note") if ins is not None else ""
    return BacktestView(intro, rows, deciles, calib, hits, _warnings(ctx, kit), note, chart, "")


SECTION = Section("backtest", "backtest.title", build, "backtest.html")
