"""Issue 29: the documents equal the tables. The report is rendered on the real-shaped bank book
(tests/fixtures/bank_book.csv, the flow of tests/test_content_bank.py), every number of its plan
table is parsed back from the HTML and compared with tables/retention_plan.csv, and the headlines
with the same rows."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from churnlens.reports import formatting
from tests.fixtures import make_bank_book
from tests.test_content_bank import _run, _write_config, book, config, model_path  # noqa: F401 (fixtures)

BUDGET = {"total": 6000, "channels": {"phone": {"cost": 3, "capacity": 400}, "relationship_manager": {"cost": 25},
                                      "sms": {"cost": 0.5}}}


@pytest.fixture(scope="module")
def runs(model_path, tmp_path_factory):  # noqa: F811
    tmp = tmp_path_factory.mktemp("truth")
    plain = _write_config(tmp, config(), "plain.yaml")
    budgeted = _write_config(tmp, config(budget=BUDGET), "budget.yaml")
    out = {}
    for name, cfg in (("plain", plain), ("budget", budgeted)):
        for lang in ("en", "zh"):
            folder = tmp / f"{name}_{lang}"
            out[name, lang] = (_run(model_path, make_bank_book.CSV, cfg, folder, lang), folder)
    return out


class _Tables(HTMLParser):
    """Rows of the table with id ``table_id``: (data-segment of the row, cell texts)."""

    def __init__(self, table_id: str):
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append((a.get("data-segment"), []))
        elif self.inside and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1][1].append(re.sub(r"\s+", " ", "".join(self.cell)).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def table(html: str, table_id: str) -> list[tuple[str, list[str]]]:
    p = _Tables(table_id)
    p.feed(html)
    return p.rows


def _money(x: float, lang: str, unit: str = "EUR") -> str:
    return formatting.money(x, lang, unit=unit).replace("\u00a0", " ")


def _action_words(lang: str) -> dict[str, str]:
    """Machine (English) action words -> the report language's words, from the playbook."""
    return {r["action"]["en"]: r["action"][lang] for r in config()["playbook"]}


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", ["plain", "budget"])
def test_plan_table_is_retention_plan_csv(runs, name, lang):
    state, out = runs[name, lang]
    html = (out / "report.html").read_text(encoding="utf-8").replace("\u00a0", " ")
    csv = pd.read_csv(out / "tables" / "retention_plan.csv", keep_default_na=False, na_values=[""])
    csv = csv.fillna({"action": "", "channel": ""})
    rows = table(html, "plan-table")
    body = [(seg, cells) for seg, cells in rows if seg]  # header row has no data-segment, the total row ""
    total = [cells for seg, cells in rows if seg == ""]
    words = _action_words(lang)
    no_rule = {"en": "no matching playbook rule", "zh": "无匹配的策略规则"}[lang]
    got = []
    for seg, cells in body:
        cells = cells[1:] if len(cells) == 7 else cells  # the segment cell spans its rows
        action = cells[0].split(" · ")[0]
        got.append((seg, "" if action == no_rule else action, *cells[1:]))
    expected = [(r.segment, words[r.action] if r.action else "", formatting.num(r.customers), formatting.num(r.control),
                 _money(r.value_at_risk, lang), _money(r.expected_retained, lang), _money(r.cost, lang))
                for r in csv.itertuples()]
    assert sorted(got) == sorted(expected)
    assert len(got) == len(csv) and (csv["customers"] + csv["control"] > 0).all()
    # the totals row is the CSV's column sums
    assert total and total[0][2:] == [formatting.num(csv["customers"].sum()), formatting.num(csv["control"].sum()),
                                      _money(csv["value_at_risk"].sum(), lang),
                                      _money(csv["expected_retained"].sum(), lang), _money(csv["cost"].sum(), lang)]
    if name == "budget":  # channel costs are in: the plan's cost is the budget's spend
        spend = pd.read_csv(out / "tables" / "budget_channels.csv")["spend"].sum()
        assert csv["cost"].sum() == pytest.approx(spend)
        assert total[0][6] == _money(spend, lang)


