"""Dossier: data lineage -- where the scored table came from, when, how many customers, the
input files with their SHA-256 (outcomes included when given), and the do-not-contact list's
ids that match no customer (a count, never the ids). Run timings are logged with --verbose,
never written into a document: reruns stay byte-identical."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from churnlens.reports import words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section
from churnlens.results import InputChecks


@dataclass(frozen=True)
class InputRow:
    role: str
    file: str
    sha256: str
    rows: Optional[int]


@dataclass(frozen=True)
class DataView:
    attributed: str
    inputs: tuple[InputRow, ...]
    period: str
    generated_at: str  # ISO 8601 (formatted by the template's |date)
    n_customers: int
    do_not_contact: str  # the list's matching, in words ("" without a list)
    do_not_contact_unmatched: int  # ids on the list that match no customer of this table


def build(ctx: ReportContext, kit: Kit) -> DataView:
    lang = kit.lang
    checks = ctx.get(InputChecks)
    dnc = None if checks is None else checks.do_not_contact
    dnc_text, unmatched = "", 0
    if dnc is not None:
        unmatched = int(dnc.unmatched)
        dnc_text = kit.text("dossier.dnc_unmatched" if unmatched else "dossier.dnc_all_matched",
                            listed=f"{dnc.listed:,}", matched=f"{dnc.matched:,}", unmatched=f"{unmatched:,}")
    return DataView(
        attributed=words.attributed_text(ctx.facts, lang),
        inputs=tuple(InputRow(words.input_role(i.role, lang), Path(i.path).name, i.sha256, i.rows)
                     for i in ctx.facts.inputs),
        period=ctx.facts.period, generated_at=ctx.facts.generated_at, n_customers=ctx.facts.n_customers,
        do_not_contact=dnc_text, do_not_contact_unmatched=unmatched)


SECTION = Section("data", "dossier.data_title", build, "d_data.html")
