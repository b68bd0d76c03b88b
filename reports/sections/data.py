"""Dossier: what was attributed, the input files with their SHA-256, the time each stage took."""

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
    timings: tuple[tuple[str, float], ...]  # (stage in words, seconds)


def build(ctx: ReportContext, kit: Kit) -> DataView:
    lang = kit.lang
    return DataView(
        attributed=words.attributed_text(ctx.facts, lang),
        inputs=tuple(InputRow(words.input_role(i.role, lang), Path(i.path).name, i.sha256, i.rows)
                     for i in ctx.facts.inputs),
        timings=tuple((words.stage_name(st, lang), sec) for st, sec in ctx.facts.timings))


SECTION = Section("data", "dossier.data_title", build, "d_data.html")
