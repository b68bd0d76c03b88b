"""Dossier: additivity check and the independent shap cross-check (two sections, verdicts from the stage)."""

from __future__ import annotations

from dataclasses import dataclass

from churnlens.constants import ADDITIVITY_TOLERANCE
from churnlens.reports import words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class AdditivityView:
    additivity: float
    tolerance: float
    additivity_ok: bool


@dataclass(frozen=True)
class CrossCheckView:
    cc: object  # the cross-check result (numbers)
    cc_reference: str
    cc_reference_short: str
    tolerance: float
    cc_ok: bool


def build_additivity(ctx: ReportContext, kit: Kit) -> AdditivityView:
    err = ctx.attributions.additivity_max_error
    return AdditivityView(err, ADDITIVITY_TOLERANCE, err <= ADDITIVITY_TOLERANCE)


def build_cross_check(ctx: ReportContext, kit: Kit) -> CrossCheckView:
    cc = ctx.cross_check
    return CrossCheckView(cc, words.localise(cc.reference, kit.lang), cc.reference.split(",")[0], ADDITIVITY_TOLERANCE,
                          cc.max_abs_diff <= ADDITIVITY_TOLERANCE)


ADDITIVITY = Section("additivity", "dossier.additivity_title", build_additivity, "d_additivity.html")
CROSS_CHECK = Section("cross-check", "dossier.cross_check_title", build_cross_check, "d_cross_check.html")
