"""A statement of a stage as a code and its parameters (numbers, codes, nested notes).

Stages say "only 12 churners were selected, fewer than 50" as
``Note.of("segmentation.too_few", m=12, mcs=50)``; only ``churnlens.reports`` turns a note
into a sentence, from the language catalogues (``note.<code>``), so results never carry words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Note:
    code: str  # catalogue key under ``note.``, e.g. "segmentation.too_few"
    params: tuple[tuple[str, Any], ...] = ()  # (name, value) sorted by name; values may be Notes or tuples of Notes

    @classmethod
    def of(cls, code: str, /, **params: Any) -> "Note":
        return cls(code, tuple(sorted(params.items())))

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)
