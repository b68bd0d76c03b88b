"""Retention plan: who to contact with which action, the control group, do-not-contact exclusions.

The table is ``tables/retention_plan.csv`` (the group-by of the retention list) in the report
language: one row per segment and action, contacted and control customers apart, value at risk
of the listed customers (contacted and control, as the CSV), expected retained value and cost
of the contacted ones, cost = the rule's cost per contact plus the budget's channel cost per
contact (:func:`churnlens.actions.budget.action_costs`). Actions no listed customer gets are
not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.reports import words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class PlanLine:
    """One row of retention_plan.csv: a segment's listed customers with one action."""

    key: str
    name: str
    action: str  # "" when no rule applies
    channel: str
    customers: int  # contacted
    control: int
    value_at_risk: Optional[float]  # None without a value column
    retained: Optional[float]
    cost: float


@dataclass(frozen=True)
class PlanSegment:
    key: str
    name: str
    lines: tuple[PlanLine, ...]
    customers: int
    control: int


@dataclass(frozen=True)
class PlanBody:
    segments: tuple[PlanSegment, ...]
    no_rule_keys: tuple[str, ...]
    excluded: int
    control: int
    control_share: float
    targets: int
    value_at_risk: Optional[float]
    retained: Optional[float]
    cost: float
    channel_costs: bool  # costs include the budget's channel costs


@dataclass(frozen=True)
class PlanView:
    plan: Optional[PlanBody]  # None: no plan, see ``reason``
    reason: str


def reason(ctx: ReportContext, kit: Kit) -> str:
    """Why there is no plan ("" when there is one)."""
    if ctx.plans:
        return ""
    return kit.omitted("plan", "omitted.no_playbook" if not ctx.config.playbook else "omitted.no_plan")


def channel_cost(ctx: ReportContext, channel: str) -> float:
    """The budget's cost per contact of ``channel`` (0 without a budget): it comes on top of the rule's cost."""
    budget = ctx.config.budget
    return float(budget.channels[channel].cost) if budget is not None and channel in budget.channels else 0.0


def listed_actions(plan):
    """The actions some listed customer of the segment gets (contacted or control), in plan order."""
    return tuple(a for a in plan.actions if a.customers or a.control)


def lines(ctx: ReportContext, kit: Kit) -> tuple[PlanSegment, ...]:
    """The plan's rows, one per (segment, action) with a listed customer: the rows of retention_plan.csv."""
    lang, with_value = kit.lang, ctx.value is not None
    by_key = {s.key: s for s in ctx.segments}
    out = []
    for p in ctx.plans:
        name = words.segment_name(by_key[p.segment_key], ctx.config, lang) if p.segment_key in by_key else p.segment_key
        rows = [PlanLine(p.segment_key, name, words.action_text(a, lang), kit.text(f"channel.{a.channel}"),
                         a.customers, a.control, a.value_at_risk if with_value else None,
                         a.expected_retained if with_value else None,
                         a.total_cost + a.customers * channel_cost(ctx, a.channel))
                for a in listed_actions(p)]
        if p.unassigned or p.unassigned_control:
            rows.append(PlanLine(p.segment_key, name, "", "", p.unassigned, p.unassigned_control,
                                 p.unassigned_value_at_risk if with_value else None, 0.0 if with_value else None, 0.0))
        if rows:
            out.append(PlanSegment(p.segment_key, name, tuple(rows), sum(r.customers for r in rows),
                                   sum(r.control for r in rows)))
    return tuple(out)


def build(ctx: ReportContext, kit: Kit) -> PlanView:
    if not ctx.plans:
        return PlanView(None, reason(ctx, kit))
    segs = lines(ctx, kit)
    every = [r for s in segs for r in s.lines]
    with_value = ctx.value is not None
    body = PlanBody(segments=segs, no_rule_keys=tuple(p.segment_key for p in ctx.plans if p.no_rule),
                    excluded=ctx.excluded_do_not_contact, control=ctx.control_count,
                    control_share=ctx.config.report.control_share, targets=sum(p.target_count for p in ctx.plans),
                    value_at_risk=sum(r.value_at_risk for r in every) if with_value else None,
                    retained=sum(r.retained for r in every) if with_value else None,
                    cost=sum(r.cost for r in every), channel_costs=ctx.config.budget is not None)
    return PlanView(body, "")


SECTION = Section("plan", "plan.title", build, "plan.html")
