"""Segment lineage month to month (issue 31, item 6): two planted mechanisms whose churners merge
into one cluster next month, and one that splits in two; keys follow the members, the events
are coded, and the key map carries earlier months' uplift evidence to this month's keys."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from churnlens.campaign.pooled import remap_segments
from churnlens.campaign.results import ArmCounts
from churnlens.config import SegmentationConfig
from churnlens.reports import words
from churnlens.segmentation import describe, load_previous, match_previous, segment, write_segment_signatures, \
    write_segments_csv
from churnlens.segmentation.history import lineage_key_map
from tests.test_segmentation import CONFIG, FAST, churner_set, planted


def _month(sizes, mech, seed, ids=None):
    a, X, t = planted(sizes=sizes, mech=mech, seed=seed)
    if ids is not None:  # churners' ids chosen by the test (who was in which segment last month)
        new = np.asarray(a.customer_ids).copy()
        new[:len(ids)] = ids
        a = dataclasses.replace(a, customer_ids=new)
    s = segment(a, churner_set(t >= 0), config=SegmentationConfig(**FAST))
    d = describe(s, a, X, CONFIG)
    return a, s, d, t


def _write(tmp_path, s, d):
    names = words.segment_names(d, CONFIG, "en")
    write_segments_csv(tmp_path / "segments.csv", s, d, names=names)
    write_segment_signatures(tmp_path / "segment_signatures.json", d, names=names)
    return load_previous(tmp_path)


def _by_drivers(summaries, feats):
    """The segment whose signature puts most weight on ``feats`` (the planted mechanism)."""
    def weight(x):
        return sum(v for f, v in zip(x.profile_features, x.profile) if f in feats)
    return max((x for x in summaries if x.segment_id >= 0), key=weight)


def test_two_mechanisms_merge_into_one_cluster(tmp_path):
    # last month: A (f00, f01) 550 churners, B (f02, f03) 150, C (f04-f06) 200
    a1, s1, d1, _ = _month((550, 150, 200), ((0, 1), (2, 3), (4, 5, 6)), seed=1)
    prev = _write(tmp_path, s1, d1)
    A, B, Cseg = _by_drivers(d1, ("f00", "f01")), _by_drivers(d1, ("f02", "f03")), _by_drivers(d1, ("f04", "f05", "f06"))
    ids1 = np.asarray(a1.customer_ids)
    # this month the same A and B customers share one mechanism (f00-f03), C unchanged
    ids2 = np.r_[ids1[:550], ids1[550:700], ids1[700:900]]
    a2, s2, d2, _ = _month((700, 200), ((0, 1, 2, 3), (4, 5, 6)), seed=2, ids=ids2)
    assert sum(1 for x in d2 if x.segment_id >= 0) == 2  # the clustering found the merged mechanism
    out, mig = match_previous(d2, s2, prev)
    merged = next(x for x in out if x.segment_id >= 0 and x.size > 500)
    fresh = next(x for x in d2 if x.segment_id == merged.segment_id)
    # the key of the part that brought most members (A: 550 of 700), not the smaller one
    assert merged.key == A.key != B.key
    # its signature (half A, half B) no longer matches A's: the name is its own, describing its members
    assert merged.name == fresh.name and merged.name != A.name
    c_now = next(x for x in out if x.segment_id != merged.segment_id and x.segment_id >= 0)
    assert c_now.key == Cseg.key
    m = next(x for x in mig.matches if x.key == A.key)
    assert m.code == "merged" and m.previous_key == A.key and m.previous_keys == (A.key, B.key)
    assert m.overlap == pytest.approx(550 / 700, abs=0.02)
    ev = [e for e in mig.events]
    assert len(ev) == 1 and ev[0].code == "merged"
    assert ev[0].previous == tuple(sorted((A.key, B.key))) and ev[0].current == (A.key,)
    assert dict(zip(ev[0].previous, ev[0].shares))[B.key] == pytest.approx(150 / 700, abs=0.02)
    # B merged: not vanished, not new; nothing is new
    assert mig.vanished_segments == () and mig.new_segments == ()
    km = lineage_key_map(mig)
    assert km == {A.key: (A.key,), B.key: (A.key,), Cseg.key: (Cseg.key,)}
    # earlier months' evidence follows the lineage: B's arm counts now count for the merged key
    back = (ArmCounts("2026-01", A.key, "Call", 100, 20, 20, 6), ArmCounts("2026-01", B.key, "Call", 40, 8, 10, 3))
    moved = remap_segments(back, km)
    assert [c.segment for c in moved] == [A.key, A.key] and sum(c.treated for c in moved) == 140
    # the words: "S1 and S2 merged into S1" in both languages
    en = words.lineage_sentence(ev[0], "en")
    zh = words.lineage_sentence(ev[0], "zh")
    assert A.key in en and B.key in en and "merged" in en and A.key in zh and B.key in zh and "合并" in zh


def test_one_mechanism_splits_in_two(tmp_path):
    # last month one mechanism over f00-f03 (700 churners) and C; this month its customers show
    # two mechanisms: 450 with f00/f01, 250 with f02/f03
    a1, s1, d1, _ = _month((700, 200), ((0, 1, 2, 3), (4, 5, 6)), seed=3)
    prev = _write(tmp_path, s1, d1)
    AB = next(x for x in d1 if x.segment_id >= 0 and x.size > 500)
    Cseg = _by_drivers(d1, ("f04", "f05", "f06"))
    ids1 = np.asarray(a1.customer_ids)
    a2, s2, d2, _ = _month((450, 250, 200), ((0, 1), (2, 3), (4, 5, 6)), seed=4, ids=ids1[:900])
    out, mig = match_previous(d2, s2, prev)
    big, small = _by_drivers(out, ("f00", "f01")), _by_drivers(out, ("f02", "f03"))
    assert big.key == AB.key  # the larger part keeps the key
    assert small.key not in {x.key for x in d1} and small.key == "S3"  # a new key for the other part
    assert _by_drivers(out, ("f04", "f05", "f06")).key == Cseg.key
    ev = [e for e in mig.events]
    assert len(ev) == 1 and (ev[0].code, ev[0].previous, ev[0].current) == ("split", (AB.key,), (AB.key, "S3"))
    assert ev[0].shares == pytest.approx((450 / 700, 250 / 700), abs=0.02)
    codes = {x.key: (x.code, x.previous_key) for x in mig.matches}
    assert codes[AB.key] == ("split", AB.key) and codes["S3"] == ("split", AB.key)
    assert mig.new_segments == () and mig.vanished_segments == ()
    assert lineage_key_map(mig)[AB.key] == (AB.key, "S3")
    link = {(x.previous, x.current): x.weight for x in mig.key_map}
    assert link[(AB.key, AB.key)] == pytest.approx(450 / 700, abs=0.02)
    moved = remap_segments((ArmCounts("2026-01", AB.key, "Call", 100, 20, 20, 6),), lineage_key_map(mig))
    assert sorted(c.segment for c in moved) == sorted((AB.key, "S3"))
    en = words.lineage_sentence(ev[0], "en")
    assert AB.key in en and "S3" in en and "split" in en and "拆分" in words.lineage_sentence(ev[0], "zh")


def test_members_shared_by_chance_do_not_make_a_lineage(tmp_path):
    # positional ids: last month's A customers are this month's B churners (another mechanism);
    # the signatures disagree, so no link: keys follow the signatures as before
    a1, s1, d1, _ = _month((400, 300), ((0, 1), (2, 3)), seed=5)
    prev = _write(tmp_path, s1, d1)
    a2, s2, d2, _ = _month((300, 400), ((2, 3), (0, 1)), seed=6)
    out, mig = match_previous(d2, s2, prev)
    assert _by_drivers(out, ("f00", "f01")).key == _by_drivers(d1, ("f00", "f01")).key
    assert _by_drivers(out, ("f02", "f03")).key == _by_drivers(d1, ("f02", "f03")).key
    assert mig.events == () and all(m.code == "same" for m in mig.matches)


def test_migration_part_of_the_monitoring_section_words_the_events():
    from types import SimpleNamespace

    from churnlens.reports.sections import monitoring
    from churnlens.segmentation.results import Flow, LineageEvent, Migration, SegmentMatch

    mig = Migration(matches=(SegmentMatch("S1", "S1", 0.7, "merged", ("S1", "S3"), 0.8),
                             SegmentMatch("S2", "S2", 0.95, "split", ("S2",), 1.0),
                             SegmentMatch("S5", "S2", 0.9, "split", ("S2",), 1.0)),
                    flows=(Flow("S1", "S1", 10),), new_segments=(), vanished_segments=(),
                    events=(LineageEvent("merged", ("S1", "S3"), ("S1",), (0.8, 0.2)),
                            LineageEvent("split", ("S2",), ("S2", "S5"), (0.6, 0.4))))
    for lang, merged, split in (("en", "S1 and S3 merged into S1", "S2 split into S2 and S5"),
                                ("zh", "S1 与 S3 合并为 S1", "S2 拆分为 S2 与 S5")):
        kit = SimpleNamespace(lang=lang, chart=lambda *a, **k: "uri")
        body = monitoring._migration(SimpleNamespace(migration=mig), kit)
        assert len(body.lineage) == 2
        assert body.lineage[0].startswith(merged) and body.lineage[1].startswith(split)


def test_campaign_file_rows_follow_a_planted_merge(tmp_path):
    """Issue 31.6 for the ``--campaign`` file: its customers were on last month's list, in last
    month's segments; with A and B merged into A's key this month, the run's campaign step (the
    flow's own step function) reports B's customers in the merged segment, not under B's old key
    (which no segment has any more): the merged row equals the effect over A's and B's customers
    together, recomputed by hand, and C keeps its own row."""
    from types import SimpleNamespace

    import pandas as pd

    from churnlens.campaign.effect import arm_effect
    from churnlens.run import stages
    from churnlens.segmentation.history import current_keys

    a1, s1, d1, _ = _month((550, 150, 200), ((0, 1), (2, 3), (4, 5, 6)), seed=1)
    prev = _write(tmp_path, s1, d1)
    A, B, Cseg = _by_drivers(d1, ("f00", "f01")), _by_drivers(d1, ("f02", "f03")), _by_drivers(d1, ("f04", "f05", "f06"))
    ids1 = np.asarray(a1.customer_ids)
    a2, s2, d2, _ = _month((700, 200), ((0, 1, 2, 3), (4, 5, 6)), seed=2,
                           ids=np.r_[ids1[:550], ids1[550:700], ids1[700:900]])
    _, mig = match_previous(d2, s2, prev)
    assert lineage_key_map(mig)[B.key] == (A.key,)  # the planted merge
    # last month's list with a campaign: 25% control; A's customers respond (churn 50% -> 25%), B's do not
    ids, old = np.asarray(prev.customer_ids).astype(str), np.asarray(prev.keys).astype(str)
    rng = np.random.default_rng(7)
    treated = rng.random(ids.size) >= 0.25
    churned = (rng.random(ids.size) < np.where(treated & (old == A.key), 0.25, 0.5)).astype(int)
    file = pd.DataFrame({"customer_id": ids, "arm": np.where(treated, "treatment", "control"), "churned": churned})
    req = SimpleNamespace(previous=None)
    checked = SimpleNamespace(campaign=file, previous=prev)
    book = SimpleNamespace(ids=ids, value=None)
    effect = stages.campaign(None, req, checked, book, mig)
    rows = {e.population: e for e in effect.by_segment}
    assert B.key not in rows and set(rows) <= {A.key, Cseg.key, "MIX"} and A.key in rows and Cseg.key in rows
    now = current_keys(old, lineage_key_map(mig))
    assert set(now[old == B.key]) == {A.key}
    for key, members in ((A.key, (old == A.key) | (old == B.key)), (Cseg.key, old == Cseg.key)):
        want = arm_effect(key, churned[members], treated[members])
        assert rows[key] == want, key
    assert rows[A.key].treated + rows[A.key].control == int(((old == A.key) | (old == B.key)).sum())
    # without the lineage (no previous matching) the rows would keep last month's keys
    before = {e.population for e in stages.campaign(None, req, checked, book, None).by_segment}
    assert B.key in before
