"""Charts of both documents: one function per chart, drawing result objects onto an ``ax``.

Every ``plot_<name>(result..., *, ax=None, lang="en", labels=None)`` draws what the
result object already holds (selecting rows of ``display_rows`` is the only data work
here) and returns the matplotlib ``Axes``. Without ``ax`` a new
:class:`matplotlib.figure.Figure` is made (no pyplot, no global state). ``labels`` maps a
feature name to its business label; fixed texts come from the catalogue of ``lang``.

One colour-blind-safe style (Okabe-Ito) is applied by :func:`chart_style`, an
``rc_context`` that also puts the CJK font in ``font.family`` (matplotlib falls back only
within that list) and writes SVG glyphs as paths, so viewers need no font.
"""

from __future__ import annotations

import base64
import contextlib
import io
from typing import Iterator, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from churnlens.attribution.results import Attributions, Driver, GlobalDrivers
from churnlens.evaluation.results import ModelQuality
from churnlens.monitoring.results import Monitoring
from churnlens.constants import PSI_MODERATE, PSI_SHIFT, UNSTABLE_JACCARD
from churnlens.reports.catalogue import text
from churnlens.reports.fonts import CJK_FAMILY, LATIN_FAMILY, register_matplotlib_cjk
from churnlens.segmentation.results import Migration, SegmentSummary, Stability
from churnlens.reports.formatting import money_ticks, num

# Okabe & Ito (2008), "Color universal design".
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
}
GROUP_COLOURS = {
    "customer": OKABE_ITO["blue"],
    "product": OKABE_ITO["orange"],
    "behaviour": OKABE_ITO["green"],
    "channel": OKABE_ITO["purple"],
    "other": OKABE_ITO["grey"],
}
RISK_UP = OKABE_ITO["vermillion"]
RISK_DOWN = OKABE_ITO["blue"]
BAND_COLOURS = {"stable": OKABE_ITO["green"], "moderate": OKABE_ITO["orange"], "shift": OKABE_ITO["vermillion"]}
INK = "#333333"


def _cmap_diverging():
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("okabe_div", [RISK_DOWN, "#F4F4F4", RISK_UP])


def _cmap_value():
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("okabe_low_high", [RISK_DOWN, "#B8B8D0", RISK_UP])


@contextlib.contextmanager
def chart_style(lang: str = "en") -> Iterator[None]:
    """The charts' look, as an ``rc_context`` (no global rcParams change)."""
    import matplotlib as mpl
    from cycler import cycler

    register_matplotlib_cjk()
    families = [CJK_FAMILY, LATIN_FAMILY] if lang == "zh" else [LATIN_FAMILY, CJK_FAMILY]
    rc = {
        "font.family": families,
        "font.size": 8,
        "axes.titlesize": 9,
        "axes.labelsize": 8,
        "axes.titleweight": "normal",  # the CJK font has one weight: no fake bold
        "axes.unicode_minus": False,
        "axes.edgecolor": "#777777",
        "axes.labelcolor": INK,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": cycler(color=[OKABE_ITO[c] for c in ("blue", "orange", "green", "vermillion", "purple", "sky", "yellow", "black")]),
        "xtick.color": INK,
        "ytick.color": INK,
        "legend.frameon": False,
        "legend.fontsize": 7,
        "svg.fonttype": "path",
        "svg.hashsalt": "churnlens",  # deterministic SVG ids: same inputs, same bytes
        "savefig.dpi": 150,  # resolution of rasterised point clouds inside the SVG
        "figure.dpi": 100,
    }
    with mpl.rc_context(rc):
        yield


