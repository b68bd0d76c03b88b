"""Result types of churnlens.campaign.effect: numbers and codes only; reports turn them into words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.notes import Note
from churnlens.frozen import array_eq

@dataclass(frozen=True)
class ArmEffect:
    """Treatment vs control in one population (all, or one segment)."""

    population: str  # "all" or a segment key
    treated: int
    control: int
    treated_churn_rate: float
    control_churn_rate: float
    absolute_reduction: float  # control - treated
    relative_reduction: Optional[float]
    ci_low: float  # 95% CI of absolute_reduction
    ci_high: float
    p_value: Optional[float]
    retained_value: float
    test: str = ""  # which test gave p_value: "two-proportion z-test" | "Fisher exact" | ...


@dataclass(frozen=True)
class CampaignEffect:
    overall: ArmEffect
    by_segment: tuple[ArmEffect, ...]
    method: Note  # how the effect was estimated (campaign.method: Newcombe interval, z / Fisher test)
