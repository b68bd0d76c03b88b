"""Attribution outputs: probability space, chunking, parquet, reason codes, global drivers."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.special import expit

from churnlens.attribution import (
    Attributions, RiskRange, explain, from_estimator, global_drivers, read_attributions, reason_codes,
    write_attributions,
)
from churnlens.config import parse_config
from churnlens.errors import AdditivityError, InputFileError

N = 1500


@pytest.fixture(scope="module")
def planted():
    """Churn rises when logins < 3 and in region 'east'; age protected, tenure not actionable."""
    rng = np.random.default_rng(1)
    X = pd.DataFrame({
        "logins": rng.integers(0, 12, N).astype(float),
        "region": pd.Categorical(rng.choice(["north", "south", "east"], N)),
        "age": rng.integers(18, 80, N).astype(float),
        "tenure": rng.integers(1, 200, N).astype(float),
    })
    logit = -2.0 + 3.0 * (X.logins < 3) + 1.5 * (X.region == "east") + 0.01 * (X.age - 50) + 0.004 * X.tenure
    y = (rng.random(N) < expit(logit)).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 8, "min_data_per_group": 10, "verbose": -1,
                         "seed": 0, "deterministic": True}, lgb.Dataset(X, y), 40)
    model = from_estimator(booster)
    return model, X, booster


CONFIG = parse_config({"features": {
    "logins": {"label": {"en": "Mobile logins, last 30 days", "zh": "近30天手机登录次数"}, "group": "channel"},
    "region": {"label": {"en": "Region", "zh": "地区"}, "group": "customer"},
    "age": {"label": {"en": "Age", "zh": "年龄"}, "group": "customer", "protected": True},
    "tenure": {"label": {"en": "Months as customer", "zh": "客户月数"}, "group": "customer", "actionable": False,
               "unit": "months"},
}})


def test_probability_space_adds_up_to_probability(planted):
    model, X, booster = planted
    lo = explain(model, X, customer_ids=np.arange(N))
    pr = explain(model, X, customer_ids=np.arange(N), output_space="probability")
    assert pr.output_space == "probability" and "proportional rescaling" in pr.method
    assert pr.base_value == pytest.approx(expit(lo.base_value), abs=1e-15)
    np.testing.assert_allclose(pr.score, booster.predict(X), atol=1e-12)
    np.testing.assert_allclose(pr.base_value + pr.values.astype(np.float64).sum(1), pr.score, atol=1e-6)
    # same signs and same within-customer proportions as the log-odds attributions
    big = np.abs(lo.values) > 1e-3
    assert np.array_equal(np.sign(pr.values[big]), np.sign(lo.values[big]))
    np.testing.assert_array_equal(pr.raw_score, lo.raw_score)


def test_chunking_gives_identical_results_and_reports_progress(planted):
    model, X, _ = planted
    seen = []
    chunked = explain(model, X, customer_ids=np.arange(N), chunk_rows=97, progress=seen.append)
    whole = explain(model, X, customer_ids=np.arange(N), chunk_rows=10_000)
    assert chunked == whole
    assert sum(seen) == N and len(seen) == -(-N // 97)


def test_additivity_failure_is_raised_with_causes(planted, monkeypatch):
    model, X, _ = planted
    fam = model._backend.family
    original = type(fam).raw
    # simulate a model whose outputs disagree with its trees (e.g. shuffled columns)
    monkeypatch.setattr(type(fam), "raw", lambda self, est, M: original(self, est, M[:, ::-1]))
    with pytest.raises(AdditivityError, match=r"(?s)do not add up.*column.*order.*dtypes"):
        explain(model, X, customer_ids=np.arange(N))


@pytest.mark.parametrize("ids", [np.arange(N) * 10, np.array([f"C{i:05d}" for i in range(N)], dtype=object)])
def test_parquet_round_trip(planted, tmp_path, ids):
    model, X, _ = planted
    a = explain(model, X, customer_ids=ids, output_space="probability")
    write_attributions(tmp_path / "attributions.parquet", a)
    cols = pq.read_schema(tmp_path / "attributions.parquet").names
    assert cols == ["customer_id", "score", "base_value", "shap__logins", "shap__region", "shap__age", "shap__tenure",
                    "raw_score"]
    back = read_attributions(tmp_path / "attributions.parquet")
    assert back == a


def test_parquet_written_block_by_block_equals_one_write(planted, tmp_path):
    from dataclasses import replace

    from churnlens.attribution import AttributionsWriter, concat, take

    model, X, _ = planted
    a = explain(model, X, customer_ids=np.arange(len(X)))
    a = replace(a, weight=np.linspace(0.0, 2.0, a.n))
    writer = AttributionsWriter(tmp_path / "blocks.parquet")
    bounds = [0, 7, 100, a.n]
    for lo, hi in zip(bounds, bounds[1:]):
        writer.write(take(a, np.arange(lo, hi)))
    assert not (tmp_path / "blocks.parquet").exists()  # only complete files appear
    writer.close()
    back = read_attributions(tmp_path / "blocks.parquet")
    assert back == a
    assert back == concat([take(a, np.arange(lo, hi)) for lo, hi in zip(bounds, bounds[1:])])


def test_read_attributions_errors(tmp_path):
    with pytest.raises(InputFileError, match=r"missing\.parquet does not exist"):
        read_attributions(tmp_path / "missing.parquet")
    pd.DataFrame({"customer_id": [1], "shap__x": [0.1]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputFileError, match=r"bad\.parquet lacks score, base_value"):
        read_attributions(tmp_path / "bad.parquet")


def _attr(values, features):
    values = np.asarray(values, dtype=np.float32)
    n = values.shape[0]
    return Attributions(np.arange(n), tuple(features), values, 0.0, values.sum(1).astype(float),
                        expit(values.sum(1).astype(float)), "log_odds", 0.0, "test")


def test_reason_codes_exclude_protected_and_break_ties_by_feature_order():
    feats = ("logins", "region", "age", "tenure")
    X = pd.DataFrame({"logins": [1.0, 12345.0, 2.5, np.nan], "region": pd.Categorical(["east", "north", "east", "south"]),
                      "age": [30.0, 40.0, 50.0, 60.0], "tenure": [10.0, 20.0, 30.0, 40.0]})
    values = [[0.5, 0.8, 2.0, 3.0],   # age (protected) and tenure (not actionable) never reasons
              [0.4, 0.4, 0.0, 0.0],   # tie: feature order decides (logins before region)
              [-0.1, 0.2, 0.0, 0.0],  # only one risk-raising reason
              [0.3, -0.2, 0.1, 0.1]]
    rc = reason_codes(_attr(values, feats), X, CONFIG, k=3, min_pp=0.0)
    assert rc.features.tolist() == [["region", "logins", ""], ["logins", "region", ""], ["region", "", ""],
                                    ["logins", "", ""]]
    assert rc.values[:, :2].tolist() == [["east", 1.0], [12345.0, "north"], ["east", None], [rc.values[3, 0], None]]
    assert np.isnan(rc.values[3, 0]) and rc.values[0, 2] is None  # missing value; empty slot
    np.testing.assert_allclose(rc.contributions, np.float32([[0.8, 0.5, 0], [0.4, 0.4, 0], [0.2, 0, 0], [0.3, 0, 0]]))
    # sizes in probability points: 100 * (expit(raw) - expit(raw - phi)), e.g. 9.13 for 0.4 at raw 0.8
    np.testing.assert_allclose(rc.pp[1, :2], 100 * (expit(0.8) - expit(0.4)), atol=1e-4)
    # a minimum size drops trivial reasons (row 1's 0.2 and 0.1 points)
    assert reason_codes(_attr(values, feats), X, CONFIG, k=3, min_pp=1.0).features[0].tolist() == ["", "", ""]
    # numbers and codes only; the documents word them in their language, with the size
    from churnlens.reports.words import reason_texts

    assert reason_texts(rc, CONFIG, "en").tolist() == [
        ["Region: east (+0.2 pp)", "Mobile logins, last 30 days: 1 (+0.1 pp)", ""],
        ["Mobile logins, last 30 days: 12,345 (+9 pp)", "Region: north (+9 pp)", ""],
        ["Region: east (+5 pp)", "", ""],
        ["Mobile logins, last 30 days: missing (+7 pp)", "", ""]]
    zh = reason_texts(reason_codes(_attr(values, feats), X, CONFIG, k=1, min_pp=0.0), CONFIG, "zh")
    assert zh[:, 0].tolist() == ["地区：east（+0.2个百分点）", "近30天手机登录次数：12,345（+9个百分点）",
                                 "地区：east（+5个百分点）", "近30天手机登录次数：缺失（+7个百分点）"]


def test_reason_codes_on_model_match_a_per_customer_loop(planted):
    model, X, _ = planted
    a = explain(model, X, customer_ids=np.arange(N))
    rc = reason_codes(a, X, CONFIG, k=2, min_pp=0.0)
    allowed = [0, 1]  # logins, region (age protected, tenure not actionable)
    for i in range(0, N, 50):
        pairs = sorted(((-float(a.values[i, j]), j) for j in allowed if a.values[i, j] > 0))[:2]
        expected = [a.features[j] for _, j in pairs] + [""] * (2 - len(pairs))
        assert rc.features[i].tolist() == expected


def test_global_drivers_on_planted_relationship(planted):
    model, X, _ = planted
    a = explain(model, X, customer_ids=np.arange(N))
    gd = global_drivers(a, X, CONFIG)
    assert gd.n_customers == N
    top = gd.drivers[0]
    assert top.feature == "logins" and top.group == "channel" and top.direction == "down"
    assert top.risk_range == RiskRange(op="<", low=None, high=3.0)
    region = next(d for d in gd.drivers if d.feature == "region")
    assert region.risk_range == RiskRange(op="in", low=None, high=None, categories=("east",))
    assert region.direction == "mixed"
    v = a.values.astype(np.float64)
    np.testing.assert_allclose([d.mean_abs for d in gd.drivers], np.sort(np.abs(v).mean(0))[::-1], rtol=1e-12)
    assert sum(d.share for d in gd.drivers) == pytest.approx(1.0)
    groups = {g.group: g for g in gd.groups}
    assert set(groups) == {"channel", "customer"}
    assert groups["customer"].mean_abs == pytest.approx(np.abs(v[:, 1:].sum(1)).mean(), rel=1e-12)
    assert groups["customer"].mean_signed == pytest.approx(v[:, 1:].sum(1).mean(), rel=1e-9)
    assert global_drivers(a, X, CONFIG) == gd  # deterministic


def test_cross_check_in_probability_space(planted):
    from churnlens.attribution import cross_check

    model, X, _ = planted
    pr = explain(model, X, customer_ids=np.arange(N), output_space="probability")
    check = cross_check(model, X.iloc[:200], pr.values[:200], output_space="probability")
    assert check.n_rows == 200 and check.max_abs_diff < 1e-6
    # the planted model has a categorical feature: LightGBM's own pred_contrib is the second implementation
    assert check.reference.startswith("LightGBM ") and check.compared.get("theirs").code == "crosscheck.lightgbm"


@pytest.mark.parametrize("value, unit, lang, expected", [
    (-0.634, "percent", "en", "-63%"),
    (0.25, "percent", "zh", "25%"),
    (21.0, "days", "en", "21 days"),
    (21.0, "days", "zh", "21天"),
    (1.36, "pp", "zh", "1.36个百分点"),
    (2389283.42, "CNY", "en", "2,389,283 CNY"),
    (3.0, None, "en", "3"),
    (float("nan"), "days", "zh", "缺失"),
    ("gold", None, "en", "gold"),
])
def test_format_value_units_and_languages(value, unit, lang, expected):
    from churnlens.reports.words import feature_value

    assert feature_value(value, unit=unit, lang=lang) == expected


def test_risk_ranges_of_tail_drivers_with_sentinels_and_wiggles():
    # Drivers whose risk sits in a tail of the book (as competitor rates, deposit maturity and
    # service gaps in the demo): most customers get a small negative attribution.
    rng = np.random.default_rng(4)
    n = 20_000
    has_fd = rng.random(n) < 0.35
    maturity = np.where(has_fd, rng.integers(1, 366, n), 999).astype(float)  # 999 = no deposit
    gap = rng.normal(0.2, 0.3, n)
    rm_days = rng.integers(0, 400, n).astype(float)
    phi_maturity = np.where(maturity < 50, 1.0, -0.1)
    # below the cut: a slight downward slope and noise
    phi_gap = np.where(gap > 0.7, 3.0, -0.1 - 0.05 * gap + rng.normal(0, 0.05, n))
    # risk rises beyond 120 days, with a dip of the model between 200 and 240
    phi_rm = np.where(rm_days > 120, 0.1, -0.08) - 0.25 * ((rm_days >= 200) & (rm_days < 240))
    X = pd.DataFrame({"maturity": maturity, "gap": gap, "rm_days": rm_days})
    values = np.column_stack([phi_maturity, phi_gap, phi_rm]).astype(np.float32)
    gd = global_drivers(_attr(values, X.columns), X, parse_config({}))
    by = {d.feature: d for d in gd.drivers}
    assert by["gap"].direction == "up" and by["gap"].risk_range.op == ">"
    assert 0.69 <= by["gap"].risk_range.low <= 0.7  # the last observed value below the cut
    assert by["maturity"].direction == "down" and by["maturity"].risk_range.op == "<"
    assert by["maturity"].risk_range.high == 50
    # risk rises beyond 120 days but falls in the model's dip: no single threshold, two zones
    # read off the binned dependence (issue 12)
    assert by["rm_days"].direction == "up" and by["rm_days"].risk_range is None
    zones = sorted(by["rm_days"].zones, key=lambda z: z.low)
    assert len(zones) == 2 and 115 <= zones[0].low <= 140 and 180 <= zones[0].high < 200
    assert 230 <= zones[1].low <= 260 and zones[1].high is None  # bin edges: within one bin of 240
    assert all(z.mean_attribution == pytest.approx(0.1, abs=0.03) for z in zones)
    # the one-sided drivers keep their range and have one zone reaching that end
    assert [z.low for z in by["gap"].zones] == [by["gap"].zones[0].low] and by["gap"].zones[0].high is None
    assert len(by["maturity"].zones) == 1 and by["maturity"].zones[0].low is None
    # a rank correlation of both value and attribution would call the rate gap "mixed"
    from scipy.stats import spearmanr

    assert abs(spearmanr(gap, phi_gap)[0]) < 0.2


def test_driver_sums_over_blocks_equal_the_weighted_means(planted):
    """Global means computed block by block (as on Dask workers) equal the weighted means."""
    from dataclasses import replace

    from churnlens.attribution import driver_sums, take

    model, X, _ = planted
    a = explain(model, X, customer_ids=np.arange(len(X)))
    w = np.where(np.arange(a.n) % 3 == 0, 3.0, 0.0)  # a 1-in-3 sample standing for everyone
    a = replace(a, weight=w)
    cfg = parse_config({})
    bounds = [0, 11, 500, a.n]
    sums = [driver_sums(take(a, np.arange(lo, hi)), cfg) for lo, hi in zip(bounds, bounds[1:])]
    merged = sums[0] + sums[1] + sums[2]
    sample = np.flatnonzero(w > 0)
    from_blocks = global_drivers(take(a, sample), X.iloc[sample], cfg, sums=merged)
    direct = global_drivers(take(a, sample), X.iloc[sample], cfg)
    for d1, d2 in zip(from_blocks.drivers, direct.drivers):
        assert d1.feature == d2.feature and d1.direction == d2.direction and d1.risk_range == d2.risk_range
        assert d1.mean_abs == pytest.approx(d2.mean_abs, rel=1e-12)
        assert d1.mean_signed == pytest.approx(d2.mean_signed, rel=1e-12, abs=1e-15)
    expected = np.abs(a.values[sample].astype(np.float64)).mean(axis=0)
    by = {d.feature: d.mean_abs for d in from_blocks.drivers}
    np.testing.assert_allclose([by[f] for f in a.features], expected, rtol=1e-12)
