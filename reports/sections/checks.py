"""Dossier: additivity check and the independent shap cross-check (two sections, verdicts from the stage)."""

from __future__ import annotations

from dataclasses import dataclass

from churnlens.reports import words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section
from churnlens.attribution.results import StoredPrecision
from churnlens.reports import formatting


@dataclass(frozen=True)
class AdditivityView:
    additivity: float
    tolerance: float
    additivity_ok: bool
    stored: str = ""  # the additivity error of the stored (float32) attributions, in words


@dataclass(frozen=True)
class CrossCheckView:
    cc: object  # the cross-check result (numbers)
    cc_reference: str
    cc_reference_short: str
    tolerance: float
    cc_ok: bool


def build_additivity(ctx: ReportContext, kit: Kit) -> AdditivityView:

    a = ctx.attributions
    stored = kit.text("dossier.stored_precision", err=formatting.sci(ctx[StoredPrecision].additivity_max_error),
                      exact=formatting.sci(a.additivity_max_error)) if a.n else ""
    return AdditivityView(a.additivity_max_error, a.additivity_tolerance, a.additivity_ok, stored)


def build_cross_check(ctx: ReportContext, kit: Kit) -> CrossCheckView:
    cc = ctx.cross_check
    # which two implementations were compared (a note), else the reference's own description
    compared = words.note_text(cc.compared, kit.lang) if cc.compared is not None else words.localise(cc.reference,
                                                                                                     kit.lang)
    return CrossCheckView(cc, compared, cc.reference.split(",")[0], cc.tolerance, cc.passed)


ADDITIVITY = Section("additivity", "dossier.additivity_title", build_additivity, "d_additivity.html")
CROSS_CHECK = Section("cross-check", "dossier.cross_check_title", build_cross_check, "d_cross_check.html")
