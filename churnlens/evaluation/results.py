"""Result types of churnlens.evaluation.quality: numbers and codes only; reports turn them into words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.notes import Note
from churnlens.frozen import array_eq

@array_eq
@dataclass(frozen=True, eq=False)
class Curve:
    """A curve as sampled points (x, y) plus the thresholds that produced them."""

    x: np.ndarray
    y: np.ndarray
    thresholds: np.ndarray


@dataclass(frozen=True)
class DecileRow:
    decile: int  # 1 = riskiest tenth
    customers: int
    churners: int
    rate: float
    cumulative_capture: float  # share of all churners in deciles 1..decile
    lift: float  # rate / overall rate
    cumulative_lift: float
    min_score: float
    max_score: float


@dataclass(frozen=True)
class Confusion:
    """Confusion matrix at one operating point."""

    rule: Note  # quality.rule_score (threshold) or quality.rule_top (percent): "score >= 0.50", "top 10%"
    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float


@dataclass(frozen=True)
class CalibrationRow:
    bin: int
    customers: int
    mean_score: float
    observed_rate: float


@dataclass(frozen=True)
class ModelQuality:
    """Bank-style model performance on labelled data.

    ``auc``/``ks`` are None (with a note) when only one class is present.
    """

    n: int
    n_churners: int
    auc: Optional[float]
    roc: Curve  # x = FPR, y = TPR
    ks: Optional[float]
    ks_threshold: Optional[float]
    ks_curve: Curve  # x = threshold, y = TPR - FPR
    deciles: tuple[DecileRow, ...]
    confusion: tuple[Confusion, ...]  # at the operating threshold, then at top k%
    calibration: tuple[CalibrationRow, ...]
    brier: float
    notes: tuple[Note, ...] = ()  # quality.equal_scores, quality.only_churners, quality.only_non_churners, quality.no_churners


@dataclass(frozen=True)
class ModelComparisonRow:
    model: str  # file name
    sha256: str
    top_decile_lift: float
    auc: Optional[float]
    ks: Optional[float]
    champion: bool


@dataclass(frozen=True)
class ModelComparison:
    rows: tuple[ModelComparisonRow, ...]  # champion first
    verdict: Note  # compare.only_one or compare.champion (with why: compare.higher / compare.tie)
