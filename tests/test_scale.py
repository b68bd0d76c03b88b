"""Scale behaviour: what is attributed (targeted + sample, or all), chunked streaming giving
the same results as one block, and the Dask engine giving the same results as the local one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from churnlens import cli
from churnlens.demo.book import write_demo_inputs
from churnlens.run.pipeline import population_sample

N = 3000
SAMPLE = 400
WHEN = "2026-11-30T08:00:00+00:00"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_demo_inputs(tmp_path_factory.mktemp("scale") / "inputs", n_customers=N, seed=0)


def _config(inputs, tmp_path: Path, name: str, **attribution) -> Path:
    cfg = yaml.safe_load(Path(inputs.config).read_text(encoding="utf-8"))
    cfg["attribution"] = {"sample": SAMPLE, **attribution}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def _report(inputs, config: Path, out: Path, *extra: str) -> Path:
    code = cli.main(["report", "--model", str(inputs.model), "--data", str(inputs.customers), "--config", str(config),
                     "--out", str(out), "--format", "html", "--generated-at", WHEN, "--quiet", *extra])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def targeted(inputs, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("targeted")
    return _report(inputs, _config(inputs, tmp, "c.yaml"), tmp / "out")


def test_population_sample_is_exact_deterministic_and_order_free():
    ids = np.array([f"C{i:06d}" for i in range(5000)], dtype=object)
    a = population_sample(ids, size=700, seed=3)
    assert a.sum() == 700
    perm = np.random.default_rng(0).permutation(len(ids))
    b = population_sample(ids[perm], size=700, seed=3)
    assert set(ids[a]) == set(ids[perm][b])
    assert not np.array_equal(a, population_sample(ids, size=700, seed=4))
    assert population_sample(ids[:10], size=700, seed=3).all()


def test_targeted_mode_attributes_churners_and_a_weighted_sample(targeted):
    attr = pd.read_parquet(targeted / "attributions.parquet")
    seg = pd.read_csv(targeted / "segments.csv", dtype={"customer_id": str})
    assert set(seg["customer_id"]) <= set(attr["customer_id"])
    weights = attr["weight"].to_numpy()
    assert np.isclose(weights[weights > 0], N / SAMPLE).all()
    assert (weights > 0).sum() == SAMPLE
    churners = len(seg)
    sampled_churners = attr.loc[attr["customer_id"].isin(seg["customer_id"]) & (attr["weight"] > 0)].shape[0]
    assert len(attr) == churners + SAMPLE - sampled_churners
    assert len(attr) < N
    m = json.loads((targeted / "manifest.json").read_text())
    assert m["attribution"]["attributed"].startswith(f"{len(attr):,} of {N:,} customers")
    assert f"{N / SAMPLE:,.1f}" in m["attribution"]["attributed"]


def test_targeted_reason_codes_match_full_attribution(inputs, targeted, tmp_path):
    """The targeted customers' numbers do not depend on who else was attributed."""
    full = _report(inputs, _config(inputs, tmp_path, "all.yaml", mode="all"), tmp_path / "all")
    a = pd.read_parquet(targeted / "attributions.parquet").set_index("customer_id")
    b = pd.read_parquet(full / "attributions.parquet").set_index("customer_id")
    assert len(b) == N and (b["weight"] == 1.0).all()
    shap_cols = [c for c in a.columns if c.startswith("shap__")]
    pd.testing.assert_frame_equal(a[shap_cols], b.loc[a.index, shap_cols])
    ra = pd.read_csv(targeted / "retention_list.csv", dtype={"customer_id": str})
    rb = pd.read_csv(full / "retention_list.csv", dtype={"customer_id": str})
    # what would keep a customer uses values seen among similar customers of the population
    # sample, which the two modes draw differently: the rest of the list is the same
    keep = ["keep_change", "keep_probability", "keep_action"]
    pd.testing.assert_frame_equal(ra.drop(columns=["segment", *keep]), rb.drop(columns=["segment", *keep]))


def test_small_chunks_give_identical_outputs(inputs, targeted, tmp_path):
    out = _report(inputs, _config(inputs, tmp_path, "small.yaml", chunk_rows=350), tmp_path / "small")
    for name in ("segments.csv", "retention_list.csv", "reference_profile.json", "segment_signatures.json"):
        assert (out / name).read_bytes() == (targeted / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_parquet(out / "attributions.parquet"),
                                  pd.read_parquet(targeted / "attributions.parquet"))


def test_top_fraction_rule_gathers_churners_in_a_second_pass(inputs, tmp_path):
    cfg = yaml.safe_load(_config(inputs, tmp_path, "tf.yaml").read_text(encoding="utf-8"))
    cfg["churners"] = {"by": "top_fraction", "fraction": 0.05}
    path = tmp_path / "tf.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    out = _report(inputs, path, tmp_path / "tf")
    seg = pd.read_csv(out / "segments.csv", dtype={"customer_id": str})
    assert len(seg) == round(0.05 * N)
    attr = pd.read_parquet(out / "attributions.parquet")
    assert set(seg["customer_id"]) <= set(attr["customer_id"])


def test_dask_engine_matches_local(inputs, targeted, tmp_path):
    pytest.importorskip("distributed")
    out = _report(inputs, _config(inputs, tmp_path, "c.yaml", chunk_rows=1000), tmp_path / "dask", "--engine", "dask")
    # report.html carries the global drivers (summed on the workers), segments, plan and charts
    for name in ("segments.csv", "retention_list.csv", "reference_profile.json", "report.html"):
        assert (out / name).read_bytes() == (targeted / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_parquet(out / "attributions.parquet"),
                                  pd.read_parquet(targeted / "attributions.parquet"))


def test_scheduler_without_dask_engine_exits_2(inputs, tmp_path, capsys):
    code = cli.main(["report", "--model", str(inputs.model), "--data", str(inputs.customers), "--config",
                     str(inputs.config), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:1", "--quiet"])
    assert code == 2
    assert "--scheduler: a scheduler address is only used with engine 'dask'" in capsys.readouterr().err


def test_streaming_sample_equals_the_batch_definition(inputs, targeted):
    """The scan's bottom-k sample (chunk by chunk) is exactly population_sample over all ids."""
    ids = pd.read_csv(inputs.customers, dtype={"customer_id": str})["customer_id"].to_numpy()
    attr = pd.read_parquet(targeted / "attributions.parquet")
    sampled = set(attr.loc[attr["weight"] > 0, "customer_id"])
    assert sampled == set(ids[population_sample(ids, size=SAMPLE, seed=0)])
