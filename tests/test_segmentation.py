"""Segmentation on planted attribution profiles: selection, clustering, description, history."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from churnlens.attribution.results import Attributions
from churnlens.config import ChurnerSelection, SegmentationConfig, parse_config
from churnlens.errors import ConfigError, DataError, InputFileError
from churnlens.segmentation import (
    MIXED,
    build_profiles,
    describe,
    load_previous,
    match_previous,
    segment,
    select_churners,
    write_segment_signatures,
    write_segments_csv,
)
from churnlens.segmentation.describe import cohens_d
from churnlens.notes import Note
from churnlens.reports import words

F = 12
FEATURES = tuple(f"f{i:02d}" for i in range(F))
# Planted mechanisms: the features that raise each group's risk.
MECH = ((0, 1), (2, 3), (4, 5, 6), (7,))
SIZES = (400, 300, 200, 150)
FAST = dict(stability_runs=2, seed=0)


def planted(sizes=SIZES, mech=MECH, *, seed=0, n_retained=300, scale_spread=True):
    """Attributions whose churners' risk-raising parts follow planted mechanisms.

    Returns (Attributions, X, truth) with truth = mechanism index for churners, -1 retained.
    """
    rng = np.random.default_rng(seed)
    blocks, truth = [], []
    for k, (size, feats) in enumerate(zip(sizes, mech)):
        v = rng.normal(0.0, 0.03, (size, F))  # small two-sided noise everywhere
        w = rng.dirichlet(np.full(len(feats), 5.0), size)
        level = rng.uniform(1.0, 3.0, (size, 1)) if scale_spread else 1.5
        v[:, list(feats)] += w * level  # the mechanism's drivers carry the risk
        blocks.append(v)
        truth += [k] * size
    retained = rng.normal(-0.4, 0.1, (n_retained, F))
    values = np.vstack(blocks + [retained]).astype(np.float32)
    base = -2.0
    raw = base + values.astype(np.float64).sum(axis=1)
    n = values.shape[0]
    attributions = Attributions(
        customer_ids=np.array([f"C{i:05d}" for i in range(n)], dtype=object),
        features=FEATURES,
        values=values,
        base_value=base,
        raw_score=raw,
        score=1.0 / (1.0 + np.exp(-raw)),
        output_space="log_odds",
        additivity_max_error=0.0,
        method="planted",
    )
    # Feature values: each attribution column mirrors its feature (higher value -> more risk).
    X = pd.DataFrame({f: values[:, i] * 10.0 + rng.normal(0, 0.1, n) for i, f in enumerate(FEATURES)})
    X["region"] = pd.Categorical(np.where(np.arange(n) % 3 == 0, "North", "South"), categories=["North", "South", "West"])
    truth = np.array(truth + [-1] * n_retained)
    return attributions, X, truth


def churner_set(mask):
    return select_churners(mask.astype(float), selection=ChurnerSelection(by="label"), label=mask.astype(int))


CONFIG = parse_config(
    {
        "features": {
            "f00": {"label": {"en": "Mobile logins", "zh": "手机银行登录"}, "group": "channel"},
            "f01": {"label": {"en": "Complaints", "zh": "投诉次数"}, "group": "behaviour"},
            "f02": {"label": {"en": "Days to fixed-deposit maturity", "zh": "定期存款到期天数"}, "group": "product"},
        }
    }
)


def codes(seg) -> list[str]:
    return [n.code for n in seg.notes]


def name(summary, lang: str = "en") -> str:
    """A segment's name as the documents word it (the stage gives parts)."""
    return words.segment_name(summary, CONFIG, lang)


@pytest.fixture(scope="module")
def book():
    return planted()


@pytest.fixture(scope="module")
def seg(book):
    attributions, _, truth = book
    return segment(attributions, churner_set(truth >= 0), config=SegmentationConfig(**FAST))


# --- selection ---------------------------------------------------------------------------


def test_select_by_score_threshold_default_half():
    score = np.array([0.2, 0.5, 0.49999, 0.9])
    cs = select_churners(score, selection=ChurnerSelection())
    assert cs.mask.tolist() == [False, True, False, True]
    assert cs.by == "score" and cs.rule == Note.of("churners.score_even", threshold=0.5)
    assert "more likely than staying" in words.churner_rule(cs, "en") and "0.50" in words.churner_rule(cs, "zh")
    cs = select_churners(score, selection=ChurnerSelection(threshold=0.3))
    assert cs.mask.tolist() == [False, True, True, True]


def test_select_top_fraction_breaks_ties_by_row_order():
    score = np.array([0.3, 0.8, 0.5, 0.8, 0.8, 0.1, 0.5, 0.2, 0.9, 0.0])
    cs = select_churners(score, selection=ChurnerSelection(by="top_fraction", fraction=0.3))
    # ceil(0.3 * 10) = 3: 0.9 (row 8), then the first two of the tied 0.8s (rows 1, 3).
    assert np.flatnonzero(cs.mask).tolist() == [1, 3, 8]
    assert cs.rule == Note.of("churners.top_fraction", percent=30.0, k=3, n=10)
    assert "30%" in words.churner_rule(cs, "en") and "3 of 10" in words.churner_rule(cs, "en")
    cs = select_churners(score, selection=ChurnerSelection(by="top_fraction", fraction=0.25))
    assert cs.count == 3  # ceil(2.5)


