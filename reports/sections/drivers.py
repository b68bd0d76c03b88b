"""Churn drivers: global bar chart and table, beeswarm, dependence plots of the top four."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

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
    protected_note: str = ""  # one neutral sentence when a protected attribute is a top driver


def business_drivers(drivers) -> tuple[tuple, tuple]:
    """(drivers shown in the business story, protected drivers kept out of it): protected
    features out; of a family of features moving together only the first (strongest) shown,
    the others named with it."""
    shown, seen, protected = [], set(), []
    for d in drivers:
        if getattr(d, "protected", False):
            protected.append(d)
            continue
        if d.feature in seen:
            continue
        seen.update(getattr(d, "family", ()))
        shown.append(d)
    return tuple(shown), tuple(protected)


def build(ctx: ReportContext, kit: Kit) -> DriversView:
    lang, labels, attr = kit.lang, kit.labels, ctx.attributions
    all_drivers = ctx.drivers.drivers
    drivers, protected = business_drivers(all_drivers)
    top = {d.feature for d in all_drivers[:TABLE_ROWS]}
    protected_top = tuple(kit.label(d.feature) for d in protected if d.feature in top)
    # a family reads as one driver: "Evening minutes (with evening charge)"
    kit_label = kit.label

    def label(d) -> str:
        fam = getattr(d, "family", ())
        return kit_label(d.feature) if not fam else kit.text("drivers.family", label=kit_label(d.feature),
                                                              others=", ".join(kit_label(f) for f in fam))
    n_top = min(BAR_ROWS, len(drivers))
    shown = dataclasses.replace(ctx.drivers, drivers=drivers)
    bar = kit.chart("global drivers", lambda ax: charts.plot_global_drivers(
        shown, ax=ax, lang=lang, labels=labels, top=n_top, output_space=attr.output_space),
        (6.6, 0.26 * n_top + 1.0))
    bee_feats = [d.feature for d in drivers[:TABLE_ROWS]]
    bee = kit.chart("beeswarm", lambda ax: charts.plot_beeswarm(
        attr, ctx.X, ctx.display_rows, features=bee_feats, ax=ax, lang=lang, labels=labels),
        (6.6, 0.38 * len(bee_feats) + 1.0))
    dependence = tuple(Dependence(
        kit.chart(f"dependence {d.feature}", lambda ax, d=d: charts.plot_dependence(
            attr, ctx.X, ctx.display_rows, d, ax=ax, lang=lang, labels=labels, levels=level_words(ctx, d.feature, lang)),
            (3.25, 2.4)),
        label(d), words.risk_text(ctx.config, d, lang, ctx.attributions.output_space)) for d in drivers[:DEPENDENCE_PLOTS])
    rows = tuple(DriverRow(label(d), kit.text(f"group.{d.group}"), d.share, d.mean_abs,
                           words.risk_text(ctx.config, d, lang, ctx.attributions.output_space)) for d in drivers[:TABLE_ROWS])
    note = kit.text("claims.protected_driver", features=", ".join(protected_top)) if protected_top else ""
    return DriversView(bar, bee, rows, dependence, note)


def level_words(ctx: ReportContext, feature: str, lang: str) -> dict[str, str]:
    """The dictionary's words for a feature's values (categories, 0/1 flags), keyed as the chart
    shows a value ("Germany", "0", "1"); a yes/no level reads in ``lang`` without them."""
    spec = ctx.config.features.get(feature)
    col = ctx.X[feature] if ctx.X is not None and feature in ctx.X.columns else None
    if col is None:
        return {}
    if pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype):
        values = pd.unique(col.dropna())
        if len(values) > 2 or spec is None or not spec.values:
            return {}
        return {f"{float(v):g}": words.feature_value(float(v), lang=lang, spec=spec) for v in values}
    cats = col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else pd.unique(col.dropna().astype(str))
    return {str(c): words.feature_value(str(c), lang=lang, spec=spec) for c in cats}


SECTION = Section("drivers", "drivers.title", build, "drivers.html")
