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


def previous_segment_label(ctx: ReportContext, kit: Kit):
    """Last month's segment key in words along the lineage (``Migration.key_map``): "S1 · name"
    when it continues as this month's S1, "S1 (now S3 · name)" when it merged into or became
    another segment, the key alone when it has no part this month."""
    names = words.segment_names(ctx.segments, ctx.config, kit.lang)
    named = lambda k: f"{k} · {names[k]}" if k in names else k  # noqa: E731
    mig = ctx.migration
    links: dict[str, list[str]] = {}
    for link in (() if mig is None else mig.key_map):
        links.setdefault(link.previous, []).append(link.current)

    def label(key: str) -> str:
        now = links.get(key, [key] if mig is None else [])
        if now == [key]:
            return named(key)
        if not now:
            return key
        return kit.text("backtest.segment_now", key=key,
                        now=kit.text("monitoring.lineage.sep").join(named(k) for k in now))

    return label


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
        seg = previous_segment_label(ctx, kit)
        hits = tuple(GroupRow(kit.text(f"backtest.group_{h.group}", key=seg(h.key) if h.group == "segment" else h.key),
                              h.customers, h.churners, h.rate)
                     for h in b.hit_rates)
        chart = kit.chart("backtest lift", lambda ax: charts.plot_backtest_lift(b, ax=ax, lang=kit.lang), (3.4, 2.7))
    note = kit.text("backtest.in_sample_note") if ins is not None else ""
    return BacktestView(intro, rows, deciles, calib, hits, _warnings(ctx, kit), note, chart, "")


SECTION = Section("backtest", "backtest.title", build, "backtest.html")
