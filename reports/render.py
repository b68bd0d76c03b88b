"""Render both documents (retention report, explainability dossier) as HTML and PDF.

:func:`render_documents` draws the charts once, builds a plain view of the
:class:`~reports.context.ReportContext` (texts chosen, nothing computed in templates), renders
the Jinja templates with autoescaping and ``StrictUndefined``, and prints the PDFs with
WeasyPrint through :class:`AssetFetcher`, which serves only ``data:`` URIs and the bundled
CJK font file.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import unquote, urlsplit


import numpy as np

from churnlens.attribution.reasons import format_value
from churnlens.errors import ConfigError, UserInputError
from churnlens.monitoring.stability import EPSILON as PSI_EPSILON
from churnlens.reports import charts, formatting
from churnlens.reports.catalogue import text
from churnlens.reports.context import ReportContext
from churnlens.reports.fonts import cjk_font_path
from churnlens.segmentation.results import MIXED

FORMATS = ("html", "pdf")
DOCUMENTS = ("report", "dossier")
ADDITIVITY_TOLERANCE = 1e-4
UNSTABLE_JACCARD = 0.6
TEMPLATES = Path(__file__).resolve().parent / "templates"


# --- URL fetcher --------------------------------------------------------------------------

def _fetcher_base():
    from weasyprint.urls import URLFetcher

    return URLFetcher


class AssetFetcher(_fetcher_base()):
    """WeasyPrint URL fetcher serving only the report's own assets.

    Allowed: ``data:`` URIs and ``file://`` URLs of exactly the given files (the bundled
    font). Everything else -- other local files, ``http(s)://``, ``ftp://`` -- is refused,
    so neither a crafted label nor a logo SVG can read the disk or reach the network.
    """

    def __init__(self, allowed_files: tuple[Path, ...] = ()):
        super().__init__(allowed_protocols=("data", "file"), allow_redirects=False)
        self._allowed = frozenset(str(Path(p).resolve()) for p in allowed_files)
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            parts = urlsplit(url)
            path = Path(unquote(parts.path))
            if parts.netloc in ("", "localhost") and str(path.resolve()) in self._allowed and path.is_file():
                return super().fetch(url, headers)
        self.refused.append(url)
        raise ValueError(f"churnlens documents may only use their own embedded assets; refused {url!r}")


# --- logo ---------------------------------------------------------------------------------

def logo_data_uri(path: Path) -> str:
    """Read a logo file and return it as a ``data:`` URI after checking it is PNG, JPEG or SVG.

    SVG is embedded as an ``<img>`` source, where no script runs; external references inside
    it are refused by :class:`AssetFetcher`.
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"report.logo: cannot read {path}: {err.strerror}. Give the path of a PNG, JPEG or "
                          "SVG file (relative to the config file).") from None
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        mime = "image/png"
    elif data.startswith(b"\xff\xd8\xff"):
        mime = "image/jpeg"
    else:
        head = data[:2048].decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
        head = re.sub(r"^(<\?xml[^>]*>\s*|<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*", "", head, flags=re.S)
        if not head.startswith("<svg"):
            # never echo the file's bytes: a misconfigured path may point at a confidential file
            raise ConfigError(f"report.logo: {path} is not a PNG, JPEG or SVG file (it starts with neither a "
                              "PNG/JPEG signature nor an <svg> element). Convert the logo to PNG, JPEG or SVG.")
        mime = "image/svg+xml"
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _logo(ctx: ReportContext) -> Optional[str]:
    logo = ctx.config.report.logo
    if not logo:
        return None
    path = Path(logo)
    if not path.is_absolute():
        cfg = [f for f in ctx.facts.inputs if f.role == "config"]
        if cfg:
            path = Path(cfg[0].path).parent / path
    return logo_data_uri(path)


# --- view ---------------------------------------------------------------------------------

@dataclass
class Timings:
    """Seconds spent per chart and per document (for the benchmark)."""

    charts: list[tuple[str, float]] = field(default_factory=list)
    documents: list[tuple[str, float]] = field(default_factory=list)


