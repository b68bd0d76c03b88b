"""Score distribution: the book's predicted churn probability in bands, with the selected
churners, the listed customers and, where labels exist, the observed churn of each band."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.evaluation.results import ScoreDistribution
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class BandRow:
    band: str  # "10%–20%"
    customers: int
    share: float  # of the book
    churners: int
    listed: int
    observed_rate: Optional[float]  # None without labels


@dataclass(frozen=True)
class DistributionView:
    rows: tuple[BandRow, ...]
    labelled: bool
    intro: str
    basis: str  # what the observed churn was measured on ("" without labels)


def build(ctx: ReportContext, kit: Kit) -> DistributionView:
    d = ctx[ScoreDistribution]
    pct = lambda x: f"{x * 100:.0f}%"  # noqa: E731
    rows = tuple(BandRow(f"{pct(b.low)}–{pct(b.high)}", b.customers, b.customers / d.n if d.n else 0.0, b.churners,
                         b.listed, b.observed_rate) for b in d.bands)
    return DistributionView(rows, d.labelled, kit.text("distribution.intro", n=f"{d.n:,}"),
                            kit.text("distribution.in_sample") if d.labelled else "")


SECTION = Section("score-distribution", "distribution.title", build, "distribution.html", needs=(ScoreDistribution,))
DOSSIER = Section("d-score-distribution", "distribution.title", build, "distribution.html",
                  needs=(ScoreDistribution,))