def test_select_by_label_and_errors():
    cs = select_churners(np.zeros(4), selection=ChurnerSelection(by="label"), label=np.array([1, 0, 1, 0]))
    assert cs.mask.tolist() == [True, False, True, False] and words.churner_rule(cs, "zh").startswith("实际")
    with pytest.raises(ConfigError, match="label_column"):
        select_churners(np.zeros(4), selection=ChurnerSelection(by="label"))
    with pytest.raises(DataError, match="other than 0/1"):
        select_churners(np.zeros(3), selection=ChurnerSelection(by="label"), label=np.array([0, 2, 1]))
    with pytest.raises(DataError, match="rows"):
        select_churners(np.zeros(3), selection=ChurnerSelection(by="label"), label=np.array([0, 1]))


def test_select_by_value_at_risk():
    score = np.array([0.9, 0.1, 0.5, 0.5, 0.2])
    value = np.array([10.0, 1000.0, 100.0, 100.0, 5.0])
    cs = select_churners(score, selection=ChurnerSelection(by="value_at_risk", fraction=0.4), value=value)
    # score x value = 9, 100, 50, 50, 1 -> top 2: row 1 (100), row 2 (first of the tied 50s).
    assert np.flatnonzero(cs.mask).tolist() == [1, 2]
    assert cs.rule.code == "churners.value_at_risk" and (cs.rule.get("k"), cs.rule.get("n")) == (2, 5)
    assert "value at risk" in words.churner_rule(cs, "en") and "潜在流失资产" in words.churner_rule(cs, "zh")
    with pytest.raises(ConfigError, match="value_column"):
        select_churners(score, selection=ChurnerSelection(by="value_at_risk"))


# --- profiles and clustering -----------------------------------------------------------


def test_profiles_are_risk_shares_and_pca(book):
    attributions, _, truth = book
    rows = np.flatnonzero(truth >= 0)
    prof = build_profiles(attributions, rows, max_dims=5)
    pos = np.clip(attributions.values[rows].astype(np.float64), 0, None)
    np.testing.assert_allclose(prof.shares, pos / pos.sum(1, keepdims=True))
    assert prof.embedding.shape == (rows.size, 5)
    from sklearn.decomposition import PCA

    expected = PCA(5, svd_solver="full").fit_transform(prof.shares)
    np.testing.assert_allclose(prof.embedding, expected, atol=1e-8)
    assert prof.representation.code == "profile.pca" and prof.representation.get("d") == 5
    assert prof.representation.get("explained") == pytest.approx(prof.explained_variance)
    assert build_profiles(attributions, rows, max_dims=20).embedding.shape == (rows.size, F)


def test_planted_clusters_recovered(book, seg):
    _, _, truth = book
    t = truth[seg.rows]
    assert seg.n_segments == len(MECH)
    assert adjusted_rand_score(t, seg.labels) > 0.95
    # ids by size descending: planted sizes are already descending
    sizes = np.bincount(seg.labels[seg.labels >= 0])
    assert (np.diff(sizes) <= 0).all()
    for k in range(len(MECH)):
        assert np.bincount(seg.labels[t == k][seg.labels[t == k] >= 0]).argmax() == k
    assert seg.stability.runs == 2 and seg.stability.overall_ari > 0.9
    assert len(seg.stability.segment_jaccard) == 4 and seg.stability.unstable == ()
    assert seg.notes == () and seg.n_fitted == seg.rows.size
    assert ((seg.strength >= 0) & (seg.strength <= 1)).all()


def test_segments_reflect_reasons_not_risk_level():
    # One mechanism at two very different risk levels stays one segment.
    a, _, truth = planted(sizes=(300, 300), mech=((0, 1), (2, 3)), scale_spread=True)
    values = a.values.copy()
    values[:150] *= 4.0  # half of mechanism 0 is four times as risky
    a = dataclasses.replace(a, values=values)
    s = segment(a, churner_set(truth >= 0), config=SegmentationConfig(**FAST))
    assert s.n_segments == 2
    assert adjusted_rand_score(truth[s.rows], s.labels) > 0.95


def test_deterministic(book, seg):
    attributions, _, truth = book
    again = segment(attributions, churner_set(truth >= 0), config=SegmentationConfig(**FAST))
    assert again == seg


