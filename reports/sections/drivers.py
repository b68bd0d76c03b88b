"""Churn drivers: global bar chart and table, beeswarm, dependence plots of the top four."""

from __future__ import annotations

from dataclasses import dataclass

from churnlens.reports import charts, words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section

TABLE_ROWS = 10
BAR_ROWS = 12
DEPENDENCE_PLOTS = 4


@dataclass(frozen=True)
class DriverRow:
    label: str
    group: str
    share: float
    mean_abs: float
    range_text: str


@dataclass(frozen=True)
class Dependence:
    uri: object  # ChartImage
    label: str
    range_text: str


@dataclass(frozen=True)
class DriversView:
    bar: object  # ChartImage
    beeswarm: object  # ChartImage
    rows: tuple[DriverRow, ...]
    dependence: tuple[Dependence, ...]


def build(ctx: ReportContext, kit: Kit) -> DriversView:
    lang, labels, attr = kit.lang, kit.labels, ctx.attributions
    drivers = ctx.drivers.drivers
    n_top = min(BAR_ROWS, len(drivers))
    bar = kit.chart("global drivers", lambda ax: charts.plot_global_drivers(
        ctx.drivers, ax=ax, lang=lang, labels=labels, top=n_top, output_space=attr.output_space),
        (6.6, 0.26 * n_top + 1.0))
    bee_feats = [d.feature for d in drivers[:TABLE_ROWS]]
    bee = kit.chart("beeswarm", lambda ax: charts.plot_beeswarm(
        attr, ctx.X, ctx.display_rows, features=bee_feats, ax=ax, lang=lang, labels=labels),
        (6.6, 0.38 * len(bee_feats) + 1.0))
    dependence = tuple(Dependence(
        kit.chart(f"dependence {d.feature}", lambda ax, d=d: charts.plot_dependence(
            attr, ctx.X, ctx.display_rows, d, ax=ax, lang=lang, labels=labels), (3.25, 2.4)),
        kit.label(d.feature), words.risk_text(ctx.config, d, lang)) for d in drivers[:DEPENDENCE_PLOTS])
    rows = tuple(DriverRow(kit.label(d.feature), kit.text(f"group.{d.group}"), d.share, d.mean_abs,
                           words.risk_text(ctx.config, d, lang)) for d in drivers[:TABLE_ROWS])
    return DriversView(bar, bee, rows, dependence)


SECTION = Section("drivers", "drivers.title", build, "drivers.html")