class _View:
    """Attribute bag handed to templates (StrictUndefined makes a missing name an error)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


class ChartImage:
    """A drawn chart, serialised on demand: glyphs as paths for HTML, text for the PDF."""

    def __init__(self, fig, name: str, timings: Timings):
        self._fig, self._name, self._timings = fig, name, timings
        self._uris: dict[bool, str] = {}

    def uri(self, for_pdf: bool) -> str:
        if for_pdf not in self._uris:
            t0 = time.perf_counter()
            self._uris[for_pdf] = charts.svg_data_uri(self._fig, text_as_paths=not for_pdf)
            # the layout is settled by the first save; keep it rather than solve it again
            self._fig.set_layout_engine("none")
            self._timings.charts.append((f"{self._name} [svg {'pdf' if for_pdf else 'html'}]",
                                         time.perf_counter() - t0))
        return self._uris[for_pdf]


def _chart(timings: Timings, name: str, lang: str, draw: Callable, figsize, ncols: int = 1) -> ChartImage:
    t0 = time.perf_counter()
    with charts.chart_style(lang):
        axes = charts.new_axes(figsize, ncols=ncols)
        draw(axes)
        fig = (axes[0] if ncols > 1 else axes).figure
    timings.charts.append((name, time.perf_counter() - t0))
    return ChartImage(fig, name, timings)


def _risk_text(ctx: ReportContext, driver) -> str:
    """The driver's risk range in words, thresholds in the feature's unit from the dictionary."""
    lang = ctx.lang
    rr = driver.risk_range
    label = ctx.config.label(driver.feature, lang)
    if rr is None:
        key = {"up": "drivers.direction_up", "down": "drivers.direction_down"}.get(driver.direction, "drivers.direction_mixed")
        return text(lang, key, feature=label)
    spec = ctx.config.features.get(driver.feature)
    unit = spec.unit if spec is not None else None

    def g(x: Optional[float]) -> str:
        return formatting.DASH if x is None else format_value(_round3(float(x)), unit=unit, lang=lang)

    if rr.op == "in":
        return text(lang, "drivers.range_in", feature=label, values=", ".join(rr.categories))
    if rr.op == "between":
        return text(lang, "drivers.range_between", feature=label, low=g(rr.low), high=g(rr.high))
    if rr.op == "<":
        return text(lang, "drivers.range_below", feature=label, value=g(rr.high if rr.high is not None else rr.low))
    return text(lang, "drivers.range_above", feature=label, value=g(rr.low if rr.low is not None else rr.high))


def _round3(x: float) -> float:
    """Three significant digits (a threshold between two observed values is no more precise)."""
    if x == 0 or not np.isfinite(x):
        return x
    r = float(f"{x:.3g}")
    return float(round(r)) if abs(r) >= 100 else r


def _localise(s: str, lang: str) -> str:
    """``s`` with the catalogue's technical phrases (``phrase.*``) translated into ``lang``.

    Method and reference descriptions come from the computing libraries in English; the
    catalogue pairs each fixed fragment with its translation, so Chinese documents show none
    of the English sentences while library names and versions stay as they are.
    """
    if lang == "en" or not s:
        return s
    from churnlens.reports.catalogue import catalogue

    en, out = catalogue("en"), catalogue(lang)
    for k in sorted((k for k in en if k.startswith("phrase.")), key=lambda k: -len(en[k])):
        s = s.replace(en[k], out[k])
    return s


_REPR_PCA = re.compile(r"The (\d+) shares are reduced to (\d+) principal components \(exact, ([\d.]+%) of their variance kept\)")
_REPR_DIRECT = re.compile(r"All (\d+) shares are used directly")
_REPR_ZERO = re.compile(r"([\d,]+) churner\(s\) had no risk-raising attribution")


def _representation(seg, lang: str) -> str:
    """The clustering profile in words, in ``lang``, rebuilt from the catalogue and the numbers
    of the segmentation's English description (the segmentation result has no Chinese field)."""
    own = getattr(seg, f"representation_{lang}", "") if lang != "en" else ""
    if lang == "en" or own:
        return own or seg.representation
    r = seg.representation
    if r.startswith("No churners"):
        return text(lang, "appendix.repr_none")
    parts = [text(lang, "appendix.repr_base")]
    m = _REPR_PCA.search(r)
    d = _REPR_DIRECT.search(r)
    if m:
        parts.append(text(lang, "appendix.repr_pca", f=m.group(1), d=m.group(2), explained=m.group(3)))
    elif d:
        parts.append(text(lang, "appendix.repr_direct", f=d.group(1)))
    else:
        return _localise(r, lang)
    z = _REPR_ZERO.search(r)
    if z:
        parts.append(text(lang, "appendix.repr_zero", n=z.group(1)))
    return "".join(parts)


def attributed_text(facts, lang: str) -> str:
    """Which customers were attributed and how the sample is weighted, in ``lang``."""
    if not facts.n_attributed:
        return facts.attributed
    if facts.n_attributed == facts.n_customers:
        return text(lang, "dossier.attributed_all", n=formatting.num(facts.n_customers))
    return text(lang, "dossier.attributed_sample", k=formatting.num(facts.n_attributed),
                n=formatting.num(facts.n_customers), churners=formatting.num(facts.n_targeted),
                sample=formatting.num(facts.n_sampled),
                weight=f"{facts.n_customers / max(facts.n_sampled, 1):,.1f}")