def test_fitting_sample_agrees_with_full_fit(book, seg):
    # Discovery on a 400-churner sample, then every churner assigned by ownership.
    attributions, _, truth = book
    cfg = SegmentationConfig(sample=400, **FAST)
    sampled = segment(attributions, churner_set(truth >= 0), config=cfg)
    assert sampled.n_fitted == 400 and seg.n_fitted == 1050
    assert sampled.n_segments == seg.n_segments
    assert adjusted_rand_score(seg.labels, sampled.labels) > 0.95
    assert sampled == segment(attributions, churner_set(truth >= 0), config=cfg)
    other_seed = segment(attributions, churner_set(truth >= 0), config=cfg.model_copy(update={"seed": 1}))
    assert other_seed.n_fitted == 400 and adjusted_rand_score(seg.labels, other_seed.labels) > 0.95
    # a different fitting sample finds the same segments: assignment is by ownership, not by the sample
    assert adjusted_rand_score(sampled.labels, other_seed.labels) > 0.95


def test_noise_mixed_versus_assign():
    rng = np.random.default_rng(3)
    a, X, truth = planted(sizes=(300, 300), mech=((0, 1), (2, 3)))
    # 40 churners with scattered reasons (random shares over all features): mostly unclustered.
    blend = rng.dirichlet(np.full(F, 0.5), 40)
    values = np.vstack([a.values, blend.astype(np.float32)])
    n = values.shape[0]
    raw = -2.0 + values.astype(np.float64).sum(1)
    a = dataclasses.replace(a, values=values, customer_ids=np.arange(n), raw_score=raw, score=1 / (1 + np.exp(-raw)))
    mask = np.r_[truth >= 0, np.ones(40, bool)]
    cfg = SegmentationConfig(min_cluster_size=0.1, **FAST)
    mixed = segment(a, churner_set(mask), config=cfg)
    assigned = segment(a, churner_set(mask), config=cfg.model_copy(update={"noise": "assign"}))
    strict = segment(a, churner_set(mask), config=cfg.model_copy(update={"noise": "assign", "assign_min_strength": 0.99}))
    n_mixed = int((mixed.labels == MIXED).sum())
    assert n_mixed >= 20 and mixed.noise == "mixed" and mixed.n_assigned == 0
    assert (mixed.labels[:600] != MIXED).all()  # the planted churners are clustered
    # Two segments: the normalised membership's largest entry is >= 0.5, so all are assigned.
    assert assigned.n_assigned == n_mixed and (assigned.labels != MIXED).all()
    moved = mixed.labels == MIXED
    assert (assigned.strength[moved] >= 0.5).all() and (assigned.strength[moved] <= 1).all()
    assert np.array_equal(mixed.labels[~moved], assigned.labels[~moved])
    # They go to the segment of the mechanism that carries more of their risk.
    seg_of = {k: np.bincount(mixed.labels[:600][truth[:600] == k]).argmax() for k in (0, 1)}
    lean = np.where(blend[:, [0, 1]].sum(1) > blend[:, [2, 3]].sum(1), seg_of[0], seg_of[1])
    m40 = moved[-40:]
    assert np.mean(assigned.labels[-40:][m40] == lean[m40]) >= 0.75
    # Nobody is that sure at 0.99: assign mode then equals mixed mode.
    assert strict.n_assigned == 0 and np.array_equal(strict.labels, mixed.labels)


# --- degenerate cases ----------------------------------------------------------------------


def test_no_churners(book):
    attributions, X, _ = book
    s = segment(attributions, churner_set(np.zeros(attributions.n, bool)), config=SegmentationConfig(**FAST))
    assert s.n_segments == 0 and s.rows.size == 0 and codes(s) == ["segmentation.no_churners"]
    assert s.notes[0].get("rule") == Note.of("churners.label")
    assert "No customer was selected" in words.segmentation_note(s, "en") and "没有客户" in words.segmentation_note(s, "zh")
    assert describe(s, attributions, X, CONFIG) == ()


def test_fewer_churners_than_a_segment(book):
    attributions, X, truth = book
    mask = np.zeros(attributions.n, bool)
    mask[:20] = True
    s = segment(attributions, churner_set(mask), config=SegmentationConfig(min_cluster_size=50, **FAST))
    assert s.n_segments == 0 and (s.labels == MIXED).all() and s.min_cluster_size == 50
    assert s.notes == (Note.of("segmentation.too_few", m=20, mcs=50),)
    assert "fewer than the minimum segment size of 50" in words.segmentation_note(s, "en")
    (mix,) = describe(s, attributions, X, CONFIG)
    assert mix.key == "MIX" and mix.size == 20 and name(mix) == "Mixed reasons" and mix.stability is None