@pytest.mark.parametrize("name", ["plain", "budget"])
def test_control_plan_page_is_control_plan_csv(runs, name):
    """The campaign page's control group per action is tables/control_plan.csv, cell by cell, in
    both languages; the CSV itself is the same bytes in both (machine words, action keys), and
    the raised actions hold at least round(target_share x listed) of the list as sent."""
    from churnlens.reports.catalogue import text

    csv_bytes = {lang: (runs[name, lang][1] / "tables" / "control_plan.csv").read_bytes() for lang in ("en", "zh")}
    assert csv_bytes["en"] == csv_bytes["zh"]
    for lang in ("en", "zh"):
        out = runs[name, lang][1]
        csv = pd.read_csv(out / "tables" / "control_plan.csv", keep_default_na=False, na_values=[""])
        assert list(csv.columns) == ["action", "listed", "control", "share", "target_share", "control_evidence",
                                     "measurable_in"]
        assert len(csv) and (csv["listed"] > 0).all()
        html = (out / "report.html").read_text(encoding="utf-8").replace("\u00a0", " ")
        rows = [cells for _, cells in table(html, "control-plan")][1:]  # the first row is the header
        words = _action_words(lang)

        def when(r) -> str:
            if pd.isna(r.measurable_in):
                return text(lang, "uplift.when.never" if r.listed else "uplift.when.not_listed")
            m = int(r.measurable_in)
            return text(lang, "uplift.when.now") if m == 0 else text(lang, "uplift.when.months", n=m)

        expected = [[words.get(r.action, r.action), formatting.num(r.listed), formatting.num(r.control),
                     formatting.pct(r.share), formatting.fixed(r.control_evidence, 1), when(r)]
                    for r in csv.itertuples()]
        assert rows == expected, (name, lang)
        # the CSV's numbers are those of the list as sent
        lst = pd.read_csv(out / "retention_list.csv", dtype={"customer_id": str}, keep_default_na=False)
        for r in csv.itertuples():
            arm = lst[lst["action"] == r.action]
            held = int(arm["control_group"].astype(bool).sum())
            assert (r.listed, r.control) == (len(arm), held), r
            assert r.share == pytest.approx(held / len(arm))
            if r.target_share > 0.1 + 1e-12:  # raised: its count at least, budget or not
                assert held >= int(r.target_share * len(arm) + 0.5), r


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_headlines_are_per_action_with_the_segments_contacts(runs, lang):
    _, out = runs["plain", lang]
    html = (out / "report.html").read_text(encoding="utf-8").replace("\u00a0", " ")
    summary = html[html.index('id="summary"'):html.index("</section>", html.index('id="summary"'))]
    csv = pd.read_csv(out / "tables" / "retention_plan.csv", keep_default_na=False, na_values=[""])
    csv = csv[csv["action"].fillna("") != ""]
    words = _action_words(lang)
    seg_total = csv.groupby("segment")["customers"].sum()
    all_total = pd.read_csv(out / "tables" / "retention_plan.csv").groupby("segment")["customers"].sum()
    lines = re.findall(r"<li>(S\d+|MIX)[:：](.*?)</li>", summary)
    expected = set()
    for r in csv[csv["customers"] > 0].itertuples():
        k, n = formatting.num(r.customers), formatting.num(all_total[r.segment])
        text = (f" {words[r.action]} " if lang == "en" else words[r.action])
        expected.add((r.segment, text, k, n))
    got = set()
    for key, rest in lines:
        m = re.search(r"— (\d[\d,]*) of (\d[\d,]*) contacts?$", rest) if lang == "en" else \
            re.search(r"需联系的 (\d[\d,]*) 位客户中 (\d[\d,]*) 位$", rest)
        assert m, rest
        k, n = (m.group(1), m.group(2)) if lang == "en" else (m.group(2), m.group(1))
        action = rest.split("(" if lang == "en" else "（")[0]
        got.add((key, action, k, n))
    assert got == expected
    assert seg_total.sum() <= all_total.sum()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_segment_pages_count_each_action_as_the_plan(runs, lang):
    _, out = runs["plain", lang]
    html = (out / "report.html").read_text(encoding="utf-8").replace("\u00a0", " ")
    csv = pd.read_csv(out / "tables" / "retention_plan.csv", keep_default_na=False, na_values=[""])
    csv = csv[csv["action"].fillna("") != ""]
    words = _action_words(lang)
    for seg, rows in csv.groupby("segment"):
        start = html.index(f'id="segment-{seg}"') if f'id="segment-{seg}"' in html else None
        if start is None:
            continue
        page = html[start:html.index("</section>", start)]
        for r in rows.itertuples():
            assert words[r.action] in page
            phrase = (f"{formatting.num(r.customers)} of " if lang == "en"
                      else f"中 {formatting.num(r.customers)} 位，对照组 {formatting.num(r.control)} 位")
            assert phrase in page, (seg, r.action)


