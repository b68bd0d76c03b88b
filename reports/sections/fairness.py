"""Fairness of the list (dossier): per protected attribute and age band, selection, contact and
action rates by group with their disparity ratios against the largest group (the four-fifths
reference marked), list position and value share, calibration and AUC when labels exist, the
proxy check and the segments' composition; and the business report's one neutral sentence
(:func:`business_sentence`). The numbers are :class:`churnlens.evaluation.fairness.Fairness`'s;
the verdicts (flags) are the stage's, worded here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from churnlens.evaluation.results import Fairness
from churnlens.reports import formatting
from churnlens.reports.catalogue import text
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class GroupRow:
    group: str
    n: int
    selection: str  # "18.9% (0.94)"
    contact: str
    action: str
    listed: int
    position: str
    value_share: str
    calibration: str  # "mean predicted 34.6% / observed 34.6%"
    auc: str
    flags: str  # worded flags, "" when none
    flagged: bool


@dataclass(frozen=True)
class ProxyRow:
    feature: str
    measure: str
    association: str
    attribution_share: str


@dataclass(frozen=True)
class CompositionRow:
    segment: str
    group: str
    n: int
    share: str
    book_share: str


@dataclass(frozen=True)
class AttributeBlock:
    title: str  # "Gender (protected)" / "Age bands"
    reference: str  # sentence naming the reference group
    groups: tuple[GroupRow, ...]
    proxies: tuple[ProxyRow, ...]
    proxy_none: str
    composition: tuple[CompositionRow, ...]


@dataclass(frozen=True)
class FairnessView:
    intro: str
    verdict: str
    attributes: tuple[AttributeBlock, ...]
    has_labels: bool
    empty: str  # when no attribute is declared


def _rate(rate: float, ratio: float) -> str:
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return formatting.DASH
    r = formatting.DASH if ratio is None or math.isnan(ratio) else f"{ratio:.2f}"
    return f"{formatting.pct(rate)} ({r})"


def _group_name(attr, group: str, kit: Kit) -> str:
    if group == "missing":
        return kit.text("reason.missing")
    if attr.kind == "age_band":
        return group
    return kit.ctx.config.value_label(attr.attribute, group, kit.lang) or group


def build(ctx: ReportContext, kit: Kit) -> FairnessView:
    f: Fairness = ctx[Fairness]
    blocks = []
    for a in f.attributes:
        label = kit.label(a.attribute) if a.attribute in kit.labels else ctx.config.label(a.attribute, kit.lang)
        title = kit.text(f"fairness.kind_{a.kind}", label=label)
        rows = []
        for g in a.groups:
            calib = formatting.DASH if g.observed_rate is None else kit.text(
                "fairness.calibration", predicted=formatting.pct(g.mean_score), observed=formatting.pct(g.observed_rate))
            rows.append(GroupRow(
                group=_group_name(a, g.group, kit), n=g.n, selection=_rate(g.selection_rate, g.selection_ratio),
                contact=_rate(g.contact_rate, g.contact_ratio), action=_rate(g.action_rate, g.action_ratio),
                listed=g.listed, position=formatting.DASH if math.isnan(g.mean_list_position) else
                f"{g.mean_list_position:.2f}", value_share=formatting.pct(g.value_share),
                calibration=calib, auc=formatting.DASH if g.auc is None else f"{g.auc:.3f}",
                flags=kit.text("note.list_sep").join(kit.text(f"fairness.flag.{c}") for c in g.flags),
                flagged=g.flagged))
        proxies = tuple(ProxyRow(ctx.config.label(p.feature, kit.lang), kit.text(f"fairness.measure.{p.measure}"),
                                 f"{p.association:.2f}", formatting.pct(p.attribution_share)) for p in a.proxies)
        comp = tuple(CompositionRow(c.segment, _group_name(a, c.group, kit), c.n, formatting.pct(c.share),
                                    formatting.pct(c.book_share)) for c in a.composition)
        blocks.append(AttributeBlock(title, kit.text("fairness.reference", group=_group_name(a, a.reference, kit)),
                                     tuple(rows), proxies,
                                     kit.text("fairness.no_proxy", threshold=f"{f.proxy_association:.1f}"), comp))
    flagged = f.flagged
    verdict = (kit.text("fairness.verdict_flagged", n=len(flagged)) if flagged else kit.text("fairness.verdict_clear"))
    intro = kit.text("fairness.intro", n=formatting.num(f.n_population), low=f"{f.four_fifths:.2f}",
                     high=f"{1 / f.four_fifths:.2f}", min_group=f.min_group)
    return FairnessView(intro, verdict, tuple(blocks), f.has_labels, kit.text("fairness.no_attributes"))


def business_sentence(fairness: Optional[Fairness], config, lang: str) -> str:
    """The business report's one neutral sentence about the dossier's fairness view ("" when
    the run has no fairness result); ``config`` names the attributes."""
    if fairness is None:
        return ""
    if not fairness.attributes:
        return text(lang, "fairness.business_none")
    names = [text(lang, f"fairness.kind_{a.kind}", label=config.label(a.attribute, lang)) for a in fairness.attributes]
    return text(lang, "fairness.business", attributes=text(lang, "note.list_sep").join(names), n=len(fairness.flagged))


SECTION = Section("fairness", "fairness.title", build, "d_fairness.html", needs=(Fairness,),
                  absent=("fairness", "omitted.not_computed"))
