"""Issue 31.2/31.3: a held-out simulator of the monthly loop with planted per-action effects --
one action without effect, one effective only for high balances, one small arm. After three
months the pooled uplift's intervals cover the planted truth at about their nominal rate, the
zero-effect action falls out of the plan, every action reaches the control minimum within the
stated months, and the plan's money carries intervals that cover the realised value.

Counts-level and vectorised: each month draws every arm's churners from binomials."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import binom

from churnlens.actions.budget import allocate, plan_money, uplift_matrix
from churnlens.actions.control import control_allocation, control_by_action, control_keys
from churnlens.campaign.pooled import (
    GRID, _arm_loglik, arm_counts, evidence_frame, plan_uplift, pooled_uplift, posterior_draws, read_evidence,
    remap_segments,
)
from churnlens.campaign.results import ArmCounts
from churnlens.config import BudgetConfig, PlaybookRule

SEGMENTS = ("S1", "S2", "S3")  # S3: high balances
P0 = {"S1": 0.30, "S2": 0.20, "S3": 0.35}  # churn rate without contact (month 1; moves a little)
ACTIONS = ("Renewal", "Reactivation", "Premium")
TRUE = {("S1", "Renewal"): 0.30, ("S2", "Renewal"): 0.30, ("S3", "Renewal"): 0.30,
        ("S1", "Reactivation"): 0.0, ("S2", "Reactivation"): 0.0, ("S3", "Reactivation"): 0.0,
        ("S1", "Premium"): 0.0, ("S2", "Premium"): 0.0, ("S3", "Premium"): 0.40}
ASSUMED = {"Renewal": 0.20, "Reactivation": 0.20, "Premium": 0.25}
ARM = {"Renewal": 400, "Reactivation": 400, "Premium": 40}  # listed per segment per month; Premium is small
PERIODS = ("2026-01", "2026-02", "2026-03")
MIN_CONTROL = 30


def _simulate(rng, months=3, base_share=0.1, decay=0.8):
    """Evidence of ``months`` months and the control plans used each month."""
    evidence, plans = [], []
    for m in range(months):
        have = {}
        for c in evidence:
            age = m - PERIODS.index(c.period)
            have[c.action] = have.get(c.action, 0.0) + decay ** age * c.control
        plan = {p.action: p for p in control_allocation({a: 3 * ARM[a] for a in ACTIONS}, have,
                                                        base_share=base_share, min_control=MIN_CONTROL, months=2,
                                                        decay=decay)}
        plans.append(plan)
        drift = 1.0 + 0.1 * math.sin(m)  # churn rates move from month to month
        for s in SEGMENTS:
            for a in ACTIONS:
                n0 = int(math.floor(plan[a].share * ARM[a] + 0.5))
                n1 = ARM[a] - n0
                p0 = P0[s] * drift
                evidence.append(ArmCounts(PERIODS[m], s, a, n1, int(rng.binomial(n1, p0 * (1 - TRUE[(s, a)]))),
                                          n0, int(rng.binomial(n0, p0))))
    return tuple(evidence), plans


def test_intervals_cover_the_truth_after_three_months():
    rng = np.random.default_rng(2026)
    covered = total = 0
    measured = covered_measured = 0
    width = []
    for _ in range(200):
        ev, _ = _simulate(rng)
        pooled = pooled_uplift(ev, current=PERIODS[-1], assumed=ASSUMED, level=0.9, min_control=MIN_CONTROL)
        for e in pooled.estimates:
            if not e.segment:
                continue
            hit = e.posterior_low <= TRUE[(e.segment, e.action)] <= e.posterior_high
            covered += hit
            total += 1
            if e.code == "measured":
                measured += 1
                covered_measured += hit
            width.append(e.posterior_high - e.posterior_low)
    assert total == 200 * 9
    # measured (seed 2026): all cells 82% (nominal 90%); Renewal and Reactivation (typical arms)
    # 90-97%; the small Premium arm (about 5 control customers per segment a month, planted 0/0/0.4
    # against an assumed 0.25) only ~62%: its cells are "pooled"/"assumed", not "measured".
    assert covered / total >= 0.8, covered / total
    assert covered / total <= 0.99  # not absurdly wide either
    assert measured > 0.5 * total and covered_measured / measured >= 0.85, covered_measured / measured


def test_zero_effect_action_falls_out_of_the_plan():
    """Customers for whom Reactivation is the only candidate (value 3,000, contact 90: it pays
    above an uplift of 0.06-0.15): at the playbook's assumption (0.2) it pays for them all; after
    three months its posterior uplift is ~0 and they are dropped -- on the posterior mean in most
    re-draws, on the conservative 20% quantile in nearly all."""
    rng = np.random.default_rng(7)
    n = 3000
    book_rng = np.random.default_rng(1)
    seg = np.array(SEGMENTS)[book_rng.integers(0, 3, n)]
    score = book_rng.uniform(0.2, 0.5, n)
    group = book_rng.integers(0, 2, n)  # 0: only Reactivation fits, 1: Renewal or Premium
    value = np.where(group == 0, 3_000.0, np.where(seg == "S3", 20_000.0, 3_000.0))
    rules = tuple(PlaybookRule.model_validate({"when": {"driver": "x"}, "action": {"en": a, "zh": a},
                                               "channel": "phone", "cost": c, "uplift": ASSUMED[a]})
                  for a, c in (("Renewal", 60.0), ("Reactivation", 90.0), ("Premium", 400.0)))
    cand = np.column_stack([group == 1, group == 0, group == 1])
    budget = BudgetConfig()
    kw = dict(rules=rules, budget=budget, eligible=np.ones(n, bool), control=np.zeros(n, bool),
              default_rule=np.full(n, -1))
    at_prior = allocate(score, value, cand, uplift_matrix(rules, seg, {}), **kw)
    react = group == 0
    assert at_prior.treated[react].mean() > 0.9  # the assumption makes it pay
    contacted = {"mean": [], "quantile": []}
    premium_low = []
    for _ in range(30):
        ev, _ = _simulate(rng)
        for criterion in ("mean", "quantile"):
            pooled = pooled_uplift(ev, current=PERIODS[-1], assumed=ASSUMED, min_control=MIN_CONTROL,
                                   criterion=criterion, quantile=0.2)
            plan = allocate(score, value, cand, uplift_matrix(rules, seg, plan_uplift(pooled)), **kw)
            contacted[criterion].append(plan.treated[react].mean())
            if criterion == "mean":
                # Premium (400 per contact) pays only where it works: high balances
                premium = plan.treated & (plan.action == 2)
                premium_low.append(premium[seg != "S3"].sum() / max(premium.sum(), 1))
                est = {(e.segment, e.action): e for e in pooled.estimates}
                assert all(abs(est[(s, "Reactivation")].posterior_mean) < 0.25 for s in SEGMENTS)
    # measured (seed 7, 30 re-draws): at the prior 100% of them are contacted; after three months
    # the posterior mean leaves a minority of them (most re-draws none), the conservative 20%
    # quantile 9% on average (fewer than 5% in 22 of 30 re-draws)
    mean, cons = np.array(contacted["mean"]), np.array(contacted["quantile"])
    assert mean.mean() < 0.3 and (mean < 0.1).mean() >= 0.4, mean
    assert cons.mean() < 0.1 and (cons < 0.05).mean() >= 0.7, cons
    assert (cons <= mean + 1e-12).all()  # the conservative criterion never contacts more of them
    assert np.mean(premium_low) < 0.1


def test_every_action_reaches_the_control_minimum_in_time():
    rng = np.random.default_rng(3)
    ev, plans = _simulate(rng, months=3, base_share=0.05)
    # Premium: 120 listed a month; 5% would give 6 controls a month (30 only after 5 months):
    # raised to 30 / (1 + 0.8) = 16.7 a month, reaching 30 decayed control customers in 2 months
    assert plans[0]["Premium"].share == pytest.approx(MIN_CONTROL / (1.8 * 120))
    assert plans[0]["Premium"].measurable_in == 2
    assert plans[0]["Renewal"].share == 0.05 and plans[0]["Renewal"].measurable_in == 1
    for a in ACTIONS:
        decayed = sum(0.8 ** (1 - PERIODS.index(c.period)) * c.control for c in ev
                      if c.action == a and c.period in PERIODS[:2])
        assert decayed >= MIN_CONTROL, (a, decayed)
    # month 3: the evidence plus the base share suffice: back to the base share
    assert plans[2]["Premium"].share == 0.05 and plans[2]["Premium"].measurable_in == 1
    # without the allocation the small arm would not be measurable in time
    slow = control_allocation({"Premium": 120}, base_share=0.05, min_control=30, months=2, max_share=0.05)
    assert slow[0].measurable_in is None  # 6 a month decays to at most 6 / (1 - 0.8) = 30: never above
    assert control_allocation({"Premium": 0}, base_share=0.1, min_control=30)[0].measurable_in is None


def test_control_by_action_is_exact_and_seeded():
    ids = np.array([f"C{i:05d}" for i in range(1000)])
    act = np.where(np.arange(1000) < 100, "Premium", "Renewal")
    listed = np.ones(1000, bool)
    m = control_by_action(ids, act, listed, {"Premium": 0.25, "Renewal": 0.1}, seed=4)
    assert m[act == "Premium"].sum() == 25 and m[act == "Renewal"].sum() == 90
    perm = np.random.default_rng(0).permutation(1000)
    assert (control_by_action(ids[perm], act[perm], listed, {"Premium": 0.25, "Renewal": 0.1}, seed=4)
            == m[perm]).all()
    k = control_keys(ids, seed=4)
    assert ((k >= 0) & (k < 1)).all() and abs(k.mean() - 0.5) < 0.05


def test_arm_likelihood_integrates_the_control_rate():
    """The grid likelihood of u equals the integral over p0 (Jeffreys prior, both arms) up to a
    constant: checked against scipy quad at several u."""
    n1, x1, n0, x0 = 200, 42, 40, 12
    ll = _arm_loglik(n1, x1, n0, x0)

    def exact(u):
        f = lambda p: binom.pmf(x1, n1, p * (1 - u)) * binom.pmf(x0, n0, p) * p ** -0.5 * (1 - p) ** -0.5  # noqa: E731
        return quad(f, 0, min(1.0, 1.0 / (1 - u)), points=[x0 / n0], limit=200)[0]

    us = [-0.2, 0.0, 0.2, 0.3, 0.4, 0.6]  # the bulk of the likelihood (u-hat 0.3, sd about 0.15)
    ref = np.log([exact(u) for u in us])
    got = np.interp(us, GRID, ll)
    diff = got - ref
    assert np.ptp(diff) < 0.05, diff  # equal up to the constant (48 quantile nodes)


def test_prior_strength_in_contacted_customers_and_codes():
    # no evidence of control: the estimate is the assumption, flagged as such
    ev = (ArmCounts("2026-03", "S1", "A", 9, 2, 0, 0),)
    e = {x.segment: x for x in pooled_uplift(ev, current="2026-03", assumed={"A": 0.2}).estimates}["S1"]
    assert e.code == "assumed" and abs(e.posterior_mean - 0.2) < 0.05 and e.data_weight < 0.2
    # one month of a typical arm (300 contacted, 30 control, 30% churn) outweighs the default prior
    ev = (ArmCounts("2026-03", "S1", "A", 300, 63, 30, 9),)
    e = {x.segment: x for x in pooled_uplift(ev, current="2026-03", assumed={"A": 0.2}).estimates}["S1"]
    assert e.code == "measured" and e.own_weight >= 0.5
    # a huge prior holds the estimate at the assumption, and a huge arm at the data
    strong = pooled_uplift(ev, current="2026-03", assumed={"A": 0.2}, prior_strength=1e6).estimates[0]
    assert strong.posterior_mean == pytest.approx(0.2, abs=0.02)
    big = (ArmCounts("2026-03", "S1", "A", 100_000, 21_000, 100_000, 30_000),)
    e = pooled_uplift(big, current="2026-03", assumed={"A": 0.2}).estimates[0]
    assert e.posterior_mean == pytest.approx(0.3, abs=0.01) and e.posterior_high - e.posterior_low < 0.03


def test_decay_and_lineage_of_the_evidence(tmp_path):
    # an old month that says 0.0 and a new one that says 0.4: the new one weighs more
    old = ArmCounts("2026-01", "S1", "A", 2000, 600, 2000, 600)
    new = ArmCounts("2026-03", "S1", "A", 2000, 360, 2000, 600)
    both = pooled_uplift((old, new), current="2026-03", assumed={"A": 0.2}, decay=0.5).estimates[0]
    flat = pooled_uplift((old, new), current="2026-03", assumed={"A": 0.2}, decay=1.0).estimates[0]
    assert both.posterior_mean > flat.posterior_mean + 0.03 and both.months == 2
    # periods after the current one are ignored
    later = ArmCounts("2026-04", "S1", "A", 2000, 0, 2000, 600)
    assert pooled_uplift((old, new, later), current="2026-03", assumed={"A": 0.2}, decay=0.5).estimates[0] == both
    # the evidence table round-trips through a report folder; S1 and S3 merged into S3
    (tmp_path / "tables").mkdir()
    evidence_frame((old, ArmCounts("2026-01", "S3", "A", 10, 1, 5, 1))).to_csv(
        tmp_path / "tables" / "uplift_evidence.csv", index=False)
    back = read_evidence(tmp_path)
    assert back[0] == old
    merged = remap_segments(back, {"S1": ("S3",), "S3": ("S3",)})
    assert {c.segment for c in merged} == {"S3"} and len(merged) == 2
    split = remap_segments(back, {"S1": ("S1", "S5")})
    assert [c.segment for c in split] == ["S1", "S5", "S3"]
    # an older folder with only tables/uplift.csv (the per-segment rows are used, labelled by period)
    old_folder = tmp_path / "old"
    (old_folder / "tables").mkdir(parents=True)
    import pandas as pd

    pd.DataFrame([{"segment": "S1", "action": "A", "treated": 50, "control": 5, "treated_churners": 10,
                   "control_churners": 2, "posterior_mean": 0.2},
                  {"segment": "", "action": "A", "treated": 50, "control": 5, "treated_churners": 10,
                   "control_churners": 2, "posterior_mean": 0.2}]).to_csv(old_folder / "tables" / "uplift.csv",
                                                                          index=False)
    assert read_evidence(old_folder, period="2026-02") == (ArmCounts("2026-02", "S1", "A", 50, 10, 5, 2),)
    assert read_evidence(tmp_path / "nothing") == ()
    # arm_counts from customer rows
    c = arm_counts(np.array([1, 0, 1, 0]), np.array([False, False, True, True]), np.array(["S1"] * 4),
                   np.array(["A", "A", "A", ""]), period="2026-03")
    assert c == (ArmCounts("2026-03", "S1", "A", 2, 1, 1, 1),)


def test_plan_money_has_intervals_that_cover_the_realised_value():
    """Expected retained and net value of a plan: posterior mean and interval from joint draws;
    the realised retained value of the simulated contacts falls inside in most re-draws."""
    rng = np.random.default_rng(11)
    n = 2000
    seg = np.array(SEGMENTS)[np.random.default_rng(5).integers(0, 3, n)]
    score = np.full(n, 0.3)
    value = np.full(n, 1000.0)
    rules = tuple(PlaybookRule.model_validate({"when": {"driver": "x"}, "action": {"en": a, "zh": a},
                                               "channel": "phone", "cost": 5.0, "uplift": ASSUMED[a]})
                  for a in ACTIONS)
    action = np.where(np.arange(n) % 2 == 0, 0, 2)  # Renewal or Premium
    treated = np.ones(n, bool)
    covered = 0
    for r in range(60):
        ev, _ = _simulate(rng)
        pooled = pooled_uplift(ev, current=PERIODS[-1], assumed=ASSUMED, level=0.9)
        money = plan_money(score, value, action, treated, seg, rules=rules, pooled=pooled, level=0.9, seed=r,
                           draw=posterior_draws)
        truth = float(sum(score[i] * value[i] * TRUE[(seg[i], ACTIONS[action[i]])] for i in range(n)))
        covered += money.retained.low <= truth <= money.retained.high
        assert money.net.mean == pytest.approx(money.retained.mean - 5.0 * n)
        assert money.retained.low < money.retained.mean < money.retained.high
    # measured: 43 of 60 (nominal 90%); half the contacts use the small Premium arm whose prior
    # (0.25) is wrong for two of its three cells (see the coverage test): known shortfall
    assert covered / 60 >= 0.7
    # the draws are seeded
    d1 = posterior_draws(pooled, [("S1", "Renewal"), ("S9", "Premium")], n_draws=50, seed=3)
    assert (d1 == posterior_draws(pooled, [("S1", "Renewal"), ("S9", "Premium")], n_draws=50, seed=3)).all()