# --- the executive summary carries the run's verdicts; every figure says what it was measured on ---

import dataclasses  # noqa: E402

import numpy as np  # noqa: E402

from churnlens import reports  # noqa: E402
from churnlens.evaluation import backtest as bt  # noqa: E402
from churnlens.monitoring.results import Trend, TrendPoint  # noqa: E402
from tests.flow_fixture import build_context, relabel  # noqa: E402


def _section(html: str, sid: str) -> str:
    start = html.index(f'id="{sid}"')
    return html[start:html.index("</section>", start)]


@pytest.fixture(scope="module")
def loop_ctx():
    """The fixture run with a red trend verdict and a back-test of last month's scores whose AUC is
    well below the in-sample one (the scored table looks like training data)."""
    ctx = build_context(1500)
    rng = np.random.default_rng(5)
    y = (rng.random(800) < 0.2).astype(int)
    noisy = np.clip(0.2 + 0.15 * y + rng.normal(0, 0.2, 800), 0.001, 0.999)  # a weak ranking: AUC ~ 0.7
    back = dataclasses.replace(bt.in_sample(y, noisy, n_boot=20, seed=0), basis="backtest",
                               score_source="scores", outcome_source="outcomes_file", notes=())
    point = lambda period, psi, pv, drop, av: TrendPoint(period, 1500, None, None, psi, pv, drop, av, None)  # noqa: E731
    trend = Trend(points=(point("2026-10", None, "none", None, "none"), point("2026-11", 0.31, "red", 0.012, "green")),
                  segments=(), drivers=(), reference_auc=0.8, psi_thresholds=(0.1, 0.25),
                  auc_drop_thresholds=(0.02, 0.05), verdict="red", n_skipped=0)
    return ctx.replace(backtest=back, trend=trend)


@pytest.fixture(scope="module")
def loop_html(loop_ctx, tmp_path_factory):
    out = {}
    for lang in ("en", "zh"):
        d = tmp_path_factory.mktemp(f"loop_{lang}")
        reports.render_documents(relabel(loop_ctx, lang), d, formats=("html",))
        out[lang] = {n: html.unescape((d / f"{n}.html").read_text(encoding="utf-8")).replace("\u00a0", " ")
                     for n in ("report", "dossier")}
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_executive_summary_carries_the_red_verdict_and_the_model_warning(loop_ctx, loop_html, lang):
    summary = _section(loop_html[lang]["report"], "summary")
    red = {"en": "Monitoring verdict this month: red", "zh": "本月监控结论：红"}[lang]
    assert red in summary and "0.310" in summary
    q_auc, b_auc = loop_ctx.quality.auc, loop_ctx.backtest.auc.value
    assert q_auc - b_auc >= bt.TRAINING_GAP  # the planted gap: the warning must be shown
    warning = {"en": "looks like the model's training data", "zh": "训练数据"}[lang]
    assert warning in summary
    assert f"{q_auc:.3f}" in summary and f"{b_auc:.3f}" in summary and f"{q_auc - b_auc:+.3f}" in summary


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_page_with_model_figures_says_in_or_out_of_sample(loop_ctx, loop_html, lang):
    words = {"en": ("In-sample", "Out-of-sample", "Gap"), "zh": ("样本内", "样本外", "差距")}[lang]
    q_auc, b_auc = loop_ctx.quality.auc, loop_ctx.backtest.auc.value
    for doc, sid in (("report", "performance"), ("dossier", "quality")):
        page = _section(loop_html[lang][doc], sid)
        assert all(w in page for w in words), (doc, sid)
        assert f"{q_auc:.3f}" in page and f"{b_auc:.3f}" in page and f"{q_auc - b_auc:+.3f}" in page
        # the AUC tile is labelled in-sample
        assert {"en": "AUC · in-sample", "zh": "AUC · 样本内"}[lang] in page
    segments = _section(loop_html[lang]["report"], "segments")
    if loop_ctx.segment_rules is not None and loop_ctx.quality is not None:
        assert words[0] in segments


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_without_outcomes_the_figures_say_in_sample_only(lang, tmp_path):
    from churnlens.evaluation.results import BackTest

    # the fixture's second month back-tests last month's scores: the same run without them
    ctx = relabel(build_context(1500).replace(without=(BackTest,)), lang)
    assert ctx.backtest is None and ctx.quality is not None and ctx.trend is None
    reports.render_documents(ctx, tmp_path, formats=("html",))
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    perf = _section(html, "performance")
    assert {"en": "No out-of-sample figure", "zh": "无样本外结果"}[lang] in perf
    assert {"en": "Out-of-sample:", "zh": "样本外："}[lang] not in perf
    summary = _section(html, "summary")
    assert {"en": "Monitoring verdict", "zh": "本月监控结论"}[lang] not in summary


