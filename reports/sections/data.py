"""Dossier: what was attributed and the input files with their SHA-256 (run timings are logged
with --verbose, never written into a document: reruns stay byte-identical)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from churnlens.reports import words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


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


def build(ctx: ReportContext, kit: Kit) -> DataView:
    lang = kit.lang
    return DataView(
        attributed=words.attributed_text(ctx.facts, lang),
        inputs=tuple(InputRow(words.input_role(i.role, lang), Path(i.path).name, i.sha256, i.rows)
                     for i in ctx.facts.inputs))


SECTION = Section("data", "dossier.data_title", build, "d_data.html")