def new_axes(figsize: tuple[float, float] = (6.4, 3.2), *, ncols: int = 1, lang: str = "en"):
    """A fresh Figure (constrained layout) and its axes; call inside :func:`chart_style`."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, ncols)
    return axes


def svg_data_uri(fig, *, text_as_paths: bool = True) -> str:
    """Encode ``fig`` as an SVG ``data:`` URI (no date metadata, fixed ids).

    ``text_as_paths=True`` (``svg.fonttype = 'path'``) makes the SVG need no font at all:
    what the self-contained HTML uses. ``False`` keeps text as ``<text>`` in the figure's font
    families, for WeasyPrint, which draws it with the very fonts it embeds in the PDF (the
    bundled CJK font via ``@font-face``): real, searchable text, and ~3x faster to print
    than thousands of glyph paths.
    """
    import matplotlib as mpl

    buf = io.BytesIO()
    rc = {"svg.fonttype": "path" if text_as_paths else "none", "svg.hashsalt": "churnlens", "savefig.dpi": 150}
    with mpl.rc_context(rc):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _label(labels: Optional[Mapping[str, str]], feature: str) -> str:
    return labels.get(feature, feature) if labels else feature


_CLOSING = set("、，。；：！？）》」』】,.;:!?)")


def _wide(ch: str) -> bool:
    return ord(ch) >= 0x2E80


def wrap(s: str, lang: str, width: int = 30) -> str:
    """A tick label wrapped onto lines of about ``width`` columns (a Chinese character takes two),
    never cut: English breaks at spaces, Chinese also between characters, never before a
    closing punctuation mark."""
    import re
    import textwrap

    if not any(_wide(c) for c in s):
        return "\n".join(textwrap.wrap(s, width, break_long_words=False, break_on_hyphens=False)) or s
    lines, cur, used = [], "", 0
    for tok in re.findall(r"\s+|[\u2e80-\U0002ffff]|[^\s\u2e80-\U0002ffff]+", s):
        w = sum(2 if _wide(c) else 1 for c in tok)
        if used + w > width and cur.strip() and not tok.isspace() and tok[0] not in _CLOSING:
            lines.append(cur.rstrip())
            cur, used = "", 0
        if cur or not tok.isspace():
            cur, used = cur + tok, used + w
    lines.append(cur.rstrip())
    return "\n".join(x for x in lines if x) or s


def wrapped_lines(labels: Sequence[str], lang: str, width: int = 30) -> int:
    """The most lines any of ``labels`` takes once wrapped (to size a figure's height)."""
    return max((wrap(s, lang, width).count("\n") + 1 for s in labels), default=1)


def _money_axis(lang: str):
    """A matplotlib formatter writing money ticks with :func:`~churnlens.reports.formatting.money_ticks`."""
    from matplotlib.ticker import Formatter

    class MoneyAxis(Formatter):
        labels: dict = {}

        def set_locs(self, locs):
            super().set_locs(locs)
            self.labels = dict(zip(list(locs), money_ticks(list(locs), lang)))

        def __call__(self, x, pos=None):
            return self.labels.get(x) or money_ticks([x], lang)[0]

    return MoneyAxis()


def _space(lang: str, output_space: str) -> str:
    return text(lang, f"chart.space_{output_space}")


def _ax(ax, figsize):
    if ax is not None:
        return ax
    return new_axes(figsize)


# --- drivers -----------------------------------------------------------------------------

def plot_global_drivers(drivers: GlobalDrivers, *, ax=None, lang: str = "en",
                        labels: Optional[Mapping[str, str]] = None, top: int = 12, signed: bool = False,
                        output_space: str = "log_odds"):
    """Horizontal bars of the top drivers' mean |attribution| (or mean signed), coloured by group."""
    from matplotlib.patches import Patch

    with chart_style(lang):
        items = drivers.drivers[:top]
        ax = _ax(ax, (6.4, 0.26 * max(len(items), 1) + 1.0))
        y = np.arange(len(items))[::-1]
        vals = [d.mean_signed if signed else d.mean_abs for d in items]
        ax.barh(y, vals, color=[GROUP_COLOURS.get(d.group, GROUP_COLOURS["other"]) for d in items], height=0.7)
        ax.set_yticks(y, [wrap(_label(labels, d.feature), lang, 34) for d in items])
        key = "chart.mean_signed_attr" if signed else "chart.mean_abs_attr"
        ax.set_xlabel(text(lang, key, space=_space(lang, output_space)))
        if signed:
            ax.axvline(0, color=INK, lw=0.6)
        groups = [g for g in GROUP_COLOURS if any(d.group == g for d in items)]
        ax.legend(handles=[Patch(color=GROUP_COLOURS[g], label=text(lang, f"group.{g}")) for g in groups],
                  loc="lower right")
        ax.set_ylim(-0.6, len(items) - 0.4)
    return ax


def _swarm_offsets(s: np.ndarray, nbins: int = 60, width: float = 0.4) -> np.ndarray:
    """Vertical offsets that spread points of similar value (a beeswarm layout)."""
    if len(s) == 0:
        return np.zeros(0)
    lo, hi = float(np.min(s)), float(np.max(s))
    span = hi - lo if hi > lo else 1.0
    b = np.minimum(((s - lo) / span * nbins).astype(int), nbins - 1)
    order = np.lexsort((np.arange(len(s)), b))
    sb = b[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sb)) + 1]
    counts = np.diff(np.r_[starts, len(sb)])
    idx = np.arange(len(sb)) - np.repeat(starts, counts)
    sign = np.where(idx % 2 == 0, 1.0, -1.0)
    step = (idx + 1) // 2
    scale = width / max(int(counts.max()) // 2, 1)
    off = np.empty(len(s))
    off[order] = sign * step * scale
    return off


def plot_beeswarm(attributions: Attributions, X: pd.DataFrame, rows: np.ndarray, *, features: Sequence[str],
                  ax=None, lang: str = "en", labels: Optional[Mapping[str, str]] = None):
    """Each dot a customer of ``rows``: attribution (x) per feature, coloured low -> high value."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    with chart_style(lang):
        ax = _ax(ax, (6.4, 0.42 * max(len(features), 1) + 1.0))
        cmap = _cmap_value()
        rows = np.asarray(rows)
        for i, f in enumerate(features):
            y0 = len(features) - 1 - i
            j = attributions.features.index(f)
            s = np.asarray(attributions.values[rows, j], dtype=np.float64)
            col = X[f].iloc[rows]
            if pd.api.types.is_numeric_dtype(col):
                v = col.to_numpy(dtype=np.float64, na_value=np.nan)
                # colour by rank within the shown rows, robust to outliers (as shap does)
                ok = ~np.isnan(v)
                c = np.full(len(v), 0.5)
                if ok.sum() > 1:
                    c[ok] = pd.Series(v[ok]).rank(pct=True).to_numpy()
                colours = cmap(c)
                colours[~ok] = (0.6, 0.6, 0.6, 1.0)
            else:
                colours = np.tile(np.array([0.6, 0.6, 0.6, 1.0]), (len(s), 1))
            ax.scatter(s, y0 + _swarm_offsets(s), s=3, c=colours, linewidths=0, rasterized=True)
        ax.axvline(0, color=INK, lw=0.6)
        ax.set_yticks(np.arange(len(features))[::-1], [wrap(_label(labels, f), lang, 34) for f in features])
        ax.set_ylim(-0.6, len(features) - 0.4)
        ax.set_xlabel(text(lang, "chart.attribution_axis", space=_space(lang, attributions.output_space)))
        cb = ax.figure.colorbar(ScalarMappable(norm=Normalize(0, 1), cmap=cmap), ax=ax, ticks=[0, 1],
                                fraction=0.03, pad=0.01, aspect=30)
        cb.set_ticklabels([text(lang, "chart.low"), text(lang, "chart.high")])
        cb.set_label(text(lang, "chart.feature_value"))
        cb.outline.set_visible(False)
    return ax


def plot_dependence(attributions: Attributions, X: pd.DataFrame, rows: np.ndarray, driver: Driver, *,
                    ax=None, lang: str = "en", labels: Optional[Mapping[str, str]] = None,
                    value_words: Optional[Mapping[object, str]] = None):
    """Attribution of ``driver`` against its value; exactly its reported risk zones
    (``driver.zones``) shaded or coloured -- the chart computes nothing.

    ``value_words``: the dictionary's words for the feature's values in ``lang`` (numeric
    values as floats, category levels as text): a 0/1 or coded feature whose every value has
    words is drawn on those words ("inactive", "active"), never on a 0.00-1.00 axis, and
    category levels are labelled with their words."""
    with chart_style(lang):
        ax = _ax(ax, (3.2, 2.4))
        f = driver.feature
        rows = np.asarray(rows)
        s = np.asarray(attributions.values[rows, attributions.features.index(f)], dtype=np.float64)
        col = X[f].iloc[rows]
        zones = [z for z in driver.zones if not z.categories]
        if pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype):
            x = col.to_numpy(dtype=np.float64, na_value=np.nan)
            ax.scatter(x, s, s=3, color=OKABE_ITO["blue"], alpha=0.5, linewidths=0, rasterized=True)
            finite = x[np.isfinite(x)]
            lo_x = float(finite.min()) if finite.size else 0.0
            hi_x = float(finite.max()) if finite.size else 1.0
            # exactly the reported zones (driver.zones), bounds inclusive; a one-value zone (a
            # count, a 0/1 flag) as a narrow band centred on the value
            width = 0.01 * (hi_x - lo_x if hi_x > lo_x else 1.0)
            for i, z in enumerate(zones):
                a = lo_x if z.low is None else z.low
                b = hi_x if z.high is None else z.high
                if a == b:
                    a, b = a - max(width, 0.2), b + max(width, 0.2)
                ax.axvspan(a, b, color=RISK_UP, alpha=0.12, lw=0,
                           label=text(lang, "chart.risk_rises") if i == 0 else None)
            if zones:
                ax.legend(loc="best")
            coded = sorted({float(v) for v in finite})
            if value_words and coded and all(v in value_words for v in coded):
                # a 0/1 or coded feature: its values in the dictionary's words, nothing in between
                ax.set_xticks(coded, [wrap(value_words[v], lang, 14) for v in coded])
                ax.set_xlim(coded[0] - 0.5, coded[-1] + 0.5)
        else:
            cats = [str(c) for c in (col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype)
                                     else sorted(col.astype("str").unique()))]
            pos = {c: i for i, c in enumerate(cats)}
            xs = np.array([pos.get(str(v), -1) for v in col.astype("str")], dtype=np.float64)
            jitter = np.random.default_rng(0).uniform(-0.25, 0.25, len(xs))  # fixed: same picture each run
            hot = {c for z in driver.zones for c in z.categories}  # exactly the reported zones' levels
            colours = [RISK_UP if cats[int(i)] in hot else OKABE_ITO["blue"] if i >= 0 else OKABE_ITO["grey"]
                       for i in xs]
            ax.scatter(xs + jitter, s, s=3, c=colours, alpha=0.5, linewidths=0, rasterized=True)
            words_of = value_words or {}
            ax.set_xticks(range(len(cats)), [wrap(words_of.get(c, c), lang, 14) for c in cats], rotation=30, ha="right",
                          rotation_mode="anchor")
        ax.axhline(0, color=INK, lw=0.6)
        ax.set_title(wrap(_label(labels, f), lang, 60), loc="left")
        ax.set_xlabel(text(lang, "chart.feature_value"))
        ax.set_ylabel(text(lang, "chart.attribution_short"))
    return ax


# --- segments -----------------------------------------------------------------------------

def segment_label(s: SegmentSummary, names: Optional[Mapping[str, str]]) -> str:
    """A segment's tick label: its key and name (the key alone without names)."""
    return f"{s.key} · {names[s.key]}" if names else s.key


def plot_segment_sizes(segments: Sequence[SegmentSummary], *, ax=None, lang: str = "en",
                       labels: Optional[Mapping[str, str]] = None, measure: str = "size",
                       ticklabels: bool = True, names: Optional[Mapping[str, str]] = None):
    """Bars per segment of its size (``measure="size"``) or value at risk (``"value_at_risk"``).

    ``names`` maps segment keys to their names in ``lang`` (keys alone when absent);
    ``ticklabels=False`` hides them (for a panel next to one that shows them).
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator


    with chart_style(lang):
        ax = _ax(ax, (3.2, 0.3 * max(len(segments), 1) + 1.0))
        y = np.arange(len(segments))[::-1]
        vals = [getattr(s, measure) for s in segments]
        colour = OKABE_ITO["blue"] if measure == "size" else OKABE_ITO["vermillion"]
        ax.barh(y, vals, color=[OKABE_ITO["grey"] if s.segment_id < 0 else colour for s in segments], height=0.7)
        ax.set_yticks(y, [wrap(segment_label(s, names), lang) for s in segments] if ticklabels
                      else [""] * len(segments))
        ax.set_xlabel(text(lang, "chart.customers" if measure == "size" else "chart.value_at_risk"))
        ax.set_ylim(-0.6, len(segments) - 0.4)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: num(v)) if measure == "size" else _money_axis(lang))
    return ax


def plot_segment_heatmap(segments: Sequence[SegmentSummary], features: Sequence[str], *, ax=None,
                         lang: str = "en", labels: Optional[Mapping[str, str]] = None):
    """Driver x segment: each segment's mean signed attribution (its signature); blank if not in it.

    Drivers are the rows (their labels read across, wrapped, never cut), segments the columns."""
    with chart_style(lang):
        ax = _ax(ax, (5.6, 0.3 * max(len(features), 1) + 1.0))
        m = np.full((len(features), len(segments)), np.nan)
        for j, seg in enumerate(segments):
            for item in seg.signature:
                if item.feature in features:
                    m[list(features).index(item.feature), j] = item.mean_attribution
        _heat(ax, m, [wrap(_label(labels, f), lang, 34) for f in features], [s.key for s in segments], "{:+.2f}")
        ax.xaxis.tick_top()
        ax.set_title(text(lang, "chart.heatmap_title"), loc="left")
    return ax


def plot_profile_shares(items: Sequence[tuple[str, float, float]], *, ax=None, lang: str = "en"):
    """Each trait's share among a segment's churners (dot) against retained customers (ring).

    ``items``: (full label, segment share, retained share) per row, shares in 0-1, in the order
    to show them top to bottom. Labels are wrapped, never cut.
    """
    import textwrap

    from matplotlib.ticker import PercentFormatter

    with chart_style(lang):
        ax = _ax(ax, (6.6, 0.3 * max(len(items), 1) + 1.0))
        y = np.arange(len(items))[::-1]
        seg = 100.0 * np.array([i[1] for i in items], dtype=float)
        ret = 100.0 * np.array([i[2] for i in items], dtype=float)
        ax.hlines(y, np.minimum(seg, ret), np.maximum(seg, ret), color=OKABE_ITO["grey"], lw=1.2)
        ax.scatter(ret, y, s=22, facecolors="white", edgecolors=INK, linewidths=0.8, zorder=3,
                   label=text(lang, "chart.profile_retained"))
        ax.scatter(seg, y, s=24, color=[RISK_UP if a > b else RISK_DOWN for a, b in zip(seg, ret)], zorder=4,
                   label=text(lang, "chart.profile_segment"))
        width = 26 if lang == "zh" else 44
        ax.set_yticks(y, ["\n".join(textwrap.wrap(i[0], width)) or i[0] for i in items])
        ax.set_xlim(0, 100)
        ax.xaxis.set_major_formatter(PercentFormatter(100, decimals=0))
        ax.set_xlabel(text(lang, "chart.profile_share"))
        ax.set_ylim(-0.6, max(len(items), 1) - 0.4)
        if len(items):
            ax.legend(loc="lower right", fontsize=7, frameon=False)
    return ax


def _heat(ax, m: np.ndarray, rows: Sequence[str], cols: Sequence[str], fmt: str) -> None:
    finite = m[np.isfinite(m)]
    vmax = float(np.abs(finite).max()) if finite.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    ax.imshow(np.ma.masked_invalid(m), cmap=_cmap_diverging(), vmin=-vmax, vmax=vmax, aspect="auto")
    ax.set_facecolor("white")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    for (i, j), v in np.ndenumerate(m):
        if np.isfinite(v):
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=6.5,
                    color="white" if abs(v) > 0.6 * vmax else INK)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)


def plot_segment_signature(segment: SegmentSummary, *, ax=None, lang: str = "en",
                           labels: Optional[Mapping[str, str]] = None, output_space: str = "log_odds",
                           top: int = 6):
    """One segment's signature: mean signed attribution of its ``top`` first drivers."""
    with chart_style(lang):
        items = segment.signature[:top]
        ax = _ax(ax, (4.6, 0.26 * max(len(items), 1) + 0.9))
        y = np.arange(len(items))[::-1]
        vals = [it.mean_attribution for it in items]
        ax.barh(y, vals, color=[RISK_UP if v > 0 else RISK_DOWN for v in vals], height=0.65)
        ax.set_yticks(y, [wrap(_label(labels, it.feature), lang, 36) for it in items])
        ax.axvline(0, color=INK, lw=0.6)
        ax.set_xlabel(text(lang, "chart.mean_signed_attr", space=_space(lang, output_space)))
        ax.set_ylim(-0.6, max(len(items), 1) - 0.4)
    return ax


def plot_stability(stability: Stability, keys: Sequence[str], *, ax=None, lang: str = "en",
                   labels: Optional[Mapping[str, str]] = None, threshold: float = UNSTABLE_JACCARD):
    """Per-segment Jaccard agreement across re-clusterings; the warning threshold as a line."""
    with chart_style(lang):
        vals = list(stability.segment_jaccard)
        ax = _ax(ax, (4.6, 0.26 * max(len(vals), 1) + 0.9))
        y = np.arange(len(vals))[::-1]
        ax.barh(y, vals, color=[RISK_UP if v < threshold else OKABE_ITO["green"] for v in vals], height=0.65)
        ax.set_yticks(y, list(keys)[: len(vals)])
        ax.axvline(threshold, color=INK, lw=0.8, ls="--")
        ax.set_xlim(0, 1)
        ax.set_xlabel(text(lang, "chart.jaccard"))
    return ax


# --- model quality ------------------------------------------------------------------------

def plot_roc(quality: ModelQuality, *, ax=None, lang: str = "en", labels: Optional[Mapping[str, str]] = None):
    with chart_style(lang):
        ax = _ax(ax, (3.1, 2.8))
        ax.plot([0, 1], [0, 1], color=OKABE_ITO["grey"], lw=0.8, ls="--")
        ax.plot(quality.roc.x, quality.roc.y, color=OKABE_ITO["blue"], lw=1.6)
        if quality.auc is not None:
            ax.set_title(f"ROC · AUC = {quality.auc:.3f}", loc="left")
        ax.set_xlabel(text(lang, "chart.fpr"))
        ax.set_ylabel(text(lang, "chart.tpr"))
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
    return ax


def plot_ks(quality: ModelQuality, *, ax=None, lang: str = "en", labels: Optional[Mapping[str, str]] = None):
    with chart_style(lang):
        ax = _ax(ax, (3.1, 2.8))
        ax.plot(quality.ks_curve.x, quality.ks_curve.y, color=OKABE_ITO["vermillion"], lw=1.6)
        if quality.ks is not None and quality.ks_threshold is not None:
            ax.axvline(quality.ks_threshold, color=INK, lw=0.7, ls="--")
            ax.set_title(f"KS = {quality.ks:.3f} @ {quality.ks_threshold:.2f}", loc="left")
        ax.set_xlabel(text(lang, "chart.threshold"))
        ax.set_ylabel("TPR − FPR")
        ax.set_ylim(0, 1.01)
    return ax


def plot_gains(quality: ModelQuality, *, ax=None, lang: str = "en", labels: Optional[Mapping[str, str]] = None):
    """Lift per score decile (bars) and cumulative share of churners captured (line)."""
    with chart_style(lang):
        ax = _ax(ax, (3.1, 2.8))
        d = [r.decile for r in quality.deciles]
        ax.bar(d, [r.lift for r in quality.deciles], color=OKABE_ITO["sky"], width=0.7)
        ax.axhline(1.0, color=INK, lw=0.6)
        ax.set_xlabel(text(lang, "chart.decile"))
        ax.set_ylabel(text(lang, "chart.lift"))
        ax.set_xticks(d)
        ax2 = ax.twinx()
        ax2.plot(d, [r.cumulative_capture for r in quality.deciles], color=OKABE_ITO["vermillion"], marker="o",
                 ms=3, lw=1.4)
        ax2.set_ylim(0, 1.02)
        ax2.set_ylabel(text(lang, "chart.capture"), color=OKABE_ITO["vermillion"])
        ax2.spines["right"].set_visible(True)
    return ax


def plot_calibration(quality: ModelQuality, *, ax=None, lang: str = "en",
                     labels: Optional[Mapping[str, str]] = None):
    with chart_style(lang):
        ax = _ax(ax, (3.1, 2.8))
        rows = quality.calibration
        top = max([1e-9] + [max(r.mean_score, r.observed_rate) for r in rows]) * 1.05
        ax.plot([0, top], [0, top], color=OKABE_ITO["grey"], lw=0.8, ls="--")
        ax.plot([r.mean_score for r in rows], [r.observed_rate for r in rows], color=OKABE_ITO["blue"],
                marker="o", ms=3.5, lw=1.2)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel(text(lang, "chart.predicted"))
        ax.set_ylabel(text(lang, "chart.observed"))
    return ax


# --- monitoring ---------------------------------------------------------------------------

def plot_psi(monitoring: Monitoring, *, ax=None, lang: str = "en", labels: Optional[Mapping[str, str]] = None,
             top: int = 12):
    """PSI of the score and the top features, coloured by band, with the 0.1 / 0.25 lines."""
    from matplotlib.patches import Patch

    with chart_style(lang):
        items = (monitoring.score_psi,) + tuple(monitoring.feature_psi[:top])
        ax = _ax(ax, (6.4, 0.24 * len(items) + 1.0))
        y = np.arange(len(items))[::-1]
        names = [text(lang, "chart.score") if i == 0 else wrap(_label(labels, r.name), lang, 34) for i, r in enumerate(items)]
        ax.barh(y, [r.psi for r in items], color=[BAND_COLOURS.get(r.band, OKABE_ITO["grey"]) for r in items],
                height=0.7)
        ax.set_yticks(y, names)
        for x in (PSI_MODERATE, PSI_SHIFT):
            ax.axvline(x, color=INK, lw=0.6, ls="--")
        ax.set_xlabel("PSI")
        ax.set_ylim(-0.6, len(items) - 0.4)
        ax.legend(handles=[Patch(color=c, label=text(lang, f"band.{b}")) for b, c in BAND_COLOURS.items()],
                  loc="lower right")
    return ax


def plot_driver_drift(monitoring: Monitoring, *, ax=None, lang: str = "en",
                      labels: Optional[Mapping[str, str]] = None, top: int = 10):
    """Change of each driver's share since last month, with its bootstrap 95% interval."""
    with chart_style(lang):
        items = monitoring.driver_drift[:top]
        ax = _ax(ax, (6.4, 0.24 * max(len(items), 1) + 1.0))
        y = np.arange(len(items))[::-1]
        # shares differ in percentage points: draw them in pp, as the tables print them
        ch = 100.0 * np.array([d.change for d in items])
        err = 100.0 * np.array([[d.change - d.ci_low for d in items], [d.ci_high - d.change for d in items]])
        ax.barh(y, ch, color=[RISK_UP if c > 0 else RISK_DOWN for c in ch], height=0.6)
        if len(items):
            ax.errorbar(ch, y, xerr=np.clip(err, 0, None), fmt="none", ecolor=INK, elinewidth=0.8, capsize=2)
        ax.axvline(0, color=INK, lw=0.6)
        ax.set_yticks(y, [wrap(_label(labels, d.feature), lang, 34) for d in items])
        ax.set_xlabel(text(lang, "chart.share_change"))
        ax.set_ylim(-0.6, max(len(items), 1) - 0.4)
    return ax


def plot_migration(migration: Migration, *, ax=None, lang: str = "en",
                   labels: Optional[Mapping[str, str]] = None):
    """Flows of churners from last month's segments (left) to this month's (right)."""
    with chart_style(lang):
        ax = _ax(ax, (6.4, 3.4))
        flows = [f for f in migration.flows if f.count > 0]

        def order(keys, *last):
            ks = sorted(set(keys) - set(last), key=lambda k: (k == "MIX", k))
            return ks + [k for k in last if k in keys]

        left = order([f.from_key for f in flows], "NEW")
        right = order([f.to_key for f in flows], "GONE", "LEFT")
        total = float(sum(f.count for f in flows)) or 1.0
        gap = 0.02 * total
        palette = [OKABE_ITO[c] for c in ("blue", "orange", "green", "vermillion", "purple", "sky", "yellow")]
        colour = {k: (OKABE_ITO["grey"] if k in ("GONE", "LEFT", "MIX") else palette[i % len(palette)])
                  for i, k in enumerate(right)}

        def positions(keys, side):
            pos, y = {}, 0.0
            for k in keys:
                h = float(sum(f.count for f in flows if (f.from_key if side == "l" else f.to_key) == k))
                pos[k] = [y, h]
                y += h + gap
            return pos

        lp, rp = positions(left, "l"), positions(right, "r")
        loff = {k: v[0] for k, v in lp.items()}
        roff = {k: v[0] for k, v in rp.items()}
        xs = np.linspace(0.06, 0.94, 60)
        t = xs - 0.06
        t = t / t[-1]
        t = t * t * (3 - 2 * t)  # smoothstep
        for f in sorted(flows, key=lambda f: (left.index(f.from_key), right.index(f.to_key))):
            y0l, y0r = loff[f.from_key], roff[f.to_key]
            lo = y0l + (y0r - y0l) * t
            ax.fill_between(xs, lo, lo + f.count, color=colour[f.to_key], alpha=0.45, lw=0)
            loff[f.from_key] += f.count
            roff[f.to_key] += f.count
        for side, pos, x in (("l", lp, 0.0), ("r", rp, 0.94)):
            for k, (y, h) in pos.items():
                ax.bar(x + 0.03, h, bottom=y, width=0.06, color=INK if side == "l" else colour[k])
                name = text(lang, f"chart.flow_{k.lower()}") if k in ("NEW", "GONE", "LEFT") else k
                ax.text(-0.01 if side == "l" else 1.01, y + h / 2, f"{name}  {int(h):,}" if side == "l" else
                        f"{name}  {int(h):,}", ha="right" if side == "l" else "left", va="center", fontsize=7)
        ax.set_xlim(-0.22, 1.22)
        ax.invert_yaxis()
        ax.axis("off")
        ax.set_title(f"{text(lang, 'chart.previous_month')}  →  {text(lang, 'chart.this_month')}", loc="center")
    return ax


# --- the monthly loop: back-test, uplift, budget, trend ---------------------------------------
# Each takes the stage's result (data) and an optional ``ax``; nothing is computed here.

def _err(est) -> tuple[list, list]:
    """Error-bar half-widths of Estimates (0 where no interval)."""
    lo = [max(e.value - e.low, 0.0) if np.isfinite(e.low) else 0.0 for e in est]
    hi = [max(e.high - e.value, 0.0) if np.isfinite(e.high) else 0.0 for e in est]
    return lo, hi


def plot_backtest_lift(backtest, *, ax=None, lang: str = "en"):
    """Realised lift per published score decile with its bootstrap interval."""
    with chart_style(lang):
        ax = _ax(ax, (3.4, 2.7))
        d = [r.decile for r in backtest.quality.deciles]
        est = backtest.decile_lift
        ax.bar(d, [e.value for e in est], color=OKABE_ITO["sky"], width=0.7, yerr=_err(est), ecolor=INK,
               capsize=2, error_kw={"lw": 0.8})
        ax.axhline(1.0, color=INK, lw=0.6)
        ax.set_xticks(d)
        ax.set_xlabel(text(lang, "chart.decile"))
        ax.set_ylabel(text(lang, "loop_chart.realised_lift"))
    return ax


def plot_uplift(measured, *, ax=None, lang: str = "en", names: Optional[Sequence[str]] = None):
    """Posterior uplift per segment x action (dot, credible interval) against the assumed uplift (cross)."""
    rows = [u for u in measured.uplift if u.segment]
    with chart_style(lang):
        ax = _ax(ax, (6.4, max(1.6, 0.32 * len(rows) + 0.8)))
        y = np.arange(len(rows))[::-1]
        post = np.array([u.posterior_mean for u in rows])
        lo = np.array([u.posterior_low for u in rows])
        hi = np.array([u.posterior_high for u in rows])
        # prior-only cells are assumptions, not measurements: hollow grey markers
        data = np.array([u.code != "assumed" for u in rows], dtype=bool)
        for mask, face, colour, key in ((data, OKABE_ITO["blue"], OKABE_ITO["blue"], "loop_chart.posterior"),
                                        (~data, "white", "#999999", "loop_chart.assumption")):
            if mask.any():
                ax.errorbar(post[mask], y[mask], xerr=[post[mask] - lo[mask], hi[mask] - post[mask]], fmt="o",
                            color=colour, mfc=face, ms=4, lw=1.0, capsize=2, label=text(lang, key))
        ax.scatter([u.assumed_uplift for u in rows], y, marker="x", color=OKABE_ITO["vermillion"], s=22, zorder=3,
                   label=text(lang, "loop_chart.assumed"))
        labels = names if names is not None else [f"{u.segment} · {u.action}" for u in rows]
        ax.set_yticks(y, [wrap(s, lang, 40) for s in labels])
        ax.set_xlim(min(0.0, float(lo.min()) - 0.05) if len(rows) else 0.0, 1)
        ax.axvline(0.0, color=INK, lw=0.5)
        ax.set_xlabel(text(lang, "loop_chart.uplift"))
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    return ax


def plot_profit_curve(plan, *, ax=None, lang: str = "en"):
    """Expected net value against share of eligible customers contacted: the curve under the
    plan's limits (capacities, budget; it ends at the plan, marked) and, dashed, the curve without
    limits, both labelled."""
    with chart_style(lang):
        ax = _ax(ax, (4.6, 2.8))
        ax.plot(plan.curve_share, plan.curve_net, color=OKABE_ITO["grey"], lw=1.2, ls="--",
                label=text(lang, "loop_chart.curve_unlimited"))
        if plan.limited_share is not None:
            ax.plot(plan.limited_share, plan.limited_net, color=OKABE_ITO["blue"], lw=1.6,
                    label=text(lang, "loop_chart.curve_limited"))
        ax.axhline(0.0, color=INK, lw=0.5)
        ax.axvline(plan.chosen_share, color=OKABE_ITO["vermillion"], lw=1.0, ls=":")
        ax.scatter([plan.chosen_share], [plan.expected_net_value], color=OKABE_ITO["vermillion"], s=18, zorder=3)
        ax.annotate(text(lang, "loop_chart.chosen_cut"), (plan.chosen_share, plan.expected_net_value),
                    xytext=(6, -12), textcoords="offset points", fontsize=7, color=OKABE_ITO["vermillion"])
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(lambda x, _: f"{100 * x:.0f}%")
        ax.yaxis.set_major_formatter(_money_axis(lang))
        ax.set_xlabel(text(lang, "loop_chart.share_contacted"))
        ax.set_ylabel(text(lang, "loop_chart.net_value"))
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    return ax


def plot_trend(trend, *, ax=None, lang: str = "en"):
    """Realised AUC and KS per month with intervals (left) and the score's PSI with the amber/red limits (right)."""
    with chart_style(lang):
        axes = ax if ax is not None else new_axes((6.4, 2.6), ncols=2)
        a1, a2 = axes[0], axes[1]
        x = np.arange(len(trend.points))
        periods = [p.period for p in trend.points]
        for attr, colour in (("auc", OKABE_ITO["blue"]), ("ks", OKABE_ITO["green"])):
            pts = [(i, getattr(p, attr)) for i, p in zip(x, trend.points) if getattr(p, attr) is not None]
            if pts:
                xs, v = [i for i, _ in pts], [t for _, t in pts]
                a1.errorbar(xs, [t[0] for t in v], yerr=[[t[0] - t[1] for t in v], [t[2] - t[0] for t in v]],
                            color=colour, marker="o", ms=3, lw=1.2, capsize=2, label=attr.upper())
        a1.set_ylim(0, 1)
        a1.legend(fontsize=7, frameon=False, loc="lower left")
        a1.set_title(text(lang, "loop_chart.realised"), fontsize=8)
        psi = [np.nan if p.score_psi is None else p.score_psi for p in trend.points]
        colours = [BAND_COLOURS.get({"green": "stable", "amber": "moderate", "red": "shift"}.get(p.psi_verdict, ""),
                                    OKABE_ITO["grey"]) for p in trend.points]
        a2.bar(x, np.nan_to_num(psi), color=colours, width=0.6)
        for limit, ls in zip(trend.psi_thresholds, ("--", "-")):
            a2.axhline(limit, color=INK, lw=0.7, ls=ls)
        a2.set_title(text(lang, "loop_chart.score_psi"), fontsize=8)
        for a in (a1, a2):
            a.set_xticks(x, periods, rotation=45 if len(x) > 4 else 0, ha="right" if len(x) > 4 else "center")
    return axes
