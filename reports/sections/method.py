"""Dossier: attribution method, output space, feature groups, protected attributes."""

from __future__ import annotations

from dataclasses import dataclass

from churnlens.reports.context import ReportContext
from churnlens.reports.sections import appendix
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class GroupRow:
    group: str
    share: float
    mean_abs: float


@dataclass(frozen=True)
class MethodView:
    appendix: appendix.AppendixView
    groups: tuple[GroupRow, ...]
    protected: tuple[str, ...]  # labels of protected features


def build(ctx: ReportContext, kit: Kit) -> MethodView:
    return MethodView(
        appendix=appendix.build(ctx, kit),
        groups=tuple(GroupRow(kit.text(f"group.{g.group}"), g.share, g.mean_abs) for g in ctx.drivers.groups),
        protected=tuple(kit.label(f) for f, s in ctx.config.features.items() if s.protected))


SECTION = Section("method", "dossier.method_title", build, "d_method.html")
