"""Method appendix of the report: attribution, churner rule, segmentation settings.

Its view is also what the dossier's method and segmentation sections print of the method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.reports import words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class AppendixView:
    attributed: str
    method: str
    space: str
    base_value: float
    rule: str
    by: str
    representation: str
    min_cluster_size: int
    min_cluster_cfg: object  # as configured (a share or a count)
    min_samples: Optional[int]
    n_fitted: int
    seed: int
    noise: str
    max_dims: int
    runs: int
    fraction: float
    n_segments: int
    note: str
    additivity: float
    reason_codes: int
    steps: tuple[str, ...] = ()  # the segmentation method step by step, with this run's numbers


def build(ctx: ReportContext, kit: Kit) -> AppendixView:
    lang, seg, segcfg, attr = kit.lang, ctx.segmentation, ctx.config.segmentation, ctx.attributions
    noise = getattr(seg, "noise", segcfg.noise)
    return AppendixView(
        attributed=words.attributed_text(ctx.facts, lang), method=words.localise(attr.method, lang),
        space=kit.text(f"chart.space_{attr.output_space}"), base_value=attr.base_value,
        rule=words.churner_rule(ctx.churners, lang), by=ctx.churners.by,
        representation=words.representation(seg, lang).rstrip(".。"), min_cluster_size=seg.min_cluster_size,
        min_cluster_cfg=segcfg.min_cluster_size, min_samples=getattr(seg, "min_samples", 0) or segcfg.min_samples,
        n_fitted=seg.n_fitted, seed=seg.seed, noise=kit.text(f"appendix.noise_{noise}"), max_dims=segcfg.max_dims,
        runs=seg.stability.runs, fraction=segcfg.stability_fraction, n_segments=seg.n_segments,
        note=words.segmentation_note(seg, lang), additivity=attr.additivity_max_error,
        reason_codes=ctx.config.k_reasons,
        steps=words.segmentation_method(seg, segcfg, lang, rules_depth=None if ctx.segment_rules is None
                                        else ctx.segment_rules.max_depth),
    )


SECTION = Section("appendix", "appendix.title", build, "appendix.html")
