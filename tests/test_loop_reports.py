"""The loop's report pages: back-test, campaign & uplift, budget, trend (1, 2 and 12 months),
in English and Chinese, HTML and PDF; the numbers shown are the stages' results."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
from markupsafe import escape
import pandas as pd
import pytest
from pypdf import PdfReader

from churnlens.actions.budget import allocate, candidate_rules, uplift_matrix
from churnlens.actions.playbook import control_group, effective_rules, match_customer_rules
from churnlens.campaign.uplift import measure_campaign
from churnlens.config import BudgetConfig
from churnlens.evaluation.backtest import backtest, in_sample
from churnlens.evaluation.results import Published
from churnlens.monitoring.history import trend
from churnlens.monitoring.results import MonthSummary, SegmentSize
from churnlens.reports import render
from churnlens.reports import sections
from churnlens.reports.sections import trend as trend_section
from tests.flow_fixture import build_context


def _loop_results(ctx, months: int):
    attr, n = ctx.attributions, ctx.attributions.n
    rng = np.random.default_rng(0)
    ids = np.array([f"{i:07d}" for i in range(n)])
    listed = ctx.churners.mask
    control = np.zeros(n, bool)
    control[listed] = control_group(ids[listed], share=0.25, seed=0)
    keys = np.full(n, "", dtype=object)
    for s in ctx.segments:
        keys[ctx.segmentation.rows[ctx.segmentation.labels == s.segment_id]] = s.key
    rules = ctx.config.playbook
    rule = effective_rules(match_customer_rules(rules, attr.values, ctx.X, attr.features), keys, ctx.plans)
    action = np.where(listed & (rule >= 0), np.array([r.action.en for r in rules] + [""])[rule], "")
    pub = Published(customer_ids=ids, score=attr.score, listed=listed, control=control, segment=keys.astype(str),
                    action=action.astype(str), channel=np.full(n, "phone"), value=np.full(n, 5000.0), source="scores",
                    sample_rows=np.ones(n, bool))
    y = (rng.random(n) < attr.score * np.where(listed & ~control, 0.7, 1.0)).astype(int)
    outcomes = pd.DataFrame({"customer_id": ids, "churned": y})
    bt = backtest(pub, outcomes, n_boot=50, seed=0)
    ins = in_sample(y, np.clip(attr.score + 0.3 * (y - attr.score), 0, 1), n_boot=50, backtest_auc=bt.quality.auc)
    m = listed
    measured = measure_campaign(y[m], control[m], keys[m].astype(str), action[m], np.full(m.sum(), 5000.0),
                                assumed={r.action.en: r.uplift for r in rules}, min_treated=5, min_control=3)
    budget = BudgetConfig.model_validate({"total": 4000, "channels": {"phone": {"cost": 5, "capacity": 40},
                                                                      "relationship_manager": {"capacity": 10}}})
    cand = candidate_rules(rules, attr.values, ctx.X, attr.features, segment_keys=keys, plans=ctx.plans)
    plan = allocate(attr.score, ctx.value, cand, uplift_matrix(rules, keys, {}), rules=rules, budget=budget,
                    eligible=listed, control=control, default_rule=rule)
    segs = tuple(SegmentSize(s.key, s.size, tuple(s.profile_features), tuple(s.profile)) for s in ctx.segments)

    def month(i):
        return MonthSummary(period=f"{2025 + (i - 1) // 12}-{(i - 1) % 12 + 1:02d}", folder=f"m{i}", n_customers=n,
                            score_psi=0.02 * i, auc=(0.8 - 0.005 * i, 0.78 - 0.005 * i, 0.82 - 0.005 * i),
                            ks=(0.45, 0.4, 0.5), segments=segs, drivers=tuple((d.feature, d.share)
                                                                              for d in ctx.drivers.drivers),
                            campaign=(0.04, 0.01, 0.07, 1e5))

    hist = [month(i) for i in range(1, months + 1)]
    tr = trend(hist[:-1], hist[-1], psi=(0.1, 0.25), auc_drop=(0.02, 0.05))
    return ctx.replace(backtest=bt, in_sample=ins, measured=measured, budget=plan, trend=tr)


@pytest.fixture(scope="module")
def base():
    return build_context(2000, lang="en")


def _html(ctx, tmp_path, fmt=("html",)):
    out = tmp_path / f"{ctx.lang}-{len(ctx.trend.points) if ctx.trend else 0}"
    out.mkdir()
    render.render_documents(ctx, out, formats=fmt)
    return out


def _section(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}".*?</section>', html, re.S)
    assert m, sid
    return m.group(0)


def _page(ctx, module, template):
    """One section rendered alone, as the documents include it."""
    placed = module.SECTION.place(ctx, sections.Kit(ctx, render.Timings()))  # as the documents place it
    assert placed.template in (f"sections/{template}", "sections/_omitted.html")
    return render.make_environment(ctx.lang).get_template(placed.template).render(sec=placed.view, for_pdf=False)


@pytest.mark.parametrize("months", [1, 2, 12])
def test_trend_page_renders_with_1_2_and_12_months(base, months):
    for lang in ("en", "zh"):
        ctx = dataclasses.replace(_loop_results(base, months), lang=lang)
        page = _page(ctx, trend_section, "trend.html")
        assert 'class="omitted"' not in page
        periods = [p.period for p in ctx.trend.points]
        assert len(periods) == months
        for p in periods:
            assert p in page
        assert ("趋势" if lang == "zh" else "Trends") in page
        if months == 1:
            assert ("目前只有本月数据" if lang == "zh" else "Only this month is available") in page
        # verdict codes from the stage, worded by the catalogue
        expected = {"green": ("绿色", "green"), "amber": ("黄色", "amber"), "red": ("红色", "red")}[ctx.trend.verdict]
        assert expected[0 if lang == "zh" else 1] in page


def test_loop_pages_show_the_stage_numbers_in_both_languages(base, tmp_path, monkeypatch):
    from churnlens.reports.sections import backtest as s_bt, budget as s_bu, uplift as s_up

    # the documents with only the loop's sections: the same rendering path, a fraction of the pages
    monkeypatch.setitem(render.DOCUMENTS, "report", (s_bu.SECTION, s_bt.SECTION, s_up.SECTION, trend_section.SECTION))
    monkeypatch.setitem(render.DOCUMENTS, "dossier", (s_bt.SECTION,))
    ctx = _loop_results(base, 3)
    out = _html(ctx, tmp_path, fmt=("html", "pdf"))
    html = (out / "report.html").read_text(encoding="utf-8")
    bt = _section(html, "backtest")
    assert f"{ctx.backtest.auc.value:.3f}" in bt and f"{ctx.backtest.auc.low:.3f}" in bt
    assert "In-sample (labels inside the scored table)" in bt
    assert "looks like the model&#39;s training data" in bt  # in-sample AUC far above the back-test
    up = _section(html, "uplift")
    assert f"{ctx.measured.overall.treated:,}" in up
    # one campaign view: both sources in one table, each row saying where it comes from
    effects = up.split('<table class="effects')[1].split("</table>")[0]
    groups = effects.split('<tr class="group">')[1:]
    assert [g.split("</th>")[0].split(">")[-1] for g in groups] == ["Source: List", "Source: Campaign file"]
    assert groups[0].count("<tr><td>") == 1 + len(ctx.measured.by_segment) + len(ctx.measured.by_action)
    assert groups[1].count("<tr><td>") == 1 + len(ctx.campaign.by_segment)
    assert f"{ctx.campaign.overall.treated:,}" in up
    # when each action is measurable: one row per action of this month's list
    assert "Control group per action: when each action is measurable" in up
    assert ctx.control_plan.plans
    for p in ctx.control_plan.plans:
        assert (f'<td>{escape(p.action)}</td><td class="r">{p.arm:,}</td><td class="r">{p.control:,}</td>') in up
    bud = _section(html, "budget")
    assert "phone capacity" in bud or "total budget" in bud
    assert 'class="omitted"' not in bt + up + bud
    text = " ".join(p.extract_text() for p in PdfReader(str(out / "report.pdf")).pages)
    for title in ("Back-test", "Campaign effect and measured uplift", "Budget and profit curve", "Trends"):
        assert title in text
    dossier = (out / "dossier.html").read_text(encoding="utf-8")
    assert 'id="backtest"' in dossier
    zh = ctx.replace(lang="zh")
    out_zh = tmp_path / "zh-pdf"
    out_zh.mkdir()
    render.render_documents(zh, out_zh, formats=("html", "pdf"))
    zhtext = " ".join(p.extract_text() for p in PdfReader(str(out_zh / "report.pdf")).pages)
    for title in ("回测", "营销效果与实测挽留率", "预算与利润曲线", "趋势"):
        assert title in zhtext


def test_sections_say_why_when_not_measured(base):
    from churnlens.reports.sections import backtest as s_bt, budget as s_bu, uplift as s_up

    assert "--history" in _page(base, trend_section, "trend.html")
    assert "budget: total" in _page(base, s_bu, "budget.html")
    from churnlens.campaign.results import MeasuredCampaign

    from churnlens.campaign.results import CampaignEffect

    # the fixture's two months measure last month's list (and read a campaign file): the campaign
    # view is one section; "not shown" only when neither source exists
    neither = _page(base.replace(without=(MeasuredCampaign, CampaignEffect)), s_up, "uplift.html")
    assert "--outcomes" in neither and "--campaign" in neither and 'class="omitted"' in neither
    file_only = _page(base.replace(without=(MeasuredCampaign,)), s_up, "uplift.html")
    assert 'class="omitted"' not in file_only and "Source: Campaign file</th>" in file_only
    assert "Source: List</th>" not in file_only
    assert f"{base.campaign.overall.treated:,}" in file_only
    assert "--outcomes" in _page(base, s_bt, "backtest.html") or "In-sample" in _page(base, s_bt, "backtest.html")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_trend_page_follows_a_planted_merge_and_names_segments(base, lang):
    """Issue 31.6/31.7 on the trend page: last month S5 and S3 merged into S3 (month_summary's
    lineage); the S3 row adds up both parts before the merge, the page says the merge, and rows
    carry the segments' names, in both languages."""
    from churnlens.reports import words as w
    from churnlens.reports.catalogue import text

    ctx = base.replace(lang=lang)
    segs = tuple(SegmentSize(s.key, s.size, tuple(s.profile_features), tuple(s.profile)) for s in ctx.segments)
    by_key = {s.key: s for s in segs}
    before = tuple(SegmentSize(s.key, s.size - 5 if s.key == "S3" else s.size, s.features, s.signature)
                   for s in segs) + (SegmentSize("S5", 7, by_key["S3"].features, by_key["S3"].signature),)
    last = MonthSummary(period="2026-10", folder="m1", n_customers=1000, score_psi=None, auc=(0.8, 0.78, 0.82), ks=None,
                        segments=before, drivers=(), campaign=None)
    lineage = tuple((k, k, 1.0) for k in by_key) + (("S5", "S3", 1.0),)
    now = MonthSummary(period="2026-11", folder="m2", n_customers=1000, score_psi=0.01, auc=(0.8, 0.78, 0.82), ks=None,
                       segments=segs, drivers=(), campaign=None, lineage=lineage)
    tr = trend([last], now)
    s3 = next(r for r in tr.segments if r.key == "S3")
    assert s3.values == (by_key["S3"].size - 5 + 7, by_key["S3"].size) and s3.keys[0] == ("S3", "S5")
    page = _page(ctx.replace(trend=tr), trend_section, "trend.html")
    sentence = text(lang, "monitoring.lineage.merged", parts="S3" + text(lang, "monitoring.lineage.and") + "S5",
                    key="S3")
    assert str(escape(text(lang, "trend.event", period="2026-11", sentence=sentence))) in page
    for s in ctx.segments:
        assert str(escape(f"{s.key} · {w.segment_name(s, ctx.config, lang)}")) in page
    assert "S5" not in [r.key for r in tr.segments]  # S5 is part of S3's line, not a row of its own


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_loop_pages_say_a_planted_merge_and_name_segments(base, lang):
    """Issue 31.6/31.7 on the back-test and campaign pages: with S1 and S3 merged into S3 since last
    month, last month's S1 is shown as now S3 (with its name), S2 with its own name, and the
    campaign page says the merge its evidence followed."""
    import dataclasses

    from churnlens.reports import words as w
    from churnlens.reports.catalogue import text
    from churnlens.reports.sections import backtest as s_bt, uplift as s_up
    from churnlens.segmentation.results import KeyLink, LineageEvent

    ctx = base.replace(lang=lang)
    assert {h.key for h in ctx.backtest.hit_rates if h.group == "segment"} >= {"S1", "S2", "S3"}
    merged = dataclasses.replace(
        ctx.migration, events=(LineageEvent("merged", ("S1", "S3"), ("S3",), (0.6, 0.4)),),
        key_map=(KeyLink("S1", "S3", 1.0), KeyLink("S2", "S2", 1.0), KeyLink("S3", "S3", 1.0), KeyLink("S4", "S4", 1.0)))
    ctx = ctx.replace(migration=merged)
    names = {s.key: w.segment_name(s, ctx.config, lang) for s in ctx.segments}
    bt = _page(ctx, s_bt, "backtest.html")
    now = text(lang, "backtest.segment_now", key="S1", now=f"S3 · {names['S3']}")
    assert str(escape(text(lang, "backtest.group_segment", key=now))) in bt
    assert str(escape(text(lang, "backtest.group_segment", key=f"S2 · {names['S2']}"))) in bt
    up = _page(ctx, s_up, "uplift.html")
    sentence = text(lang, "monitoring.lineage.merged", parts="S1" + text(lang, "monitoring.lineage.and") + "S3",
                    key="S3")
    assert str(escape(sentence)) in up and str(escape(text(lang, "uplift.lineage_note"))) in up
    for e in ctx.measured.uplift:
        if e.segment:
            assert str(escape(f"{e.segment} · {names[e.segment]}")) in up
    # the campaign file's rows are in this month's segments too (last month's keys moved along the
    # lineage by the campaign step), named like the list's rows
    seg_word = text(lang, "uplift.level_segment")
    assert ctx.campaign.by_segment
    for e in ctx.campaign.by_segment:
        label = f"{e.population} · {names[e.population]}" if e.population in names else e.population
        assert str(escape(f"{seg_word}: {label}")) in up
