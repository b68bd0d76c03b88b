"""Two-month simulation: a list with a seeded control group, outcomes drawn with planted
treatment effects per segment x action; the measured effects recover them within their CIs,
and the Beta-binomial uplift moves from the assumed value to the planted one with evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

from churnlens.actions.playbook import control_group
from churnlens.campaign.uplift import measure_campaign, uplift_estimate, uplift_overrides
from churnlens.errors import DataError
from churnlens.evaluation.backtest import match_outcomes
from churnlens.evaluation.results import Published

P0 = {"S1": 0.30, "S2": 0.20, "S3": 0.40}  # churn rate without contact
UPLIFT = {("S1", "Renew"): 0.40, ("S2", "Call"): 0.10, ("S3", "Renew"): 0.25, ("S3", "Call"): 0.0}
ASSUMED = {"Renew": 0.30, "Call": 0.15}


def _month_one(n: int, seed: int) -> Published:
    """Last month's published list: segments, actions and the seeded 20% control group."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"C{i:07d}" for i in range(n)])
    seg = rng.choice(["S1", "S2", "S3"], size=n, p=[0.4, 0.3, 0.3])
    action = np.where(seg == "S1", "Renew", np.where(seg == "S2", "Call", rng.choice(["Renew", "Call"], size=n)))
    control = control_group(ids, share=0.2, seed=seed)
    return Published(customer_ids=ids, score=np.full(n, 0.5), listed=np.ones(n, bool), control=control,
                     segment=seg, action=action, channel=np.full(n, "phone"), value=np.full(n, 1000.0),
                     source="scores", sample_rows=np.ones(n, bool))


def _outcomes(pub: Published, seed: int) -> pd.DataFrame:
    """What happened in the outcome window (month two), shuffled, with a few unknown customers."""
    rng = np.random.default_rng(seed + 1000)
    p0 = np.array([P0[s] for s in pub.segment])
    u = np.array([UPLIFT[(s, a)] for s, a in zip(pub.segment, pub.action)])
    churned = (rng.random(len(p0)) < p0 * (1 - u * ~pub.control)).astype(int)
    frame = pd.DataFrame({"customer_id": pub.customer_ids, "churned": churned}).sample(frac=1.0, random_state=seed)
    return pd.concat([frame, pd.DataFrame({"customer_id": ["X1", "X2"], "churned": [0, 1]})])


def _measure(pub, outcomes, **kw):
    rows, y, unmatched = match_outcomes(pub, outcomes)
    assert unmatched == 2
    return measure_campaign(y, pub.control[rows], pub.segment[rows], pub.action[rows], pub.value[rows],
                            assumed=ASSUMED, **kw), rows, y


def test_planted_effects_recovered_within_their_intervals():
    pub = _month_one(40_000, seed=0)
    m, rows, y = _measure(pub, _outcomes(pub, seed=0))
    cells = {c.population: c for c in m.cells}
    assert set(cells) == {f"{s} | {a}" for s, a in UPLIFT}
    for (s, a), u in UPLIFT.items():
        c = cells[f"{s} | {a}"]
        assert c.ci_low <= P0[s] * u <= c.ci_high, (s, a, c)
    for seg in m.by_segment:  # segment effect: its cells' planted effects weighted by treated customers
        treated = ~pub.control & (pub.segment == seg.population)
        truth = np.mean([P0[seg.population] * UPLIFT[(seg.population, a)] for a in pub.action[treated]])
        assert seg.ci_low <= truth <= seg.ci_high
    # action arms: treated of an action vs control customers assigned the same action
    renew = {e.population: e for e in m.by_action}["Renew"]
    assert renew.control == int((pub.control & (pub.action == "Renew")).sum())
    assert renew.retained_value == pytest.approx(renew.absolute_reduction * 1000.0 * renew.treated)
    # uplift: with this much evidence the posterior sits near the planted value, far from the assumed one
    est = {(u.segment, u.action): u for u in m.uplift}
    for key, u in UPLIFT.items():
        e = est[key]
        assert e.code == "measured"
        # the interval covers the planted value; the mean follows the data (raw uplift), not the
        # prior (S2 | Call's raw uplift is 0.046 for a planted 0.10 in this draw: the data's own noise)
        assert e.posterior_low <= u <= e.posterior_high, (key, e)
        assert abs(e.posterior_mean - e.measured_uplift) < 0.03, (key, e)
    assert est[("S1", "Renew")].posterior_low > ASSUMED["Renew"]  # assumed 0.30, planted 0.40
    over = uplift_overrides(m)
    assert over[("S1", "Renew")] == est[("S1", "Renew")].posterior_mean and ("", "Call") in over


