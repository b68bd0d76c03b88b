"""Segments overview: sizes and value at risk, signature heatmap, overlap (segment x secondary
segment), the mixed-reasons group described, segments as rules, model quality by segment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.reports import charts, words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section
from churnlens.segmentation.results import MIXED

HEATMAP_FEATURES = 10
MIXED_DRIVERS = 6  # material drivers listed for the mixed-reasons group


@dataclass(frozen=True)
class OverlapRow:
    key: str
    name: str
    counts: tuple[int, ...]  # churners with this primary segment and each column's secondary one
    none: int  # ... and no secondary segment


@dataclass(frozen=True)
class Overlap:
    keys: tuple[str, ...]  # column keys
    rows: tuple[OverlapRow, ...]
    n: int  # churners with a secondary segment
    share: float  # of the segmented churners


@dataclass(frozen=True)
class MixedDriverRow:
    label: str
    member_share: float
    mean_material: float


@dataclass(frozen=True)
class Mixed:
    size: int
    share: float  # of all churners
    no_material: int
    no_segment: int
    drivers: tuple[MixedDriverRow, ...]


@dataclass(frozen=True)
class RuleRow:
    key: str
    rule_id: str
    text: str  # conditions in business words
    precision: float
    coverage: float
    n: int


@dataclass(frozen=True)
class QualityRow:
    key: str
    name: str
    size: int
    precision: float  # of all its rules together
    coverage: float
    member_rate: Optional[float]
    pop_n: int
    pop_rate: Optional[float]
    pop_auc: Optional[float]


@dataclass(frozen=True)
class SegmentsView:
    has_segments: bool
    note: str  # the segmentation's note on a degenerate case, in words ("" when none)
    mixed_size: int  # churners with mixed reasons
    sizes: Optional[object]  # ChartImage, None without segments
    heatmap: Optional[object]
    overlap: Optional[Overlap] = None  # None without segments
    mixed: Optional[Mixed] = None  # None when every churner is in a segment
    rules: tuple[RuleRow, ...] = ()
    quality: tuple[QualityRow, ...] = ()
    has_labels: bool = False


def overlap_view(ctx: ReportContext, names: dict) -> Optional[Overlap]:
    """The segmentation's overlap table with keys and names (rows: primary, columns: secondary)."""
    seg = ctx.segmentation
    if seg.n_segments == 0 or seg.overlap is None:
        return None
    key = {s.segment_id: s.key for s in ctx.segments}
    keys = tuple(key[i] for i in range(seg.n_segments))
    sizes = {s.segment_id: s.size for s in ctx.segments}
    rows = tuple(OverlapRow(keys[i], names[keys[i]], tuple(int(x) for x in seg.overlap[i]),
                            int(sizes.get(i, 0) - seg.overlap[i].sum())) for i in range(seg.n_segments))
    n = int(seg.overlap.sum())
    segmented = int((seg.labels >= 0).sum())
    return Overlap(keys, rows, n, n / segmented if segmented else 0.0)


def mixed_view(ctx: ReportContext, kit: Kit) -> Optional[Mixed]:
    """The mixed-reasons group: its share, why its members are mixed, their top material drivers."""
    mix = ctx.segmentation.mixed
    if mix is None or mix.size == 0:
        return None
    counts = dict(mix.counts)
    return Mixed(mix.size, mix.share, counts.get("no_material_driver", 0), counts.get("no_segment_driver", 0),
                 tuple(MixedDriverRow(kit.label(d.feature), d.member_share, d.mean_material)
                       for d in mix.drivers[:MIXED_DRIVERS]))


def rules_view(ctx: ReportContext, kit: Kit, names: dict) -> tuple[tuple[RuleRow, ...], tuple[QualityRow, ...]]:
    rules = ctx.segment_rules
    if rules is None:
        return (), ()
    rows = tuple(RuleRow(r.key, r.rule_id, words.rule_text(r, ctx.config, kit.lang, ctx.sources, words.integer_features(ctx.X)), r.precision, r.coverage, r.n)
                 for r in rules.rules)
    quality = tuple(QualityRow(q.key, names.get(q.key, q.key), q.size, q.precision, q.coverage, q.member_churn_rate,
                               q.population_n, q.population_churn_rate, q.population_auc) for q in rules.quality)
    return rows, quality


def build(ctx: ReportContext, kit: Kit) -> SegmentsView:
    segs, lang = tuple(ctx.segments), kit.lang
    sizes = heatmap = None
    if segs:
        names = words.segment_names(segs, ctx.config, lang)
        # names are wrapped, never cut: a bar's row is as tall as its longest name
        lines = charts.wrapped_lines([charts.segment_label(s, names) for s in segs], lang)
        sizes = kit.chart("segment sizes", lambda axes: (  # one figure, two panels
            charts.plot_segment_sizes(segs, ax=axes[0], lang=lang, measure="size", names=names),
            charts.plot_segment_sizes(segs, ax=axes[1], lang=lang, measure="value_at_risk", ticklabels=False)
            if ctx.value is not None else axes[1].set_axis_off()),
            (6.6, (0.16 + 0.11 * lines) * len(segs) + 1.0), ncols=2)
        # a column per top driver that some segment's signature holds (no column left blank)
        shown = {it.feature for s in segs for it in s.signature}
        feats = [d.feature for d in ctx.drivers.drivers if d.feature in shown][:HEATMAP_FEATURES]
        rows = charts.wrapped_lines([kit.label(f) for f in feats], lang, 34)
        heatmap = kit.chart("segment heatmap", lambda ax: charts.plot_segment_heatmap(
            segs, feats, ax=ax, lang=lang, labels=kit.labels), (5.6, (0.18 + 0.06 * rows) * len(feats) + 0.7))
    names = words.segment_names(segs, ctx.config, lang)
    rules, quality = rules_view(ctx, kit, names)
    return SegmentsView(has_segments=bool(segs), note=words.segmentation_note(ctx.segmentation, lang),
                        mixed_size=sum(s.size for s in segs if s.segment_id == MIXED), sizes=sizes, heatmap=heatmap,
                        overlap=overlap_view(ctx, names), mixed=mixed_view(ctx, kit), rules=rules, quality=quality,
                        has_labels=any(q.member_rate is not None for q in quality))


SECTION = Section("segments", "segments.title", build, "segments.html")
