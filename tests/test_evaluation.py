"""Model quality against sklearn.metrics / scipy.stats oracles, on random and degenerate data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, precision_score, recall_score, roc_auc_score, roc_curve

from churnlens.errors import DataError
from churnlens.evaluation.quality import compare_models, evaluate
from churnlens.notes import Note
from churnlens.reports.words import note_text, notes_text


def _data(n=2000, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(int)
    s = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y - 2)))
    if ties:
        s = np.round(s, 2)
    return y, s


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sklearn_and_scipy(seed, ties):
    y, s = _data(seed=seed, ties=ties)
    q = evaluate(y, s, threshold=0.3, top_fraction=0.1)
    assert q.n == len(y) and q.n_churners == y.sum()
    assert q.auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    fpr, tpr, thr = roc_curve(y, s)
    np.testing.assert_array_equal(q.roc.x, fpr)
    np.testing.assert_array_equal(q.roc.y, tpr)
    # KS = max(TPR - FPR) = two-sample KS statistic of churners' vs non-churners' scores.
    assert q.ks == pytest.approx(ks_2samp(s[y == 1], s[y == 0]).statistic, abs=1e-12)
    assert q.ks == pytest.approx(q.ks_curve.y.max(), abs=0)
    # The KS threshold reproduces the KS as TPR - FPR of "score >= t".
    t = q.ks_threshold
    assert (s[y == 1] >= t).mean() - (s[y == 0] >= t).mean() == pytest.approx(q.ks, abs=1e-12)
    assert q.brier == pytest.approx(brier_score_loss(y, s), abs=1e-15)
    c0, c1 = q.confusion
    pred = (s >= 0.3).astype(int)
    assert (c0.tp, c0.fp, c0.fn, c0.tn) == (
        int(((pred == 1) & (y == 1)).sum()), int(((pred == 1) & (y == 0)).sum()),
        int(((pred == 0) & (y == 1)).sum()), int(((pred == 0) & (y == 0)).sum()))
    assert c0.precision == pytest.approx(precision_score(y, pred))
    assert c0.recall == pytest.approx(recall_score(y, pred))
    assert c0.rule == Note.of("quality.rule_score", threshold=0.3) and note_text(c0.rule, "en") == "score >= 0.30"
    assert c1.tp + c1.fp == 200 and note_text(c1.rule, "en") == "top 10%"
    assert c1.tp == q.deciles[0].churners  # top 10% = decile 1 (same stable ranking)


def test_ks_is_one_sided_for_inverted_model():
    # KS = max(TPR - FPR) is ks_2samp's one-sided statistic; an inverted model scores ~0.
    y, s = _data(seed=3)
    inv = 1 - s
    q = evaluate(y, inv)
    assert q.ks == pytest.approx(ks_2samp(inv[y == 1], inv[y == 0], alternative="less").statistic, abs=1e-12)
    assert q.ks < 0.05 < ks_2samp(inv[y == 1], inv[y == 0]).statistic
    assert q.auc < 0.5


@pytest.mark.parametrize("seed", [0, 5])
def test_lift_table_sums_and_definitions(seed):
    y, s = _data(n=1003, seed=seed, ties=True)
    q = evaluate(y, s)
    d = q.deciles
    assert len(d) == 10
    assert sum(r.customers for r in d) == 1003
    assert [r.customers for r in d] == [101, 101, 101] + [100] * 7
    assert sum(r.churners for r in d) == y.sum()
    assert d[-1].cumulative_capture == pytest.approx(1.0)
    assert d[-1].cumulative_lift == pytest.approx(1.0)
    # Deciles are the stable descending ranking cut into near-equal groups.
    order = np.argsort(-s, kind="stable")
    assert d[0].churners == y[order[:101]].sum()
    overall = y.mean()
    for r in d:
        assert r.rate == pytest.approx(r.churners / r.customers)
        assert r.lift == pytest.approx(r.rate / overall)
    assert all(a.min_score >= b.max_score for a, b in zip(d, d[1:]))


def test_decile_ties_follow_input_order():
    # 20 customers all scored 0.5: deciles are input-order pairs.
    y = np.array([1, 1] + [0] * 18)
    q = evaluate(y, np.full(20, 0.5))
    assert [r.churners for r in q.deciles] == [2] + [0] * 9
    assert q.auc == 0.5 and q.ks == 0.0
    assert q.notes == (Note.of("quality.equal_scores"),)
    assert "equal" in notes_text(q.notes, "en") and "相同" in notes_text(q.notes, "zh")


def test_calibration_matches_calibration_curve():
    y, s = _data(seed=4, ties=True)
    for strategy in ("quantile", "uniform"):
        q = evaluate(y, s, calibration_strategy=strategy)
        true, pred = calibration_curve(y, s, n_bins=10, strategy=strategy)
        np.testing.assert_allclose([r.observed_rate for r in q.calibration], true, rtol=1e-12)
        np.testing.assert_allclose([r.mean_score for r in q.calibration], pred, rtol=1e-12)
        assert sum(r.customers for r in q.calibration) == len(y)
    # Uniform bins on scores below 0.5 leave the upper bins empty: they are omitted.
    q = evaluate(np.array([0, 1, 0, 1]), np.array([0.01, 0.02, 0.03, 0.04]), calibration_strategy="uniform")
    assert len(q.calibration) == 1 and q.calibration[0].customers == 4


def test_single_class_no_crash():
    s = np.linspace(0, 0.9, 50)
    q = evaluate(np.zeros(50, int), s)
    assert q.auc is None and q.ks is None and q.ks_threshold is None
    assert q.roc.x.size == 0 and [n.code for n in q.notes] == ["quality.only_non_churners", "quality.no_churners"]
    assert "Only non-churners" in notes_text(q.notes, "en")
    assert all(math.isnan(r.lift) for r in q.deciles)
    assert q.brier == pytest.approx(brier_score_loss(np.zeros(50), s, labels=[0, 1]))
    assert q.confusion[0].precision == 0.0 and q.confusion[0].recall == 0.0
    zh = notes_text(q.notes, "zh")
    assert "AUC" in zh and "未流失客户" in zh and "没有流失客户" in zh
    assert [note_text(c.rule, "en") for c in q.confusion] == ["score >= 0.50", "top 10%"]
    assert [note_text(c.rule, "zh") for c in q.confusion] == ["评分 ≥ 0.50", "评分最高的 10%"]
    q1 = evaluate(np.ones(50, int), s)
    assert q1.auc is None and q1.notes == (Note.of("quality.only_churners"),)
    assert "Only churners" in notes_text(q1.notes, "en") and "只有流失客户" in notes_text(q1.notes, "zh")
    assert q1.deciles[-1].cumulative_capture == pytest.approx(1.0)


def test_fewer_customers_than_bins():
    q = evaluate(np.array([1, 0, 0]), np.array([0.9, 0.2, 0.1]))
    assert [r.customers for r in q.deciles] == [1, 1, 1]
    assert q.auc == 1.0 and q.ks == 1.0 and q.ks_threshold == 0.9


def test_bool_and_float_labels_accepted():
    y, s = _data(n=300)
    assert evaluate(y.astype(bool), s).auc == evaluate(y.astype(float), s).auc


@pytest.mark.parametrize(
    "label, score, match",
    [
        ([0, 1, 2], [0.1, 0.2, 0.3], r"0 \(stayed\) or 1 \(churned\).*2"),
        ([0, 1], [0.1, 0.2, 0.3], "different lengths"),
        ([0, 1, 1], [0.1, np.nan, 0.3], "NaN or infinite"),
        ([0, 1], [0.1, 3.0], r"probabilities in \[0, 1\]"),
        (["yes", "no"], [0.1, 0.2], "0 \\(stayed\\) or 1"),
        ([], [], "empty"),
    ],
)
def test_bad_inputs(label, score, match):
    with pytest.raises(DataError, match=match):
        evaluate(np.array(label), np.array(score))


def test_compare_models_champion_and_tie_rule():
    y, s = _data(n=3000, seed=7)
    rng = np.random.default_rng(1)
    noisy = np.clip(s + rng.normal(scale=0.2, size=s.size), 0, 1)
    cmp = compare_models(["a.txt", "b.txt"], ["aa", "bb"], y, [noisy, s])
    assert [r.model for r in cmp.rows] == ["b.txt", "a.txt"]
    assert cmp.rows[0].champion and not cmp.rows[1].champion
    assert cmp.rows[0].top_decile_lift == evaluate(y, s).deciles[0].lift
    why = cmp.verdict.get("why")
    assert cmp.verdict.code == "compare.champion" and cmp.verdict.get("model") == "b.txt"
    assert why.code == "compare.higher" and why.get("metric") == Note.of("compare.metric_lift")
    assert why.get("champion") == cmp.rows[0].top_decile_lift and why.get("runner") == "a.txt"
    en, zh = note_text(cmp.verdict, "en"), note_text(cmp.verdict, "zh")
    assert "b.txt" in en and "top-decile lift" in en and "b.txt" in zh and "提升度" in zh
    # Same top decile (same ranking of the top 10%), different AUC: AUC decides.
    order = np.argsort(-s, kind="stable")
    worse = s.copy()
    rest = order[300:]
    worse[rest] = rng.permutation(s[rest])  # scramble below the top decile
    cmp2 = compare_models(["x", "y"], ["1", "2"], y, [worse, s])
    assert cmp2.rows[0].top_decile_lift == cmp2.rows[1].top_decile_lift
    assert cmp2.rows[0].model == "y" and cmp2.verdict.get("why").code == "compare.higher_after_1"
    assert "equal top-decile lift, then highest AUC" in note_text(cmp2.verdict, "en")
    # Complete tie: first listed wins.
    cmp3 = compare_models(["p", "q"], ["1", "2"], y, [s, s.copy()])
    assert cmp3.rows[0].model == "p" and "listed first" in note_text(cmp3.verdict, "en")
    one = compare_models(["m"], ["1"], np.zeros(20, int), [np.linspace(0, 1, 20)])  # AUC undefined
    assert one.verdict.get("auc") is None and "AUC n/a" in note_text(one.verdict, "en")


def test_compare_models_length_mismatch():
    y, s = _data(n=100)
    with pytest.raises(DataError, match="one name, one SHA-256"):
        compare_models(["a", "b"], ["x"], y, [s, s])
