"""Retention plan: who to contact with which action, the control group, do-not-contact exclusions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.reports import words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class PlanAction:
    text: str
    channel: str


@dataclass(frozen=True)
class PlanRow:
    key: str
    name: str
    actions: tuple[PlanAction, ...]
    targets: int
    control: int
    value_at_risk: Optional[float]
    retained: Optional[float]
    cost: float
    no_rule: bool


@dataclass(frozen=True)
class PlanBody:
    rows: tuple[PlanRow, ...]
    no_rule_keys: tuple[str, ...]
    excluded: int
    control: int
    control_share: float
    targets: int


@dataclass(frozen=True)
class PlanView:
    plan: Optional[PlanBody]  # None: no plan, see ``reason``
    reason: str


def reason(ctx: ReportContext, kit: Kit) -> str:
    """Why there is no plan ("" when there is one)."""
    if ctx.plans:
        return ""
    return kit.omitted("plan", "omitted.no_playbook" if not ctx.config.playbook else "omitted.no_plan")


def build(ctx: ReportContext, kit: Kit) -> PlanView:
    if not ctx.plans:
        return PlanView(None, reason(ctx, kit))
    lang, with_value = kit.lang, ctx.value is not None
    by_key = {s.key: s for s in ctx.segments}
    rows = tuple(PlanRow(
        key=p.segment_key, name=words.segment_name(by_key[p.segment_key], lang) if p.segment_key in by_key else p.segment_key,
        actions=tuple(PlanAction(words.action_text(a, lang), kit.text(f"channel.{a.channel}")) for a in p.actions),
        targets=p.target_count, control=p.control_count, value_at_risk=p.value_at_risk if with_value else None,
        retained=p.expected_retained_value if with_value else None, cost=p.cost, no_rule=p.no_rule) for p in ctx.plans)
    body = PlanBody(rows=rows, no_rule_keys=tuple(p.segment_key for p in ctx.plans if p.no_rule),
                    excluded=ctx.excluded_do_not_contact, control=ctx.control_count,
                    control_share=ctx.config.report.control_share, targets=sum(p.target_count for p in ctx.plans))
    return PlanView(body, "")


SECTION = Section("plan", "plan.title", build, "plan.html")
