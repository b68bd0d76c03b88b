"""Dossier sections a model-risk team files: purpose and out-of-scope uses, the JR/T 0287-2023
disclosure headings mapped to the dossier's sections, what changed since last month, and the
listed customers' first reasons month to month."""

from __future__ import annotations

from dataclasses import dataclass

from churnlens.monitoring.results import MonthChanges, ReasonShift
from churnlens.reports import formatting
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section

#: how many numbered items the catalogue may give for each purpose list (``purpose.in_scope_1`` ...)
_ITEMS = 12

#: JR/T 0287-2023's seven disclosure contents (as publicly summarised; see ``disclosure.source``)
#: -> the dossier sections (ids) that cover each, in dossier order
JRT_0287: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("combination", ("model-card", "method", "segmentation")),
    ("logic", ("method", "additivity", "cross-check", "segmentation", "claims", "interactions")),
    ("application", ("purpose", "quality", "d-score-distribution", "backtest", "fairness")),
    ("data", ("data", "dictionary", "psi")),
    ("entity", ("purpose", "signoff")),
    ("change", ("psi", "reason-shift", "changes", "versions")),
    ("audit", ("additivity", "cross-check", "limitations", "versions", "reproduce", "signoff")),
)


@dataclass(frozen=True)
class PurposeView:
    purpose: str
    users: str
    in_scope: tuple[str, ...]
    out_of_scope: tuple[str, ...]
    owner: str  # the institution responsible ("" when not configured)
    source: str  # whose text the purpose is: churnlens' standard one, or the bank's (report.purpose)


def _items(kit: Kit, prefix: str) -> tuple[str, ...]:
    return tuple(kit.text(f"{prefix}_{i}") for i in range(1, _ITEMS + 1) if kit.has(f"{prefix}_{i}"))


def build_purpose(ctx: ReportContext, kit: Kit) -> PurposeView:
    """The catalogue's standard purpose, or the bank's own (``report.purpose``); the standard
    out-of-scope uses, then the bank's (``report.out_of_scope``)."""
    report = ctx.config.report
    own = report.purpose is not None and bool(report.purpose.get(kit.lang))
    return PurposeView(report.purpose.get(kit.lang) if own else kit.text("purpose.purpose"), kit.text("purpose.users"),
                       _items(kit, "purpose.in_scope"),
                       _items(kit, "purpose.out_of_scope") + tuple(x.get(kit.lang) for x in report.out_of_scope),
                       ctx.facts.institution or "", kit.text("purpose.source_own" if own else "purpose.source"))


@dataclass(frozen=True)
class CoveredBy:
    id: str  # anchor
    title: str


@dataclass(frozen=True)
class DisclosureRow:
    heading: str  # the standard's heading (its own wording in zh)
    what: str  # what the dossier discloses under it
    sections: tuple[CoveredBy, ...]


@dataclass(frozen=True)
class DisclosureView:
    rows: tuple[DisclosureRow, ...]
    source: str


#: the title keys of the sections :data:`JRT_0287` names (the registry's; tests/test_dossier_filing.py
#: checks they match :data:`churnlens.reports.sections.DOSSIER`, which imports this module)
TITLES = {"purpose": "purpose.title", "model-card": "dossier.model_card_title", "data": "dossier.data_title",
          "dictionary": "dictionary.title", "method": "dossier.method_title", "additivity": "dossier.additivity_title",
          "cross-check": "dossier.cross_check_title", "segmentation": "dossier.segmentation_title",
          "claims": "claims.title", "interactions": "dossier.interactions_title", "quality": "dossier.quality_title",
          "d-score-distribution": "distribution.title", "backtest": "backtest.title", "fairness": "fairness.title",
          "psi": "dossier.psi_title", "reason-shift": "reason_shift.title", "changes": "changes.title",
          "limitations": "dossier.limitations_title", "versions": "dossier.versions_title",
          "reproduce": "dossier.reproduce_title", "signoff": "dossier.signoff_title"}


def build_disclosure(ctx: ReportContext, kit: Kit) -> DisclosureView:
    rows = tuple(DisclosureRow(kit.text(f"disclosure.{key}"), kit.text(f"disclosure.{key}_what"),
                               tuple(CoveredBy(i, kit.text(TITLES[i])) for i in ids)) for key, ids in JRT_0287)
    return DisclosureView(rows, kit.text("disclosure.source"))


@dataclass(frozen=True)
class ChangeRow:
    what: str
    before: str
    after: str


@dataclass(frozen=True)
class ChangesView:
    intro: str
    unavailable: str  # why nothing could be compared ("" when the manifest was read)
    model: str  # the model sentence
    model_changed: bool
    model_before: str
    model_after: str
    config: tuple[ChangeRow, ...]
    config_none: str
    schema: tuple[ChangeRow, ...]
    schema_none: str  # "no change" or "not recorded last month"
    packages: tuple[ChangeRow, ...]
    packages_none: str


def build_changes(ctx: ReportContext, kit: Kit) -> ChangesView:
    c: MonthChanges = ctx[MonthChanges]
    intro = kit.text("changes.intro", folder=c.folder)
    if c.manifest != "ok":
        return ChangesView(intro, kit.text(f"changes.manifest_{c.manifest}", folder=c.folder), "", False, "",
                           c.model_after, (), "", (), "", (), "")
    if not c.model_before:
        model = kit.text("changes.model_unknown")
    elif c.model_changed:
        model = kit.text("changes.model_changed", before=c.model_identity_before or "–",
                         after=c.model_identity_after or "–")
    else:
        model = kit.text("changes.model_same", model=c.model_identity_after or "–")
    absent = kit.text("changes.absent")
    row = lambda x: ChangeRow(x.what, x.before or absent, x.after or absent)  # noqa: E731
    schema_none = kit.text("changes.schema_none") if c.schema_recorded else kit.text("changes.schema_not_recorded")
    return ChangesView(
        intro, "", model, c.model_changed, c.model_before, c.model_after,
        tuple(row(x) for x in c.config), kit.text("changes.config_none"),
        tuple(row(x) for x in c.schema), schema_none,
        tuple(row(x) for x in c.packages), kit.text("changes.packages_none"))


@dataclass(frozen=True)
class ReasonRow:
    label: str
    before: float
    after: float
    change: float


@dataclass(frozen=True)
class ReasonShiftView:
    intro: str
    distance: str
    rows: tuple[ReasonRow, ...]


def build_reason_shift(ctx: ReportContext, kit: Kit) -> ReasonShiftView:
    r: ReasonShift = ctx[ReasonShift]
    none = kit.text("reason_shift.no_reason")
    rows = tuple(ReasonRow(kit.label(x.feature) if x.feature else none, x.previous_share, x.current_share,
                           x.current_share - x.previous_share) for x in r.rows)
    distance = "" if r.distance != r.distance else kit.text("reason_shift.distance",
                                                            d=formatting.pct(r.distance))
    return ReasonShiftView(kit.text("reason_shift.intro", before=formatting.num(r.n_previous),
                                    after=formatting.num(r.n_current)), distance, rows)


PURPOSE = Section("purpose", "purpose.title", build_purpose, "d_purpose.html")
DISCLOSURE = Section("disclosure", "disclosure.title", build_disclosure, "d_disclosure.html")
CHANGES = Section("changes", "changes.title", build_changes, "d_changes.html", needs=(MonthChanges,),
                  absent=("changes", "omitted.no_previous"))
REASON_SHIFT = Section("reason-shift", "reason_shift.title", build_reason_shift, "d_reason_shift.html",
                       needs=(ReasonShift,), absent=("reason-shift", "omitted.no_previous"))
