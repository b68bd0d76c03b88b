"""Customer and product traits of the segments against retained customers (two sections, one builder)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Optional

from churnlens.reports import charts
from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section
from churnlens.segmentation.results import MIXED

MIN_EFFECT = 0.3  # |Cohen's d| below this is not worth a table row
MAX_ROWS = 14


@dataclass(frozen=True)
class TraitRow:
    key: str  # segment key
    label: str
    seg: float
    other: float
    d: float


@dataclass(frozen=True)
class TraitsChart:
    uri: object  # ChartImage
    rows: tuple[TraitRow, ...]


@dataclass(frozen=True)
class TraitsView:
    traits: Optional[TraitsChart]  # None: not shown, see ``reason``
    reason: str


def trait_label(e, kit: Kit) -> str:
    """A trait's label: the feature, and for a categorical the level compared."""
    base = kit.label(e.feature)
    return f"{base} = {e.level}" if getattr(e, "level", "") else base


MIN_PP = 5.0  # share rows: |difference from retained customers| below this many points not listed
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


def _level_words(feature: str, stat: str, level: str, kit: Kit) -> str:
    """A profile row's level in words: value labels, readable bands, "median", "missing"."""
    from churnlens.reports import words

    spec = kit.ctx.config.features.get(feature)
    if stat == "median":
        return kit.text("traits.median")
    if stat == "missing":
        return kit.text("reason.missing")
    if stat == "band" and level[:1] in "<[>":
        nums = [float(x) for x in level.strip("<>=[)").split(",")]
        unit = spec.unit if spec is not None else None
        shown = [words.feature_value(x, unit=unit, lang=kit.lang) for x in nums]
        if level.startswith("<"):
            return kit.text("traits.band_below", high=shown[0])
        if level.startswith(">="):
            return kit.text("traits.band_above", low=shown[0])
        return kit.text("traits.band_between", low=shown[0], high=shown[1])
    if level == "(other)":
        return kit.text("traits.other_levels")
    value: object = level
    try:
        value = float(level)
    except ValueError:
        pass
    if stat == "share" and level == "1" and spec is not None and not spec.value_label(1, kit.lang):
        return kit.text("traits.has_trait")
    return words.feature_value(value, lang=kit.lang, spec=spec)


def _value(v: float, stat: str, feature: str, kit: Kit) -> str:
    from churnlens.reports import words

    if v != v:  # NaN
        return "–"
    if stat == "median":
        spec = kit.ctx.config.features.get(feature)
        return words.feature_value(words.round3(v), unit=spec.unit if spec is not None else None, lang=kit.lang)
    return f"{100 * v:.0f}%"


def _profile_rows(ctx: ReportContext, kit: Kit, feats: list[str], keys: list[str]) -> tuple[ProfileRow, ...]:
    f = ctx.profiles.frame
    f = f[f["feature"].isin(feats) & f["segment"].isin(keys)]
    strong = ((f["effect_kind"] == "pp") & (f["effect"].abs() >= MIN_PP)) | (
        (f["effect_kind"] == "d") & (f["effect"].abs() >= MIN_EFFECT))
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
                               _value(r.book_value, r.stat, r.feature, kit), effect, int(r.n)))
    return tuple(rows)


@dataclass(frozen=True)
class ProfilesView:
    rows: tuple[ProfileRow, ...]  # empty: not shown, see ``reason``
    reason: str
    group: str
    title: str


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
    return ProfilesView(rows, "" if rows else kit.omitted(section, f"omitted.no_{group}_features"), group, title)


def build(ctx: ReportContext, kit: Kit, *, group: str, section: str) -> TraitsView:
    real = [s for s in ctx.segments if s.segment_id != MIXED]
    shown = {e.feature for s in real for e in s.traits_vs_retained}
    feats = [f for f in ctx.attributions.features if ctx.config.group(f) == group and f in shown]
    if not real:
        return TraitsView(None, kit.omitted(section, "omitted.no_segments"))
    if not feats:
        return TraitsView(None, kit.omitted(section, f"omitted.no_{group}_features"))
    uri = kit.chart(f"traits {group}", lambda ax: charts.plot_traits(
        real, feats, ax=ax, lang=kit.lang, labels=kit.labels), (6.6, 0.3 * len(real) + 2.1))
    rows = [TraitRow(s.key, trait_label(e, kit), e.segment_mean, e.other_mean, e.effect_size)
            for s in real for e in s.traits_vs_retained if e.feature in feats and abs(e.effect_size) >= MIN_EFFECT]
    return TraitsView(TraitsChart(uri, tuple(rows[:MAX_ROWS])), "")


CUSTOMER = Section("customer-traits", "traits.customer_title", partial(build, group="customer", section="customer-traits"),
                   "customer_traits.html")
PRODUCT = Section("product-traits", "traits.product_title", partial(build, group="product", section="product-traits"),
                  "product_traits.html")
PROFILE_CUSTOMER = Section("customer-profile", "traits.customer_profile_title",
                           partial(build_profiles, group="customer", section="customer-profile"), "trait_profile.html")
PROFILE_PRODUCT = Section("product-profile", "traits.product_profile_title",
                          partial(build_profiles, group="product", section="product-profile"), "trait_profile.html")
PROFILE_BEHAVIOUR = Section("behaviour-profile", "traits.behaviour_profile_title",
                            partial(build_profiles, group="behaviour", section="behaviour-profile"), "trait_profile.html")
