"""The dossier a model-risk team can file (issue 33 item 6; issue 32 item 3; issue 29 item 4):
purpose and out-of-scope uses, the JR/T 0287-2023 disclosure headings mapped to the sections,
data lineage with the do-not-contact match count, reasons month to month recomputed from both
months' stored attributions, what changed since last month against the previous manifest, and
the facts of model identity, cross-check, stored precision and reproduction.

Every check parses the rendered HTML (both languages) of the real-flow fixture
(tests/flow_fixture.py); planted changes are written into a copy of last month's manifest.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnlens import reports
from churnlens.attribution import read_attributions
from churnlens.evaluation.backtest import read_published
from churnlens.monitoring.changes import month_changes
from churnlens.monitoring.results import DataSchema, MonthChanges, ReasonShift
from churnlens.reports.catalogue import catalogue, text
from churnlens.reports.context import InputFile, ReportContext
from churnlens.reports.sections import DOSSIER
from churnlens.reports.sections.filing import JRT_0287, TITLES
from churnlens.results import InputChecks
from churnlens.run.request import ReportRequest
from churnlens.run.write import manifest
from tests.flow_fixture import build_context, relabel

# the seven disclosure contents of JR/T 0287-2023 in the standard's wording (public summary, see
# the catalogue's disclosure.source): the Chinese edition carries them verbatim
JRT_HEADINGS_ZH = ("算法组合信息披露", "算法逻辑信息披露", "算法应用信息披露", "算法数据信息披露", "算法主体信息披露",
                   "算法变更信息披露", "算法审计信息披露")
FILING_ORDER = ("purpose", "disclosure", "model-card", "data", "dictionary", "method", "additivity", "cross-check",
                "segmentation", "claims", "interactions", "quality", "d-score-distribution", "backtest", "fairness",
                "psi", "reason-shift", "changes", "limitations", "versions", "reproduce", "signoff")


class Page(HTMLParser):
    """Section ids in order, each table's rows (cell texts) by table id, and each section's links."""

    def __init__(self, page: str):
        super().__init__()
        self.sections, self.tables, self.links = [], {}, {}
        self._table = self._cell = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id", ""))
        elif tag == "table":
            self._table = a.get("id") or f"#{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "a" and self.sections:
            self.links.setdefault(self.sections[-1], []).append(a.get("href", ""))

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _section(page: str, sid: str) -> str:
    part = page[page.index(f'<section id="{sid}"'):]
    return part[:part.index("</section>")]


def _words(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).replace("\u00a0", " ")


@pytest.fixture(scope="module")
def ctx():
    return build_context(1500)


def _render(c: ReportContext, folder: Path) -> str:
    """The dossier's HTML as render_documents writes it (only the dossier is built: faster)."""
    from unittest import mock

    from churnlens.reports import render

    with mock.patch.object(render, "DOCUMENTS", {"dossier": DOSSIER}):
        reports.render_documents(c, folder, formats=("html",))
    return (folder / "dossier.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def dossier(ctx, tmp_path_factory):
    return {lang: _render(relabel(ctx, lang), tmp_path_factory.mktemp(f"filing_{lang}")) for lang in ("en", "zh")}


# --- order, purpose, disclosure headings ---------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_dossier_reads_in_filing_order_with_purpose_and_out_of_scope_uses(dossier, lang):
    page = Page(dossier[lang])
    assert tuple(page.sections) == ("cover", "toc") + FILING_ORDER
    purpose = _words(_section(dossier[lang], "purpose"))
    for key in ("purpose.purpose", "purpose.out_of_scope_title", "purpose.out_of_scope_1", "purpose.source"):
        assert text(lang, key) in purpose, key
    assert {"en": "Credit decisions", "zh": "任何信贷决策"}[lang] in purpose
    assert text(lang, "purpose.owner", institution="Demo Bank") in purpose


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_disclosure_table_maps_every_jrt_0287_heading_to_sections_of_this_dossier(dossier, lang):
    page = Page(dossier[lang])
    rows = page.tables["disclosure-map"][1:]
    assert len(rows) == 7
    if lang == "zh":  # the standard's own wording
        assert tuple(r[0] for r in rows) == JRT_HEADINGS_ZH
    else:
        assert tuple(r[0] for r in rows) == tuple(text("en", f"disclosure.{k}") for k, _ in JRT_0287)
    # every heading is covered by at least one section, each linked to a section present in the document
    titles = {s.id: text(lang, s.title_key) for s in DOSSIER}
    for (key, ids), row in zip(JRT_0287, rows):
        assert ids and row[2] == text(lang, "meta.sep_list").join(titles[i] for i in ids), key
    links = page.links["disclosure"]
    assert links and {h.lstrip("#") for h in links} <= set(page.sections)
    # which mapping was used is said in the dossier itself, honestly
    source = _words(_section(dossier[lang], "disclosure"))
    assert text(lang, "disclosure.source") in source
    assert {"en": "not taken from the standard's own text", "zh": "并非摘自标准原文"}[lang] in source


# --- data lineage and the do-not-contact line ----------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_data_lineage_states_period_time_volume_and_every_checksum_outcomes_included(ctx, lang, tmp_path):
    outcomes = InputFile("outcomes", "/data/bank/outcomes-2026-10.csv", "12" * 32, 1_432)
    c = relabel(ctx.replace(facts=dataclasses.replace(ctx.facts, inputs=ctx.facts.inputs + (outcomes,))), lang)
    page = _render(c, tmp_path)
    tables = Page(page).tables
    lineage = dict(tables["data-lineage"][1:])
    assert lineage[text(lang, "dossier.lineage_period")] == "2026-11"
    assert lineage[text(lang, "dossier.lineage_customers")] == "1,500"
    assert "2026" in lineage[text(lang, "dossier.lineage_generated")]
    inputs = {r[0]: r for r in tables["data-inputs"][1:]}
    assert inputs[text(lang, "role.data")][1:] == ["customers.csv", "cd" * 32, "1,500"]
    assert inputs[text(lang, "role.outcomes")][1:] == ["outcomes-2026-10.csv", "12" * 32, "1,432"]
    assert text(lang, "role.model") in inputs and text(lang, "role.config") in inputs


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_dossier_counts_do_not_contact_ids_matching_no_customer_without_showing_them(ctx, lang, tmp_path):
    """The real flow's match of a list with 2 customers of the table and 3 unknown ids: the
    dossier line says 5 / 2 / 3 and shows none of the unknown ids."""
    from churnlens.io.ids import match_ids

    book_ids = ctx.book.ids
    unknown = ("ZZ-UNKNOWN-0001", "ZZ-UNKNOWN-0002", "ZZ-UNKNOWN-0003")
    found = match_ids(book_ids, frozenset({str(book_ids[0]), str(book_ids[1]), *unknown}))
    assert (found.listed, found.matched, found.unmatched) == (5, 2, 3)
    c = ReportContext(lang, ctx.facts, ctx.results.with_(InputChecks(found, None)))
    page = _render(c, tmp_path)
    line = _words(_section(page, "data"))
    assert text(lang, "dossier.dnc_unmatched", listed="5", matched="2", unmatched="3") in line
    assert 'id="dnc-unmatched" class="warning"' in page
    assert not any(u in page for u in unknown) and not any(u in page for u in found.examples)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_fixture_run_has_every_do_not_contact_id_matched(ctx, dossier, lang):
    dnc = ctx.results[InputChecks].do_not_contact
    assert dnc.unmatched == 0 and dnc.listed == dnc.matched == 7  # tests/flow_fixture.DO_NOT_CONTACT
    assert text(lang, "dossier.dnc_all_matched", listed="7", matched="7", unmatched="0") in _words(
        _section(dossier[lang], "data"))


# --- reasons month to month ----------------------------------------------------------------------

def _first_reasons(values: np.ndarray, features, eligible) -> list[str]:
    """Independent recomputation: per row, the eligible feature with the largest positive value."""
    out = []
    for row in np.asarray(values, dtype=np.float64):
        best, name = 0.0, ""
        for f, v in zip(features, row):
            if f in eligible and v > best:
                best, name = v, f
        out.append(name)
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_reasons_month_to_month_equal_a_recomputation_from_both_months_files(ctx, dossier, lang):
    previous = Path(ctx.results[ReportRequest].previous)
    config, attr = ctx.config, ctx.attributions
    eligible = {f for f in attr.features if not config.excluded_cause(f)}
    pub = read_published(previous)
    prev = read_attributions(previous / "attributions.parquet")
    listed_before = set(pub.customer_ids[pub.listed].astype(str))
    keep = np.array([str(i) in listed_before for i in prev.customer_ids])
    before = pd.Series(_first_reasons(prev.values[keep], prev.features, eligible)).value_counts(normalize=True)
    after = pd.Series(_first_reasons(attr.values[ctx.targeting.listed], attr.features, eligible)).value_counts(
        normalize=True)
    shift = ctx.results[ReasonShift]
    assert shift.n_previous == int(keep.sum()) == len(listed_before & set(map(str, prev.customer_ids)))
    assert shift.n_current == int(ctx.targeting.listed.sum())
    for r in shift.rows:
        assert r.previous_share == pytest.approx(before.get(r.feature, 0.0))
        assert r.current_share == pytest.approx(after.get(r.feature, 0.0))
    tv = 0.5 * sum(abs(before.get(f, 0.0) - after.get(f, 0.0)) for f in set(before.index) | set(after.index))
    assert shift.distance == pytest.approx(tv)
    # the rendered table is the result, row for row, in the report language's labels
    rows = Page(dossier[lang]).tables["reason-shift-table"][1:]
    labels = {f: ctx.config.label(f, lang) for f in attr.features}
    assert [r[0] for r in rows] == [labels[x.feature] for x in shift.rows]
    assert [r[1] for r in rows] == [f"{x.previous_share:.1%}" for x in shift.rows]
    assert [r[2] for r in rows] == [f"{x.current_share:.1%}" for x in shift.rows]
    assert f"{tv:.1%}" in _words(_section(dossier[lang], "reason-shift"))


# --- what changed since last month -----------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_same_model_config_and_schema_as_last_month_say_so(ctx, dossier, lang):
    c = ctx.results[MonthChanges]
    assert c.manifest == "ok" and not c.model_changed and c.model_before == c.model_after
    assert c.config == () and c.schema_recorded and c.schema == ()  # only the period differs
    words = _words(_section(dossier[lang], "changes"))
    assert text(lang, "changes.model_same", model=c.model_identity_after) in words
    assert text(lang, "changes.config_none") in words and text(lang, "changes.schema_none") in words
    assert [r[1] for r in Page(dossier[lang]).tables["changes-model"][1:]] == [c.model_before, c.model_after]


def test_planted_changes_in_last_months_manifest_are_found(ctx, tmp_path):
    """Last month's manifest edited: another model hash, a different churner threshold, a column
    removed, one retyped, one added, an older package: each is found, nothing else."""
    previous = Path(ctx.results[ReportRequest].previous)
    folder = tmp_path / "report-2026-10"
    folder.mkdir()
    record = json.loads((previous / "manifest.json").read_text(encoding="utf-8"))
    record["model"]["sha256"] = "ff" * 32
    record["config"]["churners"]["threshold"] = 0.35
    schema = [c for c in record["data_schema"] if c["column"] != "complaints_90d"]
    schema = [dict(c, kind="text") if c["column"] == "age" else c for c in schema]
    record["data_schema"] = schema + [{"column": "legacy_flag", "role": "feature", "kind": "integer"}]
    record["packages"]["lightgbm"] = "3.3.5"
    (folder / "manifest.json").write_text(json.dumps(record), encoding="utf-8")
    from churnlens.run.loop import installed_versions

    found = month_changes(folder, model=dataclasses.asdict(_model_info(ctx)), config=ctx.config.model_dump(mode="json"),
                          schema=ctx.results[DataSchema], packages=installed_versions())
    assert found.model_changed and found.model_before == "ff" * 32
    assert [(x.what, x.before, x.after) for x in found.config] == [
        ("churners.threshold", "0.35", json.dumps(ctx.config.churners.threshold))]
    assert {x.what: (x.before, x.after) for x in found.schema} == {
        "age": ("feature/text", "feature/number"), "complaints_90d": ("", "feature/number"),
        "legacy_flag": ("feature/integer", "")}
    assert [(x.what, x.before) for x in found.packages] == [("lightgbm", "3.3.5")]
    # an older folder without data_schema: said so, not "no change"
    del record["data_schema"]
    (folder / "manifest.json").write_text(json.dumps(record), encoding="utf-8")
    older = month_changes(folder, model=dataclasses.asdict(_model_info(ctx)), config={}, schema=ctx.results[DataSchema],
                          packages={})
    assert not older.schema_recorded and older.schema == ()
    (folder / "manifest.json").write_text('{"cut', encoding="utf-8")
    assert month_changes(folder, model={}, config={}, schema=ctx.results[DataSchema], packages={}).manifest == \
        "unreadable"
    (folder / "manifest.json").unlink()
    assert month_changes(folder, model={}, config={}, schema=ctx.results[DataSchema], packages={}).manifest == "missing"


def _model_info(ctx):
    from churnlens.attribution import LoadedModel

    return ctx.results[LoadedModel].info


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_planted_changes_render_in_the_dossier(ctx, lang, tmp_path):
    from churnlens.monitoring.results import Change

    planted = dataclasses.replace(
        ctx.results[MonthChanges], model_before="ff" * 32, model_identity_before="churn-old.txt",
        config=(Change("churners.threshold", "0.35", "0.5"),),
        schema=(Change("legacy_flag", "feature/integer", ""),), packages=(Change("lightgbm", "3.3.5", "4.7.0"),))
    page = _render(ReportContext(lang, ctx.facts, ctx.results.with_(planted)), tmp_path)
    tables = Page(page).tables
    words = _words(_section(page, "changes"))
    assert text(lang, "changes.model_changed", before="churn-old.txt", after=planted.model_identity_after) in words
    assert tables["changes-model"][1:] == [[text(lang, "changes.col_before"), "ff" * 32],
                                           [text(lang, "changes.col_after"), planted.model_after]]
    assert tables["changes-config"][1:] == [["churners.threshold", "0.35", "0.5"]]
    assert tables["changes-schema"][1:] == [["legacy_flag", "feature/integer", text(lang, "changes.absent")]]
    assert tables["changes-packages"][1:] == [["lightgbm", "3.3.5", "4.7.0"]]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_without_previous_both_month_to_month_sections_say_why(ctx, lang, tmp_path):
    c = ReportContext(lang, ctx.facts, ctx.results.without(MonthChanges, ReasonShift,
                                                           omitted=(("changes", "no_previous"),
                                                                    ("reason-shift", "no_previous"))))
    page = _render(c, tmp_path)
    for sid in ("changes", "reason-shift"):
        assert text(lang, "omitted.no_previous") in _words(_section(page, sid))


def test_manifest_records_the_schema_and_the_changes_for_machines(ctx):
    record = manifest(ctx)
    schema = ctx.results[DataSchema]
    assert record["data_schema"][0] == {"column": ctx.config.id_column, "role": "id", "kind": "text"}
    assert len(record["data_schema"]) == len(schema.columns)
    assert {c["column"] for c in record["data_schema"] if c["role"] not in ("id", "label")} == \
        set(ctx.X.columns) | {ctx.config.value_column}
    changes = record["changes_since_previous"]
    assert changes["manifest"] == "ok" and changes["model_changed"] is False and changes["config"] == []
    assert json.loads(json.dumps(record, default=str)) == json.loads(json.dumps(manifest(relabel(ctx, "zh")),
                                                                               default=str)) | {"lang": "en"}


# --- issue 29 item 4: the dossier states the facts as they are -------------------------------------

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_dossier_states_identity_reference_precision_and_a_reproduce_command_from_anywhere(ctx, dossier, lang):
    page = dossier[lang]
    card = Page(_section(page, "model-card") + "</section>").tables
    facts = dict((r[0], r[1]) for r in next(iter(card.values()))[1:])
    assert facts[text(lang, "dossier.sha256")] == ctx.facts.model.sha256  # whole file fingerprint
    assert facts[text(lang, "dossier.file")] == "model.txt"
    # which reference, named with its version, and that it is a second implementation
    cc = _words(_section(page, "cross-check"))
    assert "LightGBM" in cc and "pred_contrib" in cc and ctx.cross_check.reference.split(",")[0] in cc
    assert {"en": "independent implementation", "zh": "独立实现"}[lang] in cc
    # stored precision: the additivity error measured on what attributions.parquet stores
    from churnlens.attribution.results import StoredPrecision
    from churnlens.reports import formatting

    stored = ctx.results[StoredPrecision].additivity_max_error
    add = _words(_section(page, "additivity"))
    assert "float32" in add and formatting.sci(stored) in add and stored > ctx.attributions.additivity_max_error
    # the reproduce command starts from the folder the run was made from (absolute)
    pre = re.findall(r"<pre>(.*?)</pre>", _section(page, "reproduce"), re.S)
    assert pre and all(html.unescape(p).startswith("cd /data/bank && ") for p in pre)
    assert "--generated-at 2026-11-25T02:30:00+00:00" in html.unescape(pre[0])
    assert text(lang, "dossier.reproduce_from", folder="/data/bank") in _words(_section(page, "reproduce"))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_reproduce_says_from_where_when_the_folder_is_unknown(ctx, lang, tmp_path):
    """Relative paths and no input whose absolute path shows the run's folder (a DataFrame run):
    the dossier tells the reader to run from the folder the run was started from."""
    facts = dataclasses.replace(ctx.facts, inputs=tuple(dataclasses.replace(i, path="<DataFrame>")
                                                        for i in ctx.facts.inputs))
    page = _render(ReportContext(lang, facts, ctx.results), tmp_path)
    section = _section(page, "reproduce")
    pre = html.unescape(re.findall(r"<pre>(.*?)</pre>", section, re.S)[0])
    assert pre.startswith("churnlens report --model model.txt")
    assert text(lang, "dossier.reproduce_relative") in _words(section)
    assert text(lang, "dossier.reproduce_from", folder="/data/bank") not in _words(section)


def test_catalogues_word_every_filing_key_in_both_languages():
    en, zh = catalogue("en"), catalogue("zh")
    keys = [k for k in en if k.split(".")[0] in ("purpose", "disclosure", "changes", "reason_shift")]
    assert len(keys) > 40 and all(k in zh and zh[k] != en[k] for k in keys)


def test_disclosure_titles_are_the_registrys():
    """The disclosure map names sections by the registry's own title keys and ids."""
    registry = {s.id: s.title_key for s in DOSSIER}
    assert {i for _, ids in JRT_0287 for i in ids} <= set(TITLES)
    assert all(registry[i] == key for i, key in TITLES.items())


def test_outcomes_file_is_fingerprinted_with_its_rows(ctx, tmp_path):
    """With ``--outcomes``, the run's inputs carry the outcomes file's SHA-256 and its rows (the
    dossier's lineage table shows them)."""
    import hashlib

    from churnlens.run.loop import LoopInputs
    from churnlens.run.write import input_files

    path = tmp_path / "outcomes.csv"
    frame = pd.DataFrame({"customer_id": ctx.book.ids[:40].astype(str), "churned": np.arange(40) % 2})
    frame.to_csv(path, index=False)
    req = dataclasses.replace(ctx.results[ReportRequest], outcomes=path)
    results = ctx.results.with_(req, LoopInputs(frame, None, (), 0))
    files = {f.role: f for f in input_files(results, out=tmp_path / "out", staging=tmp_path / "staging")}
    assert files["outcomes"].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert files["outcomes"].rows == 40 and files["data"].rows == ctx.book.n


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_banks_own_purpose_and_out_of_scope_uses_are_shown_with_the_standard_ones(ctx, lang, tmp_path):
    from churnlens.config import parse_config
    from tests.flow_fixture import demo_config

    data = demo_config().model_dump(mode="json")
    data["report"].update(purpose={"en": "Retention of deposit customers in region North.", "zh": "北区存款客户挽留。"},
                          out_of_scope=["Mortgage retention", {"en": "Card limits", "zh": "信用卡额度"}])
    data["report"].pop("generic_action", None)
    config = parse_config(data, source="config.yaml")
    assert config.report.out_of_scope[0].zh == "Mortgage retention"  # one string stands for both languages
    c = ReportContext(lang, ctx.facts, ctx.results.with_(config))
    section = _section(_render(c, tmp_path), "purpose")
    words = _words(section)
    assert config.report.purpose.get(lang) in words and text(lang, "purpose.purpose") not in words
    items = re.findall(r"<li>(.*?)</li>", section.split('class="out-of-scope"')[1])
    standard = [text(lang, f"purpose.out_of_scope_{i}") for i in range(1, 7)]
    assert [html.unescape(i) for i in items] == standard + ["Mortgage retention", {"en": "Card limits",
                                                                                  "zh": "信用卡额度"}[lang]]
    assert text(lang, "purpose.source_own") in words


def test_first_reasons_and_their_shift_on_a_planted_mix():
    """Known answers: the largest positive eligible attribution (protected 'g' never), none when
    nothing raises the risk; shares and total-variation distance of the two months."""
    from churnlens.monitoring.changes import first_reasons, reason_shift

    features = ["a", "b", "g"]
    values = np.array([[0.2, 0.5, 9.0], [0.3, -0.1, 9.0], [-0.2, -0.1, 9.0], [0.4, 0.4, 0.0]])
    got = first_reasons(values, features, ["a", "b"])
    assert got.tolist() == ["b", "a", "", "a"]  # a tie goes to the first feature
    shift = reason_shift(np.array(["a", "a", "b", "b"], dtype=object), got)
    shares = {r.feature: (r.previous_share, r.current_share) for r in shift.rows}
    assert shares == {"a": (0.5, 0.5), "b": (0.5, 0.25), "": (0.0, 0.25)}
    assert shift.distance == pytest.approx(0.25) and (shift.n_previous, shift.n_current) == (4, 4)
    assert np.isnan(reason_shift(np.array([], dtype=object), got).distance)  # nothing to compare with
