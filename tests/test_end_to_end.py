"""End to end: `churnlens demo` on a small book, then open every output and check its content."""

from __future__ import annotations

import json
import re
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from churnlens import cli

N_CUSTOMERS = 4000
GENERATED_AT = "2026-11-30T08:00:00+00:00"
PLANTED = ("maturity_competitor", "digital_disengagement", "service_failure", "salary_moved")


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("e2e") / "demo-report"
    code = cli.main(["demo", "--out", str(out), "--customers", str(N_CUSTOMERS), "--seed", "0",
                     "--generated-at", GENERATED_AT, "--quiet"])
    assert code == 0
    return out


def test_report_folder_has_spec_files(demo_dir):
    for name in ("report.html", "report.pdf", "dossier.html", "dossier.pdf", "cards.html", "cards.pdf", "retention_list.csv",
                 "explanations.parquet", "attributions.parquet", "segments.csv", "manifest.json"):
        assert (demo_dir / name).is_file(), name
        assert (demo_dir / name).stat().st_size > 0, name
    assert not list(demo_dir.parent.glob(".demo-report.partial-*")), "staging folder left behind"


def test_attributions_add_up_to_model_raw_output(demo_dir):
    attr = pd.read_parquet(demo_dir / "attributions.parquet")
    assert list(attr.columns[:3]) == ["customer_id", "score", "base_value"]
    shap_cols = [c for c in attr.columns if c.startswith("shap__")]
    booster = lgb.Booster(model_file=str(demo_dir / "inputs" / "model.txt"))
    assert [c.removeprefix("shap__") for c in shap_cols] == booster.feature_name()
    assert len(attr) == N_CUSTOMERS
    # float32 storage: additivity holds to float32 precision in the stored file
    raw = attr["base_value"].to_numpy() + attr[shap_cols].to_numpy(np.float64).sum(axis=1)
    prob = 1.0 / (1.0 + np.exp(-raw))
    np.testing.assert_allclose(prob, attr["score"].to_numpy(), atol=1e-4)
    manifest = json.loads((demo_dir / "manifest.json").read_text())
    assert manifest["attribution"]["additivity_max_error"] < 1e-6
    assert manifest["attribution"]["cross_check"]["max_abs_diff"] < 1e-6


def test_manifest_records_fingerprints_and_versions(demo_dir):
    import hashlib

    m = json.loads((demo_dir / "manifest.json").read_text())
    data = next(i for i in m["inputs"] if i["role"] == "data")
    assert data["path"] == str(demo_dir / "inputs" / "customers.csv")
    assert data["sha256"] == hashlib.sha256((demo_dir / "inputs" / "customers.csv").read_bytes()).hexdigest()
    assert m["model"]["family"] == "lightgbm"
    assert m["generated_at"] == GENERATED_AT
    for pkg in ("lightgbm", "shap", "hdbscan", "pandas"):
        assert pkg in m["packages"]
    assert m["command"].startswith("churnlens demo --out")
    for name in ("report.html", "retention_list.csv", "segments.csv"):
        assert m["outputs"][name] == hashlib.sha256((demo_dir / name).read_bytes()).hexdigest()


def test_segments_recover_planted_mechanisms(demo_dir):
    seg = pd.read_csv(demo_dir / "segments.csv", dtype={"customer_id": str})
    assert list(seg.columns[:4]) == ["customer_id", "segment", "segment_name", "membership_strength"]
    truth = pd.read_csv(demo_dir / "inputs" / "truth.csv", dtype={"customer_id": str})
    both = seg.merge(truth, on="customer_id")
    planted = both[both["mechanism"].isin(PLANTED)]
    assert len(planted) > 100
    ari = adjusted_rand_score(planted["mechanism"], planted["segment"])
    assert ari >= 0.8, ari


