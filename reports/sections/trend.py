"""Trend page: realised AUC/KS, score PSI, segment sizes and driver shares over up to twelve
months, with the verdicts the monitoring stage computed from the configured thresholds and
the months' intervals (a change within chance stays green)."""

from __future__ import annotations

from dataclasses import dataclass

from churnlens.monitoring.results import Trend
from churnlens.reports import charts, words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class TrendRow:
    point: object  # TrendPoint
    psi_verdict: str
    auc_verdict: str


@dataclass(frozen=True)
class SeriesView:
    label: str
    values: tuple


@dataclass(frozen=True)
class TrendView:
    periods: tuple[str, ...]
    rows: tuple[TrendRow, ...]
    segments: tuple[SeriesView, ...]
    drivers: tuple[SeriesView, ...]
    thresholds: str
    verdict: str
    verdict_code: str
    notes: tuple[str, ...]
    chart: object
    events: tuple[str, ...] = ()  # merges and splits of segments, in words


def build(ctx: ReportContext, kit: Kit) -> TrendView:
    t = ctx.trend
    word = lambda code: kit.text(f"trend.verdicts.{code}")  # noqa: E731
    rows = tuple(TrendRow(p, word(p.psi_verdict), word(p.auc_verdict)) for p in t.points)
    fmt = lambda x: f"{x:g}"  # noqa: E731
    thresholds = kit.text("trend.thresholds", psi_amber=fmt(t.psi_thresholds[0]), psi_red=fmt(t.psi_thresholds[1]),
                          auc_amber=fmt(t.auc_drop_thresholds[0]), auc_red=fmt(t.auc_drop_thresholds[1]),
                          ref="—" if t.reference_auc is None else f"{t.reference_auc:.3f}", confidence=t.confidence)
    notes = []
    if len(t.points) == 1:
        notes.append(kit.text("trend.single_month"))
    if t.n_skipped:
        notes.append(kit.text("trend.skipped", n=t.n_skipped))
    chart = kit.chart("trend", lambda axes: charts.plot_trend(t, ax=axes, lang=kit.lang), (6.4, 2.6), ncols=2)
    names = words.segment_names(ctx.segments, ctx.config, kit.lang)
    label = lambda key: f"{key} · {names[key]}" if key in names else key  # noqa: E731
    events = tuple(kit.text("trend.event", period=e.period, sentence=words.lineage_sentence(e, kit.lang))
                   for e in t.events)
    return TrendView(
        periods=tuple(p.period for p in t.points), rows=rows, events=events,
        segments=tuple(SeriesView(label(r.key), r.values) for r in t.segments),
        drivers=tuple(SeriesView(kit.label(r.key), r.values) for r in t.drivers),
        thresholds=thresholds, verdict=kit.text("trend.verdict", verdict=word(t.verdict)), verdict_code=t.verdict,
        notes=tuple(notes), chart=chart)


SECTION = Section("trend", "trend.title", build, "trend.html", needs=(Trend,), absent=("trend", "omitted.no_history"))
