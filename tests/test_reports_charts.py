"""Charts and value formatting of the report (fast: no PDF)."""

from __future__ import annotations

import warnings

import matplotlib as mpl
import numpy as np
import pytest

from churnlens.reports import charts, formatting
from churnlens.reports.catalogue import text
from tests.flow_fixture import build_context


@pytest.fixture(scope="module")
def ctx():
    return build_context(1500)  # shared (cached) with test_reports.py


def _labels(ctx, lang):
    return {f: ctx.config.label(f, lang) for f in ctx.attributions.features}


def _all_charts(ctx, lang):
    L = _labels(ctx, lang)
    a, X, rows = ctx.attributions, ctx.X, ctx.display_rows
    segs = ctx.segments
    feats = [d.feature for d in ctx.drivers.drivers[:6]]
    return {
        "global_drivers": lambda ax: charts.plot_global_drivers(ctx.drivers, ax=ax, lang=lang, labels=L),
        "global_signed": lambda ax: charts.plot_global_drivers(ctx.drivers, ax=ax, lang=lang, labels=L, signed=True),
        "beeswarm": lambda ax: charts.plot_beeswarm(a, X, rows, features=feats, ax=ax, lang=lang, labels=L),
        "dependence": lambda ax: charts.plot_dependence(a, X, rows, ctx.drivers.drivers[0], ax=ax, lang=lang, labels=L),
        "sizes": lambda ax: charts.plot_segment_sizes(segs, ax=ax, lang=lang),
        "heatmap": lambda ax: charts.plot_segment_heatmap(segs, feats, ax=ax, lang=lang, labels=L),
        "profile": lambda ax: charts.plot_profile_shares([("S1 · Country: Germany", 0.62, 0.21),
                                                          ("S1 · a long trait label that must wrap rather than be cut", 0.1, 0.3)],
                                                         ax=ax, lang=lang),
        "signature": lambda ax: charts.plot_segment_signature(segs[0], ax=ax, lang=lang, labels=L),
        "stability": lambda ax: charts.plot_stability(ctx.segmentation.stability, [s.key for s in segs], ax=ax, lang=lang),
        "roc": lambda ax: charts.plot_roc(ctx.quality, ax=ax, lang=lang),
        "ks": lambda ax: charts.plot_ks(ctx.quality, ax=ax, lang=lang),
        "gains": lambda ax: charts.plot_gains(ctx.quality, ax=ax, lang=lang),
        "calibration": lambda ax: charts.plot_calibration(ctx.quality, ax=ax, lang=lang),
        "psi": lambda ax: charts.plot_psi(ctx.monitoring, ax=ax, lang=lang, labels=L),
        "drift": lambda ax: charts.plot_driver_drift(ctx.monitoring, ax=ax, lang=lang, labels=L),
        "migration": lambda ax: charts.plot_migration(ctx.migration, ax=ax, lang=lang),
    }


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_chart_draws_on_the_given_axes_without_missing_glyphs(ctx, lang):
    from matplotlib.axes import Axes

    before = dict(mpl.rcParams)
    for name, draw in _all_charts(ctx, lang).items():
        with warnings.catch_warnings(record=True) as caught, charts.chart_style(lang):
            warnings.simplefilter("always")
            ax = charts.new_axes((5, 3))
            out = draw(ax)
            uri = charts.svg_data_uri(ax.figure)
        assert out is ax and isinstance(out, Axes), name
        assert uri.startswith("data:image/svg+xml;base64,")
        missing = [str(w.message) for w in caught if "missing from" in str(w.message)]
        assert not missing, (name, missing[:2])
    assert dict(mpl.rcParams) == before  # rc_context only: no global style change


def test_charts_make_their_own_figure_without_pyplot(ctx):
    from matplotlib.figure import Figure

    ax = charts.plot_roc(ctx.quality)
    assert type(ax.figure) is Figure and len(ax.lines) == 2
    assert not hasattr(ax.figure, "number")  # not a pyplot-managed figure


def test_charts_draw_the_result_objects(ctx):
    # bars are the drivers' numbers, in order; shaded span is the driver's risk range
    ax = charts.plot_global_drivers(ctx.drivers, top=5)
    widths = [p.get_width() for p in ax.patches]
    assert widths == pytest.approx([d.mean_abs for d in ctx.drivers.drivers[:5]])
    # the dependence chart shades exactly the driver's reported zones (those of the sentence and
    # of tables/drivers.csv), open ends at the data's extremes; nothing else
    d0 = next(d for d in ctx.drivers.drivers if d.zones and not d.zones[0].categories
              and all(z.low != z.high for z in d.zones))
    ax = charts.plot_dependence(ctx.attributions, ctx.X, ctx.display_rows, d0)
    x = ctx.X[d0.feature].iloc[ctx.display_rows].to_numpy(dtype=float)
    spans = sorted((e.x0, e.x1) for e in (p.get_path().get_extents().transformed(p.get_patch_transform())
                                          for p in ax.patches))
    expected = sorted((np.nanmin(x) if z.low is None else z.low, np.nanmax(x) if z.high is None else z.high)
                      for z in d0.zones)
    assert np.asarray(spans) == pytest.approx(np.asarray(expected))
    ax = charts.plot_gains(ctx.quality)
    assert [p.get_height() for p in ax.patches] == pytest.approx([r.lift for r in ctx.quality.deciles])
    ax = charts.plot_migration(ctx.migration)
    assert len(ax.collections) == sum(1 for f in ctx.migration.flows if f.count > 0)


