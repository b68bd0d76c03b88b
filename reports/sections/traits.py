"""Customer, product and behaviour profiles of the segments against retained customers and the
whole book: three pages, one builder, all rows from ``tables/segment_profiles.csv``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Optional

import pandas as pd

from churnlens.reports import charts
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section
from churnlens.segmentation.results import MIXED
from churnlens.reports import words
from churnlens.segmentation.results import TRAIT_STATEMENTS



def trait_label(e, kit: Kit) -> str:
    """A trait's label: the feature, and for a categorical the level compared, in the
    dictionary's words for it ("Country: Germany" -> "Country: 德国"); a 0/1 flag is its
    level 1 ("Active member: active"), its mean being that level's share."""
    level = getattr(e, "level", "")
    if not level and e.feature in kit.binary:
        level = "1"
    if not level:
        return kit.label(e.feature)
    return kit.text("reason.line", label=kit.label(e.feature), value=_level_words(e.feature, "share", level, kit))


def trait_value(e, v: float, kit: Kit) -> str:
    """A trait's segment or comparison mean as a reader takes it: a level's or a flag's share as a
    percentage ("15%", never 0.15), an amount or a measure in the dictionary's unit
    ("71,900 EUR", "38.5 years"), never a bare number with cents."""
    if v != v:  # NaN
        return "–"
    if getattr(e, "level", "") or e.feature in kit.binary:
        return f"{100 * v:.0f}%"
    spec = kit.ctx.config.features.get(e.feature)
    return words.feature_value(words.round3(v), unit=spec.unit if spec is not None else None, lang=kit.lang)


ROWS_PER_SEGMENT = 6


@dataclass(frozen=True)
class ProfileRow:
    key: str  # segment key
    label: str  # "Country: Germany", "Age: 45–60", "Age: median"
    seg: str
    retained: str
    book: str
    effect: str  # "+12 pp" or "d = +0.45"
    n: int
    shares: Optional[tuple[float, float]] = None  # (segment, retained) share in 0-1; None for a median


def _level_words(feature: str, stat: str, level: str, kit: Kit) -> str:
    """A profile row's level in words: value labels, readable bands, "median", "missing"."""
    return words.trait_level(kit.ctx.config, feature, stat, level, kit.lang, integer=feature in kit.integers)


def _value(v: float, stat: str, feature: str, kit: Kit) -> str:

    if v != v:  # NaN
        return "–"
    if stat == "median":
        spec = kit.ctx.config.features.get(feature)
        return words.feature_value(words.round3(v), unit=spec.unit if spec is not None else None, lang=kit.lang)
    return f"{100 * v:.0f}%"


def made_traits(claims) -> set[tuple[str, str, str, str]]:
    """(segment, feature, stat, level) of the trait claims that are made: the rows a profile page
    may list (``churnlens.segmentation.claims.trait_claims``; never a protected attribute)."""
    stat_of = {v: k for k, v in TRAIT_STATEMENTS.items()}
    return {(c.segment, c.feature, stat_of[c.statement], c.level) for c in claims
            if c.kind == "trait" and c.verdict == "made"}


def _profile_rows(ctx: ReportContext, kit: Kit, feats: list[str], keys: list[str]) -> tuple[ProfileRow, ...]:
    f = ctx.profiles.frame
    f = f[f["feature"].isin(feats) & f["segment"].isin(keys)]
    made = made_traits(ctx.claims or ())
    level = f["level"].astype(str).where(~f["stat"].isin(("median", "missing")), "")
    strong = pd.Series([(sg, ft, st, lv) in made for sg, ft, st, lv in zip(f["segment"], f["feature"], f["stat"], level)],
                       index=f.index, dtype=bool)
    f = f[strong].assign(_size=lambda d: d["effect"].abs() / d["effect_kind"].map({"pp": 10.0, "d": 0.1}))
    f = f.sort_values(["segment", "_size"], key=lambda c: c.map({k: i for i, k in enumerate(keys)})
                      if c.name == "segment" else -c, kind="stable")
    rows = []
    for r in f.groupby("segment", sort=False).head(ROWS_PER_SEGMENT).itertuples():
        effect = (kit.text("traits.pp", v=f"{r.effect:+.0f}") if r.effect_kind == "pp"
                  else kit.text("traits.d", v=f"{r.effect:+.2f}"))
        label = kit.text("reason.line", label=kit.label(r.feature), value=_level_words(r.feature, r.stat, r.level, kit))
        rows.append(ProfileRow(r.segment, label, _value(r.segment_value, r.stat, r.feature, kit),
                               _value(r.retained_value, r.stat, r.feature, kit),
                               _value(r.book_value, r.stat, r.feature, kit), effect, int(r.n),
                               None if r.stat == "median" else (float(r.segment_value), float(r.retained_value))))
    return tuple(rows)


@dataclass(frozen=True)
class ProfilesView:
    rows: tuple[ProfileRow, ...]  # empty: not shown, see ``reason``
    reason: str
    group: str
    title: str
    chart: object = None  # ChartImage of the share rows, or None


def build_profiles(ctx: ReportContext, kit: Kit, *, group: str, section: str) -> ProfilesView:
    """Each segment's strongest differences from the retained customers on one page of traits
    (``tables/segment_profiles.csv`` holds every row), levels and bands in business words."""
    real = [s.key for s in ctx.segments if s.segment_id != MIXED]
    feats = [f for f in ctx.attributions.features if ctx.config.group(f) == group]
    title = kit.text(f"traits.{group}_profile_title")
    if not real:
        return ProfilesView((), kit.omitted(section, "omitted.no_segments"), group, title)
    if not feats or ctx.profiles is None:
        return ProfilesView((), kit.omitted(section, f"omitted.no_{group}_features"), group, title)
    rows = _profile_rows(ctx, kit, feats, real)
    shares = [(f"{r.key} · {r.label}", *r.shares) for r in rows if r.shares is not None and r.shares[1] == r.shares[1]]
    chart = kit.chart(f"profile {group}", lambda ax: charts.plot_profile_shares(shares, ax=ax, lang=kit.lang),
                      (6.6, 0.3 * len(shares) + 1.0)) if shares else None
    return ProfilesView(rows, "" if rows else kit.omitted(section, f"omitted.no_{group}_features"), group, title,
                        chart)


PROFILE_CUSTOMER = Section("customer-profile", "traits.customer_profile_title",
                           partial(build_profiles, group="customer", section="customer-profile"), "trait_profile.html")
PROFILE_PRODUCT = Section("product-profile", "traits.product_profile_title",
                          partial(build_profiles, group="product", section="product-profile"), "trait_profile.html")
PROFILE_BEHAVIOUR = Section("behaviour-profile", "traits.behaviour_profile_title",
                            partial(build_profiles, group="behaviour", section="behaviour-profile"), "trait_profile.html")
