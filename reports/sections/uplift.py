"""Campaign effect of last month's list (from its own control group) and the measured uplift
per segment x action, shrunk toward the playbook's assumption, with the evidence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.campaign.results import MeasuredCampaign
from churnlens.reports import charts, words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class EffectRow:
    level: str
    population: str
    effect: object  # ArmEffect


@dataclass(frozen=True)
class UpliftRow:
    segment: str
    action: str
    estimate: object  # UpliftEstimate
    evidence: str
    used: bool


@dataclass(frozen=True)
class UpliftView:
    intro: str
    method: str
    effects: tuple[EffectRow, ...]
    estimates: tuple[UpliftRow, ...]
    chart: object
    reason: str


def action_words(ctx: ReportContext, lang: str) -> dict[str, str]:
    """Action key (the rule's English text, machine words) -> the action in ``lang``, from the
    playbook rules in use and the plans."""
    out = {r.action.en: r.action.get(lang) for r in (*ctx.rules, *ctx.config.playbook)}
    for p in ctx.plans:
        for a in p.actions:
            out.setdefault(a.action.en, a.action.get(lang))
    return out


def build(ctx: ReportContext, kit: Kit) -> UpliftView:
    m = ctx.measured
    names = action_words(ctx, kit.lang)
    act = lambda a: names.get(a, a)  # noqa: E731
    effects = [EffectRow(kit.text("uplift.level_all"), "", m.overall)]
    effects += [EffectRow(kit.text("uplift.level_segment"), e.population, e) for e in m.by_segment]
    effects += [EffectRow(kit.text("uplift.level_action"), act(e.population), e) for e in m.by_action]
    cfg = ctx.config.loop
    rows = tuple(UpliftRow(u.segment or kit.text("uplift.all_segments"), act(u.action), u,
                           kit.text(f"uplift.code.{u.code}"), u.code == "measured") for u in m.uplift)
    cells = [u for u in m.uplift if u.segment]
    chart = None
    if cells:
        labels = [f"{u.segment} · {act(u.action)}" for u in cells]
        chart = kit.chart("uplift", lambda ax: charts.plot_uplift(m, ax=ax, lang=kit.lang, names=labels),
                          (6.4, max(1.6, 0.32 * len(cells) + 0.8)))
    return UpliftView(
        intro=kit.text("uplift.intro", method=words.note_text(m.method, kit.lang)),
        method=kit.text("uplift.method", k=f"{cfg.uplift_prior_strength:g}", min_treated=cfg.min_treated,
                        min_control=cfg.min_control),
        effects=tuple(effects), estimates=rows, chart=chart, reason="")


SECTION = Section("uplift", "uplift.title", build, "uplift.html", needs=(MeasuredCampaign,),
                  absent=("uplift", "omitted.no_assignment"))