def _stage(name: str, lang: str) -> str:
    """A pipeline stage's name in ``lang`` (``stage.<name>`` in the catalogue, else as given)."""
    from churnlens.reports.catalogue import catalogue

    key = "stage." + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return catalogue(lang).get(key, name)


def _seg_name(seg, lang: str) -> str:
    return seg.name_zh if lang == "zh" else seg.name_en


def _omitted(ctx: ReportContext, section: str, default_key: str) -> str:
    """The pipeline's reason for leaving ``section`` out, else the catalogue's ``default_key``.

    A reason may be a catalogue code ("no_previous" -> ``omitted.no_previous``, in the report
    language) or a ready sentence, printed as given.
    """
    from churnlens.reports.catalogue import catalogue

    for sid, reason in ctx.omitted:
        if sid == section:
            return text(ctx.lang, f"omitted.{reason}") if f"omitted.{reason}" in catalogue(ctx.lang) else reason
    return text(ctx.lang, default_key)


def build_view(ctx: ReportContext, timings: Timings) -> _View:
    """Everything the templates show, as texts and chart URIs chosen from ``ctx``."""
    lang = ctx.lang
    cfg = ctx.config
    attr = ctx.attributions
    labels = {f: cfg.label(f, lang) for f in attr.features}
    space = attr.output_space
    top = [d for d in ctx.drivers.drivers[:10]]
    segs = tuple(ctx.segments)
    real_segs = [s for s in segs if s.segment_id != MIXED]
    unstable_ids = set(ctx.segmentation.stability.unstable)
    plans = {p.segment_key: p for p in ctx.plans}
    examples: dict[str, list] = {}
    for ex in ctx.examples:
        examples.setdefault(ex.segment_key, []).append(ex)
    mask = cfg.report.mask_ids and not cfg.report.hash_ids
    total_var = float(sum(s.value_at_risk for s in segs)) if ctx.value is not None else None

    # charts ------------------------------------------------------------------------------
    ch = {}
    n_top = min(12, len(ctx.drivers.drivers))
    ch["drivers"] = _chart(timings, "global drivers", lang, lambda ax: charts.plot_global_drivers(
        ctx.drivers, ax=ax, lang=lang, labels=labels, top=n_top, output_space=space), (6.6, 0.26 * n_top + 1.0))
    bee_feats = [d.feature for d in ctx.drivers.drivers[:10]]
    ch["beeswarm"] = _chart(timings, "beeswarm", lang, lambda ax: charts.plot_beeswarm(
        attr, ctx.X, ctx.display_rows, features=bee_feats, ax=ax, lang=lang, labels=labels),
        (6.6, 0.38 * len(bee_feats) + 1.0))
    dependence = []
    for d in ctx.drivers.drivers[:4]:
        uri = _chart(timings, f"dependence {d.feature}", lang, lambda ax, d=d: charts.plot_dependence(
            attr, ctx.X, ctx.display_rows, d, ax=ax, lang=lang, labels=labels), (3.25, 2.4))
        dependence.append(_View(uri=uri, label=labels.get(d.feature, d.feature), range_text=_risk_text(ctx, d)))

    has_segments = len(segs) > 0
    if has_segments:
        h = 0.3 * len(segs) + 1.1
        ch["sizes"] = _chart(timings, "segment sizes", lang, lambda axes: (  # one figure, two panels
            charts.plot_segment_sizes(segs, ax=axes[0], lang=lang, measure="size"),
            charts.plot_segment_sizes(segs, ax=axes[1], lang=lang, measure="value_at_risk", ticklabels=False)
            if ctx.value is not None else axes[1].set_axis_off()), (6.6, h), ncols=2)
        heat_feats = [d.feature for d in ctx.drivers.drivers[:10]]
        ch["heatmap"] = _chart(timings, "segment heatmap", lang, lambda ax: charts.plot_segment_heatmap(
            segs, heat_feats, ax=ax, lang=lang, labels=labels), (6.6, 0.3 * len(segs) + 2.1))

    def trait_label(e) -> str:
        base = labels.get(e.feature, e.feature)
        return f"{base} = {e.level}" if getattr(e, "level", "") else base

    def traits(group: str, section: str):
        shown = {e.feature for s in real_segs for e in s.traits_vs_retained}
        feats = [f for f in attr.features if cfg.group(f) == group and f in shown]
        if not real_segs:
            return None, _omitted(ctx, section, "omitted.no_segments")
        if not feats:
            return None, _omitted(ctx, section, f"omitted.no_{group}_features")
        uri = _chart(timings, f"traits {group}", lang, lambda ax: charts.plot_traits(
            real_segs, feats, ax=ax, lang=lang, labels=labels), (6.6, 0.3 * len(real_segs) + 2.1))
        rows = []
        for s in real_segs:
            for e in s.traits_vs_retained:
                if e.feature in feats and abs(e.effect_size) >= 0.3:
                    rows.append(_View(key=s.key, label=trait_label(e), seg=e.segment_mean,
                                      other=e.other_mean, d=e.effect_size))
        return _View(uri=uri, rows=rows[:14]), ""

    customer_traits, customer_reason = traits("customer", "customer-traits")
    product_traits, product_reason = traits("product", "product-traits")

    # segment pages ---------------------------------------------------------------------------
    pages = []
    for s in segs:
        sig_uri = _chart(timings, f"signature {s.key}", lang, lambda ax, s=s: charts.plot_segment_signature(
            s, ax=ax, lang=lang, labels=labels, output_space=space), (5.6, 0.2 * max(min(len(s.signature), 6), 1) + 0.75))
        plan = plans.get(s.key)
        unstable = s.segment_id != MIXED and (s.segment_id in unstable_ids or
                                               (s.stability is not None and s.stability < UNSTABLE_JACCARD))
        pages.append(_View(
            key=s.key, anchor=f"segment-{s.key}", name=_seg_name(s, lang), size=s.size, share=s.share,
            mean_score=s.mean_score, value_at_risk=s.value_at_risk if ctx.value is not None else None,
            mixed=s.segment_id == MIXED, unstable=unstable, stability=s.stability, signature_uri=sig_uri,
            drivers=[labels.get(f, f) for f in s.top_drivers],
            traits=[_View(label=trait_label(e), seg=e.segment_mean, other=e.other_mean, d=e.effect_size)
                    for e in s.traits_vs_churners[:5]],
            actions=[_View(text=a.action_zh if lang == "zh" else a.action_en,
                           channel=text(lang, f"channel.{a.channel}"), driver=labels.get(a.driver, a.driver))
                     for a in (plan.actions if plan else ())],
            no_rule=bool(plan.no_rule) if plan else False, has_plan=plan is not None,
            targets=plan.target_count if plan else None, control=plan.control_count if plan else None,
            examples=[_View(customer=formatting.masked(e.customer, mask), score=e.score, reasons=list(e.reasons))
                      for e in examples.get(s.key, [])[:3]],
        ))

    # summary -------------------------------------------------------------------------------
    headline = []
    for p in ctx.plans:
        if p.actions:
            a = p.actions[0]
            headline.append(_View(key=p.segment_key, action=a.action_zh if lang == "zh" else a.action_en,
                                  channel=text(lang, f"channel.{a.channel}"), targets=p.target_count))
    change = []
    if ctx.monitoring is not None:
        m = ctx.monitoring
        change.append(text(lang, "summary.change_score_psi", psi=formatting.fixed(m.score_psi.psi, 3),
                           band=text(lang, f"band.{m.score_psi.band}")))
        moved = [dd for dd in m.driver_drift if dd.ci_low > 0 or dd.ci_high < 0][:3]
        for dd in moved:
            change.append(text(lang, "summary.change_driver", feature=labels.get(dd.feature, dd.feature),
                               before=formatting.pct(dd.previous_share), after=formatting.pct(dd.current_share)))
    if ctx.migration is not None:
        for k in ctx.migration.new_segments:
            change.append(text(lang, "summary.change_new_segment", key=k))
        for k in ctx.migration.vanished_segments:
            change.append(text(lang, "summary.change_vanished_segment", key=k))
    n = max(ctx.facts.n_customers, 1)
    summary = _View(
        n_customers=ctx.facts.n_customers, n_churners=ctx.churners.count, churner_share=ctx.churners.count / n,
        value_at_risk=total_var, rule=ctx.churners.rule_zh if lang == "zh" else ctx.churners.rule_en,
        drivers=[_risk_text(ctx, d) for d in ctx.drivers.drivers[:3]],
        segments=[_View(key=s.key, name=_seg_name(s, lang), size=s.size, share=s.share) for s in segs],
        actions=headline, change=change,
    )

    driver_rows = [_View(label=labels.get(d.feature, d.feature), group=text(lang, f"group.{d.group}"), share=d.share,
                         mean_abs=d.mean_abs, range_text=_risk_text(ctx, d)) for d in top]

    # plan --------------------------------------------------------------------------------------
    plan_rows = []
    for p in ctx.plans:
        s = next((x for x in segs if x.key == p.segment_key), None)
        plan_rows.append(_View(
            key=p.segment_key, name=_seg_name(s, lang) if s else p.segment_key,
            actions=[_View(text=a.action_zh if lang == "zh" else a.action_en, channel=text(lang, f"channel.{a.channel}"))
                     for a in p.actions],
            targets=p.target_count, control=p.control_count, value_at_risk=p.value_at_risk if ctx.value is not None else None,
            retained=p.expected_retained_value if ctx.value is not None else None, cost=p.cost, no_rule=p.no_rule))
    plan = _View(rows=plan_rows, no_rule_keys=[p.segment_key for p in ctx.plans if p.no_rule],
                 excluded=ctx.excluded_do_not_contact, control=ctx.control_count,
                 control_share=cfg.report.control_share,
                 targets=sum(p.target_count for p in ctx.plans)) if ctx.plans else None
    plan_reason = "" if plan else _omitted(ctx, "plan", "omitted.no_playbook" if not cfg.playbook else "omitted.no_plan")

    # model performance ---------------------------------------------------------------------
    perf, perf_reason = None, ""
    q = ctx.quality
    if q is None:
        perf_reason = _omitted(ctx, "performance", "omitted.no_label")
    else:
        perf = _View(
            n=q.n, n_churners=q.n_churners, auc=q.auc, ks=q.ks, ks_threshold=q.ks_threshold, brier=q.brier,
            note=(q.note_zh or q.note) if lang == "zh" else q.note, deciles=q.deciles, calibration=q.calibration,
            confusion=[_View(rule=(c.rule_zh or c.rule) if lang == "zh" else c.rule, tp=c.tp, fp=c.fp, fn=c.fn,
                             tn=c.tn, precision=c.precision, recall=c.recall, threshold=c.threshold)
                       for c in q.confusion],
            roc=_chart(timings, "roc", lang, lambda ax: charts.plot_roc(q, ax=ax, lang=lang), (3.2, 2.7)),
            ks_uri=_chart(timings, "ks", lang, lambda ax: charts.plot_ks(q, ax=ax, lang=lang), (3.2, 2.7)),
            gains=_chart(timings, "gains", lang, lambda ax: charts.plot_gains(q, ax=ax, lang=lang), (3.2, 2.7)),
            calib=_chart(timings, "calibration", lang, lambda ax: charts.plot_calibration(q, ax=ax, lang=lang),
                         (3.2, 2.7)),
        )

    # monitoring ------------------------------------------------------------------------------
    mon, mon_reason = None, ""
    m = ctx.monitoring
    psi_uri = None
    if m is not None:
        n_psi = min(12, len(m.feature_psi)) + 1
        psi_uri = _chart(timings, "psi", lang, lambda ax: charts.plot_psi(m, ax=ax, lang=lang, labels=labels),
                         (6.6, 0.24 * n_psi + 1.0))
        drift_uri = None
        if m.driver_drift:
            drift_uri = _chart(timings, "driver drift", lang, lambda ax: charts.plot_driver_drift(
                m, ax=ax, lang=lang, labels=labels), (6.6, 0.24 * min(10, len(m.driver_drift)) + 1.0))
        mon = _View(reference=(m.reference_zh or _localise(m.reference, lang)) if lang == "zh" else m.reference,
                    score_psi=m.score_psi.psi, score_band=text(lang, f"band.{m.score_psi.band}"),
                    psi_uri=psi_uri, drift_uri=drift_uri,
                    psi_rows=[_View(label=labels.get(r.name, r.name), psi=r.psi, band=text(lang, f"band.{r.band}"),
                                    bins=len(r.bins)) for r in m.feature_psi],
                    drift_rows=[_View(label=labels.get(d.feature, d.feature), before=d.previous_share,
                                      after=d.current_share, change=d.change, lo=d.ci_low, hi=d.ci_high)
                                for d in m.driver_drift[:10]],
                    score_bins=[_View(label=b.label, ref=b.reference_share, cur=b.current_share, contribution=b.contribution)
                                for b in m.score_psi.bins])
    else:
        mon_reason = _omitted(ctx, "monitoring", "omitted.no_previous")
    mig, mig_reason = None, ""
    if ctx.migration is not None and ctx.migration.flows:
        mg = ctx.migration
        mig = _View(uri=_chart(timings, "migration", lang, lambda ax: charts.plot_migration(mg, ax=ax, lang=lang),
                               (6.6, 3.4)),
                    new=list(mg.new_segments), vanished=list(mg.vanished_segments),
                    matches=[_View(key=x.key, previous=x.previous_key, similarity=x.similarity) for x in mg.matches])
    else:
        mig_reason = _omitted(ctx, "migration", "omitted.no_previous")
    camp, camp_reason = None, ""
    if ctx.campaign is not None:
        c = ctx.campaign
        camp = _View(uri=_chart(timings, "campaign", lang, lambda ax: charts.plot_campaign(c, ax=ax, lang=lang),
                                (6.6, 0.3 * (len(c.by_segment) + 1) + 1.0)),
                     method=(c.method_zh or _localise(c.method, lang)) if lang == "zh" else c.method,
                     with_value=ctx.value is not None, arms=[_View(population=text(lang, "chart.all_customers") if a.population == "all"
                                                  else a.population, a=a) for a in (c.overall,) + tuple(c.by_segment)])
    else:
        camp_reason = _omitted(ctx, "campaign", "omitted.no_campaign")

    # dossier-specific ------------------------------------------------------------------------
    stab = ctx.segmentation.stability
    keys_by_id = {s.segment_id: s.key for s in segs}
    stab_uri = None
    if stab.segment_jaccard:
        keys = [keys_by_id.get(i, f"#{i}") for i in range(len(stab.segment_jaccard))]
        stab_uri = _chart(timings, "stability", lang, lambda ax: charts.plot_stability(
            stab, keys, ax=ax, lang=lang), (5.2, 0.24 * len(keys) + 0.9))
    segcfg = cfg.segmentation
    seg_note = (getattr(ctx.segmentation, "note_zh", "") or ctx.segmentation.note) if lang == "zh" else ctx.segmentation.note
    noise = getattr(ctx.segmentation, "noise", segcfg.noise)
    appendix = _View(
        attributed=attributed_text(ctx.facts, lang),
        method=_localise(attr.method, lang), space=text(lang, f"chart.space_{space}"), base_value=attr.base_value,
        rule=ctx.churners.rule_zh if lang == "zh" else ctx.churners.rule_en, by=ctx.churners.by,
        representation=_representation(ctx.segmentation, lang).rstrip(".。"), min_cluster_size=ctx.segmentation.min_cluster_size,
        min_cluster_cfg=segcfg.min_cluster_size, min_samples=getattr(ctx.segmentation, "min_samples", 0) or segcfg.min_samples, n_fitted=ctx.segmentation.n_fitted,
        seed=ctx.segmentation.seed, noise=text(lang, f"appendix.noise_{noise}"),
        max_dims=segcfg.max_dims, runs=stab.runs, fraction=segcfg.stability_fraction,
        n_segments=ctx.segmentation.n_segments, note=seg_note,
        additivity=attr.additivity_max_error, reason_codes=cfg.reason_codes,
    )
    add_ok = attr.additivity_max_error <= ADDITIVITY_TOLERANCE
    cc = ctx.cross_check
    model = ctx.facts.model
    dossier = _View(
        model=model, model_file=Path(model.path).name,
        features=[_View(name=f, label=labels.get(f, f), group=text(lang, f"group.{cfg.group(f)}"),
                        actionable=cfg.features[f].actionable if f in cfg.features else True,
                        protected=cfg.features[f].protected if f in cfg.features else False)
                  for f in model.feature_names],
        inputs=[_View(role=text(lang, f"role.{i.role}") if f"role.{i.role}" in _roles(lang) else i.role,
                      file=Path(i.path).name, sha256=i.sha256, rows=i.rows) for i in ctx.facts.inputs],
        timings=[(_stage(st, lang), sec) for st, sec in ctx.facts.timings],
        attributed=attributed_text(ctx.facts, lang),
        additivity=attr.additivity_max_error, tolerance=ADDITIVITY_TOLERANCE, additivity_ok=add_ok,
        cc=cc, cc_reference=_localise(cc.reference, lang), cc_reference_short=cc.reference.split(",")[0], cc_ok=cc.max_abs_diff <= ADDITIVITY_TOLERANCE,
        groups=[_View(group=text(lang, f"group.{g.group}"), share=g.share, mean_abs=g.mean_abs)
                for g in ctx.drivers.groups],
        protected=[labels.get(f, f) for f, s in cfg.features.items() if s.protected],
        ari=stab.overall_ari, stab_uri=stab_uri,
        jaccard=[_View(key=keys_by_id.get(i, f"#{i}"), j=j, unstable=(i in unstable_ids or j < UNSTABLE_JACCARD))
                 for i, j in enumerate(stab.segment_jaccard)],
        unstable=[keys_by_id.get(i, f"#{i}") for i in stab.unstable],
        packages=list(ctx.facts.packages), command=ctx.facts.command, seed=ctx.facts.seed,
        reproduce=reproduce_command(ctx.facts.command, ctx.facts.generated_at),
        psi_rows=mon.psi_rows if mon else [], score_psi=mon.score_psi if mon else None,
        score_band=mon.score_band if mon else "", psi_uri=psi_uri, psi_reason=mon_reason,
        mixed_size=sum(s.size for s in segs if s.segment_id == MIXED),
    )

    title = ctx.facts.title or text(lang, "report.default_title")
    report_toc = [("summary", text(lang, "summary.title"), 0), ("customer-traits", text(lang, "traits.customer_title"), 0),
                  ("product-traits", text(lang, "traits.product_title"), 0), ("drivers", text(lang, "drivers.title"), 0),
                  ("segments", text(lang, "segments.title"), 0)]
    report_toc += [(p.anchor, f"{p.key} · {p.name}", 1) for p in pages]
    report_toc += [("plan", text(lang, "plan.title"), 0), ("performance", text(lang, "performance.title"), 0),
                   ("monitoring", text(lang, "monitoring.title"), 0), ("appendix", text(lang, "appendix.title"), 0)]
    dossier_toc = [(sid, text(lang, f"dossier.{sid.replace('-', '_')}_title"), 0) for sid in DOSSIER_SECTIONS]
    return _View(
        lang=lang, title=title, institution=ctx.facts.institution, period=ctx.facts.period,
        generated_at=ctx.facts.generated_at, model_family=ctx.facts.model.family, logo=_logo(ctx),
        accent=cfg.report.accent, mask=mask, charts=ch, summary=summary, drivers=driver_rows, dependence=dependence,
        customer_traits=customer_traits, customer_reason=customer_reason, product_traits=product_traits,
        product_reason=product_reason, has_segments=has_segments, segmentation_note=seg_note,
        mixed_size=dossier.mixed_size, pages=pages, plan=plan, plan_reason=plan_reason, perf=perf,
        perf_reason=perf_reason, mon=mon, mon_reason=mon_reason, mig=mig, mig_reason=mig_reason, camp=camp,
        camp_reason=camp_reason, appendix=appendix, dossier=dossier,
        psi_epsilon=f"{PSI_EPSILON:g}",
        report_toc=[_View(id=a, title=b, level=c) for a, b, c in report_toc],
        dossier_toc=[_View(id=a, title=b, level=c) for a, b, c in dossier_toc],
    )


