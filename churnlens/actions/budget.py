"""Budgeted retention list: which customers to contact, with which action, under channel
capacities and an overall budget.

Objective
---------
Expected net value of contacting customer ``i`` with action ``r``:
``net = p_i x uplift_ir x value_i - cost_r`` where ``p_i`` is the churn score, ``uplift_ir`` the
playbook's uplift of rule ``r`` or, with enough evidence, the uplift measured last month for
the customer's segment (:mod:`churnlens.campaign.uplift`), and ``cost_r`` the rule's own
``cost`` (the offer) plus its channel's ``budget.channels.<channel>.cost`` (reaching the
customer). Candidate actions of a customer: every rule matching the customer (driver
direction and value condition) plus the segment-level actions of the customer's segment
whose value condition holds for the customer (a rule is never a candidate for a customer
whose own value fails its condition).

Assignment: greedy by net value
-------------------------------
All (customer, action) pairs with ``net > 0`` are taken in order of decreasing net value (ties
by customer then rule order); a pair is accepted when the customer has no action yet, its
channel has capacity left and the budget covers its cost. A customer whose best action's
channel is full can still get the next best action on another channel. Why greedy and not
``scipy.optimize.milp``: greedy runs in ``O(P log P)`` for ``P`` pairs (a million customers in
about a second, its loop compiled with numba, which shap already installs), it is optimal for
one channel with a capacity and no money budget, and otherwise a heuristic whose gap to the
``milp`` optimum the tests measure on small books (within a few per cent there). An exact MILP
over millions of binary variables is not practical every month.

Control group
-------------
Control customers (drawn beforehand, seeded, :func:`churnlens.actions.playbook.control_group`)
go through the same greedy: a control customer the rule would have contacted is flagged
``control`` and keeps the action they would have received, but uses no capacity and no
budget. Treated and control customers therefore come from the same decision rule, so next
month's comparison of the two (:mod:`churnlens.campaign.uplift`) is randomised.

So that every action gets measured, :func:`allocate_with_controls` (the run's "expected values"
step) raises the control group of each action whose control evidence is short
(:func:`churnlens.actions.control.allocate_controls`, over the customers the greedy chose) and
runs the greedy again with the raised group, whose freed capacity and budget go to other
customers. That changes the arms the shares were computed on, so it repeats until the raise adds
nobody (a fixed point: every raised action holds at least ``round(share x arm)`` control customers
of its arm in the list as sent; more when control customers drawn for an earlier run's arm are
chosen again), at most ``CONTROL_PASSES`` greedy runs. If the last run's list is still short, the
missing control customers are held out of that list itself (``held``: chosen customers flagged
control after the greedy, keeping their action, with the same seeded keys as every other draw):
the arms do not change, so the counts are met, and the capacity they free stays unused.

Profit curves
-------------
Two curves of cumulative expected net value against the share of eligible customers contacted
(the share's denominator is ``n_eligible`` for both, the control group left out):

* *without limits* (``curve_share``, ``curve_net``): eligible customers ranked by their best
  action's net value, every one of them allowed (no capacity, no budget). With no binding
  limit the plan is its maximum; with one, the plan lies below it (the limits cost money).
* *under the plan's limits* (``limited_share``, ``limited_net``): the contacted customers in
  the order the greedy accepted them (decreasing net value of the chosen action, ties by
  customer then rule). The greedy with an extra cap of ``k`` contacts picks exactly these first
  ``k`` customers, so each point is what the plan's own rule achieves with ``k`` contacts under
  the same capacities and budget; the curve ends at the chosen plan
  (``chosen_share``, ``expected_net_value``), which therefore always lies on it.
"""

from __future__ import annotations

import functools

import math
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from churnlens.actions.playbook import condition_masks, _driver_columns
from churnlens.actions.results import BudgetPlan, ChannelUse, MoneyInterval, PlanMoney, SegmentPlan
from churnlens.config import BudgetConfig, PlaybookRule
from churnlens.errors import DataError