def test_retention_list_columns_and_order(demo_dir):
    rl = pd.read_csv(demo_dir / "retention_list.csv", dtype={"customer_id": str})
    assert list(rl.columns) == ["customer_id", "segment", "segment_name", "score", "value", "expected_value_at_risk",
                                "reason_1", "reason_2", "reason_3", "driver_1", "driver_2", "driver_3", "protective_1",
                                "action", "channel", "cost", "expected_retained", "control_group",
                                "keep_change", "keep_probability", "keep_action"]
    ev = rl["expected_value_at_risk"].to_numpy()
    assert np.all(np.diff(ev) <= 1e-9), "ranked by expected value at risk"
    np.testing.assert_allclose(ev, rl["score"] * rl["value"], rtol=1e-6)
    assert set(rl["control_group"].unique()) <= {0, 1, True, False}
    assert rl["reason_1"].notna().all()


def _html_section_ids(html: str) -> list[str]:
    return re.findall(r'<section[^>]*\bid="([^"]+)"', html)


def test_report_html_has_sections_in_order(demo_dir):
    html = (demo_dir / "report.html").read_text(encoding="utf-8")
    ids = _html_section_ids(html)
    expected = ["summary", "customer-profile", "product-profile", "behaviour-profile", "drivers", "segments",
                "plan", "performance", "monitoring", "dictionary", "appendix"]
    positions = [ids.index(s) for s in expected]
    assert positions == sorted(positions)
    assert "http://" not in html and "https://" not in html


def test_report_pdf_pages_and_text(demo_dir):
    from pypdf import PdfReader

    reader = PdfReader(demo_dir / "report.pdf")
    assert 6 <= len(reader.pages) <= 80
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    for title in ("Executive summary", "Churn drivers", "Churner segments", "Model performance"):
        assert title in text
    seg = pd.read_csv(demo_dir / "segments.csv")
    for name in seg.loc[seg["segment"] != "MIX", "segment_name"].unique():
        assert name.split(" ")[0] in text


def test_ids_masked_in_report(demo_dir):
    html = (demo_dir / "report.html").read_text(encoding="utf-8")
    rl = pd.read_csv(demo_dir / "retention_list.csv", dtype={"customer_id": str})
    for cid in rl["customer_id"].head(50):
        assert cid not in html


