"""Executive summary: headline numbers, top drivers, segments, first actions, what changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.constants import NEAR_PERFECT_AUC
from churnlens.reports import formatting, words
from churnlens.reports.context import ReportContext
from churnlens.reports.sections import monitoring, performance, plan
from churnlens.reports.sections.drivers import business_drivers
from churnlens.reports.sections.fairness import business_sentence
from churnlens.reports.sections.base import Kit, Section
from churnlens.segmentation.results import MIXED, SegmentEvidences


@dataclass(frozen=True)
class SegmentLine:
    key: str
    name: str
    size: int
    share: float


@dataclass(frozen=True)
class ActionLine:
    key: str
    action: str
    channel: str
    customers: int  # contacted with this action (retention_plan.csv ``customers``)
    targets: int  # all the segment's customers to contact


@dataclass(frozen=True)
class SummaryView:
    lead: tuple[str, ...]  # first: why no segment is named (discrimination, what is needed), or the named share
    n_customers: int
    n_churners: int
    churner_share: float
    value_at_risk: Optional[float]  # None without a value column
    rule: str
    observed: bool  # churners selected by their label (observed), not by the model (predicted)
    drivers: tuple[str, ...]  # the top drivers' risk ranges in words
    segments: tuple[SegmentLine, ...]
    n_segments: int  # named segments (the mixed-reasons group is not one)
    fairness: str  # one neutral sentence pointing to the dossier's fairness view ("" without one)
    actions: tuple[ActionLine, ...]  # every action some contacted customer gets, per segment
    change: tuple[str, ...]  # what changed since last month, one line each
    warnings: tuple[str, ...]  # model warnings: training data, near-perfect separation
    performance: str  # what the model's figures were measured on ("" without labels or outcomes)
    verdict: str  # the monitoring verdict when amber or red ("" otherwise)
    verdict_code: str  # "green" | "amber" | "red" | "none" | "" (no trend)
    plan_reason: str
    mon_reason: str


def _change(ctx: ReportContext, kit: Kit) -> tuple[str, ...]:
    change = []
    if ctx.monitoring is not None:
        m = ctx.monitoring
        change.append(kit.text("summary.change_score_psi", psi=formatting.fixed(m.score_psi.psi, 3),
                               band=kit.text(f"band.{m.score_psi.band}")))
        moved = [dd for dd in m.driver_drift if dd.ci_low > 0 or dd.ci_high < 0][:3]
        for dd in moved:
            change.append(kit.text("summary.change_driver", feature=kit.label(dd.feature),
                                   before=formatting.pct(dd.previous_share), after=formatting.pct(dd.current_share)))
    if ctx.migration is not None:
        change += [kit.text("summary.change_new_segment", key=k) for k in ctx.migration.new_segments]
        change += [kit.text("summary.change_vanished_segment", key=k) for k in ctx.migration.vanished_segments]
    return tuple(change)


def _verdict(ctx: ReportContext, kit: Kit) -> str:
    """This month's monitoring verdict in words when it is amber or red."""
    t = ctx.trend
    if t is None or t.verdict not in ("amber", "red") or not t.points:
        return ""
    word = lambda code: kit.text(f"trend.verdicts.{code}")  # noqa: E731
    p = t.points[-1]
    return kit.text("summary.monitoring_verdict", verdict=word(t.verdict),
                    psi=word(p.psi_verdict) if p.score_psi is None else f"{p.score_psi:.3f} ({word(p.psi_verdict)})",
                    auc=word(p.auc_verdict) if p.auc_drop is None else f"{p.auc_drop:+.3f} ({word(p.auc_verdict)})")


@dataclass(frozen=True)
class LeadFacts:
    """The numbers the summary's lead sentences state (tests recompute them from raw data)."""

    named: int  # named segments
    n_churners: int
    named_churners: int  # churners in named segments
    candidates: int  # candidate groups examined by the segment evidence (0 when unknown)
    auc: Optional[float]  # the model's measured discrimination: out-of-sample when measured, else in-sample
    auc_basis: str  # "out_of_sample" | "in_sample" | "" (not measured)
    n_auc: int  # customers it was measured on
    memorised: bool  # in-sample AUC at or above NEAR_PERFECT_AUC (no out-of-sample figure)