def test_svg_output_is_deterministic(ctx):
    a = charts.svg_data_uri(charts.plot_psi(ctx.monitoring).figure)
    b = charts.svg_data_uri(charts.plot_psi(ctx.monitoring).figure)
    assert a == b


def test_formatting():
    assert formatting.money(123_456_789, "zh") == "1.23\u00a0亿"
    assert formatting.money(38_021_000, "zh") == "3,802.1\u00a0万"
    assert formatting.money(9_500, "zh") == "9,500"
    assert formatting.money(38_021_000, "en") == "38.0\u00a0M"
    assert formatting.money(2_500_000_000, "en") == "2.50\u00a0bn"
    assert formatting.money(None) == formatting.DASH
    assert formatting.pct(0.1234) == "12.3%"
    assert formatting.num(1234567) == "1,234,567"
    assert formatting.signed(0.5, 2) == "+0.50"
    assert formatting.sci(3.14e-7) == "3.1e-07"
    assert formatting.date("2026-11-25T02:30:00+00:00", "zh") == "2026年11月25日 02:30 UTC"
    assert formatting.date("2026-11-25T02:30:00+00:00", "en") == "25 Nov 2026, 02:30 UTC"
    assert formatting.masked("C0001234") == "C0****34"
    assert formatting.masked(formatting.masked("C0001234")) == "C0****34"  # idempotent
    assert formatting.masked("C0001234", enabled=False) == "C0001234"
    css = str(formatting.css_string('a"b</style><script>'))
    assert css.startswith('"') and css.endswith('"') and '"' not in css[1:-1] and "<" not in css


def test_chart_texts_come_from_the_catalogue(ctx):
    ax = charts.plot_roc(ctx.quality, lang="zh")
    assert ax.get_xlabel() == text("zh", "chart.fpr")
    ax = charts.plot_global_drivers(ctx.drivers, lang="zh", labels=_labels(ctx, "zh"), top=3)
    assert [t.get_text() for t in ax.get_yticklabels()] == [ctx.config.label(d.feature, "zh")
                                                            for d in ctx.drivers.drivers[:3]]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_dependence_of_0_1_and_categorical_features_on_the_dictionarys_words(lang):
    """A 0/1 driver is drawn on its words ("inactive"/"active"), never 0.00-1.00, its zone shaded on
    its word alone; a categorical driver's levels carry their words and the zone's level is the
    coloured one."""
    import pandas as pd

    from churnlens.attribution.results import Attributions, Driver, RiskZone
    from churnlens.config import parse_config
    from churnlens.reports.sections.drivers import value_words

    rng = np.random.default_rng(0)
    n = 400
    X = pd.DataFrame({"IsActiveMember": rng.integers(0, 2, n),
                      "Geography": pd.Categorical(rng.choice(["France", "Germany", "Spain"], n))})
    V = np.column_stack([np.where(X.IsActiveMember == 0, 0.4, -0.3), np.where(X.Geography == "Germany", 0.5, -0.2)])
    a = Attributions(np.arange(n).astype(str), tuple(X.columns), V.astype(np.float32), 0.0, V.sum(1), np.full(n, 0.5),
                     "log_odds", 0.0, "test")
    cfg = parse_config({"features": {
        "IsActiveMember": {"label": {"en": "Active member", "zh": "活跃客户"},
                           "values": {0: {"en": "inactive", "zh": "不活跃"}, 1: {"en": "active", "zh": "活跃"}}},
        "Geography": {"label": {"en": "Country", "zh": "所在国家"},
                      "values": {"France": {"en": "France", "zh": "法国"}, "Germany": {"en": "Germany", "zh": "德国"},
                                 "Spain": {"en": "Spain", "zh": "西班牙"}}}}})
    rows = np.arange(n)
    active = Driver("IsActiveMember", "behaviour", 0.35, 0.0, 0.5, "down", None,
                    zones=(RiskZone(low=None, high=0.0, mean_attribution=0.4, n=200, share=0.5),))
    words_active = value_words(cfg, X["IsActiveMember"], lang)
    ax = charts.plot_dependence(a, X, rows, active, lang=lang, value_words=words_active)
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ({"en": ["inactive", "active"], "zh": ["不活跃", "活跃"]}[lang])
    assert [t for t in ax.get_xticks()] == [0.0, 1.0]
    (span,) = [p.get_path().get_extents().transformed(p.get_patch_transform()) for p in ax.patches]
    assert span.x0 < 0.0 < span.x1 < 1.0  # the shading covers "inactive" only
    geo = Driver("Geography", "customer", 0.3, 0.0, 0.5, "mixed", None,
                 zones=(RiskZone(low=None, high=None, mean_attribution=0.5, n=130, share=0.33, categories=("Germany",)),))
    ax = charts.plot_dependence(a, X, rows, geo, lang=lang, value_words=value_words(cfg, X["Geography"], lang))
    assert [t.get_text() for t in ax.get_xticklabels()] == (
        {"en": ["France", "Germany", "Spain"], "zh": ["法国", "德国", "西班牙"]}[lang])
    colours = ax.collections[0].get_facecolors()
    hot = np.all(np.isclose(colours[:, :3], mpl.colors.to_rgb(charts.RISK_UP)), axis=1)
    np.testing.assert_array_equal(hot, (X.Geography == "Germany").to_numpy())
    # a feature without words for every value keeps its numeric axis
    assert value_words(cfg, pd.Series(rng.normal(size=10), name="Balance"), lang) == {}
