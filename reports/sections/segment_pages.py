"""One page per segment: size, signature, traits against other churners, actions, examples.

Not one contents entry but one per page (level 1, under the segments overview).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.reports import charts, formatting, words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections import plan as plan_section
from churnlens.reports.sections import segments as segments_section
from churnlens.reports.sections.base import Kit, Section, TocEntry
from churnlens.reports.sections.traits import trait_label, trait_value
from churnlens.segmentation.results import MIXED

TRAITS = 5
EXAMPLES = 3


@dataclass(frozen=True)
class PageTrait:
    label: str
    seg: str  # worded: a share as a percentage, an amount with its unit
    other: str
    d: float


@dataclass(frozen=True)
class PageAction:
    text: str
    channel: str
    driver: str
    customers: int = 0  # contacted with this action (retention_plan.csv)
    control: int = 0


@dataclass(frozen=True)
class Example:
    customer: str  # masked unless report.mask_ids is false
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RulesOnBook:
    """What the segment's rules select in the whole book (``tables/segment_quality.csv``): how
    many population customers, their observed churn against the book's (None without labels),
    whether those labels are the model's training outcomes, and the rules' precision among
    churners. ``off_name``: ids of the rules that mention none of the features of the segment's
    name (or of its drivers, for a segment named by none)."""

    selected_n: int
    selected_churn: Optional[float]
    book_churn: Optional[float]
    in_sample: bool
    precision: float
    off_name: tuple[str, ...] = ()


@dataclass(frozen=True)
class SegmentPage:
    key: str
    anchor: str
    name: str
    size: int
    share: float
    mean_score: float
    value_at_risk: Optional[float]
    mixed: bool
    unstable: bool
    stability: Optional[float]
    signature_uri: object  # ChartImage
    drivers: tuple[str, ...]
    traits: tuple[PageTrait, ...]
    actions: tuple[PageAction, ...]
    no_rule: bool
    has_plan: bool
    targets: Optional[int]
    control: Optional[int]
    examples: tuple[Example, ...]
    rules: tuple = ()  # segments.RuleRow: the segment's definition as rules (business words)
    on_book: Optional[RulesOnBook] = None  # what those rules select in the whole book


@dataclass(frozen=True)
class SegmentPagesView:
    pages: tuple[SegmentPage, ...]
    plan_reason: str


def rules_on_book(ctx: ReportContext, s) -> Optional[RulesOnBook]:
    """The segment's rules as evaluated on the whole book (read from the results: the rules'
    quality, the ``set_apart`` claim's book churn and in-sample flag), or None without rules."""
    if s.segment_id == MIXED or ctx.segment_rules is None:
        return None
    q = next((q for q in ctx.segment_rules.quality if q.key == s.key), None)
    if q is None:
        return None
    claim = next((c for c in (ctx.claims or ()) if c.kind == "set_apart" and c.segment == s.key), None)
    book = claim.evidence.churn_out if claim is not None else None
    if book is None and ctx.quality is not None and q.population_churn_rate is not None and ctx.quality.n:
        book = ctx.quality.n_churners / ctx.quality.n
    in_sample = bool(claim.evidence.in_sample) if claim is not None and claim.evidence.in_sample is not None else (
        q.population_churn_rate is not None)
    named = {p.feature for p in s.name} or set(s.top_drivers)
    for d in ctx.drivers.drivers if ctx.drivers is not None else ():
        if d.feature in named:
            named |= set(getattr(d, "family", ()))
    source = ctx.sources.source if ctx.sources is not None else (lambda c: c)
    off = tuple(r.rule_id for r in ctx.segment_rules.rules if r.key == s.key
                and not any(source(c.feature) in named or c.feature in named for c in r.conditions))
    return RulesOnBook(q.population_n, q.population_churn_rate, book, in_sample, q.precision, off)


def _page(ctx: ReportContext, kit: Kit, s, plan, examples, rules=()) -> SegmentPage:
    lang = kit.lang
    unstable_ids = set(ctx.segmentation.stability.unstable)
    sig_uri = kit.chart(f"signature {s.key}", lambda ax: charts.plot_segment_signature(
        s, ax=ax, lang=lang, labels=kit.labels, output_space=ctx.attributions.output_space),
        (5.6, 0.2 * max(min(len(s.signature), 6), 1) + 0.75))
    unstable = s.segment_id != MIXED and s.segment_id in unstable_ids  # the segmentation's verdict
    return SegmentPage(
        key=s.key, anchor=f"segment-{s.key}", name=words.segment_name(s, ctx.config, lang), size=s.size, share=s.share,
        mean_score=s.mean_score, value_at_risk=s.value_at_risk if ctx.value is not None else None,
        mixed=s.segment_id == MIXED, unstable=unstable, stability=s.stability, signature_uri=sig_uri,
        drivers=tuple(kit.label(f) for f in s.top_drivers),
        traits=tuple(PageTrait(trait_label(e, kit), trait_value(e, e.segment_mean, kit), trait_value(e, e.other_mean, kit),
                               e.effect_size)
                     for e in s.traits_vs_churners[:TRAITS]),
        actions=tuple(PageAction(words.action_text(a, lang), kit.text(f"channel.{a.channel}"), kit.label(a.driver),
                                 a.customers, a.control)
                      for a in (plan_section.listed_actions(plan) if plan else ())),
        no_rule=bool(plan.no_rule) if plan else False, has_plan=plan is not None,
        targets=plan.target_count if plan else None, control=plan.control_count if plan else None,
        examples=tuple(Example(formatting.masked(e.customer, kit.mask), e.score,
                               tuple(words.reason_text(f, v, ctx.config, lang, pp) for f, v, pp in e.reasons))
                       for e in examples[:EXAMPLES]),
        rules=tuple(r for r in rules if r.key == s.key),
        on_book=rules_on_book(ctx, s),
    )


def build(ctx: ReportContext, kit: Kit) -> SegmentPagesView:
    plans = {p.segment_key: p for p in ctx.plans}
    examples: dict[str, list] = {}
    for ex in ctx.examples:
        examples.setdefault(ex.segment_key, []).append(ex)
    rules, _ = segments_section.rules_view(ctx, kit, {})
    pages = tuple(_page(ctx, kit, s, plans.get(s.key), examples.get(s.key, []), rules) for s in ctx.segments)
    return SegmentPagesView(pages, plan_section.reason(ctx, kit))


def toc(view: SegmentPagesView, kit: Kit) -> tuple[TocEntry, ...]:
    return tuple(TocEntry(p.anchor, f"{p.key} · {p.name}", 1) for p in view.pages)


SECTION = Section("segment-pages", None, build, "segment_pages.html", toc=toc)