_DEFAULT_OUT = {"demo": "demo-report", "report": "churnlens-report"}


def reproduce_command(command: str, generated_at: str) -> _View:
    """The run's command rewritten to write to a NEW folder (``<out>-reproduced``) with the same
    ``--generated-at``, and a command comparing the two folders: following the dossier never
    replaces the report under review."""
    import shlex

    try:
        parts = shlex.split(command)
    except ValueError:
        parts = []
    at = next((i for i, a in enumerate(parts[1:], 1) if not a.startswith("-")), None)  # the sub-command
    if at is None or parts[at] not in _DEFAULT_OUT:
        return _View(command=command, out="", new="", compare="")
    out, where = _DEFAULT_OUT[parts[at]], None
    for i, a in enumerate(parts):
        if a == "--out" and i + 1 < len(parts):
            out, where = parts[i + 1], i
            break
        if a.startswith("--out="):
            out, where = a.split("=", 1)[1], i
            parts[i:i + 1] = ["--out", ""]
            break
    new = out.rstrip("/") + "-reproduced"
    if where is None:  # default --out: name the new folder explicitly
        parts[at + 1:at + 1] = ["--out", new]
    else:  # the same command, only the folder changed
        parts[where + 1] = new
    if not any(a == "--generated-at" or a.startswith("--generated-at=") for a in parts) and generated_at:
        parts += ["--generated-at", generated_at]
    compare = f"diff -r -x manifest.json -x 'dossier.*' {shlex.quote(out)} {shlex.quote(new)}"
    return _View(command=shlex.join(parts), out=out, new=new, compare=compare)


