"""PSI (hand-computed, identical samples, categories, NaN, out-of-range), reference profile JSON
round trip, driver drift bootstrap on planted data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from churnlens.notes import Note
from churnlens.reports.words import note_text
from churnlens.errors import DataError
from churnlens.monitoring.stability import (
    EPSILON,
    ReferenceProfile,
    band,
    driver_drift,
    monitor,
    psi,
    psi_from_profile,
    reference_profile,
)


def test_identical_samples_zero():
    x = np.random.default_rng(0).normal(size=1000)
    r = psi(x, x.copy())
    assert r.psi == 0.0 and r.band == "stable"
    assert sum(b.reference_share for b in r.bins) == pytest.approx(1.0)
    assert len(r.bins) == 10
    # Same distribution, different order and a constant variable: also 0.
    assert psi(x, x[::-1]).psi == 0.0
    assert psi(np.ones(50), np.ones(20)).psi == 0.0


def test_hand_computed_numeric():
    ref = np.arange(1, 21, dtype=float)  # 20 values: deciles 2, 4, ..., 18 (positions ceil(k n / 10))
    cur = np.array([1.0] * 5 + [20.0] * 5)
    r = psi(ref, cur, name="x")
    assert [b.label for b in r.bins][:2] == ["(-inf, 2)", "[2, 4)"]
    assert r.bins[-1].label == "[18, inf)"
    assert [b.reference_share for b in r.bins] == pytest.approx([0.05] + [0.1] * 8 + [0.15])
    expected = (0.5 - 0.05) * math.log(0.5 / 0.05) + 8 * (EPSILON - 0.1) * math.log(EPSILON / 0.1) \
        + (0.5 - 0.15) * math.log(0.5 / 0.15)
    assert r.psi == pytest.approx(expected, rel=1e-12)
    assert r.band == "shift" and r.name == "x"
    assert sum(b.contribution for b in r.bins) == pytest.approx(r.psi)


def test_hand_computed_levels():
    """Ten distinct values (<= MAX_LEVELS): one bin per value, unseen values in "(other)"."""
    ref = np.arange(1, 11, dtype=float)
    cur = np.array([1.0] * 5 + [10.0] * 4 + [11.0])
    r = psi(ref, cur, name="x")
    assert [b.label for b in r.bins] == [str(i) for i in range(1, 11)] + ["(other)"]
    assert [b.reference_share for b in r.bins] == pytest.approx([0.1] * 10 + [0.0])
    assert [b.current_share for b in r.bins] == pytest.approx([0.5] + [0.0] * 8 + [0.4, 0.1])
    e = EPSILON
    expected = (0.4 * math.log(5) + 8 * (e - 0.1) * math.log(e / 0.1) + 0.3 * math.log(4)
                + (0.1 - e) * math.log(0.1 / e))
    assert r.psi == pytest.approx(expected, rel=1e-12)


def test_out_of_range_values_go_to_open_end_bins():
    ref = np.linspace(0, 1, 101)
    r = psi(ref, np.array([-5.0, 5.0, 7.0, 0.5]))
    assert r.bins[0].current_share == 0.25 and r.bins[-1].current_share == 0.5


def test_duplicate_edges_merged():
    # three values: one bin per value (deciles would have merged 0 with 1)
    ref = np.array([0.0] * 70 + [1.0] * 10 + [2.0] * 20)
    r = psi(ref, ref)
    assert [b.label for b in r.bins] == ["0", "1", "2"]
    assert [b.reference_share for b in r.bins] == pytest.approx([0.7, 0.1, 0.2])
    # Cut points are exact inverted-CDF deciles (numpy's definition).
    x = np.random.default_rng(0).integers(0, 30, 997).astype(float)
    cuts = np.unique(np.quantile(x, np.arange(1, 10) / 10, method="inverted_cdf"))
    labels = [b.label for b in psi(x, x).bins]
    assert labels[0] == f"(-inf, {cuts[cuts > x.min()][0]:.4g})" and len(labels) == (cuts > x.min()).sum() + 1


def test_categorical_new_category_and_missing_hand_computed():
    ref = pd.Series(["a", "a", "b", None])
    cur = pd.Series(["a", "c", "c", None])
    r = psi(ref, cur, categorical=True, name="region")
    assert [b.label for b in r.bins] == ["a", "b", "c", "(missing)"]
    assert [b.reference_share for b in r.bins] == [0.5, 0.25, 0.0, 0.25]
    assert [b.current_share for b in r.bins] == [0.25, 0.0, 0.5, 0.25]
    e = EPSILON
    expected = (0.25 - 0.5) * math.log(0.5) + (e - 0.25) * math.log(e / 0.25) + (0.5 - e) * math.log(0.5 / e)
    assert r.psi == pytest.approx(expected, rel=1e-12)


def test_numeric_missing_bin():
    r = psi(np.array([1.0, 2.0, 3.0, np.nan]), np.array([1.0, np.nan, np.nan, np.nan]))
    miss = r.bins[-1]
    assert miss.label == "(missing)" and miss.reference_share == 0.25 and miss.current_share == 0.75
    assert psi(np.array([1.0, 2.0]), np.array([2.0, 1.0])).bins[-1].label != "(missing)"


def test_bands():
    assert (band(0.0999), band(0.1), band(0.2499), band(0.25)) == ("stable", "moderate", "moderate", "shift")


def _frame(n, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "balance": rng.lognormal(8 + shift, 1, n),
        "logins": rng.poisson(3, n).astype(float),
        "region": pd.Series(rng.choice(["north", "south", "east"], n), dtype="str"),
        "has_card": rng.random(n) < 0.5,
    })
    X.loc[::17, "logins"] = np.nan
    score = 1 / (1 + np.exp(-rng.normal(-2 + shift, 1, n)))
    return X, score


def test_profile_json_round_trip_and_same_psi_as_raw():
    X, s = _frame(500, 0)
    prof = reference_profile(X, s, label="2026-10")
    back = ReferenceProfile.from_json(prof.to_json())
    assert back == prof
    # logins (Poisson(3), at most 10 distinct values here) is low-cardinality: one bin per value
    assert [f.kind for f in prof.features] == ["numeric", "levels", "categorical", "categorical"]
    X2, s2 = _frame(400, 1, shift=0.5)
    sp, fp = psi_from_profile(back, X2, s2)
    assert sp == psi(s, s2, name="score")
    assert fp[0] == psi(X["balance"], X2["balance"], name="balance")
    assert fp[2] == psi(X["region"], X2["region"], categorical=True, name="region")
    assert sp.band == "shift" and fp[2].band == "stable"


def test_profile_bad_json_and_missing_column():
    with pytest.raises(DataError, match="not valid JSON"):
        ReferenceProfile.from_json("{not json")
    with pytest.raises(DataError, match="not a churnlens reference profile"):
        ReferenceProfile.from_json('{"a": 1}')
    X, s = _frame(100, 0)
    prof = reference_profile(X, s)
    with pytest.raises(DataError, match=r"\['region'\].*not in this month's data"):
        psi_from_profile(prof, X.drop(columns="region"), s)


def _planted(n, sigmas, seed):
    return np.random.default_rng(seed).normal(size=(n, len(sigmas))) * np.asarray(sigmas)


def test_driver_drift_covers_true_change_and_is_deterministic():
    feats = ["a", "b", "c"]
    prev, cur = _planted(3000, [1, 1, 2], 0), _planted(3000, [1, 2, 2], 1)
    # E|N(0, s)| is proportional to s: true shares (.25,.25,.5) -> (.2,.4,.4).
    truth = {"a": -0.05, "b": 0.15, "c": -0.1}
    dd = driver_drift(prev, cur, feats, n_boot=300, seed=3)
    assert [d.feature for d in dd] == ["b", "c", "a"]  # by |change|
    for d in dd:
        assert d.ci_low <= truth[d.feature] <= d.ci_high
        assert d.ci_low <= d.change <= d.ci_high
        assert d.ci_high - d.ci_low < 0.06
        assert d.change == pytest.approx(d.current_share - d.previous_share)
    assert driver_drift(prev, cur, feats, n_boot=300, seed=3) == dd
    assert driver_drift(prev, cur, feats, n_boot=300, seed=4) != dd
    # No change when both months are the same customers.
    same = driver_drift(prev, prev, feats, n_boot=50)
    assert all(d.change == 0.0 for d in same)


def test_driver_drift_bad_shape():
    with pytest.raises(DataError, match=r"shape \(customers, 3\)"):
        driver_drift(np.zeros((5, 2)), np.zeros((5, 3)), ["a", "b", "c"])


def test_monitor_sorted():
    X, s = _frame(400, 0)
    X2, s2 = _frame(400, 2, shift=1.0)
    prev, cur = _planted(300, [1, 1, 2, 1], 0), _planted(300, [1, 3, 2, 1], 1)
    ref = Note.of("monitoring.reference", folder="report-2026-10", period="2026-10")
    m = monitor(reference_profile(X, s), X2, s2, prev, cur, list(X.columns), reference=ref, n_boot=50)
    assert m.reference == ref  # a code and parameters; the documents word it
    assert note_text(m.reference, "en") == "report-2026-10 (2026-10)" and note_text(m.reference, "zh") == "report-2026-10（2026-10）"
    unlabelled = Note.of("monitoring.reference_unlabelled", folder="prev")
    m2 = monitor(reference_profile(X, s), X2, s2, None, None, list(X.columns), reference=unlabelled)
    assert note_text(m2.reference, "zh") == "prev（上一期）" and m2.score_psi == m.score_psi
    assert [r.psi for r in m.feature_psi] == sorted((r.psi for r in m.feature_psi), reverse=True)
    assert m.feature_psi[0].name == "balance" and m.driver_drift[0].feature == "logins"
    assert monitor(reference_profile(X, s), X2, s2, None, None, list(X.columns), reference=ref).driver_drift == ()


# --- issue 31.4: drift of every feature type -------------------------------------------------

def _flag(n, share, seed):
    x = np.zeros(n)
    x[np.random.default_rng(seed).permutation(n)[: int(round(share * n))]] = 1.0
    return x


@pytest.mark.parametrize("before,after", [(0.05, 0.50), (0.083, 0.229)])
def test_binary_flag_shift_seen(before, after):
    n = 20_000
    r = psi(_flag(n, before, 0), _flag(n, after, 1), name="deposit_maturing")
    assert [b.label for b in r.bins] == ["0", "1"]
    expected = (after - before) * math.log(after / before) + (before - after) * math.log((1 - after) / (1 - before))
    assert r.psi == pytest.approx(expected, rel=1e-9)
    if before == 0.083:
        assert r.psi == pytest.approx(0.173, abs=0.002) and r.band == "moderate"
    else:
        assert r.band == "shift"
    assert psi(_flag(n, before, 0), _flag(n, before, 2)).psi == 0.0  # same share: nothing seen


def test_zero_inflated_column_spike_bin():
    rng = np.random.default_rng(3)
    n = 20_000

    def col(zero_share, seed):
        r = np.random.default_rng(seed)
        x = r.lognormal(8, 1, n)
        x[r.random(n) < zero_share] = 0.0
        return x

    ref = col(0.6, 1)
    prof = psi(ref, ref)
    assert prof.bins[0].label == "[0, 0]" and prof.bins[0].reference_share == pytest.approx((ref == 0).mean())
    assert len(prof.bins) == 11  # the spike + deciles of the positive balances
    # zeros 60% -> 35%: the old binning (deciles of all values, the cut at the minimum dropped)
    # put 0 and the lowest positive balances together; the spike bin sees the shift
    r = psi(ref, col(0.35, 2))
    assert r.bins[0].current_share == pytest.approx(0.35, abs=0.01)
    assert r.psi > 0.25 and r.band == "shift"
    # a shift inside the positive part alone (zeros unchanged) is seen by the deciles of the rest
    moved = col(0.6, 4)
    moved[moved > 0] *= 3.0
    assert psi(ref, moved).psi > 0.25
    assert psi(ref, col(0.6, 5)).psi < 0.02
    del rng


def test_version_1_profile_still_read():
    """An old folder's reference_profile.json (version 1, no levels/spikes keys) reads and
    applies its stored deciles unchanged."""
    import json

    v1 = {"format": "churnlens.reference_profile", "version": 1, "label": "2026-09",
          "score": {"name": "score", "kind": "numeric", "edges": [0.2, 0.5], "categories": [],
                    "shares": [0.3, 0.3, 0.4], "missing_share": 0.0, "n": 10},
          "features": [{"name": "flag", "kind": "numeric", "edges": [], "categories": [], "shares": [1.0],
                        "missing_share": 0.0, "n": 10},
                       {"name": "region", "kind": "categorical", "edges": [], "categories": ["a", "b"],
                        "shares": [0.6, 0.4], "missing_share": 0.0, "n": 10}]}
    prof = ReferenceProfile.from_json(json.dumps(v1))
    assert prof.features[0].spikes == () and prof.features[0].levels == ()
    X = pd.DataFrame({"flag": [0.0, 1.0, 1.0, 0.0], "region": ["a", "a", "b", "b"]})
    sp, (fl, rg) = psi_from_profile(prof, X, np.array([0.1, 0.3, 0.6, 0.7]))
    assert [b.label for b in fl.bins] == ["(-inf, inf)"] and fl.psi == 0.0  # as version 1 computed it
    assert [b.current_share for b in sp.bins] == [0.25, 0.25, 0.5]
    again = ReferenceProfile.from_json(prof.to_json())
    assert again == prof and json.loads(prof.to_json())["version"] == 2