def lead_facts(basis: Optional[performance.Basis], n_churners: int, segments, evidence=()) -> LeadFacts:
    named = [s for s in segments if s.segment_id != MIXED]
    auc, where, n = None, "", 0
    if basis is not None and basis.out_of_sample_auc is not None:
        auc, where, n = basis.out_of_sample_auc, "out_of_sample", basis.n_out_of_sample
    elif basis is not None and basis.in_sample_auc is not None:
        auc, where, n = basis.in_sample_auc, "in_sample", basis.n_in_sample
    return LeadFacts(len(named), n_churners, int(sum(s.size for s in named)), len(tuple(evidence)), auc, where, n,
                     where == "in_sample" and auc >= NEAR_PERFECT_AUC)


def lead_lines(f: LeadFacts, kit) -> tuple[str, ...]:
    """The summary's first sentences. No named segment: why (no group of churners shares a reason
    the data confirm), the model's measured discrimination (in-sample or out-of-sample) and what
    would be needed to say more. Named segments: how much of the churn they explain."""
    if f.n_churners == 0:
        return ()
    if f.named:
        rest = f.n_churners - f.named_churners
        return (kit.text("summary.lead_named", share=formatting.pct(f.named_churners / f.n_churners),
                         k=formatting.num(f.named_churners), n=formatting.num(f.n_churners),
                         rest=formatting.num(rest), segments=f.named),)
    out = [kit.text("summary.lead_none_candidates", n=f.candidates) if f.candidates else kit.text("summary.lead_none")]
    auc = f"{f.auc:.3f}" if f.auc is not None else ""
    if f.auc_basis == "out_of_sample":
        out.append(kit.text("summary.lead_auc_out", auc=auc, n=formatting.num(f.n_auc)))
    elif f.memorised:
        out.append(kit.text("summary.lead_auc_memorised", auc=auc, n=formatting.num(f.n_auc)))
    elif f.auc_basis == "in_sample":
        out.append(kit.text("summary.lead_auc_in", auc=auc, n=formatting.num(f.n_auc)))
    else:
        out.append(kit.text("summary.lead_auc_none"))
    out.append(kit.text("summary.lead_need_more" if f.auc_basis == "out_of_sample" else "summary.lead_need_outcomes"))
    return tuple(out)


def build(ctx: ReportContext, kit: Kit) -> SummaryView:
    lang = kit.lang
    measured = performance.basis(ctx)
    warnings = tuple(words.note_text(n, lang) for n in measured.warnings) if measured is not None else ()
    lines = performance.basis_lines(ctx, kit)
    headline = tuple(ActionLine(p.segment_key, words.action_text(a, lang), kit.text(f"channel.{a.channel}"),
                                a.customers, p.target_count)
                     for p in ctx.plans for a in plan.listed_actions(p) if a.customers)
    ev = ctx.get(SegmentEvidences)
    facts = lead_facts(measured, ctx.churners.count, ctx.segments, ev.items if ev is not None else ())
    return SummaryView(
        lead=lead_lines(facts, kit),
        n_customers=ctx.facts.n_customers, n_churners=ctx.churners.count,
        churner_share=ctx.churners.count / max(ctx.facts.n_customers, 1),
        value_at_risk=float(sum(s.value_at_risk for s in ctx.segments)) if ctx.value is not None else None,
        rule=words.churner_rule(ctx.churners, lang), observed=ctx.config.churners.by == "label",
        # protected and family duplicates out; sizes in probability points when the model's output
        # is a probability, no log-odds here
        drivers=tuple(words.risk_text(ctx.config, d, lang, ctx.attributions.output_space,
                                      sized=ctx.attributions.output_space == "probability", flags=kit.binary)
                      for d in business_drivers(ctx.drivers.drivers)[0][:3]),
        segments=tuple(SegmentLine(s.key, words.segment_name(s, ctx.config, lang), s.size, s.share) for s in ctx.segments),
        n_segments=ctx.segmentation.n_segments,
        fairness=business_sentence(ctx.fairness, ctx.config, lang),
        actions=headline, change=_change(ctx, kit),
        warnings=warnings, performance=kit.text("summary.performance_line", lines=" ".join(lines)) if lines else "",
        verdict=_verdict(ctx, kit), verdict_code=ctx.trend.verdict if ctx.trend is not None else "",
        plan_reason=plan.reason(ctx, kit), mon_reason=monitoring.monitoring_reason(ctx, kit),
    )


SECTION = Section("summary", "summary.title", build, "summary.html")
