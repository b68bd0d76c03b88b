"""Result types of churnlens.monitoring.stability: numbers and codes only; reports turn them into words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.notes import Note
from churnlens.frozen import array_eq

@dataclass(frozen=True)
class PSIBin:
    label: str  # "[0.12, 0.25)" or a category
    reference_share: float
    current_share: float
    contribution: float


@dataclass(frozen=True)
class PSIResult:
    name: str  # "score" or a feature
    psi: float
    band: str  # "stable" (< 0.1) | "moderate" (0.1-0.25) | "shift" (>= 0.25)
    bins: tuple[PSIBin, ...]


@dataclass(frozen=True)
class DriverDrift:
    feature: str
    previous_share: float
    current_share: float
    change: float
    ci_low: float  # bootstrap 95% CI of the change
    ci_high: float


@dataclass(frozen=True)
class Monitoring:
    reference: Note  # what was compared against: monitoring.reference (folder, period) / monitoring.reference_unlabelled (folder)
    score_psi: PSIResult
    feature_psi: tuple[PSIResult, ...]  # sorted by psi descending
    driver_drift: tuple[DriverDrift, ...]  # sorted by |change| descending