def test_interval_coverage_over_many_simulated_months():
    covered = total = 0
    for seed in range(40):
        pub = _month_one(4_000, seed=seed)
        m, _, _ = _measure(pub, _outcomes(pub, seed=seed))
        for c in m.cells:
            s, a = c.population.split(" | ")
            covered += c.ci_low <= P0[s] * UPLIFT[(s, a)] <= c.ci_high
            total += 1
    assert total == 160
    assert 0.9 <= covered / total <= 1.0  # nominal 95%


def test_single_arm_estimate_raw_figures_and_evidence_codes():
    # 200 treated with 30 churners, 100 controls with 25: trials = 200 x 0.25 = 50, retained = 20
    churned = np.r_[np.ones(30), np.zeros(170), np.ones(25), np.zeros(75)]
    treated = np.r_[np.ones(200, bool), np.zeros(100, bool)]
    e = uplift_estimate("S1", "Call", churned, treated, assumed=0.1, prior_strength=50)
    assert (e.would_be_churners, e.retained) == (50.0, 20.0)
    assert e.measured_uplift == pytest.approx(1 - 0.15 / 0.25)
    # the posterior (churnlens.campaign.pooled) sits between the assumption and the raw 0.4
    assert 0.1 < e.posterior_mean < 0.4 and e.posterior_low < e.posterior_mean < e.posterior_high
    assert e.code == "measured" and e.data_weight >= 0.5
    # no churner at all: no evidence about the uplift, the estimate is the assumption
    none = uplift_estimate("S1", "Call", np.zeros(300), treated, assumed=0.1, prior_strength=50)
    assert none.code == "assumed" and none.posterior_mean == pytest.approx(0.1, abs=0.05)
    few = uplift_estimate("S1", "Call", churned[:10], treated[:10], assumed=0.1)
    assert few.code == "assumed"  # 10 contacted, no control: an assumption, not a measurement
    strong = uplift_estimate("S1", "Call", churned, treated, assumed=0.1, prior_strength=1e6)
    assert strong.posterior_mean == pytest.approx(0.1, abs=0.02)  # a strong prior barely moves


def test_needs_both_arms():
    with pytest.raises(DataError, match="needs both"):
        measure_campaign(np.zeros(5), np.zeros(5, bool), np.full(5, "S1"), np.full(5, "Call"), assumed={})


def test_overall_effect_is_stratified_when_control_shares_differ():
    """Known answer: two actions, no effect at all; the small action's control share raised to
    50% and its customers churn at 60% against 10% for the large one. A raw comparison of all
    control with all contacted customers reads a large false effect; the campaign's overall and
    segment effects compare each action's own arms (weighted by contacted customers) and find
    none; the action arms are unchanged."""
    from churnlens.campaign.effect import arm_effect, stratified_effect

    n_big, n_small = 4000, 400
    act = np.array(["Big"] * n_big + ["Small"] * n_small)
    rng = np.random.default_rng(5)
    control = np.r_[rng.random(n_big) < 0.1, rng.random(n_small) < 0.5]
    churned = (rng.random(act.size) < np.where(act == "Small", 0.6, 0.1)).astype(int)
    raw = arm_effect("all", churned, ~control, None)
    assert raw.absolute_reduction > 0.1  # the raised share alone makes the control arm churn more
    m = measure_campaign(churned, control, np.full(act.size, "S1"), act, np.full(act.size, 100.0),
                         assumed={"Big": 0.2, "Small": 0.2}, min_treated=5, min_control=5)
    t = ~control
    w = np.array([t[act == a].sum() for a in ("Big", "Small")]) / t.sum()
    want = sum(wi * (churned[(act == a) & control].mean() - churned[(act == a) & t].mean())
               for wi, a in zip(w, ("Big", "Small")))
    for e in (m.overall, m.by_segment[0]):
        assert e.absolute_reduction == pytest.approx(want, abs=1e-12)
        assert e.ci_low <= 0.0 <= e.ci_high and abs(e.absolute_reduction) < 0.03
        assert e.treated == int(t.sum()) and e.control == int(control.sum())
        assert e.retained_value == pytest.approx(want * 100.0 * t.sum())
    by_action = {e.population: e for e in m.by_action}
    assert by_action["Small"] == arm_effect("Small", churned[act == "Small"], t[act == "Small"], np.full(n_small, 100.0))
    # a population of one action is the Newcombe comparison itself
    one = act == "Big"
    assert stratified_effect("x", churned[one], t[one], act[one]) == arm_effect("x", churned[one], t[one])
