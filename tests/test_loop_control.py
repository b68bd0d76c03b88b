"""Issue 31.2 "every action gets measured": the list's control group per action
(churnlens.actions.control.allocate_controls). Known answers: an action short of control
evidence gets round(min_control / ((1 + decay) x arm) x arm) control customers; an action with
enough evidence keeps the base draw unchanged; on a simulated loop every action reaches the
minimum within the stated months; the draw is seeded and independent of row order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from churnlens.actions.control import allocate_controls, decayed_controls, raise_controls
from churnlens.actions.playbook import control_group
from churnlens.campaign.results import ArmCounts

KW = dict(base_share=0.1, min_control=30, months=2, decay=0.8, max_share=0.5, seed=3)


def _list(arms: dict[str, int], start: int = 0):
    ids, act = [], []
    for a, n in arms.items():
        ids += [f"C{start + len(ids) + i:06d}" for i in range(n)]
        act += [a] * n
    ids, act = np.array(ids), np.array(act)
    listed = np.ones(len(ids), bool)
    return ids, act, listed, control_group(ids, share=KW["base_share"], seed=KW["seed"])


def test_an_action_with_few_controls_gets_a_larger_share():
    ids, act, listed, base = _list({"Renewal": 600, "Premium": 80})
    # Renewal already holds 100 control customers of last month; Premium two
    evidence = (ArmCounts("2026-01", "S1", "Renewal", 500, 100, 100, 30), ArmCounts("2026-01", "S1", "Premium", 20, 3, 2, 1))
    assert decayed_controls(evidence, decay=0.8) == {"Renewal": pytest.approx(80.0), "Premium": pytest.approx(1.6)}
    mask, alloc = allocate_controls(ids, act, listed, base, evidence, **KW)
    plan = {p.action: p for p in alloc.plans}
    # Premium: 1.6 + 8 < 30: raised to 30 / (1.8 x 80) = 20.8% -> 17 control customers
    assert plan["Premium"].share == pytest.approx(30 / (1.8 * 80)) and plan["Premium"].control == 17
    assert mask[act == "Premium"].sum() == 17
    # 1.6 x 0.8 ... : 1.6 + 17 = 18.6 this month (age 0 when measured), 18.6 x 0.8 + 17 = 31.9 next
    assert plan["Premium"].measurable_in == 2
    # Renewal: evidence plus the base share suffice: the base draw, unchanged
    assert plan["Renewal"].share == 0.1 and (mask[act == "Renewal"] == base[act == "Renewal"]).all()
    assert plan["Renewal"].measurable_in == 0  # 80 decayed control customers already
    assert plan["Premium"].share > plan["Renewal"].share
    # the raise only adds control customers: every base one stays
    assert (mask >= base).all()
    # same evidence at full strength for Premium: back to the base share
    rich = evidence + (ArmCounts("2025-12", "S2", "Premium", 100, 20, 60, 15),)
    m2, a2 = allocate_controls(ids, act, listed, base, rich, **KW)
    assert {p.action: p.share for p in a2.plans}["Premium"] == 0.1 and (m2 == base).all()


def test_no_control_group_configured_holds_nobody_out():
    ids, act, listed, _ = _list({"Premium": 40})
    none = np.zeros(len(ids), bool)
    mask, alloc = allocate_controls(ids, act, listed, none, (), **{**KW, "base_share": 0.0})
    assert not mask.any() and alloc.plans[0].control == 0 and alloc.plans[0].measurable_in is None


def test_every_action_reaches_the_minimum_within_the_stated_months():
    """Four simulated months of new lists (arm sizes as the issue's bank: a typical, a small and
    a very small action); each month's control customers, counted as the pooled uplift counts them
    (``decay ** age``), reach min_control for every action within ``months``, and the month the
    report announced (``measurable_in``) is the month it happens."""
    arms = {"Renewal": 400, "Reactivation": 130, "Premium": 45}
    rng = np.random.default_rng(0)
    evidence: list[ArmCounts] = []
    announced = {}
    held = {a: [] for a in arms}
    for m in range(4):
        period = f"2026-{m + 1:02d}"
        ids, act, listed, base = _list(arms, start=10_000 * m)
        mask, alloc = allocate_controls(ids, act, listed, base, tuple(evidence), **KW)
        for p in alloc.plans:
            if m == 0:
                announced[p.action] = p.measurable_in
            held[p.action].append(int(mask[act == p.action].sum()))
            assert p.control == held[p.action][-1]
        for a, n in arms.items():
            c = held[a][-1]
            evidence.append(ArmCounts(period, "S1", a, n - c, int(rng.binomial(n - c, 0.2)), c, int(rng.binomial(c, 0.3))))
    for a in arms:
        counts = [sum(0.8 ** (t - j) * held[a][j] for j in range(t + 1)) for t in range(4)]
        first = next(t for t, c in enumerate(counts) if c >= 30) + 1
        assert first <= 2, (a, counts)  # within loop.control_months
        assert first == announced[a], (a, counts, announced)
        assert all(c >= 30 for c in counts[1:])  # and it stays measured
    # known answers of month one (no evidence): base 10% for Renewal (40 >= 30), raised for the others
    assert held["Renewal"][0] == int((_list(arms)[3] & (_list(arms)[1] == "Renewal")).sum())
    assert held["Reactivation"][0] == math.floor(30 / (1.8 * 130) * 130 + 0.5) == 17
    assert held["Premium"][0] == math.floor(30 / (1.8 * 45) * 45 + 0.5) == 17


def test_the_draw_is_seeded_and_does_not_depend_on_row_order():
    ids, act, listed, base = _list({"Renewal": 300, "Premium": 60})
    mask, _ = allocate_controls(ids, act, listed, base, (), **KW)
    again, _ = allocate_controls(ids, act, listed, base, (), **KW)
    assert mask.tobytes() == again.tobytes()
    perm = np.random.default_rng(1).permutation(len(ids))
    shuffled, _ = allocate_controls(ids[perm], act[perm], listed[perm], base[perm], (), **KW)
    assert set(ids[perm][shuffled]) == set(ids[mask])
    other, _ = allocate_controls(ids, act, listed, base, (), **{**KW, "seed": 4})
    assert set(ids[other & (act == "Premium")]) != set(ids[mask & (act == "Premium")])
    # the top-up takes the smallest keys not yet held out (the same key as the base draw)
    top = raise_controls(ids, act, listed, base, {"Premium": 0.5}, seed=3)
    assert top[act == "Premium"].sum() == 30 and (top[act == "Renewal"] == base[act == "Renewal"]).all()
    assert (top[act == "Premium"] == control_group(ids[act == "Premium"], share=0.5, seed=3)).all()
