"""One customer's explanation on request (issue 33 item 3), from a report folder of the real flow:
the customer's own numbers (recomputed from the folder's files), nothing of any other customer,
only that customer's rows read, the id normalised, unknown ids refused (exit 2), the output guard."""

from __future__ import annotations

import hashlib
import html
import json
import re

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

import churnlens
from churnlens import cli
from churnlens.errors import InputFileError, OutputFolderError, UnknownCustomerError
from churnlens.io.tables import mask_id
from churnlens.reports.formatting import pct
from tests.folder_fixture import written_folder


@pytest.fixture(scope="module")
def folder():
    return written_folder()


@pytest.fixture(scope="module")
def files(folder):
    p = folder.path
    return {"list": pd.read_csv(p / "retention_list.csv", dtype={"customer_id": str}, keep_default_na=False,
                                na_values=[""]),
            "scores": pd.read_parquet(p / "scores.parquet"), "words": pd.read_parquet(p / "explanations.parquet"),
            "attr": pd.read_parquet(p / "attributions.parquet"),
            "manifest": json.loads((p / "manifest.json").read_text(encoding="utf-8"))}


def _visible(path) -> str:
    page = path.read_text(encoding="utf-8")
    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _listed_with_keep(files) -> str:
    f = files["list"]
    hit = f[~f["control_group"].astype(bool) & f["keep_change"].notna() & f["action"].notna()]
    return hit["customer_id"].iloc[0]


def _foreign_strings(files, cid: str, own: set[str]) -> dict[str, set[str]]:
    """What of every other customer must not appear: ids (raw and masked), scores at full
    precision, and their list words that are not also this customer's."""
    others = files["scores"][files["scores"]["customer_id"] != cid]
    ids = set(others["customer_id"])
    masked = {mask_id(i) for i in ids} - {mask_id(cid)}
    words = files["words"][files["words"]["customer_id"] != cid].drop(columns="customer_id")
    texts = {t for t in words.to_numpy().ravel() if isinstance(t, str) and len(t) > 12} - own
    return {"ids": ids, "masked": masked, "scores": {f"{s:.6f}" for s in others["score"]}, "texts": texts}


def test_explanation_holds_the_customers_own_numbers_and_nothing_of_others(folder, files, tmp_path):
    cid = _listed_with_keep(files)
    out = churnlens.customer(cid, report=folder.path, out=tmp_path / "c.html")
    page = _visible(out)
    s = files["scores"].set_index("customer_id").loc[cid]
    row = files["list"].set_index("customer_id").loc[cid]
    w = files["words"].set_index("customer_id").loc[cid]
    m = files["manifest"]
    # its own numbers, recomputed from the folder's files, in both languages
    assert f"Predicted probability of leaving the bank: {pct(s['score'], 0)}." in page
    assert f"预测的流失概率：{pct(s['score'], 0)}。" in page
    for lang in ("en", "zh"):
        drivers = [w[c] for c in w.index if re.fullmatch(rf"driver_\d+_{lang}", c) and w[c]]
        assert drivers and all(d in page for d in drivers)
        assert w[f"keep_change_{lang}"] in page and w[f"action_{lang}"] in page
    assert row["keep_change"] == w["keep_change_en"] and row["action"] == w["action_en"]
    assert m["model"]["sha256"] in page
    assert next(i["sha256"] for i in m["inputs"] if i["role"] == "data") in page
    assert hashlib.sha256((folder.path / "manifest.json").read_bytes()).hexdigest() in page
    assert "Call 95555 to refuse" in page and "请致电 95555 拒绝" in page  # report.refusal_contact
    assert "Gender" in page and "性别" in page  # the data used, protected ones named as such
    # nothing of any other customer
    own = {v for v in w.to_numpy() if isinstance(v, str)}
    foreign = _foreign_strings(files, cid, own)
    found_ids = set(re.findall(r"C\d{7}", page))
    assert found_ids == {cid}
    assert not [x for x in foreign["masked"] if x in page]
    assert not [x for x in foreign["scores"] if x in page]
    assert not [x for x in foreign["texts"] if x in page]


