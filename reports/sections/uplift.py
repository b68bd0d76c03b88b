"""The campaign's measured effect, in one view: last month's list measured by its own control
group and the outcomes (``MeasuredCampaign``) and/or the ``--campaign`` file
(``CampaignEffect``), one table saying which source each row comes from; the measured uplift per
segment x action (pooled, shrunk toward the playbook's assumption); and this month's control group
per action with when each action will be measurable. "Not shown" only when neither source exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.reports import charts, words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class EffectRow:
    source: str
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
class ControlRow:
    action: str
    plan: object  # ControlPlan
    share: float
    when: str  # when the action is measurable, in words


@dataclass(frozen=True)
class UpliftView:
    intro: tuple[str, ...]
    method: str
    effects: tuple[EffectRow, ...]
    estimates: tuple[UpliftRow, ...]
    chart: object
    reason: str
    with_value: bool = True
    controls: tuple[ControlRow, ...] = ()
    controls_intro: str = ""
    lineage: tuple[str, ...] = ()  # merges and splits the earlier months' evidence followed


def action_words(ctx: ReportContext, lang: str) -> dict[str, str]:
    """Action key (the rule's English text, machine words) -> the action in ``lang``, from the
    playbook rules in use and the plans."""
    out = {r.action.en: r.action.get(lang) for r in (*ctx.rules, *ctx.config.playbook)}
    for p in ctx.plans:
        for a in p.actions:
            out.setdefault(a.action.en, a.action.get(lang))
    return out


def segment_label(ctx: ReportContext, lang: str):
    """This month's segment key -> "S1 · name" (the key alone for a key no segment has)."""
    names = words.segment_names(ctx.segments, ctx.config, lang)
    return lambda key: f"{key} · {names[key]}" if key in names else key


def _effects(ctx: ReportContext, kit: Kit, act, seg) -> list[EffectRow]:
    rows: list[EffectRow] = []
    m, c = ctx.measured, ctx.campaign
    if m is not None:
        src = kit.text("uplift.source.list")
        rows.append(EffectRow(src, kit.text("uplift.level_all"), "", m.overall))
        rows += [EffectRow(src, kit.text("uplift.level_segment"), seg(e.population), e) for e in m.by_segment]
        rows += [EffectRow(src, kit.text("uplift.level_action"), act(e.population), e) for e in m.by_action]
    if c is not None:
        src = kit.text("uplift.source.file")
        rows.append(EffectRow(src, kit.text("uplift.level_all"), "", c.overall))
        # the file's customers were on last month's list: their segments follow the lineage to this month's keys
        rows += [EffectRow(src, kit.text("uplift.level_segment"), seg(e.population), e) for e in c.by_segment]
    return rows


def _controls(ctx: ReportContext, kit: Kit, act) -> tuple[tuple[ControlRow, ...], str]:
    cp = ctx.control_plan
    if cp is None or not cp.plans:
        return (), ""
    rows = []
    for p in cp.plans:
        if p.measurable_in is None:
            when = kit.text("uplift.when.never" if p.arm else "uplift.when.not_listed")
        elif p.measurable_in == 0:
            when = kit.text("uplift.when.now")
        else:
            when = kit.text("uplift.when.months", n=p.measurable_in)
        rows.append(ControlRow(act(p.action), p, p.control / p.arm if p.arm else 0.0, when))
    intro = kit.text("uplift.controls_intro", min_control=cp.min_control, n=cp.months,
                     share=f"{cp.base_share:.0%}")
    return tuple(rows), intro


def build(ctx: ReportContext, kit: Kit) -> UpliftView:
    m, c = ctx.measured, ctx.campaign
    names = action_words(ctx, kit.lang)
    act = lambda a: names.get(a, a)  # noqa: E731
    seg = segment_label(ctx, kit.lang)
    effects = _effects(ctx, kit, act, seg)
    cfg = ctx.config.loop
    rows: tuple[UpliftRow, ...] = ()
    chart = None
    intro: list[str] = []
    if m is not None:
        intro.append(kit.text("uplift.intro", method=words.note_text(m.method, kit.lang)))
        rows = tuple(UpliftRow(seg(u.segment) if u.segment else kit.text("uplift.all_segments"), act(u.action), u,
                               kit.text(f"uplift.code.{u.code}"), u.code == "measured") for u in m.uplift)
        cells = [u for u in m.uplift if u.segment]
        if cells:
            labels = [f"{u.segment} · {act(u.action)}" for u in cells]
            chart = kit.chart("uplift", lambda ax: charts.plot_uplift(m, ax=ax, lang=kit.lang, names=labels),
                              (6.4, max(1.6, 0.32 * len(cells) + 0.8)))
    if c is not None:
        intro.append(kit.text("uplift.intro_file", method=words.note_text(c.method, kit.lang)))
    if m is not None and c is not None:
        intro.append(kit.text("uplift.both_sources"))
    controls, controls_intro = _controls(ctx, kit, act)
    lineage: tuple[str, ...] = ()
    events = () if ctx.migration is None else ctx.migration.events
    if m is not None and events:
        lineage = (kit.text("uplift.lineage_note"),) + tuple(words.lineage_sentence(e, kit.lang) for e in events)
    reason = "" if effects else kit.text("omitted.no_campaign_measure")
    return UpliftView(
        intro=tuple(intro),
        method=kit.text("uplift.method", k=f"{cfg.uplift_prior_strength:g}", min_treated=cfg.min_treated,
                        min_control=cfg.min_control),
        effects=tuple(effects), estimates=rows, chart=chart, reason=reason,
        with_value=m is not None or ctx.value is not None, controls=controls, controls_intro=controls_intro,
        lineage=lineage)


SECTION = Section("uplift", "uplift.title", build, "uplift.html")