def test_demo_is_deterministic(demo_dir, tmp_path):
    out = tmp_path / "again"
    assert cli.main(["demo", "--out", str(out), "--customers", str(N_CUSTOMERS), "--seed", "0",
                     "--generated-at", GENERATED_AT, "--quiet", "--format", "html"]) == 0
    for name in ("segments.csv", "retention_list.csv"):
        assert (out / name).read_bytes() == (demo_dir / name).read_bytes(), name
    a = pd.read_parquet(out / "attributions.parquet")
    b = pd.read_parquet(demo_dir / "attributions.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_failed_run_keeps_previous_report(demo_dir, tmp_path, capsys):
    """A broken run (missing feature) must leave last month's folder untouched."""
    import shutil

    previous = tmp_path / "2026-10"
    shutil.copytree(demo_dir, previous)
    before = {p.name: p.read_bytes() for p in previous.iterdir() if p.is_file()}
    data = pd.read_csv(demo_dir / "inputs" / "customers.csv").drop(columns=["mobile_logins_30d"])
    bad = tmp_path / "customers.csv"
    data.to_csv(bad, index=False)
    code = cli.main(["report", "--model", str(demo_dir / "inputs" / "model.txt"), "--data", str(bad),
                     "--config", str(demo_dir / "inputs" / "config.yaml"), "--out", str(previous), "--quiet"])
    assert code == 2
    assert "mobile_logins_30d" in capsys.readouterr().err
    after = {p.name: p.read_bytes() for p in previous.iterdir() if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-10", "customers.csv"]


def test_report_folder_doc_lists_every_file_and_column(demo_dir):
    """docs/report-folder.md names every file churnlens writes and every column of its tables."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "report-folder.md").read_text(encoding="utf-8")
    files = sorted(p.relative_to(demo_dir).as_posix() for p in demo_dir.rglob("*") if p.is_file())
    undocumented = [f for f in files if f"`{f}`" not in doc and not f.startswith("inputs/")]
    assert not undocumented, f"docs/report-folder.md lacks {undocumented}"

    def documented(column: str) -> bool:
        family = re.sub(r"_\d+$", "_1..", column)
        return f"`{column}`" in doc or f"`{family}" in doc or column.startswith("shap__")

    tables = [f for f in files if f.endswith(".csv") and not f.startswith("inputs/")]
    tables.append("attributions.parquet")
    for name in tables:
        path = demo_dir / name
        columns = pd.read_parquet(path).columns if name.endswith(".parquet") else pd.read_csv(path, nrows=0).columns
        missing = [c for c in columns if not documented(str(c))]
        assert not missing, f"docs/report-folder.md lacks columns {missing} of {name}"
    manifest = json.loads((demo_dir / "manifest.json").read_text(encoding="utf-8"))
    missing = [k for k in manifest if f"`{k}`" not in doc]
    assert not missing, f"docs/report-folder.md lacks manifest keys {missing}"


def test_segment_rules_table_and_sql_reproduce_precision_and_coverage(demo_dir):
    """tables/segment_rules.csv states each rule's precision and coverage against its segment;
    running its SQL on the customer table (sqlite) gives the same numbers from segments.csv."""
    import sqlite3

    rules = pd.read_csv(demo_dir / "tables" / "segment_rules.csv", keep_default_na=False)
    assert list(rules.columns) == ["segment", "rule_id", "conditions", "definition", "precision", "coverage", "n"]
    seg = pd.read_csv(demo_dir / "segments.csv", dtype=str, keep_default_na=False)
    assert set(rules["segment"]) == set(seg["segment"]) - {"MIX"}
    assert (rules["definition"] != "").all() and not rules["definition"].str.contains("_").any()  # business words
    customers = pd.read_csv(demo_dir / "inputs" / "customers.csv", dtype={"customer_id": str})
    con = sqlite3.connect(":memory:")
    customers.to_sql("book", con, index=False)
    sql = (demo_dir / "tables" / "segment_rules.sql").read_text(encoding="utf-8")
    case = sql.split("\n", 1)[1].strip()
    got = pd.DataFrame(con.execute(f"SELECT customer_id, {case} AS rule_segment FROM book").fetchall(),
                       columns=["customer_id", "rule_segment"])
    churners = seg.merge(got, on="customer_id")
    assert len(churners) == len(seg)
    # each segment's rules together (first match wins): precision and coverage on the churners
    quality = pd.read_csv(demo_dir / "tables" / "segment_quality.csv")
    for q in quality.itertuples():
        hit = churners["rule_segment"] == q.segment
        inseg = churners["segment"] == q.segment
        assert q.rule_precision == pytest.approx((inseg & hit).sum() / hit.sum(), abs=1e-6)
        assert q.rule_coverage == pytest.approx((inseg & hit).sum() / inseg.sum(), abs=1e-6)
        assert q.rule_precision > 0.8 and q.rule_coverage > 0.8
    # labels exist in the demo: churn rate and AUC per segment are stated
    assert quality["member_churn_rate"].between(0, 1).all() and quality["population_auc"].between(0.5, 1).all()


def test_overlap_and_mixed_reasons_reported(demo_dir):
    seg = pd.read_csv(demo_dir / "segments.csv", dtype=str, keep_default_na=False)
    assert list(seg.columns) == ["customer_id", "segment", "segment_name", "membership_strength", "secondary_segment"]
    m = json.loads((demo_dir / "manifest.json").read_text(encoding="utf-8"))["segmentation"]
    keys = m["overlap"]["keys"]
    both = seg[seg["secondary_segment"] != ""]
    assert len(both) > 0 and (both["secondary_segment"] != both["segment"]).all()
    counts = pd.crosstab(both["segment"], both["secondary_segment"]).reindex(index=keys, columns=keys, fill_value=0)
    assert counts.to_numpy().tolist() == m["overlap"]["counts"]
    mixed_share = (seg["segment"] == "MIX").mean()
    assert mixed_share < 0.1 and (m["mixed"] is None) == (mixed_share == 0)
    html = (demo_dir / "report.html").read_text(encoding="utf-8")
    for text in ("Overlap: primary and secondary segments", "Segments as rules", "Model quality by segment",
                 "Mixed reasons"):
        assert text in html, text
    dossier = (demo_dir / "dossier.html").read_text(encoding="utf-8")
    assert "How a segment is derived" in dossier and "re-measured against the typical customer" in dossier
