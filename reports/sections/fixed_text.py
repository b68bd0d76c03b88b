"""Dossier sections made only of catalogue texts: limitations of the method, sign-off."""

from __future__ import annotations

from dataclasses import dataclass

from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class NoView:
    """A section whose template needs nothing from the run."""


def build(ctx: ReportContext, kit: Kit) -> NoView:
    return NoView()


LIMITATIONS = Section("limitations", "dossier.limitations_title", build, "d_limitations.html")
SIGNOFF = Section("signoff", "dossier.signoff_title", build, "d_signoff.html")