# --- words a bank uses: one term per concept, full-width punctuation in Chinese ---------------------

from churnlens.reports.catalogue import catalogue  # noqa: E402

# variants of a glossary concept that a banker would misread (风险价值 reads as VaR) or that
# name one concept twice; the catalogue's glossary holds the one term
VARIANTS = {
    "value_at_risk": {"zh": ("风险价值", "预期流失价值", "流失价值"), "en": ("VaR", "expected loss")},
    "expected_retained": {"zh": ("挽留资产", "预期挽留"), "en": ()},
    "segment": {"zh": ("细分群体", "细分群", "分组客群"), "en": ()},
    "control_group": {"zh": ("控制组", "对照群"), "en": ("holdout", "hold-out group")},
    "contacted": {"zh": ("干预组", "处理组", "实验组"), "en": ("treated", "treatment")},
    "in_sample": {"zh": ("训练集内",), "en": ("in sample",)},
    "out_of_sample": {"zh": ("训练集外",), "en": ("out of sample",)},
}


def _texts(lang: str) -> dict[str, str]:
    """Catalogue texts without their placeholders ({min_treated} names a parameter, not a word)."""
    return {k: re.sub(r"\{[^}]*\}", "", v) for k, v in catalogue(lang).items() if not k.startswith("glossary.")}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_catalogue_uses_only_the_glossary_term_of_each_concept(lang):
    terms = {k.split(".", 1)[1]: v for k, v in catalogue(lang).items() if k.startswith("glossary.")}
    assert set(VARIANTS) <= set(terms)
    texts = _texts(lang)
    for concept, variants in VARIANTS.items():
        assert terms[concept] and all(v.lower() not in terms[concept].lower() for v in variants[lang])
        bound = r"\b" if lang == "en" else ""
        bad = [(k, v) for k, t in texts.items() for v in variants[lang]
               if re.search(bound + re.escape(v) + bound, t, re.I)]
        assert not bad, (concept, bad)
    # the glossary's term is the one in use
    for concept in ("value_at_risk", "segment", "control_group", "in_sample", "out_of_sample"):
        assert any(terms[concept].lower() in t.lower() for t in texts.values()), concept


CJK = r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]"
ASCII_PUNCT = re.compile(CJK + r" ?[,;:!?]|[,;:!?] ?" + CJK)


def test_chinese_catalogue_has_full_width_punctuation():
    bad = [(k, t) for k, t in _texts("zh").items() if ASCII_PUNCT.search(t)]
    assert not bad


def _visible_text(page: str) -> str:
    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<img[^>]*>", " ", page)
    return html.unescape(re.sub(r"<[^>]+>", "\n", page))


def test_chinese_documents_have_full_width_punctuation_and_bank_terms(runs):
    _, out = runs["plain", "zh"]
    for doc in ("report.html", "dossier.html"):
        text = _visible_text((out / doc).read_text(encoding="utf-8"))
        assert not [m.group(0) for m in ASCII_PUNCT.finditer(text)], doc
        for concept, variants in VARIANTS.items():
            assert not [v for v in variants["zh"] if v in text], (doc, concept)
    report = _visible_text((out / "report.html").read_text(encoding="utf-8"))
    summary = report[report.index("执行摘要"):report.index("流失客群", report.index("执行摘要") + 10)]
    assert "对数几率" not in summary and "潜在流失资产" in report


# --- units, plurals, whole-number thresholds, dictionary words for 0/1 ---------------------------

