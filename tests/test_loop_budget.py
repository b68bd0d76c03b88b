"""Budgeted list: every capacity and the total respected, better than score ranking on expected
net value, close to the exact MILP optimum (exact with one capacity), control group kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from churnlens.actions.budget import action_costs, allocate, candidate_rules, uplift_matrix
from churnlens.actions.playbook import control_group
from churnlens.actions.results import PlannedAction, SegmentPlan
from churnlens.config import BudgetConfig, PlaybookRule


def _rule(driver, channel, cost, uplift, en):
    return PlaybookRule.model_validate({"when": {"driver": driver, "direction": "up"}, "action": {"en": en, "zh": en},
                                        "channel": channel, "cost": cost, "uplift": uplift})


RULES = (_rule("a", "relationship_manager", 30, 0.35, "Meet"), _rule("b", "phone", 2, 0.15, "Call"),
         _rule("c", "sms", 0.2, 0.03, "Text"))
BUDGET = BudgetConfig.model_validate({"total": 2500, "channels": {
    "relationship_manager": {"cost": 10, "capacity": 25}, "phone": {"cost": 6, "capacity": 120}}})


def _book(n, seed=0):
    rng = np.random.default_rng(seed)
    score = rng.beta(2, 5, n)
    value = rng.lognormal(8, 1, n)
    cand = rng.random((n, 3)) < [0.5, 0.7, 0.9]
    default = np.where(cand.any(1), np.argmax(cand, 1), -1)
    return score, value, cand, default


def _plan(n=600, seed=0, budget=BUDGET, control_share=0.0):
    score, value, cand, default = _book(n, seed)
    ids = np.arange(n)
    control = control_group(ids, share=control_share, seed=seed)
    up = np.tile([r.uplift for r in RULES], (n, 1))
    return allocate(score, value, cand, up, rules=RULES, budget=budget, eligible=np.ones(n, bool), control=control,
                    default_rule=default), (score, value, cand, default, control)


def _milp_optimum(score, value, cand, budget):
    n = len(score)
    cost = action_costs(RULES, budget)
    net = score[:, None] * np.array([r.uplift for r in RULES])[None, :] * value[:, None] - cost[None, :]
    ci, ri = np.nonzero(cand & (net > 0))
    P = len(ci)
    rows, lo, hi = [], [], []
    A_cust = np.zeros((n, P))
    A_cust[ci, np.arange(P)] = 1
    rows.append(A_cust), lo.append(np.zeros(n)), hi.append(np.ones(n))
    for ch, spec in budget.channels.items():
        if spec.capacity is not None:
            rows.append(np.array([[RULES[r].channel == ch for r in ri]], float)), lo.append([0]), hi.append([spec.capacity])
    if budget.total is not None:
        rows.append(cost[ri][None, :]), lo.append([0]), hi.append([budget.total])
    res = milp(-net[ci, ri], constraints=LinearConstraint(np.vstack(rows), np.concatenate(lo), np.concatenate(hi)),
               integrality=np.ones(P), bounds=Bounds(0, 1))
    assert res.success
    return -res.fun


def test_capacities_and_total_respected_and_beats_score_ranking():
    plan, (score, value, cand, default, _) = _plan()
    use = {u.channel: u for u in plan.channels}
    assert use["relationship_manager"].contacts <= 25 and use["phone"].contacts <= 120
    assert plan.spend <= 2500 + 1e-9
    cost = action_costs(RULES, BUDGET)
    t = np.flatnonzero(plan.treated)
    assert plan.spend == pytest.approx(cost[plan.action[t]].sum())
    assert cand[t, plan.action[t]].all()  # only candidate actions
    assert (plan.net[t] > 0).all()
    assert plan.expected_net_value == pytest.approx(plan.net[t].sum())
    assert plan.expected_net_value > plan.baseline_net_value > 0
    assert set(plan.binding) >= {"capacity:relationship_manager"}


def test_close_to_milp_optimum_and_exact_with_one_capacity():
    for seed in range(3):
        plan, (score, value, cand, _, _) = _plan(n=150, seed=seed)
        opt = _milp_optimum(score, value, cand, BUDGET)
        assert plan.expected_net_value <= opt + 1e-6
        assert plan.expected_net_value >= 0.95 * opt
    one = BudgetConfig.model_validate({"channels": {"phone": {"capacity": 30}, "relationship_manager": {"capacity": 0},
                                                    "sms": {"capacity": 0}}})
    plan, (score, value, cand, _, _) = _plan(n=150, seed=4, budget=one)
    assert plan.expected_net_value == pytest.approx(_milp_optimum(score, value, cand, one), rel=1e-9)


def test_control_group_kept_from_the_same_rule_without_using_capacity():
    plan, (score, value, cand, default, control) = _plan(n=3000, control_share=0.2)
    assert not (plan.control & plan.treated).any()
    assert (plan.control <= control).all()
    # capacity counts only the contacted
    use = {u.channel: u for u in plan.channels}
    assert use["phone"].contacts <= 120 and use["relationship_manager"].contacts <= 25
    # about a fifth of those the rule chose are controls; they keep an action
    share = plan.control.sum() / (plan.control.sum() + plan.treated.sum())
    assert 0.1 < share < 0.3
    assert (plan.action[plan.control] >= 0).all()
    # controls came from the same range of net values as the treated
    assert np.median(plan.net[plan.control]) == pytest.approx(np.median(plan.net[plan.treated]), rel=0.5)


def test_profit_curve_and_cut():
    plan, (score, value, cand, _, _) = _plan()
    assert plan.curve_share[0] == 0 and plan.curve_share[-1] == 1 and len(plan.curve_share) <= 201
    slope = np.diff(plan.curve_net) / np.diff(plan.curve_share)
    assert (slope[:-1] >= slope[1:] - 1e-6).all()  # concave: ranked by net value
    assert 0 < plan.chosen_share < 1 and plan.n_eligible == int(cand.any(1).sum())
    # no limits at all: every positive-net customer, the curve's maximum
    free = BudgetConfig()
    plan2, _ = _plan(budget=free)
    assert plan2.expected_net_value == pytest.approx(plan2.curve_net.max())


def test_candidates_and_measured_uplift_matrix():
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 0.0, 0.0], "c": [1.0, 1.0, 1.0]})
    attr = np.array([[0.2, -0.1, 0.0], [-0.3, 0.4, 0.1], [-0.1, -0.1, -0.1]])
    plans = (SegmentPlan(segment_key="S2", actions=(PlannedAction(2, "c", "Text", "Text", "sms", 0.2, 0.03, 1),),
                         target_count=0, control_count=0, value_at_risk=0, expected_retained_value=0, cost=0,
                         no_rule=False),)
    cand = candidate_rules(RULES, attr, X, ["a", "b", "c"], segment_keys=np.array(["S1", "S1", "S2"]), plans=plans)
    np.testing.assert_array_equal(cand, [[True, False, False], [False, True, True], [False, False, True]])
    up = uplift_matrix(RULES, np.array(["S1", "S2", "S3"]), {("S1", "Call"): 0.5, ("", "Call"): 0.2})
    np.testing.assert_allclose(up[:, 1], [0.5, 0.2, 0.2])
    np.testing.assert_allclose(up[:, 0], [0.35] * 3)


def test_chosen_plan_lies_on_the_limited_curve():
    # capacities and the total bind: the plan sits below the unlimited curve but ends the limited one
    plan, (score, value, cand, _, control) = _plan(n=3000, control_share=0.1)
    assert set(plan.binding) & {"total", "capacity:relationship_manager", "capacity:phone"}
    assert plan.limited_share[0] == 0 and plan.limited_net[0] == 0
    assert plan.limited_share[-1] == pytest.approx(plan.chosen_share, rel=1e-12)
    assert plan.limited_net[-1] == pytest.approx(plan.expected_net_value, rel=1e-12)
    assert plan.limited_share[-1] == plan.treated.sum() / plan.n_eligible
    # the unlimited curve at the plan's share is strictly above the plan (the limits cost money)
    assert np.interp(plan.chosen_share, plan.curve_share, plan.curve_net) > plan.expected_net_value * 1.01
    # concave: the greedy accepts pairs by decreasing net value
    slope = np.diff(plan.limited_net) / np.diff(plan.limited_share)
    assert (slope[:-1] >= slope[1:] - 1e-6).all()
    # every point is the same greedy with a cap of k contacts under the same limits: recompute
    # the k-contact plan with an extra channel-free cap by truncating the budget's choice order
    j = len(plan.limited_share) // 3
    k = int(round(plan.limited_share[j] * plan.n_eligible))
    assert 0 < k < plan.treated.sum()
    rules_cost = action_costs(RULES, BUDGET)
    up = np.array([r.uplift for r in RULES])
    net = score[:, None] * up[None, :] * value[:, None] - rules_cost[None, :]
    ci, ri = np.nonzero(cand & (net > 0))
    order = np.lexsort((ri, ci, -net[ci, ri]))
    taken, used, spent, got = set(), {}, 0.0, []
    cap = {"relationship_manager": 25, "phone": 120}
    for i, r in zip(ci[order], ri[order]):
        if len(got) == k:
            break
        if i in taken:
            continue
        ch = RULES[r].channel
        if used.get(ch, 0) + 1 > cap.get(ch, np.inf) or spent + rules_cost[r] > 2500:
            continue
        taken.add(i)
        if not control[i]:
            used[ch] = used.get(ch, 0) + 1
            spent += rules_cost[r]
            got.append(net[i, r])
    assert len(got) == k
    assert plan.limited_net[j] == pytest.approx(sum(got), rel=1e-9)


def test_profit_chart_draws_both_labelled_curves():
    import matplotlib
    matplotlib.use("Agg")
    from churnlens.reports.charts import plot_profit_curve
    plan, _ = _plan(n=800)
    ax = plot_profit_curve(plan, lang="en")
    labels = [line.get_label() for line in ax.get_lines()]
    assert "Under the plan's limits (capacities, budget)" in labels and "Without limits" in labels
    limited = next(line for line in ax.get_lines() if line.get_label().startswith("Under"))
    x, y = limited.get_data()
    assert (x[-1], y[-1]) == pytest.approx((plan.chosen_share, plan.expected_net_value), rel=1e-12)
    zh = plot_profit_curve(plan, lang="zh")
    assert "不设限制" in [line.get_label() for line in zh.get_lines()]
