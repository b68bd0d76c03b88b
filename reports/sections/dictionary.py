"""The data dictionary as the run applied it: encoded columns mapped to their source features,
model features the dictionary does not describe, and the features never given as actionable
reasons with the cause (protected or non-actionable). Shown in both documents."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class MappedRow:
    column: str  # the model's column, as named in the model
    feature: str  # its source feature in business words
    how: str  # "declared in columns:" or "by its name"


@dataclass(frozen=True)
class MappedSource:
    feature: str  # source feature in business words
    columns: int  # encoded model columns summed into it
    how: str


@dataclass(frozen=True)
class DictionaryView:
    mapped: tuple[MappedRow, ...]  # the dossier's table, one row per model column
    by_source: tuple[MappedSource, ...]  # the report's summary, no raw column names
    undeclared: tuple[str, ...]  # model features without a ``features:`` entry (raw names)
    protected: tuple[str, ...]  # business labels
    non_actionable: tuple[str, ...]
    k: int  # reasons listed per customer
    min_pp: float  # smallest listed reason, probability points
    require_all: bool
    columns: bool  # list every encoded column (the dossier) or only their sources (the report)


def build(ctx: ReportContext, kit: Kit, *, columns: bool = False) -> DictionaryView:
    sources = ctx.sources
    mapped = tuple(MappedRow(c, kit.label(f), kit.text(f"dictionary.how_{how}"))
                   for c, f, how in (sources.mapped if sources else ()))
    excluded = ctx.excluded_reasons
    counts: dict[tuple[str, str], int] = {}
    for r in mapped:
        counts[(r.feature, r.how)] = counts.get((r.feature, r.how), 0) + 1
    return DictionaryView(
        mapped=mapped, by_source=tuple(MappedSource(f, n, how) for (f, how), n in counts.items()), undeclared=tuple(sources.undeclared) if sources else (),
        protected=tuple(kit.label(f) for f, cause in excluded if cause == "protected"),
        non_actionable=tuple(kit.label(f) for f, cause in excluded if cause == "non_actionable"),
        k=ctx.config.k_reasons, min_pp=ctx.config.reasons.min_contribution_pp,
        require_all=ctx.config.dictionary.require_all, columns=columns)


# the report names source features only; the dossier lists every encoded column for the auditor
REPORT = Section("dictionary", "dictionary.title", build, "dictionary.html")
DOSSIER = Section("dictionary", "dictionary.title", partial(build, columns=True), "dictionary.html")
