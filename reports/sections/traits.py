"""Customer and product traits of the segments against retained customers (two sections, one builder)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Optional

from churnlens.reports import charts
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section
from churnlens.segmentation.results import MIXED

MIN_EFFECT = 0.3  # |Cohen's d| below this is not worth a table row
MAX_ROWS = 14


@dataclass(frozen=True)
class TraitRow:
    key: str  # segment key
    label: str
    seg: float
    other: float
    d: float


@dataclass(frozen=True)
class TraitsChart:
    uri: object  # ChartImage
    rows: tuple[TraitRow, ...]


@dataclass(frozen=True)
class TraitsView:
    traits: Optional[TraitsChart]  # None: not shown, see ``reason``
    reason: str


def trait_label(e, kit: Kit) -> str:
    """A trait's label: the feature, and for a categorical the level compared."""
    base = kit.label(e.feature)
    return f"{base} = {e.level}" if getattr(e, "level", "") else base


def build(ctx: ReportContext, kit: Kit, *, group: str, section: str) -> TraitsView:
    real = [s for s in ctx.segments if s.segment_id != MIXED]
    shown = {e.feature for s in real for e in s.traits_vs_retained}
    feats = [f for f in ctx.attributions.features if ctx.config.group(f) == group and f in shown]
    if not real:
        return TraitsView(None, kit.omitted(section, "omitted.no_segments"))
    if not feats:
        return TraitsView(None, kit.omitted(section, f"omitted.no_{group}_features"))
    uri = kit.chart(f"traits {group}", lambda ax: charts.plot_traits(
        real, feats, ax=ax, lang=kit.lang, labels=kit.labels), (6.6, 0.3 * len(real) + 2.1))
    rows = [TraitRow(s.key, trait_label(e, kit), e.segment_mean, e.other_mean, e.effect_size)
            for s in real for e in s.traits_vs_retained if e.feature in feats and abs(e.effect_size) >= MIN_EFFECT]
    return TraitsView(TraitsChart(uri, tuple(rows[:MAX_ROWS])), "")


CUSTOMER = Section("customer-traits", "traits.customer_title", partial(build, group="customer", section="customer-traits"),
                   "customer_traits.html")
PRODUCT = Section("product-traits", "traits.product_title", partial(build, group="product", section="product-traits"),
                  "product_traits.html")