from churnlens.config import Config  # noqa: E402
from churnlens.reports import words as w  # noqa: E402
from churnlens.segmentation.results import Condition  # noqa: E402


def _cfg() -> Config:
    t = lambda en, zh: {"en": en, "zh": zh}  # noqa: E731
    return Config.model_validate({"features": {
        "Age": {"label": t("Age", "年龄"), "unit": t("years", "岁")},
        "Tenure": {"label": t("Years with the bank", "开户年限"), "unit": "years"},
        "NumOfProducts": {"label": t("Number of products held", "持有产品数")},
        "IsActiveMember": {"label": t("Active member", "活跃客户"), "values": {0: t("inactive", "不活跃"), 1: t("active", "活跃")}},
    }})


def test_a_bilingual_unit_words_age_in_years_and_sui():
    cfg = _cfg()
    spec = cfg.features["Age"]
    assert w.feature_value(45, unit=spec.unit, lang="en") == "45 years"
    assert w.feature_value(45, unit=spec.unit, lang="zh") == "45岁"
    assert w.reason_text("Age", 45.0, cfg, "zh") == "年龄：45岁"


@pytest.mark.parametrize("value, en", [(1, "1 year"), (2, "2 years"), (1.5, "1.5 years")])
def test_units_are_singular_for_one(value, en):
    assert w.feature_value(value, unit="years", lang="en") == en
    assert "years" not in w.feature_value(1, unit="years", lang="en")


def test_integer_thresholds_and_dictionary_words_for_binary_splits():
    cfg = _cfg()
    ints = w.integer_features(pd.DataFrame({"NumOfProducts": [1.0, 2.0, 4.0], "Balance": [1.5, 2.0, 3.0],
                                            "IsActiveMember": [0, 1, 1]}))
    assert ints == {"NumOfProducts", "IsActiveMember"}
    gt = Condition("NumOfProducts", ">", 2.5)
    le = Condition("NumOfProducts", "<=", 1.5)
    assert w.condition_text(gt, cfg, "en", integers=ints) == "Number of products held: 3 or more"
    assert w.condition_text(le, cfg, "en", integers=ints) == "Number of products held: 1 or fewer"
    assert w.condition_text(gt, cfg, "zh", integers=ints) == "持有产品数：3及以上"
    # without the knowledge that the column holds whole numbers, the split is printed as found
    assert w.condition_text(gt, cfg, "en") == "Number of products held > 2.5"
    active = Condition("IsActiveMember", "<=", 0.5)
    assert w.condition_text(active, cfg, "en", integers=ints) == "Active member: inactive"
    assert w.condition_text(Condition("IsActiveMember", ">", 0.5), cfg, "zh") == "活跃客户：活跃"


# --- the dossier states facts as they are ---------------------------------------------------------

from churnlens.attribution.io import read_attributions, stored_additivity_error, write_attributions  # noqa: E402
from churnlens.attribution.results import RegistryInfo  # noqa: E402
from churnlens.reports.sections.run_record import reproduce_command  # noqa: E402


def test_reproduce_command_works_from_any_folder():
    r = reproduce_command("churnlens report --model model.txt --data in/customers.csv --out report", "2026-11-30",
                          ("/data/bank/model.txt", "/data/bank/in/customers.csv"))
    assert r.command.startswith("cd /data/bank && churnlens report --model model.txt")
    assert r.compare.startswith("cd /data/bank && diff -r")
    absolute = reproduce_command("churnlens report --model /m/model.txt --out /r/out", "2026", ("/m/model.txt",))
    assert not absolute.command.startswith("cd ")