def test_only_the_customers_rows_are_read(folder, files, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    reads = []
    real = pq.read_table

    def spy(path, *args, **kwargs):
        table = real(path, *args, **kwargs)
        reads.append((str(path), kwargs.get("filters"), table.num_rows))
        return table

    monkeypatch.setattr(pq, "read_table", spy)
    cid = _listed_with_keep(files)
    churnlens.customer(cid, report=folder.path, out=tmp_path / "c.html")
    assert {p.rsplit("/", 1)[-1] for p, _, _ in reads} == {"scores.parquet", "explanations.parquet",
                                                           "attributions.parquet"}
    assert all(f is not None and f[0][0] == "customer_id" and n <= 1 for _, f, n in reads)


def test_a_customer_not_on_the_list(folder, files, tmp_path):
    s, a = files["scores"], files["attr"]
    cid = s.loc[~s["listed"] & s["customer_id"].isin(a["customer_id"]), "customer_id"].iloc[0]
    page = _visible(churnlens.customer(cid, report=folder.path, out=tmp_path / "n.html"))
    assert "Not on this month's retention list" in page and "未列入本月挽留名单" in page
    # its reasons recomputed from its attributions: probability points of each risk-raising feature
    r = a.set_index("customer_id").loc[cid]
    phi = r[[c for c in r.index if c.startswith("shap__")]].astype(float)
    raw = r["raw_score"]
    pp = 100 * (1 / (1 + np.exp(-raw)) - 1 / (1 + np.exp(-(raw - phi))))
    pp = pp[(pp >= 1.0) & (pp.index != "shap__gender")].sort_values(ascending=False, kind="stable")[:3]
    for col, size in pp.items():
        label = folder.config.label(col[len("shap__"):], "en")
        assert f"{label} ({size:+.0f} pp)" in page if abs(size) >= 0.95 else f"{label} ({size:+.1f} pp)" in page
    assert set(re.findall(r"C\d{7}", page)) == {cid}


def test_refused_and_control_customers(folder, files, tmp_path):
    f = files["list"]
    contacted = set(f.loc[~f["control_group"].astype(bool), "customer_id"])
    refused = next(i for i in folder.refused if i in contacted)  # a control customer gets no action at all
    page = _visible(churnlens.customer(refused, report=folder.path, out=tmp_path / "r.html"))
    assert "General savings newsletter" in page and "Not computed: the customer refused personalised marketing" in page
    control = f.loc[f["control_group"].astype(bool), "customer_id"].iloc[0]
    page = _visible(churnlens.customer(control, report=folder.path, out=tmp_path / "k.html"))
    assert "in the control group" in page and "None this month (control group)." in page


def test_id_is_normalised_and_chinese_first_with_lang_zh(folder, files, tmp_path):
    cid = _listed_with_keep(files)
    a = churnlens.customer(cid, report=folder.path, out=tmp_path / "a.html")
    b = churnlens.customer(f"\u00a0 {cid}\t", report=folder.path, out=tmp_path / "b.html")
    assert a.read_bytes() == b.read_bytes()  # same explanation, byte for byte
    zh = _visible(churnlens.customer(cid, report=folder.path, out=tmp_path / "z.html", lang="zh"))
    assert zh.index("自动化流失评估说明") < zh.index("Explanation of an automated churn assessment")


def test_pdf_is_one_page_with_both_languages(folder, files, tmp_path):
    cid = _listed_with_keep(files)
    out = churnlens.customer(cid, report=folder.path, out=tmp_path / "c.pdf")
    reader = PdfReader(str(out))
    txt = re.sub(r"\s+", "", reader.pages[0].extract_text())
    assert len(reader.pages) == 1
    assert "Explanationofanautomatedchurnassessment" in txt and "自动化流失评估说明" in txt and cid in txt


def test_unknown_id_exits_2_without_listing_ids(folder, tmp_path, capsys):
    with pytest.raises(UnknownCustomerError):
        churnlens.customer("C9999999", report=folder.path, out=tmp_path / "x.pdf")
    code = cli.main(["customer", "C9999999", "--report", str(folder.path), "--out", str(tmp_path / "x.pdf")])
    err = capsys.readouterr().err
    assert code == 2 and "'C9999999' is not a customer of the report folder" in err
    assert set(re.findall(r"C\d{7}", err)) == {"C9999999"}
    assert not (tmp_path / "x.pdf").exists()


def test_output_guard(folder, files, tmp_path, capsys):
    cid = _listed_with_keep(files)
    mine = tmp_path / "mine.pdf"
    mine.write_bytes(b"%PDF-1.4 a user's own file")
    with pytest.raises(OutputFolderError, match="was not written by churnlens"):
        churnlens.customer(cid, report=folder.path, out=mine)
    assert mine.read_bytes() == b"%PDF-1.4 a user's own file"
    # a file churnlens wrote is replaced (PDF and HTML carry the marker)
    for name in ("again.pdf", "again.html"):
        churnlens.customer(cid, report=folder.path, out=tmp_path / name)
        churnlens.customer(cid, report=folder.path, out=tmp_path / name)
    with pytest.raises(OutputFolderError, match="inside the input folder"):
        churnlens.customer(cid, report=folder.path, out=folder.path / "c.pdf")
    code = cli.main(["customer", cid, "--report", str(folder.path), "--out", str(tmp_path / "c.docx")])
    assert code == 2 and "must end in .pdf or .html" in capsys.readouterr().err


def test_a_changed_folder_is_refused(folder, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(folder.path, copy)
    scores = pd.read_parquet(copy / "scores.parquet")
    scores.loc[0, "score"] = 0.999
    scores.to_parquet(copy / "scores.parquet")
    with pytest.raises(InputFileError, match="scores.parquet"):
        churnlens.customer(scores["customer_id"][0], report=copy, out=tmp_path / "c.html")


def test_a_folder_with_hashed_ids(folder, files, tmp_path, monkeypatch):
    """With report.hash_ids the list's files hold salted hashes: the explanation is found by the
    raw id with the run's key (CHURNLENS_ID_SALT), and refused without it."""
    import dataclasses

    from churnlens.errors import UserInputError
    from churnlens.results import Checked
    from churnlens.run.write import write_report

    cfg = folder.config.model_copy(update={"report": folder.config.report.model_copy(update={"hash_ids": True})})
    results = folder.results.with_(cfg, dataclasses.replace(folder.results[Checked], salt="s3cret"))
    out = tmp_path / "hashed"
    out.mkdir()
    write_report(results, out)
    cid = _listed_with_keep(files)
    assert cid not in set(pd.read_parquet(out / "explanations.parquet")["customer_id"])
    monkeypatch.delenv("CHURNLENS_ID_SALT", raising=False)
    with pytest.raises(UserInputError, match="CHURNLENS_ID_SALT"):
        churnlens.customer(cid, report=out, out=tmp_path / "h.html")
    monkeypatch.setenv("CHURNLENS_ID_SALT", "s3cret")
    page = _visible(churnlens.customer(cid, report=out, out=tmp_path / "h.html"))
    w = files["words"].set_index("customer_id").loc[cid]
    assert w["keep_change_en"] in page and w["action_zh"] in page
