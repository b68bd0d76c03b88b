"""The score-distribution section: numbers recomputed from the raw scores and labels, shown in
both documents and both languages."""

from __future__ import annotations

import re

import numpy as np
import pytest

from churnlens import reports
from churnlens.evaluation.distribution import score_distribution
from churnlens.evaluation.results import ScoreDistribution
from churnlens.results import AlignedFeatures, Book, Selection
from tests.flow_fixture import build_context


def test_bands_count_what_falls_in_them():
    score = np.array([0.0, 0.05, 0.1, 0.15, 0.55, 0.99, 1.0])
    d = score_distribution(score, churners=score >= 0.5, listed=np.array([0, 0, 0, 0, 1, 1, 0], bool),
                           label=np.array([0, 0, 1, 0, 1, 1, 1]))
    assert [b.customers for b in d.bands] == [2, 2, 0, 0, 0, 1, 0, 0, 0, 2]
    assert (d.bands[-1].low, d.bands[-1].high, d.bands[-1].churners, d.bands[-1].listed) == (0.9, 1.0, 2, 1)
    assert d.bands[1].observed == 1 and d.bands[1].observed_rate == 0.5 and d.bands[2].observed_rate is None
    assert score_distribution(score, churners=score > 2, listed=score > 2).labelled is False


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_section_equals_a_recomputation_from_the_book(tmp_path, lang):
    ctx = build_context(1500).replace(lang=lang)
    book, sel = ctx[Book], ctx[Selection]
    listed = np.zeros(book.n, bool)
    listed[ctx[AlignedFeatures].rows] = ctx.targeting.listed
    band = np.minimum((book.score * 10).astype(int), 9)
    reports.render_documents(ctx, tmp_path, formats=("html",))
    for doc, sid in (("report", "score-distribution"), ("dossier", "d-score-distribution")):
        html = (tmp_path / f"{doc}.html").read_text(encoding="utf-8")
        section = html.split(f'id="{sid}"')[1].split("</section>")[0]
        rows = re.findall(r"<tr><td>(\d+)%–(\d+)%</td>(.*?)</tr>", section)
        assert len(rows) == 10
        for i, (low, high, cells) in enumerate(rows):
            n, _, churners, on_list, observed = re.findall(r'<td class="r">([^<]*)</td>', cells)
            m = band == i
            assert (int(low), int(high)) == (10 * i, 10 * i + 10)
            assert int(n.replace(",", "")) == m.sum()
            assert int(churners.replace(",", "")) == (sel.churners.mask & m).sum()
            assert int(on_list.replace(",", "")) == (listed & m).sum()
            expected = "—" if not m.any() else f"{100 * book.label[m].mean():.1f}%"
            assert observed == expected


def test_section_is_not_shown_without_its_result(tmp_path):
    ctx = build_context(1500).replace(without=(ScoreDistribution,))
    reports.render_documents(ctx, tmp_path, formats=("html",))
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    section = html.split('id="score-distribution"')[1].split("</section>")[0]
    assert 'class="omitted"' in section
