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
    """

    listed: np.ndarray
    control: np.ndarray
    excluded: np.ndarray

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
