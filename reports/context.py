"""What the report templates and charts receive: one frozen :class:`ReportContext`.

The pipeline assembles it from the stages' result objects; ``reports`` only formats and
draws. Anything a template shows is either a field here or derived by a registered filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.attribution.results import Attributions, CrossCheck, GlobalDrivers, ModelInfo
from churnlens.config import Config
from churnlens.frozen import array_eq
from churnlens.campaign.results import CampaignEffect, MeasuredCampaign
from churnlens.evaluation.results import BackTest, ModelQuality
from churnlens.monitoring.results import Monitoring, Trend
from churnlens.actions.results import BudgetPlan, SegmentPlan
from churnlens.attribution.results import FeatureSources
from churnlens.segmentation.results import SegmentRules, SegmentProfiles
from churnlens.segmentation.results import ChurnerSet, Migration, Segmentation, SegmentSummary


@dataclass(frozen=True)
class PackageVersion:
    name: str
    version: str


@dataclass(frozen=True)
class InputFile:
    role: str  # "model" | "data" | "config" | "previous" | "campaign" | "do_not_contact"
    path: str
    sha256: str
    rows: Optional[int] = None


@dataclass(frozen=True)
class RunFacts:
    """Who/what/when of a run, for the cover, the manifest and the dossier."""

    generated_at: str  # ISO 8601, passed in (reproducible outputs)
    period: str
    title: str
    institution: str
    command: str  # exact command line to reproduce
    seed: int
    model: ModelInfo
    inputs: tuple[InputFile, ...]
    n_customers: int
    packages: tuple[PackageVersion, ...]
    attributed: str  # what was attributed, in English words (for the manifest)
    n_attributed: int = 0  # customers with exact attributions (0: unknown, show ``attributed``)
    n_targeted: int = 0  # selected churners among them
    n_sampled: int = 0  # population sample for the global views (each weighted n_customers / n_sampled)


@dataclass(frozen=True)
class CustomerExample:
    """An example churner for a segment page: masked id and reason codes (feature, value)."""

    segment_key: str
    customer: str  # masked unless report.mask_ids is false
    score: float
    reasons: tuple[tuple[str, object], ...]  # (feature, the customer's value), strongest first


@array_eq
@dataclass(frozen=True, eq=False)
class ReportContext:
    """Everything both documents (retention report and auditor dossier) show.

    ``X`` holds the aligned feature values of all scored customers (rows as in
    ``attributions``); charts draw from it and from result objects, never recompute
    statistics beyond selecting rows/columns.
    """

    lang: str  # "en" | "zh"
    facts: RunFacts
    config: Config
    attributions: Attributions
    X: pd.DataFrame
    display_rows: np.ndarray  # (<= 5000,) deterministic sample of rows for point charts (beeswarm, dependence)
    value: Optional[np.ndarray]  # (n,) money at risk per customer, None without value column
    churners: ChurnerSet
    drivers: GlobalDrivers
    segmentation: Segmentation
    segments: tuple[SegmentSummary, ...]
    plans: tuple[SegmentPlan, ...]
    examples: tuple[CustomerExample, ...]
    cross_check: CrossCheck  # sample recomputed with shap's reference TreeExplainer
    quality: Optional[ModelQuality]  # None without a label column
    monitoring: Optional[Monitoring]  # None without --previous
    migration: Optional[Migration]
    campaign: Optional[CampaignEffect]
    excluded_do_not_contact: int
    control_count: int
    omitted: tuple[tuple[str, str], ...]  # (section id, one-line reason in report language)
    # data dictionary facts: encoded columns mapped to sources, undeclared features, and the
    # features never listed as actionable reasons with their cause ("protected" | "non_actionable")
    sources: Optional[FeatureSources] = None
    excluded_reasons: tuple[tuple[str, str], ...] = ()
    profiles: Optional[SegmentProfiles] = None
    # the monthly loop (None when not measured; see churnlens.run.loop)
    backtest: Optional[BackTest] = None  # last month's published scores and list against outcomes
    in_sample: Optional[BackTest] = None  # figures on labels inside the scored table
    measured: Optional[MeasuredCampaign] = None  # last month's campaign from its own control group
    budget: Optional[BudgetPlan] = None
    trend: Optional[Trend] = None
    rules: tuple = ()  # the playbook rules in use (PlaybookRule): action words by action key
    interactions: tuple = ()  # SegmentInteractions: top interacting driver pairs per segment
    segment_rules: Optional[SegmentRules] = None  # surrogate-tree rules and per-segment quality
