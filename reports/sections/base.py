"""What every section module uses: the :class:`Section` entry, the per-render :class:`Kit`
(language, labels, charts drawn once and shared by both documents) and table-of-contents entries."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pandas as pd

from churnlens.reports import charts, words
from churnlens.reports.catalogue import catalogue, text
from churnlens.reports.context import ReportContext


@dataclass
class Timings:
    """Seconds spent per chart and per document (for the benchmark)."""

    charts: list[tuple[str, float]] = field(default_factory=list)
    documents: list[tuple[str, float]] = field(default_factory=list)


class ChartImage:
    """A drawn chart, serialised on demand: glyphs as paths for HTML, text for the PDF."""

    def __init__(self, fig, name: str, timings: Timings):
        self._fig, self._name, self._timings = fig, name, timings
        self._uris: dict[bool, str] = {}

    def uri(self, for_pdf: bool) -> str:
        if for_pdf not in self._uris:
            t0 = time.perf_counter()
            self._uris[for_pdf] = charts.svg_data_uri(self._fig, text_as_paths=not for_pdf)
            # the layout is settled by the first save; keep it rather than solve it again
            self._fig.set_layout_engine("none")
            self._timings.charts.append((f"{self._name} [svg {'pdf' if for_pdf else 'html'}]",
                                         time.perf_counter() - t0))
        return self._uris[for_pdf]


def draw_chart(timings: Timings, name: str, lang: str, draw: Callable, figsize, ncols: int = 1) -> ChartImage:
    """Draw one chart with ``draw(axes)`` in the report style; seconds recorded in ``timings``."""
    t0 = time.perf_counter()
    with charts.chart_style(lang):
        axes = charts.new_axes(figsize, ncols=ncols)
        draw(axes)
        fig = (axes[0] if ncols > 1 else axes).figure
    timings.charts.append((name, time.perf_counter() - t0))
    return ChartImage(fig, name, timings)


@dataclass(frozen=True)
class TocEntry:
    id: str  # anchor (the section's ``id`` attribute)
    title: str
    level: int  # 0 section, 1 sub-page (segment pages)


@dataclass(frozen=True)
class Omission:
    """The view of a section left out because a result it needs is absent."""

    id: str
    title: str
    reason: str


@dataclass(frozen=True)
class Section:
    """One registered section: its anchor, title key, view builder and template.

    ``build(ctx, kit)`` returns the section's frozen view; ``toc(view, kit)`` its contents
    entries (default: one entry titled ``title_key``; none when ``title_key`` is None).
    ``needs`` are the result types the section shows: when one is absent the section is
    placed as an :class:`Omission` ("not shown" and why: the reason the step gave for the
    section ``absent[0]``, else the catalogue text ``absent[1]``) and ``build`` is not called.
    """

    id: str
    title_key: Optional[str]
    build: Callable[[ReportContext, "Kit"], Any]
    template: str  # file name under templates/sections/
    toc: Optional[Callable[[Any, "Kit"], tuple[TocEntry, ...]]] = None
    needs: tuple[type, ...] = ()
    absent: tuple[str, str] = ("", "omitted.not_computed")  # (reason's section id, default catalogue key)

    def place(self, ctx: ReportContext, kit: "Kit") -> "Placed":
        if not ctx.has(*self.needs):
            reason = kit.omitted(self.absent[0] or self.id, self.absent[1])
            return Placed(self.id, "sections/_omitted.html", Omission(self.id, kit.text(self.title_key), reason))
        return Placed(self.id, f"sections/{self.template}", self.build(ctx, kit))

    def entries(self, view: Any, kit: "Kit") -> tuple[TocEntry, ...]:
        if self.toc is not None:
            return self.toc(view, kit)
        return () if self.title_key is None else (TocEntry(self.id, kit.text(self.title_key), 0),)


@dataclass(frozen=True)
class Placed:
    """A section as placed in a document: the template to include and the view it shows."""

    id: str
    template: str
    view: Any


class Kit:
    """Per-render helpers shared by the section builders of both documents.

    Charts are drawn once by name: the report and the dossier showing the same chart get the
    same :class:`ChartImage`.
    """

    def __init__(self, ctx: ReportContext, timings: Timings):
        self.ctx = ctx
        self.lang = ctx.lang
        self.timings = timings
        self.labels = {f: ctx.config.label(f, ctx.lang) for f in ctx.attributions.features}
        self.mask = ctx.config.report.mask_ids and not ctx.config.report.hash_ids
        self._charts: dict[str, ChartImage] = {}

    def text(self, key: str, /, **params: object) -> str:
        return text(self.lang, key, **params)

    def has(self, key: str) -> bool:
        return key in catalogue(self.lang)

    def label(self, feature: str) -> str:
        return self.labels.get(feature, feature)

    @functools.cached_property
    def integers(self) -> frozenset:
        """Features holding whole numbers only (counts, years, 0/1 flags): thresholds and bands
        read as whole numbers."""
        X = self.ctx.X
        return frozenset() if X is None else words.integer_features(X)

    @functools.cached_property
    def binary(self) -> frozenset:
        """Whole-number features holding only 0 and 1 (flags): their means are shares."""
        X = self.ctx.X
        if X is None:
            return frozenset()
        return frozenset(f for f in self.integers if set(pd.unique(X[f].dropna().astype(float))) <= {0.0, 1.0})

    def chart(self, name: str, draw: Callable, figsize, ncols: int = 1) -> ChartImage:
        if name not in self._charts:
            self._charts[name] = draw_chart(self.timings, name, self.lang, draw, figsize, ncols)
        return self._charts[name]

    def omitted(self, section: str, default_key: str) -> str:
        """The pipeline's reason for leaving ``section`` out, else the catalogue's ``default_key``.

        A reason may be a catalogue code ("no_previous" -> ``omitted.no_previous``, in the report
        language) or a ready sentence, printed as given.
        """
        for sid, reason in self.ctx.omitted:
            if sid == section:
                return self.text(f"omitted.{reason}") if self.has(f"omitted.{reason}") else reason
        return self.text(default_key)