DOSSIER_SECTIONS = ("model-card", "quality", "data", "method", "additivity", "cross-check", "segmentation", "psi",
                    "limitations", "versions", "reproduce", "signoff")
REPORT_SECTIONS = ("summary", "customer-traits", "product-traits", "drivers", "segments", "plan", "performance",
                   "monitoring", "appendix")


def _roles(lang: str) -> set[str]:
    from churnlens.reports.catalogue import catalogue

    return {k for k in catalogue(lang) if k.startswith("role.")}


# --- Jinja --------------------------------------------------------------------------------

def make_environment(lang: str, *, mask_ids: bool = True):
    """The Jinja environment: autoescaping, StrictUndefined, the catalogue and the filters."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape

    @pass_context
    def src(context, chart: ChartImage) -> str:
        """The ``data:`` URI of a chart for the medium being rendered (HTML or PDF)."""
        return chart.uri(bool(context["for_pdf"]))

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html", "css"), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["t"] = lambda key, /, **kw: text(lang, key, **kw)
    env.filters.update(
        num=formatting.num,
        money=lambda x: formatting.money(x, lang),
        pct=formatting.pct,
        signed=formatting.signed,
        fixed=formatting.fixed,
        sci=formatting.sci,
        date=lambda s: formatting.date(s, lang),
        masked=lambda s: formatting.masked(s, mask_ids),
        css_string=formatting.css_string,
        src=src,
    )
    return env


def _font_face() -> tuple[str, tuple[Path, ...]]:
    path = cjk_font_path()
    if path is None:  # pragma: no cover - the font package is a dependency
        return "", ()
    return path.as_uri(), (path,)


def render_html(view: _View, env, document: str, *, for_pdf: bool) -> str:
    from markupsafe import Markup

    font_url, _ = _font_face()
    font_url = Markup(font_url.replace('"', "%22"))  # a file:// URI of the bundled font, quoted in CSS
    doc_title = view.title if document == "report" else text(view.lang, "dossier.title")
    css = env.get_template("base.css").render(v=view, font_url=font_url if for_pdf else "", for_pdf=for_pdf,
                                              doc_title=doc_title)
    return env.get_template(f"{document}.html").render(v=view, css=css, for_pdf=for_pdf)


def write_pdf(html: str, path: Path, *, created: str = "") -> AssetFetcher:
    """Print ``html`` to ``path`` with WeasyPrint; returns the fetcher (its ``refused`` URLs).

    ``created`` (ISO 8601, the run's ``--generated-at``) becomes the PDF's creation and
    modification dates, so the same inputs give the same bytes."""
    from weasyprint import HTML

    _, fonts = _font_face()
    fetcher = AssetFetcher(fonts)
    document = HTML(string=html, url_fetcher=fetcher, base_url=None).render()
    if created:
        document.metadata.created = document.metadata.modified = created
    document.write_pdf(str(path))
    return fetcher


def render_documents(context: ReportContext, out_dir: Path, *, formats: tuple[str, ...] = ("html", "pdf"),
                     timings: Optional[Timings] = None) -> tuple[Path, ...]:
    """Write ``report.*`` and ``dossier.*`` in the requested formats into ``out_dir``.

    Parameters
    ----------
    context : ReportContext
        Everything shown; ``context.lang`` picks the language ("en" or "zh").
    out_dir : Path
        Existing folder (the pipeline's staging folder).
    formats : tuple of str
        Subset of ``("html", "pdf")``.
    timings : Timings, optional
        Filled with per-chart and per-document seconds when given.

    Returns
    -------
    tuple of Path
        The files written, in the order report.html, report.pdf, dossier.html, dossier.pdf.
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UserInputError(f"--format {','.join(formats)!s}: unsupported format(s) {bad}; expected a "
                             f"comma-separated subset of {', '.join(FORMATS)}.")
    if context.lang not in ("en", "zh"):
        raise UserInputError(f"--lang {context.lang!r} is not supported; expected 'en' or 'zh'.")
    out_dir = Path(out_dir)
    timings = timings if timings is not None else Timings()
    view = build_view(context, timings)
    env = make_environment(context.lang, mask_ids=view.mask)
    written = []
    for doc in DOCUMENTS:
        if "html" in formats:
            t0 = time.perf_counter()
            p = out_dir / f"{doc}.html"
            p.write_text(render_html(view, env, doc, for_pdf=False), encoding="utf-8")
            timings.documents.append((f"{doc}.html", time.perf_counter() - t0))
            written.append(p)
        if "pdf" in formats:
            t0 = time.perf_counter()
            p = out_dir / f"{doc}.pdf"
            write_pdf(render_html(view, env, doc, for_pdf=True), p, created=context.facts.generated_at)
            timings.documents.append((f"{doc}.pdf", time.perf_counter() - t0))
            written.append(p)
    return tuple(written)
