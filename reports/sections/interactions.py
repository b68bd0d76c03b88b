"""Dossier: the top interacting pairs among each segment's top drivers (exact interaction values)."""

from __future__ import annotations

from dataclasses import dataclass

from churnlens.constants import INTERACTION_DRIVERS, INTERACTION_ROWS
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class PairRow:
    segment: str
    feature_a: str  # labels
    feature_b: str
    mean_abs: float
    mean_signed: float
    n_rows: int


@dataclass(frozen=True)
class InteractionsView:
    rows: tuple[PairRow, ...]
    drivers: int
    max_rows: int


def build(ctx: ReportContext, kit: Kit) -> InteractionsView:
    rows = tuple(PairRow(si.segment, kit.label(p.feature_a), kit.label(p.feature_b), p.mean_abs, p.mean_signed,
                         p.n_rows)
                 for si in ctx.interactions for p in si.pairs)
    return InteractionsView(rows, INTERACTION_DRIVERS, INTERACTION_ROWS)


SECTION = Section("interactions", "dossier.interactions_title", build, "d_interactions.html")
