"""Issue 29 item 5: print-grade layout. Nothing printed beyond the page's right margin, in either
language, in the report, the dossier and the ``churnlens evaluate`` page: every text run's end
and every chart's box is measured on the PDF (tests/pdf_layout.py reads the content streams
with pypdf and the fonts' glyph widths).

One render per document and language, of the real flow (tests/flow_fixture.py) with a year of
trend months and a model comparison of two models with long names; charts' labels are wrapped,
never cut."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from pypdf import PdfReader

from churnlens import reports
from churnlens.evaluation.compare import compare_with_evidence
from churnlens.evaluation.quality import evaluate
from churnlens.monitoring.results import SeriesRow, Trend, TrendPoint
from churnlens.reports import charts, words
from churnlens.reports.evaluation import write_evaluation
from churnlens.reports.sections import segments as segments_section
from tests.flow_fixture import build_context, relabel
from tests.pdf_layout import MM, measure, overflows

PERIODS = tuple(f"{2025 + (m // 12)}-{m % 12 + 1:02d}" for m in range(10, 22))  # 2025-11 .. 2026-10, 12 months


def _trend(ctx) -> Trend:
    """A full year of months (the default monitoring window): the widest trend tables."""
    rng = np.random.default_rng(3)
    points = []
    for i, period in enumerate(PERIODS):
        auc = 0.80 - 0.004 * i
        points.append(TrendPoint(period, 1_234_567, (auc, auc - 0.021, auc + 0.019), (0.45, 0.43, 0.47),
                                 None if i == 0 else float(rng.uniform(0.01, 0.3)), "none" if i == 0 else "amber",
                                 None if i == 0 else 0.004 * i, "none" if i == 0 else "green",
                                 (0.153, -0.012, 0.318, 0.9)))
    keys = [s.key for s in ctx.segments]
    segs = tuple(SeriesRow(k, tuple(float(1000 + 37 * j) for j in range(len(PERIODS)))) for k in keys)
    drivers = tuple(SeriesRow(d.feature, tuple(0.1234 for _ in PERIODS)) for d in ctx.drivers.drivers[:6])
    return Trend(points=tuple(points), segments=segs, drivers=drivers, reference_auc=0.8, psi_thresholds=(0.1, 0.25),
                 auc_drop_thresholds=(0.02, 0.05), verdict="amber", n_skipped=0)


@pytest.fixture(scope="module")
def ctx():
    base = build_context(1500)  # shared (cached) with tests/test_reports.py
    return base.replace(trend=_trend(base))


@pytest.fixture(scope="module")
def pdfs(ctx, tmp_path_factory):
    """report.pdf, dossier.pdf and evaluation.pdf per language."""
    book = ctx.book
    label = book.label.astype(int)
    rng = np.random.default_rng(0)
    challenger = np.clip(book.score + rng.normal(0, 0.08, book.n), 0.001, 0.999)
    names = ("champion_lightgbm_2026-11_retail-book.txt", "challenger_xgboost_onehot_2026-11_retail-book.json")
    scores = (book.score, challenger)
    comparison = compare_with_evidence(names, ("ab" * 32, "cd" * 32), label, scores, value=book.value,
                                       rank_by="expected_net_value", n_boot=20, seed=0)
    qualities = tuple(evaluate(label, s, threshold=ctx.config.churners.threshold) for s in scores)
    out = {}
    for lang in ("en", "zh"):
        d = tmp_path_factory.mktemp(f"layout_{lang}")
        reports.render_documents(relabel(ctx, lang), d)
        write_evaluation(d, comparison, qualities, names, lang=lang, generated_at="2026-11-25T02:30:00+00:00",
                         formats=("pdf",))
        out[lang] = {doc: d / f"{doc}.pdf" for doc in ("report", "dossier", "evaluation")}
        out[lang]["comparison"] = comparison
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("doc", ["report", "dossier", "evaluation"])
def test_nothing_is_printed_beyond_the_right_margin(pdfs, doc, lang):
    path = pdfs[lang][doc]
    bad = overflows(path)
    assert not bad, "\n".join(map(str, bad[:12]))
    runs, shapes, widths = measure(path)
    assert runs and len(widths) == len(PdfReader(str(path)).pages)
    # the measure sees the page: right-aligned numbers end at the margin (16 mm), nothing is left of the left one
    limit = widths[0] - 16 * MM
    assert max(r.x1 for r in runs) == pytest.approx(limit, abs=1.5)
    assert min(r.x0 for r in runs) >= 16 * MM - 1.5


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_evaluation_verdict_words_the_net_value_as_an_amount(pdfs, lang):
    import re

    from churnlens.reports import formatting

    text = "".join(p.extract_text() for p in PdfReader(str(pdfs[lang]["evaluation"])).pages)
    assert not re.search(r"\d,\d{3}\.\d{3}\b", text)  # not "5,491,172.706"
    champion = pdfs[lang]["comparison"]
    assert formatting.money(champion.rows[0].rank_value, lang).replace("\u00a0", " ") in text.replace("\u00a0", " ")


def test_the_measure_finds_a_table_wider_than_the_page(tmp_path):
    """The measure itself: a table of unbreakable cells runs off an A4 page and is reported."""
    from churnlens.reports.render import write_pdf

    cells = "".join(f"<td style='white-space: nowrap'>column {i} 1,234,567.89 EUR</td>" for i in range(6))
    html = ("<html><head><style>@page { size: A4; margin: 20mm 16mm; } body { font-family: 'DejaVu Sans'; }"
            "</style></head><body><p>fits</p><table><tr>" + cells + "</tr></table></body></html>")
    write_pdf(html, tmp_path / "wide.pdf")
    bad = overflows(tmp_path / "wide.pdf")
    assert bad and all(b.page == 1 for b in bad)
    assert any("column 5" in b.what for b in bad) and not any(b.what == "fits" for b in bad)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_fingerprints_are_whole_on_one_line_in_the_dossier(pdfs, ctx, lang):
    runs, _, _ = measure(pdfs[lang]["dossier"])
    sha = ctx.facts.model.sha256
    assert any(sha in "".join(r.text) for r in runs)  # one run: not broken across lines


def test_segment_names_wrap_in_the_size_chart_and_are_never_cut(ctx):
    segs = ctx.segments
    long = {s.key: f"{words.segment_names(segs, ctx.config, 'en')[s.key]} and a much longer tail of several words"
            for s in segs}
    with charts.chart_style("en"):
        ax = charts.new_axes((3.2, 3))
        charts.plot_segment_sizes(segs, ax=ax, names=long)
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(t.replace("\n", " ") for t in ticks) == sorted(f"{s.key} · {long[s.key]}" for s in segs)
    assert all("…" not in t and "\n" in t for t in ticks)
    assert charts.wrap("S2 · 同业利率更具吸引力、定期存款临近到期", "zh", 30).replace("\n", "") == \
        "S2 · 同业利率更具吸引力、定期存款临近到期"
    # never a line starting with a closing mark
    assert not any(line[:1] in "、，。）" for line in charts.wrap("甲乙丙丁戊己庚辛壬癸、甲乙丙丁戊己庚辛壬癸，甲乙", "zh", 20).split("\n"))


def test_heatmap_has_one_label_per_drawn_column(ctx):
    segs = ctx.segments
    shown = {it.feature for s in segs for it in s.signature}
    # the section's drivers: top drivers some segment's signature holds (no blank column)
    view = segments_section.build(ctx, _kit(ctx))
    assert view.heatmap is not None
    feats = [d.feature for d in ctx.drivers.drivers if d.feature in shown][:segments_section.HEATMAP_FEATURES]
    labels = {f: ctx.config.label(f, "en") for f in ctx.attributions.features}
    with charts.chart_style("en"):
        ax = charts.new_axes((5.6, 4))
        charts.plot_segment_heatmap(segs, feats, ax=ax, labels=labels)
    image = ax.images[0].get_array()
    assert image.shape == (len(feats), len(segs))
    assert [t.get_text() for t in ax.get_yticklabels()] == [charts.wrap(labels[f], "en", 34) for f in feats]
    assert [t.get_text() for t in ax.get_xticklabels()] == [s.key for s in segs]
    # every row and every column holds a value
    assert (~image.mask).any(axis=1).all() and (~image.mask).any(axis=0).all()


def _kit(ctx):
    from churnlens.reports.sections import Kit
    from churnlens.reports.sections.base import Timings

    return Kit(ctx, Timings())


def test_money_axes_have_one_scale_and_no_trailing_zeros(ctx):
    from churnlens.reports.formatting import money_ticks

    assert money_ticks([0, 1.5e7, 3e7, 4.5e7], "zh") == ["0", "1,500 万", "3,000 万", "4,500 万"]
    assert money_ticks([0, 2e7, 4e7, 6e7], "en") == ["0", "20 M", "40 M", "60 M"]
    assert money_ticks([0, 2.5e6, 5e6, 7.5e6], "en") == ["0", "2.5 M", "5.0 M", "7.5 M"]
    assert money_ticks([0, 5e7, 1e8, 1.5e8], "zh") == ["0", "0.5 亿", "1.0 亿", "1.5 亿"]
    assert money_ticks([0, 250, 500], "en") == ["0", "250", "500"]
    segs = ctx.segments
    for lang in ("en", "zh"):
        with charts.chart_style(lang):
            ax = charts.new_axes((3.2, 2))
            charts.plot_segment_sizes(segs, ax=ax, lang=lang, measure="value_at_risk")
            ax.figure.canvas.draw() if hasattr(ax.figure.canvas, "draw") else None
            ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        nonzero = [t for t in ticks if t != "0"]
        assert nonzero and not all(re.search(r"\d\.0 ", t) for t in nonzero), ticks  # never "1,500.0 万" throughout
        assert len({t.split(" ")[-1] for t in nonzero}) == 1  # one scale