def test_one_segment():
    a, X, truth = planted(sizes=(500,), mech=((2, 3),), n_retained=200)
    s = segment(a, churner_set(truth >= 0), config=SegmentationConfig(min_cluster_size=0.05, **FAST))
    assert s.n_segments == 1 and "segmentation.single_material" in codes(s)
    assert set(s.segment_drivers[0]) == {"f02", "f03"}
    assert "single segment" in words.segmentation_note(s, "en") and "单一客群" in words.segmentation_note(s, "zh")
    inside = s.labels == 0
    assert inside.mean() > 0.95 and (s.strength[~inside] == 0).all()
    # membership strength = the segment's drivers' share of the churner's material attribution,
    # attributions measured against the retained customers' median
    A = a.values.astype(np.float64)
    pos = np.clip(A[s.rows] - np.median(A[truth < 0], axis=0), 0, None)
    cut = np.maximum(0.5, 0.2 * pos.max(1, keepdims=True))
    mat = np.where(pos >= cut, pos, 0.0)
    np.testing.assert_allclose(s.reference, np.median(A[truth < 0], axis=0))
    np.testing.assert_allclose(s.strength[inside], mat[inside][:, [2, 3]].sum(1) / mat[inside].sum(1))
    assert (s.secondary == MIXED).all() and s.overlap.shape == (1, 1)
    summaries = describe(s, a, X, CONFIG)
    assert [x.key for x in summaries] == (["S1", "MIX"] if (~inside).any() else ["S1"])
    assert set(summaries[0].top_drivers) == {"f02", "f03"}
    assert "high days to fixed-deposit maturity" in name(summaries[0]).lower()  # value above retained
    assert "定期存款到期天数偏高" in name(summaries[0], "zh")


def test_all_mixed_when_reasons_are_scattered():
    rng = np.random.default_rng(5)
    m = 400
    values = np.zeros((m, F), np.float32)
    # Every churner driven by its own random pair of features with random weights.
    for i in range(m):
        values[i, rng.choice(F, 3, replace=False)] = rng.dirichlet(np.ones(3))
    raw = -1.0 + values.sum(1).astype(np.float64)
    a = Attributions(np.arange(m), FEATURES, values, -1.0, raw, 1 / (1 + np.exp(-raw)), "log_odds", 0.0, "planted")
    X = pd.DataFrame(values, columns=list(FEATURES))
    s = segment(a, churner_set(np.ones(m, bool)), config=SegmentationConfig(min_cluster_size=0.3, **FAST))
    assert s.n_segments == 0 and (s.labels == MIXED).all()
    assert s.notes[-1] == Note.of("segmentation.all_mixed", mcs=s.min_cluster_size, n_material=s.n_material, m=m)
    assert "too scattered" in words.segmentation_note(s, "en")
    (mix,) = describe(s, a, X, CONFIG)
    assert mix.size == m and mix.traits_vs_retained == ()  # nobody retained


# --- describe --------------------------------------------------------------------------------


def test_describe_numbers_match_numpy(book, seg):
    attributions, X, truth = book
    value = np.linspace(1.0, 2.0, attributions.n)
    summaries = describe(seg, attributions, X, CONFIG, value=value)
    keys = [s.key for s in summaries]
    assert keys[: seg.n_segments] == [f"S{i + 1}" for i in range(seg.n_segments)]
    assert len({name(s) for s in summaries}) == len(summaries)
    assert len({name(s, "zh") for s in summaries}) == len(summaries)
    A = attributions.values.astype(np.float64)
    churn_rows = seg.rows
    retained = np.setdiff1d(np.arange(attributions.n), churn_rows)
    for s in summaries:
        rows = churn_rows[seg.labels == s.segment_id]
        others = churn_rows[seg.labels != s.segment_id]
        assert s.size == rows.size and s.share == pytest.approx(rows.size / churn_rows.size)
        assert s.mean_score == pytest.approx(attributions.score[rows].mean())
        assert s.value_at_risk == pytest.approx(np.sum(attributions.score[rows] * value[rows]))
        mean_abs = np.abs(A[rows]).mean(0)
        top = FEATURES[int(np.argmax(mean_abs))]
        assert s.signature[0].feature == top
        assert s.signature[0].share == pytest.approx(mean_abs.max() / mean_abs.sum())
        assert s.signature[0].mean_attribution == pytest.approx(A[rows, FEATURES.index(top)].mean())
        # drivers: Cohen's d on attributions vs other churners
        e = s.drivers_vs_churners[0]
        j = FEATURES.index(e.feature)
        x1, x2 = A[rows, j], A[others, j]
        sp = np.sqrt(((x1.size - 1) * x1.var(ddof=1) + (x2.size - 1) * x2.var(ddof=1)) / (x1.size + x2.size - 2))
        assert e.effect_size == pytest.approx((x1.mean() - x2.mean()) / sp)
        assert abs(e.effect_size) == pytest.approx(max(abs(x.effect_size) for x in s.drivers_vs_churners))
        # traits vs retained, numeric feature
        t = next(x for x in s.traits_vs_retained if x.level == "")
        v1, v2 = X[t.feature].to_numpy()[rows], X[t.feature].to_numpy()[retained]
        sp = np.sqrt(((v1.size - 1) * v1.var(ddof=1) + (v2.size - 1) * v2.var(ddof=1)) / (v1.size + v2.size - 2))
        assert t.effect_size == pytest.approx((v1.mean() - v2.mean()) / sp)
        # group signature: mean |sum of the group's attributions|
        ch = {g.group: g for g in s.group_signature}["channel"]
        assert ch.mean_attribution == pytest.approx(A[rows, 0].mean())
        other_cols = [i for i in range(F) if i > 2]
        oth = {g.group: g for g in s.group_signature}["other"]
        assert oth.mean_attribution == pytest.approx(A[rows][:, other_cols].sum(1).mean())
        assert sum(g.share for g in s.group_signature) == pytest.approx(1.0)
        assert s.stability == pytest.approx(seg.stability.segment_jaccard[s.segment_id])
        assert sum(s.profile) == pytest.approx(1.0)
    # the planted mechanism's features name the segment (business labels where known)
    s_mech0 = next(s for s in summaries if set(s.top_drivers) == {"f00", "f01"})
    assert name(s_mech0) in ("High mobile logins & high complaints", "High complaints & high mobile logins")
    assert "手机银行登录偏高" in name(s_mech0, "zh") and "、" in name(s_mech0, "zh") and " " not in name(s_mech0, "zh")
    # categorical traits compare level shares
    region = [x for s in summaries for x in s.traits_vs_churners + s.traits_vs_retained if x.feature == "region"]
    assert all(x.level in ("North", "South") for x in region)


