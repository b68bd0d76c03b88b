"""Back-test and inference: figures equal sklearn/scipy, fast DeLong equals the direct
definition and agrees with the bootstrap, in-sample warnings, outcomes file errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import brier_score_loss, roc_auc_score

from churnlens.errors import DataError, InputFileError
from churnlens.evaluation.backtest import (
    backtest, in_sample, read_outcomes, read_published, training_data_codes, write_scores,
)
from churnlens.evaluation.inference import _Ranked, bootstrap, delong, delong_test, weighted_auc_ks
from churnlens.evaluation.results import Published


def _data(n=1500, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    s = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * y - 1.5)))
    return y, (np.round(s, 2) if ties else s)


def _published(score, *, listed=None, control=None, segment=None):
    n = len(score)
    ids = np.array([f"{i:06d}" for i in range(n)])  # leading zeros
    return Published(customer_ids=ids, score=score, listed=np.zeros(n, bool) if listed is None else listed,
                     control=np.zeros(n, bool) if control is None else control,
                     segment=np.full(n, "") if segment is None else segment, action=np.full(n, ""),
                     channel=np.full(n, ""), value=np.full(n, np.nan), source="scores", sample_rows=np.ones(n, bool))


@pytest.mark.parametrize("ties", [False, True])
def test_weighted_auc_ks_equal_sklearn_scipy_with_unit_and_count_weights(ties):
    y, s = _data(ties=ties)
    r = _Ranked(y, s)
    auc, ks = weighted_auc_ks(r, np.ones(len(y))[r.order])
    assert auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert ks == pytest.approx(ks_2samp(s[y == 1], s[y == 0]).statistic, abs=1e-12)
    # integer weights = repeated rows
    w = np.random.default_rng(3).integers(0, 4, len(y)).astype(float)
    rep = np.repeat(np.arange(len(y)), w.astype(int))
    auc_w, ks_w = weighted_auc_ks(r, w[r.order])
    assert auc_w == pytest.approx(roc_auc_score(y[rep], s[rep]), abs=1e-12)
    assert ks_w == pytest.approx(ks_2samp(s[rep][y[rep] == 1], s[rep][y[rep] == 0]).statistic, abs=1e-12)


def test_backtest_figures_equal_sklearn_and_interval_covers():
    y, s = _data(n=3000, seed=1)
    outcomes = pd.DataFrame({"customer_id": [f"{i:06d}" for i in range(3000)], "churned": y})
    bt = backtest(_published(s), outcomes, n_boot=100, seed=0)
    assert bt.basis == "backtest" and bt.n_matched == 3000 and bt.codes == ()
    assert bt.auc.value == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert bt.ks.value == pytest.approx(ks_2samp(s[y == 1], s[y == 0]).statistic, abs=1e-12)
    assert bt.brier.value == pytest.approx(brier_score_loss(y, s), abs=1e-12)
    for e in (bt.auc, bt.ks, bt.brier, bt.top_decile_lift):
        assert e.low < e.value < e.high and e.n_boot == 100
    # bootstrap SE of AUC agrees with DeLong's SE
    _, cov = delong(y, [s])
    se_boot = (bt.auc.high - bt.auc.low) / (2 * 1.96)
    assert se_boot == pytest.approx(np.sqrt(cov[0, 0]), rel=0.25)
    # decile lift values equal the plain table
    order = np.argsort(-s, kind="stable")
    top = order[:300]
    assert bt.decile_lift[0].value == pytest.approx(y[top].mean() / y.mean())
    assert len(bt.calibration_rate) == len(bt.quality.calibration)
    # same seed -> identical figures
    assert backtest(_published(s), outcomes, n_boot=100, seed=0) == bt


def test_hit_rates_of_list_control_and_segments():
    y, s = _data(n=2000, seed=2)
    listed = s >= np.quantile(s, 0.8)
    control = listed & (np.arange(2000) % 5 == 0)
    seg = np.where(listed, np.where(np.arange(2000) % 2 == 0, "S1", "S2"), "")
    outcomes = pd.DataFrame({"customer_id": [f"{i:06d}" for i in range(1900)], "churned": y[:1900]})
    bt = backtest(_published(s, listed=listed, control=control, segment=seg), outcomes, n_boot=50, seed=0)
    assert "scores_without_outcome" in bt.codes
    hr = {(h.group, h.key): h for h in bt.hit_rates}
    m = listed[:1900]
    assert hr[("list", "")].rate.value == pytest.approx(y[:1900][m].mean())
    assert hr[("list_control", "")].customers == int(control[:1900].sum())
    assert hr[("segment", "S2")].churners == int(y[:1900][m & (seg[:1900] == "S2")].sum())
    assert hr[("not_listed", "")].rate.low <= hr[("not_listed", "")].rate.value <= hr[("not_listed", "")].rate.high


def test_fast_delong_equals_direct_definition():
    y, s1 = _data(n=300, seed=4, ties=True)
    s2 = np.clip(s1 + np.random.default_rng(5).normal(0, 0.1, len(s1)), 0, 1).round(2)
    aucs, cov = delong(y, [s1, s2])
    pos, neg = y == 1, y == 0

    def placements(s):
        d = s[pos][:, None] - s[neg][None, :]
        psi = (d > 0) + 0.5 * (d == 0)
        return psi.mean(axis=1), psi.mean(axis=0)

    v10 = [placements(s)[0] for s in (s1, s2)]
    v01 = [placements(s)[1] for s in (s1, s2)]
    direct = np.cov(np.vstack(v10)) / pos.sum() + np.cov(np.vstack(v01)) / neg.sum()
    np.testing.assert_allclose(aucs, [roc_auc_score(y, s1), roc_auc_score(y, s2)], atol=1e-12)
    np.testing.assert_allclose(cov, direct, atol=1e-14)
    t = delong_test(y, s1, s2)
    assert t.difference == pytest.approx(aucs[0] - aucs[1])
    assert t.se == pytest.approx(np.sqrt(direct[0, 0] + direct[1, 1] - 2 * direct[0, 1]))


def test_delong_test_identical_models_and_clearly_better():
    y, s = _data(n=2000, seed=6)
    t = delong_test(y, s, s)
    assert t.p_value == 1.0 and t.difference == 0.0
    noise = np.random.default_rng(0).random(len(y))
    assert delong_test(y, s, noise).p_value < 1e-10
    with pytest.raises(DataError, match="at least two churners"):
        delong(np.r_[1, np.zeros(10)], [np.linspace(0, 1, 11)])


def test_in_sample_codes_when_table_looks_like_training_data():
    y, s = _data(n=1000, seed=7)
    perfect = np.where(y == 1, 0.9, 0.1) + np.random.default_rng(0).normal(0, 0.01, len(y))
    bt = in_sample(y, np.clip(perfect, 0, 1), n_boot=20, backtest_auc=0.85)
    assert bt.basis == "in_sample" and bt.outcome_source == "label_column"
    assert "looks_like_training_data" in bt.codes and "near_perfect_separation" in bt.codes
    assert training_data_codes(0.86, 0.85) == ()
    assert training_data_codes(0.961, 0.858) == ("looks_like_training_data",)


def test_scores_file_round_trip_and_old_folder_fallback(tmp_path):
    y, s = _data(n=200, seed=8)
    pub = _published(s, listed=s > 0.5, control=(s > 0.5) & (np.arange(200) % 4 == 0))
    write_scores(tmp_path / "scores.parquet", pub)
    assert read_published(tmp_path) == pub
    old = tmp_path / "old"
    old.mkdir()
    pd.DataFrame({"customer_id": pub.customer_ids, "score": s, "weight": np.r_[np.zeros(50), np.ones(150)]}).to_parquet(
        old / "attributions.parquet")
    listed = pd.DataFrame({"customer_id": pub.customer_ids[:10], "segment": ["S1 Deposits"] * 10, "value": 1.0,
                           "action": "Call", "channel": "phone", "control_group": [True] + [False] * 9})
    listed.to_csv(old / "retention_list.csv", index=False)
    p = read_published(old)
    assert p.source == "population_sample" and p.sample_rows.sum() == 150
    assert p.listed.sum() == 10 and p.control.sum() == 1 and p.segment[0] == "S1"
    with pytest.raises(InputFileError, match="neither scores.parquet"):
        read_published(tmp_path / "nothing")


def test_read_outcomes_keeps_leading_zeros_and_names_problems(tmp_path):
    p = tmp_path / "out.csv"
    p.write_text("customer_id,churned\n007,1\n008,0\n", encoding="utf-8")
    o = read_outcomes(p)
    assert o["customer_id"].tolist() == ["007", "008"] and o["churned"].tolist() == [1, 0]
    p.write_text("customer_id,churned\n007,1\n008,\n", encoding="utf-8")
    with pytest.raises(DataError, match="must hold 0 .stayed. or 1"):
        read_outcomes(p)
    p.write_text("id,churned\n1,1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"lacks the column\(s\) \['customer_id'\]"):
        read_outcomes(p)
    p.write_text("customer_id,churned\n1,1\n1,0\n", encoding="utf-8")
    with pytest.raises(DataError, match="duplicated"):
        read_outcomes(p)
    with pytest.raises(InputFileError, match="does not exist"):
        read_outcomes(tmp_path / "missing.csv")
    y, s = _data(n=50)
    with pytest.raises(DataError, match="None of the 2 outcome ids"):
        backtest(_published(s), pd.DataFrame({"customer_id": ["x", "y"], "churned": [0, 1]}), n_boot=0)


def test_bootstrap_is_seeded():
    y, s = _data(n=500)
    a = bootstrap(y, s, n_boot=30, seed=1)
    b = bootstrap(y, s, n_boot=30, seed=1)
    np.testing.assert_array_equal(a.auc, b.auc)
    assert not np.array_equal(a.auc, bootstrap(y, s, n_boot=30, seed=2).auc)


def test_block_poisson_bootstrap_matches_plain_resampling_when_scores_are_binned():
    """More distinct scores than blocks: the blocked replicates are centred on the exact figure and
    their spread matches the textbook bootstrap (customers drawn with replacement, per customer)."""
    y, s = _data(n=40_000, seed=11)
    fast = bootstrap(y, s, n_boot=300, seed=0, max_blocks=1024)
    r = _Ranked(y, s)
    rng = np.random.default_rng(1)
    slow_auc, slow_ks, slow_brier = [], [], []
    for _ in range(300):
        w = np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y)).astype(float)
        a, k = weighted_auc_ks(r, w[r.order])
        slow_auc.append(a)
        slow_ks.append(k)
        slow_brier.append((w * (s - y) ** 2).sum() / w.sum())
    for f, slow, exact in ((fast.auc, slow_auc, roc_auc_score(y, s)), (fast.ks, slow_ks, None),
                           (fast.brier, slow_brier, brier_score_loss(y, s))):
        assert np.std(f) == pytest.approx(np.std(slow), rel=0.2)
        if exact is not None:
            assert np.mean(f) == pytest.approx(exact, abs=0.5 * np.std(slow))
