"""Relationship-manager cards (``cards.html`` / ``cards.pdf``): one compact card per customer
to contact, for the ``report.cards.top_n`` customers with the largest value at risk, VIPs first
(``features.<f>.vip_levels`` of the data dictionary).

A card shows the retention list's own row in the report language (the list's words: reasons
with their sizes, what would keep the customer, the action and its channel), the products the
customer holds (the dictionary's ``product`` features) and the talking points of the playbook
rule that gave the action. Control customers and do-not-contact customers are not carded (they
are not contacted); customers who refused personalised marketing show the generic action, as on
the list, and nothing personalised.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.actions.results import FinalPlan, Playbook
from churnlens.config import value_key
from churnlens.errors import UserInputError
from churnlens.reports import words
from churnlens.reports.catalogue import text
from churnlens.reports.context import ReportContext
from churnlens.reports.render import _unit, make_environment, render_page, write_pdf
from churnlens.results import SourceFeatures

FORMATS = ("html", "pdf")


@dataclass(frozen=True)
class Card:
    """One customer's card: the list's row in the report language, and what the list lacks."""

    rank: int  # 1 = first card
    customer_id: str  # as on the list (masked by the template)
    vip: bool
    segment: str  # key (S1, MIX)
    segment_name: str
    score: float
    value: float  # NaN without a value column
    value_at_risk: float
    reasons: tuple[str, ...]  # the list's reason_1..k (sized in pp)
    products: tuple[str, ...]  # "Number of products held: 2", "Holds a credit card"
    keep_change: str  # the list's keep_change ("" without one)
    keep_action: str
    action: str  # the list's action ("" when no rule applies)
    channel: str  # in words
    talking_points: tuple[str, ...]
    generic: bool  # refused personalised marketing: the generic action


@dataclass(frozen=True)
class CardsView:
    """The cards document as the template sees it (``v``)."""

    lang: str
    kind: str  # "cards"
    title: str
    institution: str
    period: str
    generated_at: str
    accent: str
    intro: str
    cards: tuple[Card, ...]
    has_keep: bool  # the run computed what would keep each customer


def _cell(frame: pd.DataFrame, column: str, i: int) -> str:
    if column not in frame.columns:
        return ""
    v = frame[column].iat[i]
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def vip_rows(ctx: ReportContext, rows: np.ndarray) -> np.ndarray:
    """Whether each attributed row ``rows`` is a VIP: its value of a feature with
    ``vip_levels`` is one of those levels (compared as ``values:`` keys)."""
    X = ctx.results[SourceFeatures].frame
    out = np.zeros(len(rows), dtype=bool)
    for feature, spec in ctx.config.features.items():
        if spec.vip_levels and feature in X.columns:
            levels = set(spec.vip_levels)
            out |= np.array([value_key(v) in levels for v in X[feature].to_numpy()[rows]], dtype=bool)
    return out


def card_order(frame: pd.DataFrame, vip: np.ndarray) -> np.ndarray:
    """Positions of the list's rows to card, in card order: customers to contact (not the
    control group), VIPs first, then by value at risk (descending; by the list's order when
    there is no value), ties in the list's order."""
    contact = ~frame["control_group"].to_numpy(dtype=bool)
    pos = np.flatnonzero(contact)
    evar = frame["expected_value_at_risk"].to_numpy(dtype=np.float64)[pos]
    key = np.where(np.isnan(evar), -np.inf, evar)
    return pos[np.lexsort((pos, -key, ~vip[pos]))]


def _binary(X: pd.DataFrame, feature: str) -> bool:
    """A 0/1 feature (a product held or not)."""
    return set(pd.unique(X[feature].dropna()).tolist()) <= {0, 1}


def _products(ctx: ReportContext, row: int, lang: str, binary: dict) -> tuple[str, ...]:
    """The dictionary's ``product`` features of one customer: a 0/1 feature by its label when
    held, a zero count left out, other values as "label: value" (``binary``: feature -> 0/1)."""
    X, config = ctx.results[SourceFeatures].frame, ctx.config
    out = []
    for feature, spec in config.features.items():
        if spec.group != "product" or feature not in X.columns:
            continue
        v = X[feature].iat[row]
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            continue
        numeric = isinstance(v, (int, float, np.integer, np.floating, bool, np.bool_))
        if numeric and float(v) == 0.0 and spec.value_label(v, lang) is None:
            continue  # not held
        if feature not in binary:
            binary[feature] = _binary(X, feature)
        if numeric and float(v) == 1.0 and binary[feature] and spec.value_label(v, lang) is None:
            out.append(spec.label.get(lang))  # a 0/1 product: held
            continue
        out.append(words.reason_text(feature, v, config, lang))
    return tuple(out)


