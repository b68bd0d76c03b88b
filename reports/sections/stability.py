"""Dossier: segmentation method and its stability (ARI, per-segment Jaccard, unstable segments)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.constants import UNSTABLE_JACCARD
from churnlens.reports import charts
from churnlens.reports.context import ReportContext
from churnlens.reports.sections import appendix
from churnlens.reports.sections.base import Kit, Section
from churnlens.segmentation.results import MIXED


@dataclass(frozen=True)
class JaccardRow:
    key: str
    j: float
    unstable: bool


@dataclass(frozen=True)
class SegmentationView:
    appendix: appendix.AppendixView
    mixed_size: int
    ari: Optional[float]
    stab_uri: Optional[object]  # ChartImage, None without stability runs
    jaccard: tuple[JaccardRow, ...]
    unstable: tuple[str, ...]  # keys of unstable segments


def build(ctx: ReportContext, kit: Kit) -> SegmentationView:
    stab = ctx.segmentation.stability
    keys_by_id = {s.segment_id: s.key for s in ctx.segments}
    unstable_ids = set(stab.unstable)
    stab_uri = None
    if stab.segment_jaccard:
        keys = [keys_by_id.get(i, f"#{i}") for i in range(len(stab.segment_jaccard))]
        stab_uri = kit.chart("stability", lambda ax: charts.plot_stability(stab, keys, ax=ax, lang=kit.lang),
                             (5.2, 0.24 * len(keys) + 0.9))
    return SegmentationView(
        appendix=appendix.build(ctx, kit), mixed_size=sum(s.size for s in ctx.segments if s.segment_id == MIXED),
        ari=stab.overall_ari, stab_uri=stab_uri,
        jaccard=tuple(JaccardRow(keys_by_id.get(i, f"#{i}"), j, i in unstable_ids or j < UNSTABLE_JACCARD)
                      for i, j in enumerate(stab.segment_jaccard)),
        unstable=tuple(keys_by_id.get(i, f"#{i}") for i in stab.unstable))


SECTION = Section("segmentation", "dossier.segmentation_title", build, "d_segmentation.html")
