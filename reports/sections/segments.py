"""Segments overview: sizes and value at risk, signature heatmap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.reports import charts, words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section
from churnlens.segmentation.results import MIXED

HEATMAP_FEATURES = 10


@dataclass(frozen=True)
class SegmentsView:
    has_segments: bool
    note: str  # the segmentation's note on a degenerate case, in words ("" when none)
    mixed_size: int  # churners with mixed reasons
    sizes: Optional[object]  # ChartImage, None without segments
    heatmap: Optional[object]


def build(ctx: ReportContext, kit: Kit) -> SegmentsView:
    segs, lang = tuple(ctx.segments), kit.lang
    sizes = heatmap = None
    if segs:
        sizes = kit.chart("segment sizes", lambda axes: (  # one figure, two panels
            charts.plot_segment_sizes(segs, ax=axes[0], lang=lang, measure="size"),
            charts.plot_segment_sizes(segs, ax=axes[1], lang=lang, measure="value_at_risk", ticklabels=False)
            if ctx.value is not None else axes[1].set_axis_off()), (6.6, 0.3 * len(segs) + 1.1), ncols=2)
        feats = [d.feature for d in ctx.drivers.drivers[:HEATMAP_FEATURES]]
        heatmap = kit.chart("segment heatmap", lambda ax: charts.plot_segment_heatmap(
            segs, feats, ax=ax, lang=lang, labels=kit.labels), (6.6, 0.3 * len(segs) + 2.1))
    return SegmentsView(has_segments=bool(segs), note=words.segmentation_note(ctx.segmentation, lang),
                        mixed_size=sum(s.size for s in segs if s.segment_id == MIXED), sizes=sizes, heatmap=heatmap)


SECTION = Section("segments", "segments.title", build, "segments.html")