def build_cards(ctx: ReportContext, frame: pd.DataFrame, rows: np.ndarray, *, generated_at: str = "",
                period: str = "", institution: str = "") -> CardsView:
    """The cards of the list ``frame`` (the retention list in ``ctx.lang``, as the workbook
    shows it); ``rows[i]`` is the attributed row of the list's row ``i``."""
    lang, config = ctx.lang, ctx.config
    rows = np.asarray(rows, dtype=np.int64)
    vip = vip_rows(ctx, rows)
    order = card_order(frame, vip)[: config.report.cards.top_n]
    plan, rules = ctx.results[FinalPlan], ctx.results[Playbook].rules
    tg, generic_action = plan.targeting, config.report.generic_action
    refused = np.zeros(len(tg.listed), dtype=bool) if tg.refused is None or not tg.generic else tg.refused
    k = sum(1 for c in frame.columns if c.startswith("reason_") and c[7:].isdigit())
    cards, binary = [], {}
    for rank, i in enumerate(order, start=1):
        row = int(rows[i])
        generic = bool(refused[row])
        ridx = int(plan.rule_index[row])
        points = (generic_action.talking_points if generic and generic_action is not None else
                  rules[ridx].talking_points if not generic and ridx >= 0 else ())
        cards.append(Card(
            rank=rank, customer_id=_cell(frame, "customer_id", i), vip=bool(vip[i]),
            segment=_cell(frame, "segment", i), segment_name=_cell(frame, "segment_name", i),
            score=float(frame["score"].iat[i]), value=float(frame["value"].iat[i]),
            value_at_risk=float(frame["expected_value_at_risk"].iat[i]),
            reasons=tuple(r for j in range(k) if (r := _cell(frame, f"reason_{j + 1}", i))),
            products=_products(ctx, row, lang, binary),
            keep_change=_cell(frame, "keep_change", i), keep_action=_cell(frame, "keep_action", i),
            action=_cell(frame, "action", i), channel=words.channel_name(_cell(frame, "channel", i), lang),
            talking_points=tuple(p.get(lang) for p in points), generic=generic))
    vip_features = [(f, s) for f, s in config.features.items() if s.vip_levels]
    vip_text = "".join(text(lang, "cards.intro_vip", feature=config.label(f, lang),
                            levels=text(lang, "meta.sep_list").join(
                                s.value_label(v, lang) or v for v in s.vip_levels))
                       for f, s in vip_features[:1])
    key = "cards.intro" if config.value_column else "cards.intro_by_score"  # without values: by probability
    intro = text(lang, key, n=len(cards), vip=vip_text)
    return CardsView(lang=lang, kind="cards", title=text(lang, "cards.title"), institution=institution,
                     period=period, generated_at=generated_at, accent=config.report.accent, intro=intro,
                     cards=tuple(cards), has_keep="keep_change" in frame.columns)


def render_cards(ctx: ReportContext, frame: pd.DataFrame, rows: np.ndarray, out_dir: Path, *,
                 formats: tuple[str, ...] = FORMATS) -> tuple[Path, ...]:
    """Write ``cards.html`` / ``cards.pdf`` into ``out_dir`` (formats as the documents');
    nothing when ``report.cards.top_n`` is 0. Returns the files written."""
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UserInputError(f"formats: {','.join(formats)!s} has unsupported format(s) {bad}; expected a "
                             f"non-empty subset of {', '.join(FORMATS)}.", argument="formats")
    cfg = ctx.config
    if cfg.report.cards.top_n == 0:
        return ()
    view = build_cards(ctx, frame, rows, generated_at=ctx.facts.generated_at, period=ctx.facts.period,
                       institution=ctx.facts.institution)
    env = cards_environment(ctx)
    written = []
    if "html" in formats:
        path = Path(out_dir) / "cards.html"
        path.write_text(render_page(view, env, "cards.html", for_pdf=False), encoding="utf-8")
        written.append(path)
    if "pdf" in formats:
        path = Path(out_dir) / "cards.pdf"
        write_pdf(render_page(view, env, "cards.html", for_pdf=True), path, created=ctx.facts.generated_at)
        written.append(path)
    return tuple(written)


def cards_environment(ctx: ReportContext, lang: Optional[str] = None):
    """The documents' Jinja environment for ``ctx`` (ids masked as in the report, money in the
    value column's unit)."""
    cfg, lang = ctx.config, lang or ctx.lang
    value_spec = cfg.features.get(cfg.value_column) if cfg.value_column else None
    return make_environment(lang, mask_ids=cfg.report.mask_ids and not cfg.report.hash_ids,
                            money_unit=_unit(value_spec, lang),
                            value_label=cfg.label(cfg.value_column, lang) if cfg.value_column else "")
