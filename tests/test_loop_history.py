"""Trend data over report folders: summaries round-trip, ordering, verdicts from thresholds,
segments followed by signature (not by key), 1, 2 and 12 months."""

from __future__ import annotations

import numpy as np
import pytest

from churnlens.errors import InputFileError
from churnlens.monitoring.history import SUMMARY_FILE, load_history, read_summary, summary_to_json, trend, verdict
from churnlens.monitoring.results import MonthSummary, SegmentSize

FEATS = ("fd", "logins", "fees")


def month(i: int, *, auc=0.80, psi=0.02, segs=None) -> MonthSummary:
    segs = segs if segs is not None else (
        SegmentSize("S1", 100 + i, FEATS, (0.8, 0.1, 0.1)), SegmentSize("S2", 50 + i, FEATS, (0.1, 0.8, 0.1)))
    return MonthSummary(period=f"2026-{i:02d}" if i <= 12 else f"2027-{i - 12:02d}", folder=f"m{i:02d}",
                        n_customers=1000 + i, score_psi=psi, auc=None if auc is None else (auc, auc - 0.02, auc + 0.02),
                        ks=(0.4, 0.35, 0.45), segments=segs, drivers=(("fd", 0.5), ("logins", 0.3), ("fees", 0.2)),
                        campaign=(0.05, 0.01, 0.09, 1234.0))


def test_summary_round_trip_and_history_folder(tmp_path):
    for i in (3, 1, 2):
        (tmp_path / f"m{i:02d}").mkdir()
        (tmp_path / f"m{i:02d}" / SUMMARY_FILE).write_text(summary_to_json(month(i)), encoding="utf-8")
    (tmp_path / "not-a-report").mkdir()
    months, skipped = load_history(tmp_path)
    assert [m.period for m in months] == ["2026-01", "2026-02", "2026-03"] and skipped == 1
    assert months[0] == month(1)
    (tmp_path / "m02" / SUMMARY_FILE).write_text("{}", encoding="utf-8")
    with pytest.raises(InputFileError, match="not a churnlens month summary"):
        read_summary(tmp_path / "m02" / SUMMARY_FILE)
    with pytest.raises(InputFileError, match="^history: .* is not a folder") as err:
        load_history(tmp_path / "absent")
    assert err.value.argument == "history"


def test_verdicts_from_thresholds():
    assert [verdict(v, (0.1, 0.25)) for v in (0.05, 0.1, 0.2, 0.25, None)] == ["green", "amber", "amber", "red", "none"]
    hist = [month(1, auc=0.85), month(2, auc=0.84)]
    t = trend(hist, month(3, auc=0.81, psi=0.3), psi=(0.1, 0.25), auc_drop=(0.02, 0.05))
    # baseline: the earlier months pooled (equal intervals: their mean), not the first month
    se = 0.04 / (2 * 1.959963984540054)  # each month's 95% interval is +-0.02
    assert t.reference_auc == pytest.approx(0.845) and t.reference_months == 2
    assert t.reference_se == pytest.approx(se / np.sqrt(2))
    # month 1 has no baseline; month 2: drop 0.01 (green); month 3: drop 0.035 > 1.96 x 0.0125 -> amber
    assert [p.auc_verdict for p in t.points] == ["none", "green", "amber"]
    assert t.points[-1].auc_drop == pytest.approx(0.035)
    assert t.points[-1].auc_drop_se == pytest.approx(np.sqrt(se ** 2 / 2 + se ** 2))
    assert t.points[-1].auc_drop_chance == pytest.approx(1.959963984540054 * np.sqrt(1.5) * se)
    assert t.points[-1].psi_verdict == "red" and t.verdict == "red"
    t2 = trend(hist, month(3, auc=0.81, psi=0.3), psi=(0.5, 0.6), auc_drop=(0.05, 0.1))
    assert t2.verdict == "green"
def test_segments_followed_by_signature_not_key():
    a = month(1, segs=(SegmentSize("S1", 100, FEATS, (0.8, 0.1, 0.1)), SegmentSize("S2", 40, FEATS, (0.1, 0.9, 0.0))))
    # month 2: keys swapped, one new segment with another signature
    b = month(2, segs=(SegmentSize("S2", 110, FEATS, (0.78, 0.12, 0.1)), SegmentSize("S1", 45, FEATS, (0.1, 0.85, 0.05)),
                       SegmentSize("S3", 20, FEATS, (0.0, 0.0, 1.0))))
    t = trend([a], b)
    rows = {r.key: r.values for r in t.segments}
    assert rows == {"S2": (100.0, 110.0), "S1": (40.0, 45.0), "S3": (None, 20.0)}
    assert [r.key for r in t.drivers] == ["fd", "logins", "fees"] and t.drivers[0].values == (0.5, 0.5)


