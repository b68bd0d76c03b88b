"""Monitoring: score and feature PSI, driver drift, segment migration (the campaign's effect is
the uplift section's, :mod:`churnlens.reports.sections.uplift`).

The same view is the report's monitoring section and the dossier's PSI section (which shows
more of it: score bins, every feature's PSI, segment matches).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.constants import PSI_EPSILON
from churnlens.reports import charts, words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section

DRIFT_ROWS = 10
PSI_BARS = 12


@dataclass(frozen=True)
class PSIRow:
    label: str
    psi: float
    band: str
    bins: int


@dataclass(frozen=True)
class DriftRow:
    label: str
    before: float
    after: float
    change: float
    lo: float
    hi: float


@dataclass(frozen=True)
class ScoreBin:
    label: str
    ref: float
    cur: float
    contribution: float


@dataclass(frozen=True)
class MonitoringBody:
    reference: str
    score_psi: float
    score_band: str
    psi_uri: object  # ChartImage
    drift_uri: Optional[object]  # None without driver drift
    psi_rows: tuple[PSIRow, ...]
    drift_rows: tuple[DriftRow, ...]
    score_bins: tuple[ScoreBin, ...]


@dataclass(frozen=True)
class Match:
    key: str
    previous: Optional[str]
    similarity: float


@dataclass(frozen=True)
class MigrationBody:
    uri: object  # ChartImage
    new: tuple[str, ...]
    vanished: tuple[str, ...]
    matches: tuple[Match, ...]
    lineage: tuple[str, ...] = ()  # merges and splits in words


@dataclass(frozen=True)
class MonitoringView:
    mon: Optional[MonitoringBody]
    mon_reason: str
    mig: Optional[MigrationBody]
    mig_reason: str
    psi_epsilon: str


def monitoring_reason(ctx: ReportContext, kit: Kit) -> str:
    """Why there is no monitoring ("" when there is)."""
    return "" if ctx.monitoring is not None else kit.omitted("monitoring", "omitted.no_previous")


def _monitoring(ctx: ReportContext, kit: Kit) -> Optional[MonitoringBody]:
    m, lang, labels = ctx.monitoring, kit.lang, kit.labels
    if m is None:
        return None
    n_psi = min(PSI_BARS, len(m.feature_psi)) + 1
    psi_uri = kit.chart("psi", lambda ax: charts.plot_psi(m, ax=ax, lang=lang, labels=labels), (6.6, 0.24 * n_psi + 1.0))
    drift_uri = None
    if m.driver_drift:
        drift_uri = kit.chart("driver drift", lambda ax: charts.plot_driver_drift(m, ax=ax, lang=lang, labels=labels),
                              (6.6, 0.24 * min(DRIFT_ROWS, len(m.driver_drift)) + 1.0))
    return MonitoringBody(
        reference=words.note_text(m.reference, lang),
        score_psi=m.score_psi.psi, score_band=kit.text(f"band.{m.score_psi.band}"), psi_uri=psi_uri,
        drift_uri=drift_uri,
        psi_rows=tuple(PSIRow(kit.label(r.name), r.psi, kit.text(f"band.{r.band}"), len(r.bins)) for r in m.feature_psi),
        drift_rows=tuple(DriftRow(kit.label(d.feature), d.previous_share, d.current_share, d.change, d.ci_low, d.ci_high)
                         for d in m.driver_drift[:DRIFT_ROWS]),
        score_bins=tuple(ScoreBin(b.label, b.reference_share, b.current_share, b.contribution)
                         for b in m.score_psi.bins))


def _migration(ctx: ReportContext, kit: Kit) -> Optional[MigrationBody]:
    mg = ctx.migration
    if mg is None or not mg.flows:
        return None
    uri = kit.chart("migration", lambda ax: charts.plot_migration(mg, ax=ax, lang=kit.lang), (6.6, 3.4))
    return MigrationBody(uri, tuple(mg.new_segments), tuple(mg.vanished_segments),
                         tuple(Match(x.key, x.previous_key, x.similarity) for x in mg.matches),
                         tuple(words.lineage_sentence(e, kit.lang) for e in getattr(mg, "events", ())))


def build(ctx: ReportContext, kit: Kit) -> MonitoringView:
    mon, mig = _monitoring(ctx, kit), _migration(ctx, kit)
    return MonitoringView(
        mon=mon, mon_reason=monitoring_reason(ctx, kit),
        mig=mig, mig_reason="" if mig else kit.omitted("migration", "omitted.no_previous"),
        psi_epsilon=f"{PSI_EPSILON:g}")


SECTION = Section("monitoring", "monitoring.title", build, "monitoring.html")
PSI = Section("psi", "dossier.psi_title", build, "d_psi.html")