def test_stored_precision_is_what_a_reader_of_the_file_can_verify(tmp_path):
    ctx = build_context(1500)
    a = ctx.attributions
    write_attributions(tmp_path / "attributions.parquet", a)
    back = read_attributions(tmp_path / "attributions.parquet")
    output = back.raw_score if back.output_space == "log_odds" else back.score
    recomputed = float(np.max(np.abs(back.base_value + back.values.astype(np.float64).sum(axis=1) - output)))
    assert stored_additivity_error(a) == pytest.approx(recomputed, rel=1e-9)
    assert recomputed > a.additivity_max_error  # float32 storage loses precision: the dossier says so


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_dossier_names_a_registry_model_and_keeps_hashes_whole(lang, tmp_path):
    ctx = build_context(1500)
    reg = RegistryInfo(uri="models:/churn/Production", registry_uri="sqlite:///mlflow.db", tracking_uri="",
                       flavor="lightgbm", name="churn", version="7", run_id="0123456789abcdef0123456789abcdef")
    ctx = relabel(ctx.replace(facts=dataclasses.replace(
        ctx.facts, model=dataclasses.replace(ctx.facts.model, registry=reg, path="Production"))), lang)
    reports.render_documents(ctx, tmp_path, formats=("html",))
    dossier = (tmp_path / "dossier.html").read_text(encoding="utf-8")
    card = _section(dossier, "model-card")
    for fact in ("models:/churn/Production", ">churn<", ">7<", reg.run_id):
        assert fact in card, fact
    assert ">Production<" not in card
    sha = ctx.facts.model.sha256
    assert f'<span class="hash">{sha}</span>' in card  # whole, in the unbreakable mono span
    css = (Path(reports.__file__).parent / "templates" / "base.css").read_text(encoding="utf-8")
    rule = re.search(r"\n\.hash \{([^}]*)\}", css).group(1)
    assert "white-space: nowrap" in rule and "break-all" not in rule
    additivity = _section(dossier, "additivity")
    assert "float32" in additivity


def test_readme_method_paragraph_is_the_catalogues_method_text():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Method in brief"):]
    section = re.sub(r"\s+", " ", section[:section.index("\n## ")])
    brief = re.sub(r"\s+", " ", catalogue("en")["appendix.method_brief"])
    assert brief[0].lower() + brief[1:] in section
    assert "via each library's own implementation" not in readme


# --- item 6 on the rendered documents: shares, amounts, whole-number bands, plurals, plain summary --

def _page_traits(html_text: str, lang: str) -> list[list[str]]:
    """Rows of every segment page's "distinguishing traits" table (label, segment, others, d)."""
    head = catalogue(lang)["col.trait"]
    rows = []
    for m in re.finditer(r'<section id="segment-[^"]+"', html_text):
        page = html_text[m.start():html_text.index("</section>", m.start())]
        for t in re.findall(r"<table[^>]*>.*?</table>", page, flags=re.S):
            parser = _Tables("x")
            parser.feed(re.sub(r"<table[^>]*>", '<table id="x">', t, count=1))
            if parser.rows and parser.rows[0][1][:1] == [head]:
                rows.extend(c for _, c in parser.rows[1:])
    return rows


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_trait_means_are_shares_and_amounts_in_words(runs, lang):
    _, out = runs["plain", lang]
    page = html.unescape((out / "report.html").read_text(encoding="utf-8")).replace("\u00a0", " ")
    rows = _page_traits(page, lang)
    assert rows, "no segment page shows its traits"
    label = {"en": ("Country: ", "Account balance", "Active member: "), "zh": ("所在国家：", "账户余额", "活跃客户：")}[lang]
    for name, seg, other, d in rows:
        assert re.fullmatch(r"[+-]\d+\.\d\d", d), d
        for v in (seg, other):
            assert not re.fullmatch(r"-?[\d,]+\.\d\d", v) or float(v.replace(",", "")) < 100, (name, v)  # no "71641.68"
        if name.startswith(label[0]) or name.startswith(label[2]):  # a level's or a flag's share
            assert seg.endswith("%") and other.endswith("%"), (name, seg, other)
        if name == label[1]:  # an amount with its unit
            assert seg.endswith("EUR") and other.endswith("EUR"), (name, seg, other)
    assert not any(n == {"en": "Active member", "zh": "活跃客户"}[lang] for n, *_ in rows)  # the flag says its level


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_whole_number_bands_and_plurals_on_the_rendered_report(runs, lang):
    _, out = runs["plain", lang]
    text_ = _visible_text((out / "report.html").read_text(encoding="utf-8")).replace("\u00a0", " ")
    # a band [2, 3) of a count is 2: no "2–3" where the next band starts at 3
    prof = pd.read_csv(out / "tables" / "segment_profiles.csv", keep_default_na=False, na_values=[""], dtype={"level": str})
    bands = prof[(prof["feature"] == "NumOfProducts") & (prof["stat"] == "band") & prof["level"].str.startswith("[")]
    for level in set(bands["level"]):
        lo, hi = (float(x) for x in level.strip("[)").split(","))
        if hi == lo + 1:
            assert f"{feature_label(lang)}{colon(lang)}{int(lo)}–{int(hi)}" not in text_
            assert f"{feature_label(lang)}{colon(lang)}{int(lo)}至{int(hi)}" not in text_
    if lang == "en":
        assert not re.search(r"(?<![\d.,])1 (probability points|churners|years|groups|segments|pairs)\b", text_)
        summary = text_[text_.index("Executive summary"):text_.index("Churner segments", text_.index("Executive summary"))]
        assert "log-odds" not in summary


