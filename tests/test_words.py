"""Numbers and words apart: stages return codes and numbers, only reports/ writes words, and
machine-readable outputs do not change with --lang."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from churnlens import cli
from churnlens.notes import Note
from churnlens.reports import words
from churnlens.reports.catalogue import catalogue

ROOT = Path(__file__).resolve().parent.parent
# compute modules: every stage and the orchestration (config holds the user's bilingual texts)
STAGES = [ROOT / "attribution", ROOT / "segmentation"] + [ROOT / "churnlens" / d for d in
                                                          ("actions", "evaluation", "monitoring", "campaign", "run")]
CJK = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")


def test_compute_modules_hold_no_words_of_a_language():
    found = []
    for folder in STAGES:
        for path in folder.rglob("*.py"):
            for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                # the orchestration hands --lang to the reports; stages never see it
                speaks = folder.name != "run" and re.search(r"\blang\b", line)
                if CJK.search(line) or re.search(r"\b\w+_(zh|en)\b", line) or speaks:
                    found.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()[:80]}")
    assert not found, "\n".join(found)


def test_every_note_code_a_stage_writes_is_worded_in_every_language():
    codes = set()
    for folder in STAGES:
        for path in folder.rglob("*.py"):
            codes |= set(re.findall(r'(?<!key=)"((?:churners|segmentation|quality|compare|campaign|monitoring)\.[a-z_]+)"',
                                    path.read_text(encoding="utf-8")))
    # built with f-strings by compare_models
    codes |= {"compare.higher_after_1", "compare.higher_after_2", "compare.metric_lift", "compare.metric_auc",
              "compare.metric_ks"}
    assert len(codes) > 25 and "segmentation.too_few" in codes
    for lang in ("en", "zh"):
        assert not sorted(c for c in codes if f"note.{c}" not in catalogue(lang)), lang
    # the clustering profile (profile.pca / direct / none) is worded by words.representation
    from types import SimpleNamespace

    for note in (Note.of("profile.pca", f=30, d=20, explained=0.931, n_zero=3), Note.of("profile.direct", f=8, n_zero=0),
                 Note.of("profile.none")):
        en, zh = (words.representation(SimpleNamespace(representation=note), lang) for lang in ("en", "zh"))
        assert en and zh and not CJK.search(en) and CJK.search(zh), note
    en = words.representation(SimpleNamespace(representation=Note.of("profile.pca", f=30, d=20, explained=0.931,
                                                                            n_zero=1234)), "en")
    assert "30 shares are reduced to 20 principal components (exact, 93.1% of their variance kept)" in en
    assert "1,234 churners had no risk-raising attribution and get a profile of zeros." in en


def test_note_wording_nests_and_prints_undefined_numbers():
    rule = Note.of("churners.score", threshold=0.3)
    note = Note.of("segmentation.no_churners", rule=rule)
    assert words.note_text(note, "en").startswith("No customer was selected as a churner (rule: "
                                                   "predicted churn probability >= 0.30)")
    assert "预测流失概率 ≥ 0.30" in words.note_text(note, "zh")
    groups = (Note.of("segmentation.diffuse_group", size=1200, similarity=0.41),
              Note.of("segmentation.diffuse_group", size=30, similarity=0.5))
    diffuse = Note.of("segmentation.diffuse", count=2, coherence=0.7, groups=groups)
    assert "1,200 churners (similarity 0.41), 30 churners (similarity 0.50)" in words.note_text(diffuse, "en")
    assert "1,200 人（相似度 0.41），30 人（相似度 0.50）" in words.note_text(diffuse, "zh")
    one = Note.of("compare.only_one", model="m.txt", lift=2.5, auc=None, ks=None)
    assert words.note_text(one, "en") == "Only one model (m.txt): top-decile lift 2.500, AUC n/a, KS n/a."
    assert words.notes_text((Note.of("segmentation.single", mcs=5, share=0.9, similarity=0.8),
                             Note.of("segmentation.others_mixed")), "en").endswith(
        "re-estimated. The others are shown as 'mixed reasons'.")


def _run(out: Path, lang: str) -> None:
    code = cli.main(["demo", "--customers", "600", "--out", str(out), "--lang", lang, "--format", "html",
                     "--generated-at", "2026-11-30T08:00:00+00:00", "--quiet"])
    assert code == 0


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    root = tmp_path_factory.mktemp("langs")
    for lang in ("en", "zh"):
        _run(root / lang, lang)
    return root / "en", root / "zh"


def test_machine_readable_outputs_do_not_change_with_lang(both):
    en, zh = both
    machine = sorted(p.relative_to(en) for p in en.rglob("*")
                     if p.is_file() and p.suffix in (".csv", ".json", ".parquet") and p.name != "manifest.json")
    assert {str(p) for p in machine} >= {"segments.csv", "retention_list.csv", "attributions.parquet",
                                         "segment_signatures.json", "reference_profile.json"}
    for rel in machine:
        assert (en / rel).read_bytes() == (zh / rel).read_bytes(), rel
    # the manifest differs only where it records the run: language, command line, output folder
    a, b = (json.loads((d / "manifest.json").read_text(encoding="utf-8")) for d in both)
    for m, d in ((a, en), (b, zh)):
        m.pop("lang"), m.pop("command")
        for k in ("report.html", "dossier.html", "cards.html", "retention_list.xlsx"):  # documents for people change with --lang
            m["outputs"].pop(k)
    def folders_out(m: dict) -> str:  # the output and staging folders are named after the language here
        return re.sub(r"/\.?(en|zh)(\.partial-[a-z0-9_]+)?/", "/OUT/", json.dumps(m, sort_keys=True))

    assert folders_out(a) == folders_out(b)
    # while the documents are in their language
    assert "执行摘要" in (zh / "report.html").read_text(encoding="utf-8")
    assert CJK.search(",".join((en / "segments.csv").read_text(encoding="utf-8").splitlines()[:50])) is None


def test_points_and_p_values_are_worded_as_points_and_bounds():
    from churnlens.reports import formatting

    assert formatting.pp(0.031) == "+3.1 pp" and formatting.pp(-0.0049, 2) == "-0.49 pp"
    assert formatting.pvalue(0.0004) == "< 0.001" and formatting.pvalue(0.0) == "< 0.001"
    assert formatting.pvalue(0.0123) == "0.012"
    assert formatting.money(43_812_345.0, "en", unit="EUR") == "43.8\u00a0M\u00a0EUR"
    assert formatting.money(43_812_345.0, "zh", unit="EUR") == "4,381.2\u00a0万\u00a0EUR"
    assert formatting.money(43_812_345.0, "en") == "43.8\u00a0M"


def test_the_summary_counts_one_segment_in_the_singular():
    from churnlens.reports.catalogue import text

    assert text("en", "summary.segments", n=1) == "churner segment"
    assert text("en", "summary.segments", n=2) == "churner segments"
    assert text("zh", "summary.segments", n=1) == text("zh", "summary.segments", n=2) == "流失客群"


def test_list_sizes_are_rounded_once_as_reason_text_rounds_them():
    """The list's vectorised wording and ``reason_text`` give the same size for the same value:
    26.54 pp is "+27" in both (rounding to tenths first made the list say "+26")."""
    import numpy as np

    from churnlens.config import Config
    from churnlens.reports import words as w

    config = Config.model_validate({"id_column": "customer_id"})
    pp = np.array([[26.54], [0.949], [0.96], [-3.5], [2.5], [0.05]])
    feats = np.array([["x"]] * len(pp), dtype=object)
    vals = np.array([[3.0]] * len(pp), dtype=object)
    listed = w._worded(config, "en", feats, vals, pp)
    assert [listed[i, 0] for i in range(len(pp))] == [w.reason_text("x", 3.0, config, "en", float(p)) for p in pp[:, 0]]
    assert listed[0, 0].endswith("(+27 pp)") and listed[1, 0].endswith("(+0.9 pp)") and listed[2, 0].endswith("(+1 pp)")


def test_no_catalogue_text_hedges_a_plural_with_parenthesised_s():
    """Counted texts say "1 group" / "2 groups" through their ``_one`` form, never "group(s)"."""
    hedged = [f"{lang}:{k}: {v[:60]}" for lang in ("en", "zh") for k, v in catalogue(lang).items()
              if re.search(r"\w\((s|es)\)", v)]
    assert not hedged, "\n".join(hedged)


@pytest.mark.parametrize("code, params, one, many", [
    ("backtest.outcomes_unmatched", {}, "1 outcome row matches no published customer and is left out.",
     "3 outcome rows match no published customer and are left out."),
    ("backtest.scores_without_outcome", {}, "1 published customer without an outcome is left out.",
     "3 published customers without an outcome are left out."),
    ("segmentation.diffuse_dropped", {"coherence": 0.7}, "1 group found by HDBSCAN did not share reasons (mean "
     "cosine similarity of its members'", "3 groups found by HDBSCAN did not share reasons (mean cosine "
     "similarity of their members'"),
    ("segmentation.joint", {}, "1 churner without a single material driver joined a segment: its largest",
     "3 churners without a single material driver joined a segment: their largest"),
])
def test_counted_notes_read_singular_for_one_and_plural_otherwise(code, params, one, many):
    name = "n" if code.startswith("backtest") else "count"
    assert words.note_text(Note.of(code, **{name: 1}, **params), "en").startswith(one)
    assert words.note_text(Note.of(code, **{name: 3}, **params), "en").startswith(many)
    zh_one, zh_many = (words.note_text(Note.of(code, **{name: k}, **params), "zh") for k in (1, 3))
    assert zh_one.replace("1", "3", 1) == zh_many and CJK.search(zh_one) and "(s)" not in zh_one


def test_counted_report_texts_are_singular_for_one_in_both_languages():
    from churnlens.reports.catalogue import text

    assert text("en", "uplift.when.months", n=1) == "in 1 month (this one)"
    assert text("en", "uplift.when.months", n=4) == "in 4 months, this one included"
    assert text("zh", "uplift.when.months", n=4) == "4 个月内（含本月）"
    intro = {n: text("en", "uplift.controls_intro", min_control=50, n=n, share="10%") for n in (1, 6)}
    assert "reach 50 within 1 month gets" in intro[1] and "reach 50 within 6 months gets" in intro[6]
    assert "在 6 个月内达不到 50 位" in text("zh", "uplift.controls_intro", min_control=50, n=6, share="10%")
    assert text("en", "trend.skipped", n=1).startswith("1 folder of the history folder has no month summary and is")
    assert text("en", "trend.skipped", n=2).startswith("2 folders of the history folder have no month summary and are")
    counts = dict(customers="600", attributed="600", churners="90")
    assert text("en", "notebook.counts", n=1, **counts).endswith("90 churners in 1 segment.")
    assert text("en", "notebook.counts", n=3, **counts).endswith("90 churners in 3 segments.")
    assert text("zh", "notebook.counts", n=1, **counts).endswith("分为 1 个客群。")
    assert text("en", "appendix.repr_zero", n="1").startswith(" 1 churner had no risk-raising attribution and gets")
    assert text("en", "appendix.repr_zero", n="12").startswith(" 12 churners had no risk-raising attribution and get")


def _flag_config():
    from churnlens.config import Config

    t = lambda en, zh: {"en": en, "zh": zh}  # noqa: E731
    return Config.model_validate({"features": {  # HasCrCard is 0/1 with no ``values:`` words
        "HasCrCard": {"label": t("Holds a credit card", "持有信用卡")},
        "IsActiveMember": {"label": t("Active member", "活跃客户"), "values": {0: t("inactive", "不活跃"), 1: t("active", "活跃")}},
        "NumOfProducts": {"label": t("Number of products held", "持有产品数")},
    }})


def test_a_flag_without_value_words_reads_with_or_without_it():
    import types

    from churnlens.attribution.results import RiskRange, RiskZone

    cfg, flags = _flag_config(), frozenset({"HasCrCard", "IsActiveMember"})
    d = lambda feature, **kw: types.SimpleNamespace(feature=feature, zones=(), dropped_zones=(), **kw)  # noqa: E731
    down, up = d("HasCrCard", risk_range=None, direction="down"), d("HasCrCard", risk_range=None, direction="up")
    cut = d("HasCrCard", risk_range=RiskRange("<", None, 1.0), direction="down")
    assert words.risk_text(cfg, down, "en", flags=flags) == "risk is higher without Holds a credit card"
    assert words.risk_text(cfg, cut, "en", flags=flags) == "risk is higher without Holds a credit card"
    assert words.risk_text(cfg, up, "en", flags=flags) == "risk is higher with Holds a credit card"
    assert words.risk_text(cfg, down, "zh", flags=flags) == "持有信用卡为“否”时风险更高"
    assert words.risk_text(cfg, d("HasCrCard", risk_range=RiskRange(">", 0.0, None), direction="up"), "zh",
                           flags=flags) == "持有信用卡为“是”时风险更高"
    zone = RiskZone(low=None, high=0.0, mean_attribution=0.12, n=300, share=0.3, value=0.0)
    zoned = d("HasCrCard", risk_range=None, direction="down")
    zoned.zones = (zone,)
    assert words.risk_text(cfg, zoned, "en", flags=flags) == "Holds a credit card: risk is highest without it (+0.12 log-odds)"
    assert words.risk_text(cfg, zoned, "zh", flags=flags) == "持有信用卡：风险最高的取值为“否”（+0.12对数几率）"
    # the dictionary's own words win; a count (not a flag) keeps its direction words
    assert words.risk_text(cfg, d("IsActiveMember", risk_range=None, direction="down"), "en", flags=flags) == \
        "risk rises when Active member is inactive"
    assert words.risk_text(cfg, d("NumOfProducts", risk_range=None, direction="down"), "en", flags=flags) == \
        "lower Number of products held raises risk"
    for lang in ("en", "zh"):
        for s in (words.risk_text(cfg, x, lang, flags=flags) for x in (down, up, cut, zoned)):
            assert not re.search(r"\b(lower|higher) Holds|越低|越高|< 1|> 0|at 0\b", s), s


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_drivers_page_words_a_data_flag_without_value_words_as_with_or_without(lang):
    """The demo dictionary gives ``has_insurance`` (0/1 in the data) no ``values:``: the drivers
    table and the executive summary read its side as with / without it, found from the data."""
    import dataclasses

    from churnlens.reports.sections import base, drivers as drivers_section, summary
    from tests.flow_fixture import build_context, relabel

    ctx = relabel(build_context(1500), lang)
    kit = base.Kit(ctx, base.Timings())
    assert {"has_insurance", "has_credit_card"} <= kit.binary and not ctx.config.features["has_insurance"].values
    ins = next(d for d in ctx.drivers.drivers if d.feature == "has_insurance")
    ins = dataclasses.replace(ins, direction="down", risk_range=None, zones=(), dropped_zones=())
    rest = tuple(d for d in ctx.drivers.drivers if d.feature != "has_insurance")
    ctx = ctx.replace(drivers=dataclasses.replace(ctx.drivers, drivers=(ins,) + rest))
    kit = base.Kit(ctx, base.Timings())
    label = ctx.config.label("has_insurance", lang)
    want = {"en": f"risk is higher without {label}", "zh": f"{label}为“否”时风险更高"}[lang]
    assert drivers_section.build(ctx, kit).rows[0].range_text == want
    assert summary.build(ctx, kit).drivers[0] == want


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_category_levels_in_driver_sentences_use_the_dictionary_and_yes_no_words(lang):
    """Telco levels: ``values:`` words a level; without them Yes/No read 是/否 in Chinese and any
    other level (``No internet service``) prints as the data spell it (docs/config.md says so)."""
    import types

    from churnlens.attribution.results import RiskRange
    from churnlens.config import Config

    t = lambda en, zh: {"en": en, "zh": zh}  # noqa: E731
    cfg = Config.model_validate({"features": {
        "OnlineSecurity": {"label": t("Online security", "网络安全服务"),
                           "values": {"No internet service": t("No internet service", "无互联网服务")}},
        "TechSupport": {"label": t("Tech support", "技术支持")}}})
    d = lambda f, cats: types.SimpleNamespace(feature=f, zones=(), dropped_zones=(), direction="mixed",  # noqa: E731
                                              risk_range=RiskRange("in", None, None, cats))
    worded = words.risk_text(cfg, d("OnlineSecurity", ("No internet service",)), lang)
    bare = words.risk_text(cfg, d("TechSupport", ("No", "No internet service")), lang)
    if lang == "zh":
        assert worded == "当网络安全服务为 无互联网服务 时风险上升"
        assert bare == "当技术支持为 否、No internet service 时风险上升"
    else:
        assert worded == "risk rises when Online security is No internet service"
        assert bare == "risk rises when Tech support is No, No internet service"
    doc = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert "`No internet service`" in doc and "是 / 否" in doc
