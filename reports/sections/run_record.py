"""Dossier: package versions and the exact command to reproduce the run (two sections)."""

from __future__ import annotations

from dataclasses import dataclass

from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class VersionsView:
    packages: tuple  # PackageVersion (name, version)


@dataclass(frozen=True)
class ReproduceView:
    seed: int
    command: str


def build_versions(ctx: ReportContext, kit: Kit) -> VersionsView:
    return VersionsView(tuple(ctx.facts.packages))


def build_reproduce(ctx: ReportContext, kit: Kit) -> ReproduceView:
    return ReproduceView(ctx.facts.seed, ctx.facts.command)


VERSIONS = Section("versions", "dossier.versions_title", build_versions, "d_versions.html")
REPRODUCE = Section("reproduce", "dossier.reproduce_title", build_reproduce, "d_reproduce.html")