def test_cohens_d_closed_form():
    x1, x2 = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0, 8.0])
    sp = np.sqrt((2 * x1.var(ddof=1) + 3 * x2.var(ddof=1)) / 5)
    assert float(cohens_d(3, x1.mean(), x1.var(ddof=1), 4, x2.mean(), x2.var(ddof=1))) == pytest.approx(
        (x1.mean() - x2.mean()) / sp)
    assert float(cohens_d(3, 1.0, 0.0, 3, 1.0, 0.0)) == 0.0



def test_retained_statistics_in_row_blocks_equal_the_whole_matrix(monkeypatch):
    """The retained customers' trait statistics, computed block by block without the whole
    matrix, are the whole matrix's numbers bit for bit (NaN, text levels and a one-column case)."""
    import importlib

    d = importlib.import_module("churnlens.segmentation.describe")

    rng = np.random.default_rng(3)
    n = 1_000
    X = pd.DataFrame({"a": rng.lognormal(3, 2, n), "b": rng.normal(size=n).astype(np.float32),
                      "c": rng.choice(["x", "y", None], n)})
    X.loc[rng.random(n) < 0.1, "a"] = np.nan
    rows = np.flatnonzero(rng.random(n) < 0.9)
    monkeypatch.setattr(d, "STATS_BLOCK", 97)  # several blocks
    for cols in (["a", "b", "c"], ["a"]):
        T, _, _ = d.trait_matrix(X[cols])
        got = d._RowGroup(X, d._trait_columns(X, cols), rows).stats()
        for g, e in zip(got, d._stats(T[rows])):
            assert np.array_equal(g, e, equal_nan=True)
# --- files and month over month --------------------------------------------------------------


def test_segments_csv_and_previous_roundtrip(tmp_path, book, seg):
    attributions, X, _ = book
    summaries = describe(seg, attributions, X, CONFIG)
    names = words.segment_names(summaries, CONFIG, "en")
    write_segments_csv(tmp_path / "segments.csv", seg, summaries, names=names)
    write_segment_signatures(tmp_path / "segment_signatures.json", summaries, names=names)
    frame = pd.read_csv(tmp_path / "segments.csv")
    assert list(frame.columns) == ["customer_id", "segment", "segment_name", "membership_strength",
                                   "secondary_segment"]
    key = {s.segment_id: s.key for s in summaries}
    frame = pd.read_csv(tmp_path / "segments.csv", dtype=str, keep_default_na=False)
    assert frame["secondary_segment"].tolist() == [key[int(x)] if x >= 0 else "" for x in seg.secondary]
    assert len(frame) == seg.rows.size and frame["customer_id"].tolist() == list(seg.customer_ids)
    assert all(names[k] == z for k, z in zip(frame["segment"], frame["segment_name"]))
    prev = load_previous(tmp_path)
    assert prev.keys.tolist() == frame["segment"].tolist()
    assert [p.key for p in prev.signatures] == [s.key for s in summaries]

    # Same data again: every segment keeps its key and name, nobody moves.
    again, migration = match_previous(summaries, seg, prev)
    assert again == summaries
    assert migration.new_segments == () and migration.vanished_segments == ()
    assert all(m.key == m.previous_key and m.similarity > 0.999 for m in migration.matches)
    assert all(f.from_key == f.to_key for f in migration.flows)
    assert sum(f.count for f in migration.flows) == seg.rows.size