__all__ = ["candidate_rules", "uplift_matrix", "action_costs", "allocate", "allocate_with_controls", "plan_money",
           "CURVE_POINTS", "CONTROL_PASSES"]

CURVE_POINTS = 201
CONTROL_PASSES = 4  # greedy runs of allocate_with_controls before the last shortfall is held out of the list


def candidate_rules(rules: Sequence[PlaybookRule], attributions_values: np.ndarray, X: pd.DataFrame,
                    features: Sequence[str], *, segment_keys: np.ndarray,
                    plans: Sequence[SegmentPlan]) -> np.ndarray:
    """Which rules may be used for each customer, shape (n, R) bool (see the module docstring)."""
    values = np.asarray(attributions_values, dtype=np.float64)
    n = values.shape[0]
    if not rules:
        return np.zeros((n, 0), dtype=bool)
    a = values[:, _driver_columns(rules, features)]
    up = np.array([r.when.direction == "up" for r in rules])
    cond = condition_masks(rules, X)
    cand = np.where(up, a > 0, a < 0) & cond
    keys = np.asarray(segment_keys).astype(str)
    for p in plans:
        seg_level = [x.rule_index for x in p.actions if x.segment_level]
        if seg_level:
            member = np.flatnonzero(keys == p.segment_key)
            cand[np.ix_(member, seg_level)] |= cond[np.ix_(member, seg_level)]
    return cand


def uplift_matrix(rules: Sequence[PlaybookRule], segment_keys: np.ndarray,
                  overrides: Mapping[tuple[str, str], float]) -> np.ndarray:
    """Uplift per customer and rule, shape (n, R): measured (segment, action) first, then the
    action's measured uplift over all segments, then the playbook's ``uplift``."""
    keys = np.asarray(segment_keys).astype(str)
    out = np.empty((keys.shape[0], len(rules)))
    for r, rule in enumerate(rules):
        default = overrides.get(("", rule.action.en), float(rule.uplift))
        out[:, r] = default
        for (seg, action), u in overrides.items():
            if seg and action == rule.action.en:
                out[keys == seg, r] = u
    return out


def action_costs(rules: Sequence[PlaybookRule], budget: Optional[BudgetConfig]) -> np.ndarray:
    """Cost of each rule's contact, shape (R,): rule cost + channel cost."""
    channels = {} if budget is None else budget.channels
    return np.array([r.cost + (channels[r.channel].cost if r.channel in channels else 0.0) for r in rules])


def _greedy_py(cust, rule, cost, chan, capacity, total, control, n):
    action = np.full(n, -1, dtype=np.int64)
    used = np.zeros(capacity.shape[0])
    spent = 0.0
    for k in range(cust.shape[0]):
        i, r = cust[k], rule[k]
        if action[i] >= 0:
            continue
        c = chan[r]
        if used[c] + 1.0 > capacity[c] or spent + cost[r] > total * (1 + 1e-12):
            continue
        action[i] = r
        if not control[i]:
            used[c] += 1.0
            spent += cost[r]
    return action


@functools.lru_cache(maxsize=1)
def _greedy():
    """The loop compiled by numba (imported on first use: start-up stays short)."""
    try:  # numba is installed with shap; the pure-Python loop is the same algorithm
        from numba import njit
    except ImportError:  # pragma: no cover
        return _greedy_py
    return njit(cache=True)(_greedy_py)  # compiled once per installation, not once per run


def _run(order_cust, order_rule, cost, chan, capacity, total, control, n) -> np.ndarray:
    return _greedy()(order_cust.astype(np.int64), order_rule.astype(np.int64), cost.astype(np.float64),
                   chan.astype(np.int64), capacity.astype(np.float64), float(total), control.astype(np.bool_), n)


