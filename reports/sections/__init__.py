"""The sections of both documents, as a registry: :data:`REPORT` and :data:`DOSSIER` are the
only lists of what each document shows, in order; they drive both the includes and the table
of contents.

A section is a small module with a ``build(ctx, kit) -> View`` function returning a frozen
dataclass (numbers, and texts already worded from the catalogue), one template
``reports/templates/sections/<name>.html`` that shows it (the view is ``sec`` there; document
facts such as the period are ``v``), and one :class:`~churnlens.reports.sections.base.Section`
entry naming both with the section's anchor and the catalogue key of its title. Builders
only choose and word what the stages computed: verdicts (stable/unstable, pass/fail) come from
the results or from :mod:`churnlens.constants`, never from thresholds of their own.

How to add a section
--------------------
1. ``reports/sections/my_section.py``::

       @dataclass(frozen=True)
       class MyView:
           rows: tuple[MyRow, ...]

       def build(ctx: ReportContext, kit: Kit) -> MyView:
           return MyView(tuple(MyRow(kit.label(f), v) for f, v in ...))

       SECTION = Section("my-section", "my.title", build, "my_section.html")

2. ``reports/templates/sections/my_section.html``: ``<section id="my-section" class="page">``
   with ``<h2>{{ t("my.title") }}</h2>`` and the view's fields (``sec.rows``), values
   formatted by the registered filters (``|num``, ``|pct``, ``|money``, ...).
3. The texts (``my.title`` and the rest) in ``reports/i18n/en.yaml`` and ``zh.yaml``.
4. One entry in :data:`REPORT` or :data:`DOSSIER` below (both, if both documents show it).

``Kit`` gives the builders the language, feature labels, ``kit.text`` (catalogue),
``kit.omitted`` (why a section has nothing to show) and ``kit.chart`` (a chart drawn once and
shared by both documents).
"""

from __future__ import annotations

from churnlens.reports.context import ReportContext
from churnlens.reports.sections import (
    appendix,
    backtest,
    budget,
    checks,
    claims,
    data,
    dictionary,
    distribution,
    fairness,
    filing,
    drivers,
    fixed_text,
    interactions,
    method,
    model_card,
    monitoring,
    performance,
    plan,
    run_record,
    segment_pages,
    segments,
    stability,
    summary,
    traits,
    trend,
    uplift,
)
from churnlens.reports.sections.base import Kit, Omission, Placed, Section, TocEntry

REPORT: tuple[Section, ...] = (
    summary.SECTION,
    traits.PROFILE_CUSTOMER,
    traits.PROFILE_PRODUCT,
    traits.PROFILE_BEHAVIOUR,
    drivers.SECTION,
    segments.SECTION,
    segment_pages.SECTION,
    plan.SECTION,
    budget.SECTION,
    performance.SECTION,
    distribution.SECTION,
    backtest.SECTION,
    uplift.SECTION,
    monitoring.SECTION,
    trend.SECTION,
    dictionary.REPORT,
    appendix.SECTION,
)

# in the order a model-risk filing reads: purpose and the disclosure headings; model identity and
# data lineage; method and its independent checks; segments; performance and outcomes; fairness;
# stability month to month and what changed; limitations; traceability; sign-off
DOSSIER: tuple[Section, ...] = (
    filing.PURPOSE,
    filing.DISCLOSURE,
    model_card.SECTION,
    data.SECTION,
    dictionary.DOSSIER,
    method.SECTION,
    checks.ADDITIVITY,
    checks.CROSS_CHECK,
    stability.SECTION,
    claims.SECTION,
    interactions.SECTION,
    performance.QUALITY,
    distribution.DOSSIER,
    backtest.SECTION,
    fairness.SECTION,
    monitoring.PSI,
    filing.REASON_SHIFT,
    filing.CHANGES,
    fixed_text.LIMITATIONS,
    run_record.VERSIONS,
    run_record.REPRODUCE,
    fixed_text.SIGNOFF,
)

DOCUMENTS: dict[str, tuple[Section, ...]] = {"report": REPORT, "dossier": DOSSIER}


def assemble(sections: tuple[Section, ...], ctx: ReportContext, kit: Kit) -> tuple[tuple[Placed, ...], tuple[TocEntry, ...]]:
    """Build every section's view, in order; returns the placed sections and the contents."""
    placed, toc = [], []
    for s in sections:
        place = s.place(ctx, kit)
        placed.append(place)
        omitted = isinstance(place.view, Omission)
        toc.extend(Section.entries(s, None, kit) if omitted and s.toc else s.entries(place.view, kit))
    return tuple(placed), tuple(toc)


__all__ = ["REPORT", "DOSSIER", "DOCUMENTS", "Kit", "Placed", "Section", "TocEntry", "assemble"]