def test_match_previous_detects_new_and_vanished_segments(tmp_path):
    # Last month: mechanisms 0, 1, 2. This month: 0, 1 and a new one (7); 2 vanished.
    a1, X1, t1 = planted(sizes=(400, 300, 200), mech=((0, 1), (2, 3), (4, 5, 6)), seed=1)
    s1 = segment(a1, churner_set(t1 >= 0), config=SegmentationConfig(**FAST))
    d1 = describe(s1, a1, X1, CONFIG)
    names = words.segment_names(d1, CONFIG, "en")
    write_segments_csv(tmp_path / "segments.csv", s1, d1, names=names)
    write_segment_signatures(tmp_path / "segment_signatures.json", d1, names=names)
    a2, X2, t2 = planted(sizes=(300, 400, 250), mech=((2, 3), (0, 1), (7, 8)), seed=2)
    s2 = segment(a2, churner_set(t2 >= 0), config=SegmentationConfig(**FAST))
    d2 = describe(s2, a2, X2, CONFIG)
    out, migration = match_previous(d2, s2, load_previous(tmp_path))
    old01 = next(s for s in d1 if set(s.top_drivers) == {"f00", "f01"})
    old23 = next(s for s in d1 if set(s.top_drivers) == {"f02", "f03"})
    old456 = next(s for s in d1 if s.key not in (old01.key, old23.key) and s.segment_id >= 0)
    now01 = next(s for s in out if set(s.top_drivers) == {"f00", "f01"})
    now23 = next(s for s in out if set(s.top_drivers) == {"f02", "f03"})
    now78 = next(s for s in out if set(s.top_drivers) == {"f07", "f08"})
    assert now01.key == old01.key and name(now01) == name(old01)  # kept although now the largest
    assert now23.key == old23.key
    assert now78.key == "S4" and migration.new_segments == ("S4",)
    assert migration.vanished_segments == (old456.key,) and set(old456.top_drivers) <= {"f04", "f05", "f06"}
    # customer ids are shared positionally between the two planted books: flows add up
    assert sum(f.count for f in migration.flows if f.to_key != "GONE") == s2.rows.size
    assert sum(f.count for f in migration.flows if f.from_key != "NEW") == s1.rows.size


