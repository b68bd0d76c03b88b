"""Budgeted list: contacts, spend and expected net value per channel, the limits reached, and
the profit curve with the budget's cut."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.actions.results import BudgetPlan
from churnlens.reports import charts, formatting
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class ChannelRow:
    channel: str
    cost: float
    capacity: Optional[int]
    contacts: int
    spend: float


@dataclass(frozen=True)
class BudgetView:
    plan: object  # BudgetPlan
    channels: tuple[ChannelRow, ...]
    binding: str
    baseline: str
    chart: object


def build(ctx: ReportContext, kit: Kit) -> BudgetView:
    p = ctx.budget
    rows = tuple(ChannelRow(kit.text(f"channel.{c.channel}"), c.cost, c.capacity, c.contacts, c.spend)
                 for c in p.channels)
    limits = [kit.text("budget.binding_total") if b == "total" else
              kit.text("budget.binding_capacity", channel=kit.text(f"channel.{b.split(':', 1)[1]}")) for b in p.binding]
    sep = "、" if kit.lang == "zh" else ", "
    binding = kit.text("budget.binding", limits=sep.join(limits)) if limits else kit.text("budget.no_limits")
    baseline = kit.text("budget.baseline_note", value=formatting.money(p.baseline_net_value, kit.lang),
                        n=formatting.num(p.baseline_contacts))
    chart = kit.chart("profit curve", lambda ax: charts.plot_profit_curve(p, ax=ax, lang=kit.lang), (4.6, 2.8))
    return BudgetView(p, rows, binding, baseline, chart)


SECTION = Section("budget", "budget.title", build, "budget.html", needs=(BudgetPlan,),
                  absent=("budget", "omitted.no_budget"))
