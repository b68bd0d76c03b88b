"""Segmentation recovers the demo book's planted churn mechanisms from real TreeSHAP values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from churnlens.reports import words
from tests.books import booster_attributions
from churnlens.config import load_config
from churnlens.demo.book import DEMO_CONFIG_PATH, FEATURES, MECHANISMS, generate_book, model_frame, train_demo_model
from churnlens.segmentation import describe, load_previous, match_previous, segment, select_churners, write_segment_signatures, write_segments_csv

SEEDS = (0, 1, 2)
SIZES = (6_000, 12_000)
# The features through which each mechanism acts (churnlens/demo.py docstring).
MECHANISM_FEATURES = {
    "maturity_competitor": {"fd_maturity_days", "competitor_rate_gap"},
    "digital_disengagement": {"mobile_logins_change", "mobile_logins_30d"},
    "service_failure": {"complaints_90d", "days_since_rm_contact"},
    "salary_moved": {"payroll_customer", "salary_credits_3m", "outbound_transfer_share", "transactions_change", "aum_change_3m"},
}


@pytest.fixture(scope="module")
def config():
    return load_config(DEMO_CONFIG_PATH)


_CACHE: dict = {}


def demo(seed: int, size: int):
    """Book, feature frame and LightGBM pred_contrib attributions; trained once per (seed, size)."""
    if (seed, size) not in _CACHE:
        book = generate_book(size, seed=seed)
        booster = train_demo_model(book, seed=seed)
        X = model_frame(book.customers)
        attributions = booster_attributions(booster, X, book.customers["customer_id"].to_numpy())
        _CACHE[(seed, size)] = (book, X, attributions)
    return _CACHE[(seed, size)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("seed", SEEDS)
def test_planted_mechanisms_recovered(seed, size, config):
    book, _, attributions = demo(seed, size)
    for selection in (config.churners, config.churners.model_copy(update={"by": "label"})):
        churners = select_churners(attributions.score, selection=selection, label=book.customers["churned"].to_numpy())
        seg = segment(attributions, churners, config=config.segmentation)
        truth = book.truth.to_numpy()[seg.rows]
        planted = np.isin(truth, MECHANISMS)
        ari = adjusted_rand_score(truth[planted], seg.labels[planted])
        assert ari >= 0.85, (seed, size, selection.by, ari)
        assert seg.n_segments >= len(MECHANISMS)


def test_segment_names_come_from_the_mechanisms_drivers(config):
    book, X, attributions = demo(0, 12_000)
    churners = select_churners(attributions.score, selection=config.churners)
    seg = segment(attributions, churners, config=config.segmentation)
    summaries = describe(seg, attributions, X, config, value=book.customers[config.value_column].to_numpy())
    truth = book.truth.to_numpy()[seg.rows]
    for mech in MECHANISMS:
        sid = np.bincount(seg.labels[(truth == mech) & (seg.labels >= 0)]).argmax()
        s = summaries[sid]
        assert s.segment_id == sid and set(s.top_drivers) <= MECHANISM_FEATURES[mech], (mech, s.top_drivers)
        first = s.top_drivers[0]
        spec = config.features[first]  # the name uses the label, or the dictionary's low/high wording
        wordings = [spec.label] + [t for t in (spec.low, spec.high) if t is not None]
        zh, en = words.segment_name(s, config, "zh"), words.segment_name(s, config, "en")
        assert any(t.zh in zh for t in wordings), (zh, wordings)
        assert any(t.en.lower() in en.lower() for t in wordings), (en, wordings)
    assert sum(s.size for s in summaries) == churners.count


def test_next_month_keeps_keys(tmp_path, config):
    # "Last month" = seed 0, "this month" = seed 1: a new book, the same four mechanisms.
    last_book, last_X, last_attr = demo(0, 6_000)
    last_seg = segment(last_attr, select_churners(last_attr.score, selection=config.churners), config=config.segmentation)
    last = describe(last_seg, last_attr, last_X, config)
    names = words.segment_names(last, config, "en")
    write_segments_csv(tmp_path / "segments.csv", last_seg, last, names=names)
    write_segment_signatures(tmp_path / "segment_signatures.json", last, names=names)
    book, X, attr = demo(1, 6_000)
    seg = segment(attr, select_churners(attr.score, selection=config.churners), config=config.segmentation)
    now, migration = match_previous(describe(seg, attr, X, config), seg, load_previous(tmp_path))
    assert migration.new_segments == () and migration.vanished_segments == ()
    for mech in MECHANISMS:  # each mechanism keeps last month's key and name
        old_sid = np.bincount(last_seg.labels[(last_book.truth.to_numpy()[last_seg.rows] == mech) & (last_seg.labels >= 0)]).argmax()
        new_sid = np.bincount(seg.labels[(book.truth.to_numpy()[seg.rows] == mech) & (seg.labels >= 0)]).argmax()
        old = next(s for s in last if s.segment_id == old_sid)
        new = next(s for s in now if s.segment_id == new_sid)
        assert (new.key, new.name, new.name_with_key) == (old.key, old.name, old.name_with_key)
