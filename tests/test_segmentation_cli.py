"""Churner selection and degenerate segmentations through `churnlens report` / `segment`.

No churners, one segment and everyone "mixed reasons" must each give a correct report that
explains itself, never a crash. Real LightGBM models on small books with planted reasons;
HTML only to stay fast.
"""

from __future__ import annotations

import json
import math

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from churnlens import cli

N = 1500


def _book(rng, n, *, two_reasons: bool) -> pd.DataFrame:
    frame = pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "logins": rng.poisson(8, n).astype(float),
        "complaints": rng.poisson(0.3, n).astype(float),
        "tenure": rng.integers(1, 200, n).astype(float),
        "aum": rng.lognormal(10, 1, n).round(2),
    })
    risky = (frame.logins < 4) | ((frame.complaints >= 2) if two_reasons else False)
    frame["churned"] = (rng.random(n) < np.where(risky, 0.85, 0.03)).astype(int)
    return frame


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Two books: churn for low logins OR many complaints; churn for low logins only."""
    d = tmp_path_factory.mktemp("seg_cli")
    rng = np.random.default_rng(0)
    params = {"objective": "binary", "verbose": -1, "num_leaves": 8, "seed": 0, "deterministic": True,
              "num_threads": 1, "min_data_in_leaf": 10}
    features = ["logins", "complaints", "tenure", "aum"]
    for name, two in (("two", True), ("one", False)):
        frame = _book(rng, N, two_reasons=two)
        lgb.train(params, lgb.Dataset(frame[features], frame["churned"]), 30).save_model(d / f"{name}.txt")
        frame.to_csv(d / f"{name}.csv", index=False)
    return d


def _config(d, name: str, extra: str = "") -> str:
    path = d / f"{name}.yaml"
    # an extra segmentation: block replaces the default one (a key twice is refused)
    default = "" if extra.startswith("segmentation:") or "\nsegmentation:" in extra else "segmentation: {stability_runs: 2}\n"
    path.write_text("id_column: customer_id\nlabel_column: churned\nvalue_column: aum\n" + default + extra,
                    encoding="utf-8")
    return str(path)


def _report(inputs, book: str, config: str, out) -> tuple[int, str, dict]:
    code = cli.main(["report", "--model", str(inputs / f"{book}.txt"), "--data", str(inputs / f"{book}.csv"),
                     "--config", config, "--out", str(out), "--format", "html", "--quiet"])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8")) if code == 0 else {}
    return code, (out / "report.html").read_text(encoding="utf-8") if code == 0 else "", manifest


def test_value_at_risk_selection_is_deterministic(inputs, tmp_path):
    config = _config(tmp_path, "var", "churners: {by: value_at_risk, fraction: 0.05}\n")
    code, html, manifest = _report(inputs, "two", config, tmp_path / "a")
    assert code == 0
    k = math.ceil(0.05 * N)
    assert manifest["churners"]["by"] == "value_at_risk" and manifest["churners"]["count"] == k
    assert "top 5% of customers by expected value at risk" in manifest["churners"]["rule"]
    assert "expected value at risk" in html
    # exactly the top k customers by score x value
    attributions = pd.read_parquet(tmp_path / "a" / "attributions.parquet")
    aum = pd.read_csv(inputs / "two.csv", dtype={"customer_id": str}).set_index("customer_id")["aum"]
    ear = attributions["score"].to_numpy() * aum.loc[attributions["customer_id"]].to_numpy()
    top = set(attributions["customer_id"].to_numpy()[np.argsort(-ear, kind="stable")[:k]])
    segments = pd.read_csv(tmp_path / "a" / "segments.csv", dtype={"customer_id": str})
    assert set(segments["customer_id"]) == top
    # the same inputs give the same segments, byte for byte
    assert _report(inputs, "two", config, tmp_path / "b")[0] == 0
    assert (tmp_path / "a" / "segments.csv").read_bytes() == (tmp_path / "b" / "segments.csv").read_bytes()


def test_two_reasons_give_two_named_segments(inputs, tmp_path):
    code, html, manifest = _report(inputs, "two", _config(tmp_path, "c"), tmp_path / "r")
    assert code == 0
    seg = manifest["segmentation"]
    names = {s["name"] for s in seg["segments"] if s["key"] != "MIX"}
    assert seg["n_segments"] == 2 and names == {"High complaints", "Low logins"}, seg
    assert seg["stability"]["runs"] == 2 and len(seg["stability"]["segment_jaccard"]) == 2
    segments = pd.read_csv(tmp_path / "r" / "segments.csv")
    assert len(segments) == manifest["churners"]["count"]


def test_no_churners_gives_a_report_that_says_so(inputs, tmp_path):
    config = _config(tmp_path, "none", "churners: {by: score, threshold: 0.99}\n")
    code, html, manifest = _report(inputs, "two", config, tmp_path / "r")
    assert code == 0
    assert manifest["churners"]["count"] == 0 and manifest["segmentation"]["n_segments"] == 0
    note = manifest["segmentation"]["note"]
    assert note.startswith("No customer was selected as a churner (rule: predicted churn probability >= 0.99)")
    assert "No customer was selected as a churner" in html
    assert pd.read_csv(tmp_path / "r" / "segments.csv").empty
    assert pd.read_csv(tmp_path / "r" / "retention_list.csv").empty


def test_everyone_mixed_gives_a_report_that_says_so(inputs, tmp_path):
    # segments of >= 90% of the churners cannot exist when two reasons split them ~50/50
    config = _config(tmp_path, "mixed", "segmentation: {min_cluster_size: 0.9, stability_runs: 2}\n")
    code, html, manifest = _report(inputs, "two", config, tmp_path / "r")
    assert code == 0
    seg = manifest["segmentation"]
    assert seg["n_segments"] == 0 and [s["key"] for s in seg["segments"]] == ["MIX"]
    assert "too scattered for a segment" in seg["note"]
    assert "too scattered for a segment" in html
    segments = pd.read_csv(tmp_path / "r" / "segments.csv")
    assert len(segments) == manifest["churners"]["count"] > 0 and (segments["segment"] == "MIX").all()


def test_one_reason_gives_one_segment_and_says_so(inputs, tmp_path):
    code, html, manifest = _report(inputs, "one", _config(tmp_path, "c"), tmp_path / "r")
    assert code == 0
    seg = manifest["segmentation"]
    assert seg["n_segments"] == 1 and "The churners form a single segment" in seg["note"]
    assert "The churners form a single segment" in html
    assert seg["segments"][0]["name"].startswith("Low logins")


def test_segment_command_selects_from_the_attributions_file(inputs, tmp_path, capsys):
    assert _report(inputs, "two", _config(tmp_path, "c"), tmp_path / "r")[0] == 0
    parquet = tmp_path / "r" / "attributions.parquet"
    config = _config(tmp_path, "top", "churners: {by: top_fraction, fraction: 0.1}\n")
    code = cli.main(["segment", "--attributions", str(parquet), "--config", config, "--out", str(tmp_path / "s"),
                     "--quiet"])
    assert code == 0
    segments = pd.read_csv(tmp_path / "s" / "segments.csv")
    score = pd.read_parquet(parquet)["score"].to_numpy()
    assert len(segments) == math.ceil(0.1 * N) and (segments["segment"] != "").all()
    assert set(segments["customer_id"]) == set(pd.read_parquet(parquet)["customer_id"][np.argsort(-score, kind="stable")[:150]])
    # label/value rules need the customer table: a clear exit 2, nothing written
    capsys.readouterr()
    code = cli.main(["segment", "--attributions", str(parquet), "--config", _config(tmp_path, "lab", "churners: {by: label}\n"),
                     "--out", str(tmp_path / "t"), "--quiet"])
    assert code == 2 and "only has its scores" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_noise_mode_comes_from_the_config(inputs, tmp_path):
    runs = {}
    for mode in ("mixed", "assign"):
        # a materiality floor of 4.4 log-odds (about the 10th percentile of these churners' largest driver)
        # leaves the weaker churners without a material driver: mixed reasons unless assigned
        config = _config(tmp_path, mode, f"segmentation: {{noise: {mode}, assign_min_strength: 0.0, stability_runs: 2, "
                                         "material_floor: 4.4}\n")
        code, _, manifest = _report(inputs, "two", config, tmp_path / mode)
        assert code == 0 and manifest["config"]["segmentation"]["noise"] == mode
        runs[mode] = pd.read_csv(tmp_path / mode / "segments.csv", dtype={"customer_id": str}).set_index("customer_id")
    mixed, assign = runs["mixed"], runs["assign"]
    assert (mixed["segment"] == "MIX").sum() > (assign["segment"] == "MIX").sum()
    kept = mixed["segment"] != "MIX"
    assert (assign.loc[kept.index[kept], "segment"] == mixed.loc[kept, "segment"]).all()