def _curve(best: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vals = np.sort(best[np.isfinite(best)])[::-1]
    m = len(vals)
    cum = np.r_[0.0, np.cumsum(vals)]
    idx = np.unique(np.linspace(0, m, min(CURVE_POINTS, m + 1)).round().astype(np.int64))
    return (idx / m if m else idx.astype(np.float64)), cum[idx]


def _limited_curve(action: np.ndarray, treated: np.ndarray, chosen_net: np.ndarray,
                   n_elig: int) -> tuple[np.ndarray, np.ndarray]:
    """The greedy's path: contacted customers in acceptance order (module docstring)."""
    who = np.flatnonzero(treated)
    who = who[np.lexsort((action[who], who, -chosen_net[who]))]  # the greedy's pair order
    vals = chosen_net[who]
    m = len(vals)
    cum = np.r_[0.0, np.cumsum(vals)]
    idx = np.unique(np.linspace(0, m, min(CURVE_POINTS, m + 1)).round().astype(np.int64))
    return (idx / n_elig if n_elig else np.zeros(idx.size)), cum[idx]


def allocate(score: np.ndarray, value: Optional[np.ndarray], candidates: np.ndarray, uplift: np.ndarray, *,
             rules: Sequence[PlaybookRule], budget: BudgetConfig, eligible: np.ndarray, control: np.ndarray,
             default_rule: np.ndarray, held: Optional[np.ndarray] = None) -> BudgetPlan:
    """Choose customers and actions under ``budget`` (greedy by net value, module docstring).

    Parameters
    ----------
    score : ndarray, shape (n,)
    value : ndarray, shape (n,), optional
        Money at risk (NaN counts as 0); None: every net value is minus the cost.
    candidates : ndarray of bool, shape (n, R)
        From :func:`candidate_rules`.
    uplift : ndarray, shape (n, R)
        From :func:`uplift_matrix`.
    rules : sequence of PlaybookRule, length R
    budget : BudgetConfig
    eligible : ndarray of bool, shape (n,)
        Customers who may be listed (churners not on the do-not-contact list).
    control : ndarray of bool, shape (n,)
        Pre-drawn control group (subset of ``eligible``).
    default_rule : ndarray of int, shape (n,)
        Each customer's default action (:func:`~churnlens.actions.playbook.effective_rules`),
        for the score-ranked baseline.
    held : ndarray of bool, shape (n,), optional
        Customers held out after the greedy: those it chose are flagged control (they keep their
        action and free their capacity and cost, which stay unused); the choice itself is the
        greedy's with ``control``.
    """
    score = np.asarray(score, dtype=np.float64)
    n, R = candidates.shape
    for name, arr in (("uplift", uplift), ("eligible", eligible), ("control", control), ("default_rule", default_rule),
                      *((("held", held),) if held is not None else ())):
        if len(arr) != n:
            raise DataError(f"allocate: {name} has {len(arr)} rows, expected {n} (one per customer).")
    v = np.zeros(n) if value is None else np.nan_to_num(np.asarray(value, dtype=np.float64), nan=0.0)
    cost = action_costs(rules, budget)
    net = score[:, None] * np.asarray(uplift, dtype=np.float64) * v[:, None] - cost[None, :]
    ok = np.asarray(candidates, dtype=bool) & np.asarray(eligible, dtype=bool)[:, None]
    chan_names = sorted({r.channel for r in rules})
    chan = np.array([chan_names.index(r.channel) for r in rules], dtype=np.int64)
    capacity = np.array([budget.channels[c].capacity if c in budget.channels and budget.channels[c].capacity
                         is not None else math.inf for c in chan_names], dtype=np.float64)
    total = math.inf if budget.total is None else budget.total
    ci, ri = np.nonzero(ok & (net > 0))
    order = np.lexsort((ri, ci, -net[ci, ri]))
    ctrl = np.asarray(control, dtype=bool)
    action = _run(ci[order], ri[order], cost, chan, capacity, total, ctrl, n)
    if held is not None:
        ctrl = ctrl | np.asarray(held, dtype=bool)
    treated = (action >= 0) & ~ctrl
    chosen_net = np.where(action >= 0, net[np.arange(n), np.maximum(action, 0)], np.nan)
    base = _baseline(score, net, cost, chan, capacity, total, ctrl, eligible, default_rule)
    best = np.where(ok, net, -np.inf).max(axis=1, initial=-np.inf)
    best[~ok.any(axis=1)] = np.nan
    share, curve = _curve(best[np.asarray(eligible, bool) & ~ctrl])
    n_elig = int((np.asarray(eligible, bool) & ~ctrl & ok.any(axis=1)).sum())
    uses = _channel_use(chan_names, budget, action, treated, cost, chan)
    spend = float(sum(u.spend for u in uses))
    binding = tuple(["total"] if budget.total is not None and spend + cost[ok.any(axis=0)].min(initial=math.inf)
                    > budget.total else []) + tuple(f"capacity:{u.channel}" for u in uses
                                                     if u.capacity is not None and u.contacts >= u.capacity)
    retained = float((score * v * uplift[np.arange(n), np.maximum(action, 0)])[treated].sum())
    lim_share, lim_net = _limited_curve(action, treated, chosen_net, n_elig)
    return BudgetPlan(
        action=action, treated=treated, control=(action >= 0) & ctrl, net=chosen_net, channels=uses,
        total_budget=budget.total, spend=spend, expected_retained_value=retained,
        expected_net_value=float(chosen_net[treated].sum()), baseline_net_value=base[0], baseline_contacts=base[1],
        n_eligible=n_elig, curve_share=share, curve_net=curve,
        chosen_share=float(treated.sum() / n_elig) if n_elig else 0.0, binding=binding,
        limited_share=lim_share, limited_net=lim_net)


def allocate_with_controls(score: np.ndarray, value: Optional[np.ndarray], candidates: np.ndarray,
                           uplift: np.ndarray, *, controls: Callable, control: np.ndarray,
                           passes: int = CONTROL_PASSES, **kw) -> tuple[BudgetPlan, Any]:
    """:func:`allocate` with every action's control group raised to the count its arm calls for
    (module docstring, "Control group") at least, for the arms of the list it returns.

    ``controls(listed, control, action)`` -> ``(mask, allocation)``: the control group of the list
    ``listed`` with rule index ``action`` (-1 none), ``control`` topped up where an action is short
    (:func:`churnlens.actions.control.allocate_controls`; it never removes a control customer).
    ``kw`` are :func:`allocate`'s other arguments. Returns the plan and the allocation counted on
    it: a fixed point, where ``controls`` adds nobody to the plan's control group (every raised
    action holds at least its count)."""
    if passes < 1:
        raise ValueError(f"passes must be at least 1, not {passes}")
    drawn = np.asarray(control, dtype=bool)
    plan = allocate(score, value, candidates, uplift, control=drawn, **kw)
    for k in range(1, passes + 1):
        mask, allocation = controls(plan.treated | plan.control, plan.control, plan.action)
        short = np.asarray(mask, dtype=bool) & ~plan.control
        if not short.any():
            break
        if k < passes:  # choose again with the raised group: its capacity goes to other customers
            drawn = drawn | mask
            plan = allocate(score, value, candidates, uplift, control=drawn, **kw)
        else:  # the same list, the shortfall held out of it: its arms (and so the counts) stay
            plan = allocate(score, value, candidates, uplift, control=drawn, held=short, **kw)
    return plan, allocation


def _baseline(score, net, cost, chan, capacity, total, ctrl, eligible, default_rule) -> tuple[float, int]:
    """Same limits, customers by score descending with their default action (the unbudgeted list's order)."""
    n = score.shape[0]
    d = np.asarray(default_rule, dtype=np.int64)
    who = np.flatnonzero(np.asarray(eligible, bool) & (d >= 0))
    who = who[np.lexsort((who, -score[who]))]
    action = _run(who, d[who], cost, chan, capacity, total, ctrl, n)
    treated = (action >= 0) & ~ctrl
    return float(net[np.flatnonzero(treated), action[treated]].sum()), int(treated.sum())


def _channel_use(names, budget, action, treated, cost, chan) -> tuple[ChannelUse, ...]:
    out = []
    for c, name in enumerate(names):
        m = treated & (chan[np.maximum(action, 0)] == c)
        spec = budget.channels.get(name)
        out.append(ChannelUse(channel=name, cost=spec.cost if spec else 0.0, capacity=spec.capacity if spec else None,
                              contacts=int(m.sum()), spend=float(cost[action[m]].sum())))
    return tuple(out)


def plan_money(score: np.ndarray, value: Optional[np.ndarray], action: np.ndarray, treated: np.ndarray,
               segment_keys: np.ndarray, *, rules: Sequence[PlaybookRule], pooled, budget: Optional[BudgetConfig] = None,
               uplift: Optional[np.ndarray] = None, level: float = 0.95, n_draws: int = 1000,
               seed: int = 0, draw: Optional[Callable] = None) -> PlanMoney:
    """Expected retained value ``sum p x uplift x value`` and net value (minus the contacts' cost)
    of a plan, with the posterior mean and central ``level`` interval over joint posterior draws
    of the uplift (``draw``: :func:`churnlens.campaign.pooled.posterior_draws`, passed in by the
    caller since actions do not import the campaign stage; seeded): one draw per segment x
    action, shared by all its customers, segments of one action drawn together.

    Parameters
    ----------
    action : ndarray of int, shape (n,)
        Rule index per customer (-1: none); only ``treated`` customers count.
    pooled : PooledUplift or None
        The pooled uplift; None, or an action it does not know, uses the rule's assumed ``uplift``
        as if known (listed in ``assumed_actions``).
    uplift : ndarray, shape (n, R), optional
        The uplift the plan used (:func:`uplift_matrix`): gives ``value`` of both figures;
        default the posterior mean.
    """

    score = np.asarray(score, dtype=np.float64)
    n = score.shape[0]
    act = np.asarray(action, dtype=np.int64)
    tr = np.asarray(treated, dtype=bool) & (act >= 0)
    keys = np.asarray(segment_keys).astype(str)
    for name, arr in (("action", act), ("treated", tr), ("segment_keys", keys)):
        if arr.shape[0] != n:
            raise DataError(f"plan_money: {name} has {arr.shape[0]} rows, expected {n} (one per customer).")
    v = np.zeros(n) if value is None else np.nan_to_num(np.asarray(value, dtype=np.float64), nan=0.0)
    w = score * v
    cost = float(action_costs(rules, budget)[act[tr]].sum())
    cells: dict[tuple[str, str], float] = {}
    for i in np.flatnonzero(tr):
        k = (keys[i], rules[act[i]].action.en)
        cells[k] = cells.get(k, 0.0) + w[i]
    cell_keys = sorted(cells)
    weights = np.array([cells[k] for k in cell_keys])
    known = {p.action for p in pooled.posteriors} if pooled is not None else set()
    assumed_u = {r.action.en: float(r.uplift) for r in rules}
    if cell_keys and pooled is not None:
        draws = draw(pooled, cell_keys, n_draws=n_draws, seed=seed)
    else:
        draws = np.full((n_draws, len(cell_keys)), np.nan)
    for j, (s, a) in enumerate(cell_keys):
        if a not in known:
            draws[:, j] = assumed_u.get(a, 0.0)
    retained = draws @ weights if cell_keys else np.zeros(n_draws)
    if uplift is not None:
        u = np.asarray(uplift, dtype=np.float64)
        plan_value = float((w * u[np.arange(n), np.maximum(act, 0)])[tr].sum())
    else:
        plan_value = float(retained.mean())
    lo, hi = np.quantile(retained, [(1 - level) / 2, (1 + level) / 2])
    mi = lambda val, d, a, b: MoneyInterval(value=val, mean=float(d.mean()), low=float(a), high=float(b),  # noqa: E731
                                             level=level)
    return PlanMoney(retained=mi(plan_value, retained, lo, hi), net=mi(plan_value - cost, retained - cost, lo - cost,
                                                                      hi - cost),
                     cost=cost, draws=n_draws, assumed_actions=tuple(sorted({a for _, a in cell_keys if a not in known})))