@pytest.mark.parametrize("n", [1, 2, 12, 15])
def test_window_lengths(n):
    months = [month(i) for i in range(1, n + 1)]
    t = trend(months[:-1], months[-1], months=12)
    assert len(t.points) == min(n, 12)
    assert t.points[-1].period == months[-1].period
    assert all(len(r.values) == len(t.points) for r in (*t.segments, *t.drivers))
    assert t.segments[0].values[0] == float(months[-len(t.points)].segments[0].size)
    # the current month replaces a history folder of the same period
    assert len(trend(months, months[-1]).points) == min(n, 12)


def test_segment_rows_follow_a_planted_merge_and_split(tmp_path):
    """Issue 31.6: month 2's lineage says S1 and S3 merged into S3 (their signatures would pair the
    merged segment with S1 one to one: the mechanism S1 brought most of), month 3's that S2 split
    into S2 (70%) and S5 (30%). Rows follow the lineage: S3's earlier size is S1 + S3, a split
    part counts its share; the merge and the split are listed; summaries round-trip the lineage."""
    from dataclasses import replace

    m1 = month(1, segs=(SegmentSize("S1", 50, FEATS, (0.9, 0.05, 0.05)), SegmentSize("S2", 40, FEATS, (0.05, 0.9, 0.05)),
                        SegmentSize("S3", 30, FEATS, (0.2, 0.1, 0.7))))
    m2 = replace(month(2, segs=(SegmentSize("S2", 42, FEATS, (0.05, 0.9, 0.05)),
                                SegmentSize("S3", 85, FEATS, (0.7, 0.05, 0.25)))),
                 lineage=(("S1", "S3", 1.0), ("S2", "S2", 1.0), ("S3", "S3", 1.0)))
    m3 = replace(month(3, segs=(SegmentSize("S2", 30, FEATS, (0.05, 0.9, 0.05)), SegmentSize("S3", 80, FEATS, (0.7, 0.05, 0.25)),
                                SegmentSize("S5", 14, FEATS, (0.05, 0.8, 0.15)))),
                 lineage=(("S2", "S2", 0.7), ("S2", "S5", 0.3), ("S3", "S3", 1.0)))
    # the one-to-one signature match of months 1 -> 2 would give the merged S3 the line of S1 only
    by_signature = trend([m1, replace(m2, lineage=None)], replace(m3, lineage=None)).segments
    s3 = next(r for r in by_signature if r.key == "S3")
    assert s3.values[0] == 50.0 and s3.keys[0] == ("S1",)
    assert len(by_signature) == 4  # and month one's S3 is a row of its own that vanished
    t = trend([m1, m2], m3)
    rows = {r.key: r for r in t.segments}
    assert set(rows) == {"S2", "S3", "S5"}  # S1 is part of S3's line, not a row of its own
    assert rows["S3"].values == (80.0, 85.0, 80.0) and rows["S3"].keys == (("S1", "S3"), ("S3",), ("S3",))
    assert rows["S2"].values == pytest.approx((28.0, 29.4, 30.0))
    assert rows["S5"].values == pytest.approx((12.0, 12.6, 14.0)) and rows["S5"].keys[0] == ("S2",)
    for u, m in enumerate((m1, m2, m3)):  # every churner counted once
        assert sum(r.values[u] for r in t.segments) == pytest.approx(sum(g.size for g in m.segments))
    assert [(e.period, e.code, e.previous, e.current) for e in t.events] == [
        ("2026-02", "merged", ("S1", "S3"), ("S3",)), ("2026-03", "split", ("S2",), ("S2", "S5"))]
    # the lineage is kept by month_summary.json; an older summary without it reads as None
    (tmp_path / SUMMARY_FILE).write_text(summary_to_json(m3), encoding="utf-8")
    assert read_summary(tmp_path / SUMMARY_FILE).lineage == m3.lineage
    (tmp_path / SUMMARY_FILE).write_text(summary_to_json(m1), encoding="utf-8")
    assert read_summary(tmp_path / SUMMARY_FILE).lineage is None
