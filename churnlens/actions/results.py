"""Result types of churnlens.actions: numbers and codes only; reports turn them into words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.config import Text
from churnlens.frozen import array_eq

@dataclass(frozen=True)
class PlannedAction:
    rule_index: int  # position in the playbook
    driver: str
    action: Text  # the playbook's own wording of the action, per language (the user's words, from the config)
    channel: str
    cost: float
    uplift: float
    priority: int
    customers: int = 0  # targets of the segment whose own action is this rule
    segment_level: bool = True  # matches the segment's signature (else only customer-level)
    conditional: bool = False  # the rule has a value condition (given only to customers for whom it holds)
    # of the segment's listed customers whose effective action this is (retention_plan.csv):
    control: int = 0  # in the control group
    value_at_risk: float = 0.0  # sum of score x value, targets and control
    total_cost: float = 0.0  # cost per contact x customers
    expected_retained: float = 0.0  # sum over targets of score x value x uplift


@dataclass(frozen=True)
class SegmentPlan:
    segment_key: str
    actions: tuple[PlannedAction, ...]  # by customers descending, then priority and rule order
    target_count: int  # customers to contact (excluding control and do-not-contact)
    control_count: int
    value_at_risk: float
    expected_retained_value: float  # sum over targets of score x value x best uplift
    cost: float
    no_rule: bool  # no playbook rule matched: flagged in the report
    # listed customers of the segment with no action (the empty-action row of retention_plan.csv)
    unassigned: int = 0  # to contact, no rule applies
    unassigned_control: int = 0  # in the control group, no rule applies
    unassigned_value_at_risk: float = 0.0  # sum of score x value of both


@array_eq
@dataclass(frozen=True, eq=False)
class Targeting:
    """Who is on this month's retention list.

    Attributes
    ----------
    listed : ndarray of bool, shape (n,)
        Churners on the list (do-not-contact customers removed), control group included.
    control : ndarray of bool, shape (n,)
        Held-out control group (subset of ``listed``): on the list, flagged, not contacted.
    excluded : ndarray of bool, shape (n,)
        Churners removed because they are on the do-not-contact list.
    refused : ndarray of bool, shape (n,), optional
        Churners (not on the do-not-contact list) who refused personalised marketing
        (``report.no_personalisation``): not listed, or, with ``generic``, listed with the
        configured generic action instead of a personalised one.
    generic : bool
        Whether refused customers are listed with the generic action (``report.generic_action``).
    """

    listed: np.ndarray
    control: np.ndarray
    excluded: np.ndarray
    refused: Optional[np.ndarray] = None
    generic: bool = False

    @property
    def target(self) -> np.ndarray:
        """Customers to contact: listed and not in the control group."""
        return self.listed & ~self.control


@array_eq
@dataclass(frozen=True, eq=False)
class RetentionList:
    """The retention list table plus the counts the report states next to it.

    ``frame`` columns: customer_id, segment, score, value, expected_value_at_risk,
    reason_1..reason_k (k >= 3), action, channel, control_group.
    """

    frame: "pd.DataFrame"
    excluded_do_not_contact: int
    control_count: int
    refused_no_personalisation: int = 0  # refused churners: left out, or listed with the generic action


@dataclass(frozen=True)
class Refusals:
    """How ``report.no_personalisation`` was honoured (the dossier counts it).

    ``ids``: distinct ids on the file; ``unknown``: of them, ids that match no customer of the
    book (a compliance risk: check the file's id format); ``churners``: refused customers
    among this month's churners (do-not-contact customers aside); ``excluded``: left out of the
    list (no generic action configured); ``generic``: listed with the generic action.
    """

    ids: int
    unknown: int
    churners: int
    excluded: int
    generic: int


@dataclass(frozen=True)
class ChannelUse:
    channel: str
    cost: float  # per contact, from budget.channels (the rule's own cost comes on top)
    capacity: Optional[int]  # None: no limit
    contacts: int  # contacted customers (control group not counted)
    spend: float  # rule cost + channel cost of those contacts


@array_eq
@dataclass(frozen=True, eq=False)
class BudgetPlan:
    """Customers and actions chosen under the budget (see churnlens.actions.budget).

    Attributes
    ----------
    action : ndarray of int64, shape (n,)
        Chosen rule per customer, -1 for none (control customers keep the action they would get).
    treated, control : ndarray of bool, shape (n,)
        Contacted customers; held-out control customers the rule would have contacted.
    net : ndarray of float64, shape (n,)
        Expected net value of the chosen action (NaN without one).
    curve_share, curve_net : ndarray, shape (K,)
        Profit curve without limits: the eligible customers ranked by their best action's
        expected net value, share contacted (0..1) against cumulative expected net value (no
        capacity and no budget limit).
    limited_share, limited_net : ndarray, shape (L,)
        Profit curve under the plan's limits (capacities and total budget): the contacted
        customers in the order the greedy accepted them (decreasing net value of the chosen
        action), share contacted against cumulative expected net value. Its first point is
        (0, 0) and its last point is the plan itself, (``chosen_share``, ``expected_net_value``):
        the greedy with a cap of k contacts chooses exactly its first k customers.
    binding : tuple of str
        Limits reached (codes): ``total`` and/or ``capacity:<channel>``.
    """

    action: np.ndarray
    treated: np.ndarray
    control: np.ndarray
    net: np.ndarray
    channels: tuple[ChannelUse, ...]
    total_budget: Optional[float]
    spend: float
    expected_retained_value: float  # sum over contacted of p x uplift x value
    expected_net_value: float  # minus their cost
    baseline_net_value: float  # same limits, customers taken by score with their default action
    baseline_contacts: int
    n_eligible: int
    curve_share: np.ndarray
    curve_net: np.ndarray
    chosen_share: float  # contacted / eligible
    binding: tuple[str, ...]
    method: str = "greedy"  # code of the assignment (churnlens.actions.budget)
    limited_share: Optional[np.ndarray] = None
    limited_net: Optional[np.ndarray] = None


@dataclass(frozen=True)
class Playbook:
    """The playbook rules in use: the config's, then the playbook file's."""

    rules: tuple  # PlaybookRule


@array_eq
@dataclass(frozen=True, eq=False)
class ActionPlan:
    """This month's list as first planned: who is listed, each customer's matching
    customer-level rule (-1 none) and each segment's plan (rows as the attributed customers)."""

    targeting: Targeting
    customer_rule: np.ndarray  # (m,) index into the playbook rules, -1 = none
    plans: tuple  # SegmentPlan


@array_eq
@dataclass(frozen=True, eq=False)
class FinalPlan:
    """The list as sent: the :class:`ActionPlan` refined by measured uplift and the budget
    (the same as the action plan when neither applies).

    ``uplift`` (m, R) and ``extra_cost`` (R,) are the list's uplift per customer and rule and
    the budget's channel cost per contact (None: the playbook's own uplift and no channel cost).
    """

    targeting: Targeting
    plans: tuple  # SegmentPlan
    rule_index: np.ndarray  # (m,) each customer's action: the rule whose condition holds for them, -1 none
    budget: Optional[BudgetPlan] = None
    uplift: Optional[np.ndarray] = None
    extra_cost: Optional[np.ndarray] = None


@dataclass(frozen=True)
class ControlPlan:
    """Control share of one action so that it gets measured (churnlens.actions.control)."""

    action: str
    arm: int  # listed customers of the action this month (contacted + control)
    share: float  # control share of the action's arm
    control: int  # round(share x arm)
    have: float  # control customers already in the pooled evidence (decayed)
    measurable_in: Optional[int]  # months (this one included) until min_control is reached; 0: already; None: no arm


@dataclass(frozen=True)
class ControlAllocation:
    """The list's control group per action: when each action will be measurable
    (churnlens.actions.control.allocate_controls)."""

    plans: tuple  # ControlPlan, by action key
    min_control: int  # loop.min_control
    months: int  # loop.control_months
    base_share: float  # report.control_share


@dataclass(frozen=True)
class MoneyInterval:
    """A money figure with its posterior mean and central interval (draws of the uplift)."""

    value: float  # the plan's own figure (from the uplift the plan used)
    mean: float  # posterior mean
    low: float
    high: float
    level: float


@dataclass(frozen=True)
class PlanMoney:
    """Expected retained and net value of a plan with intervals from the uplift posterior
    (churnlens.actions.budget.plan_money)."""

    retained: MoneyInterval
    net: MoneyInterval
    cost: float  # spend of the contacted customers (known, no uncertainty)
    draws: int
    assumed_actions: tuple[str, ...]  # actions without any evidence: their assumed uplift is used as known
