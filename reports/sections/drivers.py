"""Churn drivers: global bar chart and table, beeswarm, dependence plots of the top four."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnlens.reports import charts, words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section

TABLE_ROWS = 10
BAR_ROWS = 12
DEPENDENCE_PLOTS = 4
MAX_WORDED_VALUES = 12  # a numeric feature drawn on its dictionary words has at most this many values


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


def value_words(config, values, lang: str) -> dict:
    """The words for the shown values of a feature, keyed as the dependence chart draws them
    (numbers as floats, levels as text). A number has words only from the dictionary
    (``values:``), and only when every shown value has them (else the chart keeps its numeric
    axis); a category level reads as the dictionary words it, a yes/no level in ``lang``."""
    spec = config.features.get(values.name) if values.name is not None else None
    if pd.api.types.is_numeric_dtype(values) and not isinstance(values.dtype, pd.CategoricalDtype):
        if spec is None or not spec.values:
            return {}
        uniq = np.unique(values.to_numpy(dtype=np.float64, na_value=np.nan))
        uniq = uniq[np.isfinite(uniq)]
        if len(uniq) > MAX_WORDED_VALUES:
            return {}
        out = {float(v): spec.value_label(float(v), lang) for v in uniq}
        return out if all(w is not None for w in out.values()) else {}
    levels = values.cat.categories if isinstance(values.dtype, pd.CategoricalDtype) else values.dropna().astype(str).unique()
    return {str(c): words.feature_value(str(c), lang=lang, spec=spec) for c in levels}


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
            attr, ctx.X, ctx.display_rows, d, ax=ax, lang=lang, labels=labels,
            value_words=value_words(ctx.config, ctx.X[d.feature].iloc[ctx.display_rows], lang)), (3.25, 2.4)),
        label(d), words.risk_text(ctx.config, d, lang, ctx.attributions.output_space, flags=kit.binary)) for d in drivers[:DEPENDENCE_PLOTS])
    rows = tuple(DriverRow(label(d), kit.text(f"group.{d.group}"), d.share, d.mean_abs,
                           words.risk_text(ctx.config, d, lang, ctx.attributions.output_space, flags=kit.binary)) for d in drivers[:TABLE_ROWS])
    note = kit.text("claims.protected_driver", features=", ".join(protected_top)) if protected_top else ""
    return DriversView(bar, bee, rows, dependence, note)


SECTION = Section("drivers", "drivers.title", build, "drivers.html")