def feature_label(lang: str) -> str:
    return {"en": "Number of products held", "zh": "持有产品数"}[lang]


def colon(lang: str) -> str:
    return {"en": ": ", "zh": "："}[lang]


def test_words_for_levels_and_plural_texts():
    from churnlens.reports.catalogue import text as t

    assert w.feature_value("No", lang="zh") == "否" and w.feature_value("Yes", lang="zh") == "是"
    assert w.feature_value("No", lang="en") == "No"
    assert t("en", "dictionary.reasons_one", k=3, pp=1).count("1 probability point ") == 1
    assert t("en", "note.segmentation.unstable", count=1, threshold=0.6).startswith("1 segment was ")
    assert t("en", "note.segmentation.unstable", count=2, threshold=0.6).startswith("2 segments were ")
    assert t("en", "material.overlap_intro", n="1", share="0.1%").startswith("1 churner (")
    assert not [k for k, v in catalogue("en").items() if "(s)" in v and f"{k}_one" in catalogue("en")]


# --- item 1: drivers, model quality and back-test tables are the files' rows ---------------------

def _section_tables(page: str, sid: str) -> list[list[list[str]]]:
    """Every table of section ``sid``: rows of cell texts (header row first)."""
    section = _section(page, sid)
    out = []
    for t in re.findall(r"<table[^>]*>.*?</table>", section, flags=re.S):
        parser = _Tables("x")
        parser.feed(re.sub(r"<table[^>]*>", '<table id="x">', t, count=1))
        out.append([cells for _, cells in parser.rows])
    return out


def _ci(value: float, low: float, high: float, digits: int) -> str:
    f = formatting.fixed
    return f"{f(value, digits)} [{f(low, digits)}, {f(high, digits)}]"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_drivers_table_is_drivers_csv(runs, lang):
    _, out = runs["plain", lang]
    page = html.unescape((out / "report.html").read_text(encoding="utf-8")).replace("\u00a0", " ")
    csv = pd.read_csv(out / "tables" / "drivers.csv").drop_duplicates("rank").sort_values("rank")
    csv = csv[~csv["protected"].astype(bool)]  # the report keeps protected drivers out (the dossier shows them)
    labels = {f: s["label"][lang] for f, s in config()["features"].items()}
    sources = {"Geo_France": "Geo", "Geo_Germany": "Geo", "Geo_Spain": "Geo", "Gender_Female": "Gender", "Gender_Male": "Gender"}
    rows = _section_tables(page, "drivers")[0][1:]
    assert rows and len(rows) <= len(csv)
    for cells, r in zip(rows, csv.itertuples()):
        assert cells[0] == labels.get(r.feature, labels.get(sources.get(r.feature, ""), r.feature)), (cells, r.feature)
        assert cells[1] == catalogue(lang)[f"group.{r.group}"]
        assert cells[2] == formatting.pct(r.share)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_segment_quality_and_in_sample_figures_are_their_csvs(runs, lang):
    _, out = runs["plain", lang]
    page = html.unescape((out / "report.html").read_text(encoding="utf-8")).replace("\u00a0", " ")
    quality = pd.read_csv(out / "tables" / "segment_quality.csv")
    head = catalogue(lang)["material.col_pop_auc"]
    tables = [t for t in _section_tables(page, "segments") if t and t[0] and t[0][-1] == head]
    assert len(tables) == 1
    got = {cells[0].split(" · ")[0]: cells[1:] for cells in tables[0][1:]}
    assert set(got) == set(quality["segment"])
    for r in quality.itertuples():
        assert got[r.segment] == [formatting.num(r.churners), formatting.pct(r.rule_precision),
                                  formatting.pct(r.rule_coverage), formatting.pct(r.member_churn_rate),
                                  formatting.num(r.population_n), formatting.pct(r.population_churn_rate),
                                  formatting.fixed(r.population_auc, 3)], r.segment
    # the performance page's in-sample tiles are tables/in_sample.csv
    ins = pd.read_csv(out / "tables" / "in_sample.csv").iloc[0]
    perf = _section(page, "performance")
    kpis = re.findall(r'<span class="v">([^<]*)</span>', perf)
    assert kpis[:3] == [formatting.fixed(ins["auc"], 3), formatting.fixed(ins["ks"], 3), formatting.fixed(ins["brier"], 4)]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_backtest_table_is_the_backtest_and_in_sample_csvs(loop_ctx, loop_html, lang):
    from churnlens.run.loop_files import loop_tables

    files = loop_tables(loop_ctx.results)  # the frames written as tables/backtest.csv and tables/in_sample.csv
    rows = _section_tables(loop_html[lang]["report"], "backtest")[0][1:]
    expected = []
    for name in ("backtest", "in_sample"):
        r = files[name].iloc[0]
        expected.append([catalogue(lang)[f"backtest.basis_{r['basis']}"], formatting.num(r["n"]),
                         _ci(r["auc"], r["auc_low"], r["auc_high"], 3), _ci(r["ks"], r["ks_low"], r["ks_high"], 3),
                         _ci(r["brier"], r["brier_low"], r["brier_high"], 4),
                         _ci(r["top_decile_lift"], r["top_decile_lift_low"], r["top_decile_lift_high"], 2)])
    assert rows == expected


