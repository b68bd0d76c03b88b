"""Relationship-manager cards (issue 33 item 2), from a report folder of the real flow: which
customers are carded and in which order (recomputed from the raw customer table and the list),
each card equal to its list row, both languages, the PDF."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from churnlens.actions.results import Playbook
from churnlens.io.tables import mask_id
from churnlens.reports.cards import build_cards, render_cards
from churnlens.reports.formatting import pct
from churnlens.run.lists import list_rows
from tests.folder_fixture import GENERIC, written_folder

VIP = {"gold", "platinum"}  # demo_config.yaml: vip_tier's vip_levels


@pytest.fixture(scope="module")
def folder():
    return written_folder()


@pytest.fixture(scope="module")
def listing(folder):
    return pd.read_csv(folder.path / "retention_list.csv", dtype={"customer_id": str}, keep_default_na=False,
                       na_values=[""])


def _cards(folder, lang="en", **report):
    ctx = folder.context(lang)
    if report:
        ctx = ctx.replace(config=ctx.config.model_copy(update={"report": ctx.config.report.model_copy(update=report)}))
    from churnlens.run.lists import retention_list

    frame = retention_list(folder.results, lang=lang).frame
    return ctx, frame, build_cards(ctx, frame, list_rows(folder.results, frame))


def _visible(path) -> str:
    page = path.read_text(encoding="utf-8")
    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_cards_are_the_customers_to_contact_vips_first_then_by_value_at_risk(folder, listing):
    raw = pd.read_csv(folder.data, dtype={"customer_id": str}).set_index("customer_id")
    contact = listing[~listing["control_group"].astype(bool)].reset_index(drop=True)
    vip = raw.loc[contact["customer_id"], "vip_tier"].isin(VIP).to_numpy()
    assert vip.any() and not vip.all()  # the order has something to show
    # known answer: VIPs first, then value at risk descending, ties in the list's order
    expected = contact.assign(vip=vip, pos=np.arange(len(contact))).sort_values(
        ["vip", "expected_value_at_risk", "pos"], ascending=[False, False, True])["customer_id"].tolist()
    _, _, view = _cards(folder)
    assert [c.customer_id for c in view.cards] == expected
    assert [c.vip for c in view.cards] == sorted(vip.tolist(), reverse=True)
    carded = set(expected)
    # control-group and do-not-contact customers are not carded; refused ones are (generic action)
    assert not carded & set(listing.loc[listing["control_group"].astype(bool), "customer_id"])
    assert not carded & set(folder.do_not_contact)
    # top_n keeps the first customers of that order
    _, _, five = _cards(folder, cards=folder.config.report.cards.model_copy(update={"top_n": 5}))
    assert [c.customer_id for c in five.cards] == expected[:5] and five.intro.startswith("The 5 customers")


def test_each_card_is_its_list_row(folder, listing):
    _, _, view = _cards(folder)
    rows = listing.set_index("customer_id")
    k = sum(1 for c in listing.columns if re.fullmatch(r"reason_\d+", c))
    rules = {r.action.en: r for r in folder.config.playbook}
    seen_generic = 0
    for card in view.cards:
        row = rows.loc[card.customer_id]
        assert card.score == row["score"] and card.value_at_risk == pytest.approx(row["expected_value_at_risk"])
        assert card.reasons == tuple(r for r in (row[f"reason_{j + 1}"] for j in range(k)) if isinstance(r, str) and r)
        assert card.reasons and all(re.search(r"\([+-][\d.]+ pp\)$", r) for r in card.reasons)  # sized
        assert card.action == (row["action"] if isinstance(row["action"], str) else "")
        assert card.keep_change == (row["keep_change"] if isinstance(row["keep_change"], str) else "")
        assert card.keep_action == (row["keep_action"] if isinstance(row["keep_action"], str) else "")
        assert card.segment == row["segment"] and card.segment_name == row["segment_name"]
        if card.customer_id in folder.refused:
            seen_generic += 1
            assert card.generic and card.action == GENERIC["action"]["en"] and card.keep_change == ""
            assert card.talking_points == (GENERIC["talking_points"][0]["en"],)
        else:
            assert not card.generic
            assert card.talking_points == tuple(p.en for p in rules[card.action].talking_points) \
                if card.action else card.talking_points == ()
    # refused customers who are contacted (on the list, not held out as control: the per-action
    # control raise may hold one out) are all carded with the generic action
    contacted = [i for i in folder.refused if i in rows.index and not bool(rows.loc[i, "control_group"])]
    assert contacted and seen_generic == len(contacted)
    assert any(c.talking_points for c in view.cards if not c.generic)


def test_products_held_are_the_customers_own(folder):
    raw = pd.read_csv(folder.data, dtype={"customer_id": str}).set_index("customer_id")
    _, _, view = _cards(folder)
    for card in view.cards[:20]:
        c = raw.loc[card.customer_id]
        assert ("Holds a credit card" in card.products) == bool(c["has_credit_card"])
        assert ("Has a mortgage" in card.products) == bool(c["has_mortgage"])
        assert f"Number of products held: {int(c['n_products'])}" in card.products
        assert any(p.startswith("Wealth-management products held") for p in card.products) == bool(c["wealth_products"])


def test_cards_html_in_the_folder_and_in_chinese(folder, tmp_path):
    page = _visible(folder.path / "cards.html")
    _, _, view = _cards(folder)
    first = view.cards[0]
    assert "Relationship-manager cards" in page and first.reasons[0] in page and first.action in page
    assert mask_id(first.customer_id) in page and first.customer_id not in page  # masked as in the report
    assert f"{pct(first.score, 0)}" in page and "Talking points" in page
    ctx, frame, zh = _cards(folder, "zh")
    written = render_cards(ctx, frame, list_rows(folder.results, frame), tmp_path, formats=("html",))
    assert [p.name for p in written] == ["cards.html"]
    page_zh = _visible(tmp_path / "cards.html")
    words = pd.read_parquet(folder.path / "explanations.parquet").set_index("customer_id")
    c0 = zh.cards[0]
    assert "客户经理挽留卡片" in page_zh and words.loc[c0.customer_id, "reason_1_zh"] in page_zh
    assert c0.reasons[0] == words.loc[c0.customer_id, "reason_1_zh"] and "个百分点" in c0.reasons[0]
    assert "Relationship-manager" not in page_zh


def test_cards_pdf_renders_both_languages(folder, tmp_path):
    for lang in ("en", "zh"):
        ctx, frame, _ = _cards(folder, lang, cards=folder.config.report.cards.model_copy(update={"top_n": 4}))
        out = tmp_path / lang
        out.mkdir()
        (pdf,) = render_cards(ctx, frame, list_rows(folder.results, frame), out, formats=("pdf",))
        reader = PdfReader(str(pdf))
        txt = re.sub(r"\s+", "", "".join(p.extract_text() or "" for p in reader.pages))
        assert ("客户经理挽留卡片" if lang == "zh" else "Relationship-managercards") in txt
        assert len(re.findall(r"C0\*+\d\d", txt)) >= 4
        assert 1 <= len(reader.pages) <= 3


def test_no_cards_with_top_n_zero(folder, tmp_path):
    ctx, frame, _ = _cards(folder, cards=folder.config.report.cards.model_copy(update={"top_n": 0}))
    assert render_cards(ctx, frame, list_rows(folder.results, frame), tmp_path) == ()
    assert not list(tmp_path.iterdir())


def test_cards_are_in_the_manifest(folder):
    import json

    outputs = json.loads((folder.path / "manifest.json").read_text(encoding="utf-8"))["outputs"]
    assert {"cards.html", "explanations.parquet"} <= set(outputs)


def test_talking_points_are_escaped(folder):
    from tests.flow_fixture import EVIL

    ctx, frame, _ = _cards(folder)
    rules = tuple(r.model_copy(update={"talking_points": (r.talking_points[0].model_copy(update={"en": EVIL}),)})
                  if r.talking_points else r for r in folder.results[Playbook].rules)
    results = folder.results.with_(Playbook(rules))
    ctx = ctx.replace(rules=rules)
    from churnlens.reports.cards import cards_environment
    from churnlens.reports.render import render_page

    view = build_cards(ctx, frame, list_rows(results, frame))
    assert any(EVIL in c.talking_points for c in view.cards)
    page = render_page(view, cards_environment(ctx), "cards.html", for_pdf=False)
    assert EVIL not in page and "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_list_rows_follow_hashed_ids(folder):
    """With report.hash_ids the list shows salted hashes: each list row still maps to its customer."""
    import dataclasses

    from churnlens.actions.playbook import hash_id
    from churnlens.attribution.results import Attributions
    from churnlens.results import Checked
    from churnlens.run.lists import retention_list

    cfg = folder.config.model_copy(update={"report": folder.config.report.model_copy(update={"hash_ids": True})})
    results = folder.results.with_(cfg, dataclasses.replace(folder.results[Checked], salt="s3cret"))
    frame = retention_list(results).frame
    rows = list_rows(results, frame)
    ids = np.asarray(folder.results[Attributions].customer_ids)
    assert [hash_id(str(i), salt="s3cret") for i in ids[rows]] == frame["customer_id"].tolist()
    assert not set(frame["customer_id"]) & set(ids.astype(str))


def test_card_order_known_answer():
    from churnlens.reports.cards import card_order

    frame = pd.DataFrame({"control_group": [False, True, False, False, False],
                          "expected_value_at_risk": [50.0, 900.0, 70.0, 70.0, 10.0]})
    vip = np.array([False, True, False, False, True])
    # VIP first (row 4; row 1 is control), then 70 (rows 2, 3 in list order), then 50
    assert card_order(frame, vip).tolist() == [4, 2, 3, 0]
    # without a value column: the list's own order (by probability), VIPs first
    frame["expected_value_at_risk"] = np.nan
    assert card_order(frame, vip).tolist() == [4, 0, 2, 3]