def test_load_previous_errors(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        load_previous(tmp_path / "nope")
    with pytest.raises(InputFileError, match="segments.csv is missing"):
        load_previous(tmp_path)
    (tmp_path / "segments.csv").write_text("customer_id,cluster\nC1,S1\n")
    (tmp_path / "segment_signatures.json").write_text(json.dumps({"segments": []}))
    with pytest.raises(InputFileError, match=r"lacks the column\(s\) \['segment'\]"):
        load_previous(tmp_path)
    (tmp_path / "segments.csv").write_text("customer_id,segment\nC1,S1\n")
    with pytest.raises(InputFileError, match=r"segment keys \['S1'\]"):
        load_previous(tmp_path)
    (tmp_path / "segment_signatures.json").write_text("{not json")
    with pytest.raises(InputFileError, match="not valid JSON"):
        load_previous(tmp_path)


def test_no_risk_raising_attribution_is_explained(book):
    attributions, X, truth = book
    values = -np.abs(attributions.values)  # every attribution lowers risk
    a = dataclasses.replace(attributions, values=values)
    s = segment(a, churner_set(truth >= 0), config=SegmentationConfig(**FAST))
    assert s.n_segments == 0 and (s.labels == MIXED).all() and codes(s) == ["segmentation.no_material"]
    # re-measured against the retained customers' median, some attributions turn positive, none material
    pos = np.clip(values[s.rows] - np.median(values[truth < 0], axis=0), 0, None)
    assert s.notes[0].get("n_material") == 0 and s.notes[0].get("none") == int((pos.sum(1) <= 0).sum())
    assert s.mixed.counts[0] == ("no_material_driver", s.rows.size)
    assert "no shared reasons to group" in words.segmentation_note(s, "en")
    (mix,) = describe(s, a, X, CONFIG)
    assert mix.size == int((truth >= 0).sum())


def test_scattered_reasons_stay_mixed_unless_a_segment_driver_dominates():
    # 200 churners with scattered reasons (random shares over all 12 features): the planted
    # segments stay exact, the scattered churners make no segment of their own, and the
    # ones that do join a segment have that segment's driver as their largest reason.
    rng = np.random.default_rng(0)
    a, _, _ = planted(sizes=(400, 400), mech=((0, 1), (2, 3)), n_retained=50)
    scattered = rng.dirichlet(np.full(F, 0.3), 200) * rng.uniform(1, 3, (200, 1))
    values = np.vstack([a.values[:800], scattered.astype(np.float32)])
    n = values.shape[0]
    raw = -2.0 + values.astype(np.float64).sum(1)
    a = dataclasses.replace(a, values=values, customer_ids=np.arange(n), raw_score=raw, score=1 / (1 + np.exp(-raw)))
    s = segment(a, churner_set(np.ones(n, bool)), config=SegmentationConfig(max_dims=3, **FAST))
    assert s.n_segments == 2 and sorted(map(set, s.segment_drivers), key=min) == [{"f00", "f01"}, {"f02", "f03"}]
    assert adjusted_rand_score(np.repeat([0, 1], 400), s.labels[:800]) == 1.0
    assert np.mean(s.labels[800:] == MIXED) > 0.6
    top = scattered.argmax(1)
    joined = s.labels[800:] >= 0
    owner = {FEATURES.index(f): k for k in range(2) for f in s.segment_drivers[k]}
    assert all(owner.get(int(t)) == int(lab) for t, lab in zip(top[joined], s.labels[800:][joined]))
    # the mixed group is described by numbers: why its members are mixed and their drivers
    mix = s.mixed
    assert mix.size == int((s.labels == MIXED).sum()) and sum(c for _, c in mix.counts) == mix.size
    assert all(d.feature not in ("f00", "f01", "f02", "f03") or d.member_share < 0.5 for d in mix.drivers)
    # what was dropped or resolved is stated as notes, worded in both languages
    for lang in ("en", "zh"):
        assert words.segmentation_note(s, lang)


def test_describe_without_feature_values(book, seg):
    # `churnlens segment` has only the attributions file: no traits, no direction words.
    attributions, X, _ = book
    with_x = describe(seg, attributions, X, CONFIG)
    without = describe(seg, attributions, None, CONFIG)
    assert [s.key for s in without] == [s.key for s in with_x]
    for a, b in zip(with_x, without):
        assert b.traits_vs_churners == () and b.traits_vs_retained == ()
        assert (a.signature, a.drivers_vs_churners, a.top_drivers) == (b.signature, b.drivers_vs_churners, b.top_drivers)
        assert not name(b).startswith(("High ", "Low "))


def test_clusters_with_the_same_reasons_are_merged():
    # One mechanism (f00, f01) in two tight mixes, 70/30 and 50/50: HDBSCAN separates the mixes,
    # but their mean profiles have cosine 0.93 >= 0.8, i.e. the same reasons -> one segment.
    # A second mechanism (f04, f05) stays its own segment.
    rng = np.random.default_rng(2)
    blocks = []
    # (the last 40: the first mechanism with a looser mix, partly left unclustered by HDBSCAN)
    for size, feats, mix, conc in ((300, (0, 1), (0.7, 0.3), 400), (300, (0, 1), (0.5, 0.5), 400),
                                   (300, (4, 5), (0.5, 0.5), 400), (40, (0, 1), (0.6, 0.4), 3)):
        v = rng.normal(0.0, 0.005, (size, F))
        v[:, list(feats)] += rng.dirichlet(np.array(mix) * conc, size) * rng.uniform(1, 3, (size, 1))
        blocks.append(v)
    values = np.vstack(blocks).astype(np.float32)
    n = values.shape[0]
    raw = -2.0 + values.astype(np.float64).sum(1)
    a = Attributions(np.arange(n), FEATURES, values, -2.0, raw, 1 / (1 + np.exp(-raw)), "log_odds", 0.0, "planted")
    truth = np.repeat([0, 0, 1, 0], [300, 300, 300, 40])
    cfg = SegmentationConfig(min_cluster_size=0.05, **FAST)
    s = segment(a, churner_set(np.ones(n, bool)), config=cfg)
    kept = s.labels != MIXED
    assert s.n_segments == 2 and adjusted_rand_score(truth[kept], s.labels[kept]) > 0.95
    merged = [x for x in s.notes if x.code == "segmentation.merged"]
    assert merged and merged[0].get("count") >= 1 and merged[0].get("similarity") == 0.8
    assert "found by HDBSCAN had the same reasons" in words.segmentation_note(s, "en")
    assert "已合并" in words.segmentation_note(s, "zh")
    # assignment is by the segments' drivers, so the loosely mixed 40 join their mechanism's segment too
    assert (s.labels != MIXED).all() and adjusted_rand_score(truth, s.labels) > 0.95
    # the stability re-clusterings are merged the same way, so the merged segment is stable
    assert s.stability.overall_ari > 0.9 and min(s.stability.segment_jaccard) > 0.9
    # without the merge HDBSCAN's own clusters are the two mixes
    import hdbscan

    hdb = hdbscan.HDBSCAN(min_cluster_size=s.fit_min_cluster_size, min_samples=s.min_samples).fit(
        build_profiles(a, s.rows, max_dims=20).embedding)
    clustered = hdb.labels_[:900] >= 0
    assert adjusted_rand_score(np.repeat([0, 1, 2], 300)[clustered], hdb.labels_[:900][clustered]) > 0.9
    summaries = describe(s, a, None, CONFIG)
    assert len({name(x) for x in summaries}) == len(summaries)
    assert not any("(S" in name(x) for x in summaries)  # no clash that needed the key


def test_segment_name_uses_the_dictionary_wording_for_low_and_high():
    from churnlens.config import parse_config
    from churnlens.segmentation.results import NamePart, SegmentSummary

    cfg = parse_config({"features": {
        "logins_change": {"label": {"en": "Change in logins", "zh": "登录变动"},
                          "low": {"en": "Collapsing app use", "zh": "手机银行使用骤降"}},
        "complaints": {"label": {"en": "Complaints", "zh": "投诉次数"}},
    }})

    def named(*parts, with_key=False):
        s = SegmentSummary(0, "S1", tuple(NamePart(*p) for p in parts), 1, 1.0, 0.5, 0.0, (), (), (), (), (), (), None,
                           name_with_key=with_key)
        return words.segment_name(s, cfg, "en"), words.segment_name(s, cfg, "zh")

    assert named(("logins_change", "low")) == ("Collapsing app use", "手机银行使用骤降")
    assert named(("logins_change", "high")) == ("High change in logins", "登录变动偏高")
    assert named(("complaints",)) == ("Complaints", "投诉次数")
    assert named(("complaints", "high"), ("logins_change", "low")) == ("High complaints & collapsing app use",
                                                                        "投诉次数偏高、手机银行使用骤降")
    assert named(("complaints",), with_key=True) == ("Complaints (S1)", "投诉次数（S1）")
    assert named() == ("Segment S1", "客群 S1")


def test_a_mechanism_spread_thinly_over_its_drivers_joins_its_segment():
    # 60 churners carry mechanism (f00, f01, f02) at 0.3 log-odds per feature: no single driver
    # reaches the 0.5 floor, but the segment's drivers together do (0.9), and their largest
    # driver is one of them -> they join that segment, strength = 0.9 / all their risk-raising
    # attribution. 30 faint churners (0.2 on f03, 0.1 on f00) stay mixed: 0.2 < 0.5.
    rng = np.random.default_rng(4)
    blocks = []
    for size, feats in ((300, (0, 1, 2)), (300, (3, 4))):
        v = rng.normal(0.0, 0.005, (size, F))
        v[:, list(feats)] += rng.dirichlet(np.full(len(feats), 6.0), size) * rng.uniform(2, 3, (size, 1))
        blocks.append(v)
    thin = rng.normal(0.0, 0.005, (60, F))
    thin[:, :3] += 0.3
    faint = rng.normal(0.0, 0.005, (30, F))
    faint[:, 3] += 0.2
    faint[:, 0] += 0.1
    values = np.vstack(blocks + [thin, faint]).astype(np.float32)
    n = values.shape[0]
    raw = -2.0 + values.astype(np.float64).sum(1)
    a = Attributions(np.arange(n), FEATURES, values, -2.0, raw, 1 / (1 + np.exp(-raw)), "log_odds", 0.0, "planted")
    s = segment(a, churner_set(np.ones(n, bool)), config=SegmentationConfig(min_cluster_size=0.05, **FAST))
    assert s.n_segments == 2 and np.array_equal(s.reference, np.zeros(F))  # no non-churner: measured against 0
    seg_a = int(np.bincount(s.labels[:300]).argmax())
    assert set(s.segment_drivers[seg_a]) == {"f00", "f01", "f02"}
    assert adjusted_rand_score(np.repeat([0, 1], 300), s.labels[:600]) == 1.0
    assert (s.labels[600:660] == seg_a).all() and (s.secondary[600:660] == MIXED).all()
    pos = np.clip(values[600:660].astype(np.float64), 0, None)
    np.testing.assert_allclose(s.strength[600:660], pos[:, :3].sum(1) / pos.sum(1))
    assert (s.labels[660:] == MIXED).all() and (s.strength[660:] == 0).all()
    assert s.mixed.counts == (("no_material_driver", 30), ("no_segment_driver", 0))
    joint = [x for x in s.notes if x.code == "segmentation.joint"]
    assert joint and joint[0].get("count") == 60
    assert "together reach the materiality floor" in words.segmentation_note(s, "en")


def test_shared_drivers_partials_and_private_drivers():
    from churnlens.segmentation import material as mm

    a, b, c = (0.5, 0.5, 0, 0), (0, 0.5, 0.5, 0), (0, 0, 0.5, 0.5)
    cents = np.array([a, b, c], dtype=float)
    # drivers are not exclusive: x1 is a driver of A and B, x2 of B and C
    assert mm.drivers_of(cents).tolist() == [[True, True, False, False], [False, True, True, False],
                                             [False, False, True, True]]
    # private drivers (of no other segment): B has none, so B's churners are no co-occurrence evidence
    assert mm.private_drivers(cents).tolist() == [[True, False, False, False], [False] * 4,
                                                  [False, False, False, True]]
    # a cluster on x1 alone is a partial of a larger cluster that has x1 among more drivers
    groups = [np.arange(100), np.arange(80), np.arange(30)]
    single = np.array([a, b, (0, 1, 0, 0)], dtype=float)
    assert mm.partials(groups, mm.drivers_of(single)) == [2]
    assert mm.partials([np.arange(100), np.arange(80), np.arange(120)], mm.drivers_of(single)) == []
    # the same reasons need each other's major drivers: a 60/40 mix of A's features is A, B is not
    same = mm.same_drivers(np.array([a, b, (0.6, 0.4, 0, 0)], dtype=float))
    assert same[0, 2] and not same[0, 1] and not same[1, 2]
    # A-type churners whose x0 fell below materiality co-occur with nothing: no merge of A, B, C
    mat = np.zeros((90, 4))
    mat[:30, :2], mat[30:60, 1:3], mat[60:, 2:] = 1.0, 1.0, 1.0
    assert mm.merge_cooccurring(mat, cents)[1] == 0
    # one mechanism through x0 and x3 seen as two single-feature segments: merged
    two = np.array([(1.0, 0, 0, 0), (0, 0, 0, 1.0)])
    both = np.zeros((50, 4))
    both[:, [0, 3]] = 1.0
    merged, count = mm.merge_cooccurring(both, two)
    assert count == 1 and merged.tolist() == [[0.5, 0, 0, 0.5]]