def test_a_flag_reads_in_the_dictionarys_words_in_every_driver_sentence():
    import types

    cfg = _cfg()
    rr = lambda op, low, high: types.SimpleNamespace(op=op, low=low, high=high, categories=())  # noqa: E731
    driver = lambda **kw: types.SimpleNamespace(feature="IsActiveMember", zones=(), dropped_zones=(), **kw)  # noqa: E731
    assert w.risk_text(cfg, driver(risk_range=rr("<", None, 1.0), direction="down"), "en") == \
        "risk rises when Active member is inactive"
    assert w.risk_text(cfg, driver(risk_range=None, direction="down"), "en") == "risk rises when Active member is inactive"
    assert "不活跃" in w.risk_text(cfg, driver(risk_range=rr("<", None, 1.0), direction="down"), "zh")
    assert "< 1" not in w.risk_text(cfg, driver(risk_range=rr("<", None, 1.0), direction="down"), "en")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_example_customers_reasons_are_the_lists_words_with_their_sizes(runs, lang):
    """A segment page's example customers carry the retention list's reasons, sized ("(+52 pp)")
    exactly as the list words them (issue 29: the PDF's examples had no sizes)."""
    _, out = runs["plain", lang]
    page = (out / "report.html").read_text(encoding="utf-8")
    lst = pd.read_csv(out / "retention_list.csv", dtype={"customer_id": str}, keep_default_na=False)
    from churnlens.io.tables import mask_id

    by_mask = lst.assign(m=lst["customer_id"].map(mask_id)).groupby("m")
    reason_cols = [c for c in lst.columns if re.fullmatch(r"reason_\d+", c)]
    sep = "; " if lang == "en" else "；"
    rows = re.findall(r'<table class="keep examples">(.*?)</table>', page, flags=re.S)
    assert rows
    checked = 0
    for table in rows:
        for masked, score, reasons in re.findall(
                r"<tr><td><code>(.*?)</code></td><td[^>]*>(.*?)</td><td>(.*?)</td></tr>", table):
            shown = [r for r in html.unescape(reasons).split(sep) if r]
            assert shown and all(re.search(r"\(([+-][\d.]+) pp\)$" if lang == "en" else r"（[+-][\d.]+个百分点）$", r)
                                 for r in shown), shown
            masked = html.unescape(masked)
            same = by_mask.get_group(masked) if masked in by_mask.groups else lst.iloc[:0]
            same = same[[formatting.pct(float(x)) == html.unescape(score).strip() for x in same["score"]]]
            if len(same) == 1:  # the example is this listed customer (masked id and score agree)
                row = same.iloc[0]
                if lang == "en":  # the list is worded in English
                    assert shown == [row[c] for c in reason_cols if row[c]][: len(shown)]
                checked += 1
    assert checked
