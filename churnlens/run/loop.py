"""The monthly loop's steps: last month's published scores and list against outcomes
(back-test), measured campaign effect and uplift, the budgeted list, and the trend.

Steps like those of :mod:`churnlens.run.stages`; the files they add to the report folder are
written by :mod:`churnlens.run.loop_files` (``scores.parquet``, ``month_summary.json``, ``tables/``).
"""

from __future__ import annotations

import dataclasses
import json
import platform
from dataclasses import dataclass, replace
from importlib import metadata
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from churnlens import attribution
from churnlens.actions import budget as budgeting
from churnlens.actions import control as control_mod
from churnlens.actions import playbook
from churnlens.actions.results import (
    ActionPlan, BudgetPlan, ControlAllocation, FinalPlan, PlanMoney, Playbook, Targeting,
)
from churnlens.attribution.results import Attributions, GlobalDrivers
from churnlens.campaign.pooled import posterior_draws, read_evidence, remap_segments
from churnlens.campaign.results import MeasuredCampaign, UpliftEvidence
from churnlens.campaign.uplift import measure_campaign, uplift_overrides
from churnlens.config import Config
from churnlens.errors import InputFileError
from churnlens.evaluation import backtest as bt
from churnlens.evaluation.results import BackTest, InSample, ModelQuality, Published
from churnlens.monitoring.history import SUMMARY_FILE, load_history, trend
from churnlens.monitoring import changes as month_changes
from churnlens.monitoring.results import DataSchema, Monitoring, MonthChanges, MonthSummary, ReasonShift, SegmentSize, Trend
from churnlens.results import AlignedFeatures, Book, Omitted, SourceFeatures
from churnlens.attribution import LoadedModel
from churnlens.run.request import Env, ReportRequest
from churnlens.run.step import step
from churnlens.segmentation.history import current_keys, lineage_key_map
from churnlens.segmentation.results import Migration, Segments


@dataclass(frozen=True, eq=False)
class LoopInputs:
    """Last month's outcomes and published scores, and the earlier months of ``--history``."""

    outcomes: Optional[pd.DataFrame]  # customer_id, churned of last month's customers
    published: Optional[Published]  # last month's scores and list
    history: tuple  # MonthSummary of earlier months
    history_skipped: int


PACKAGES = ("churnlens", "numpy", "pandas", "scikit-learn", "scipy", "lightgbm", "shap", "hdbscan",
            "xgboost", "skops", "jinja2", "weasyprint", "matplotlib", "pyarrow", "pydantic")


def installed_versions() -> dict[str, str]:
    """Versions of the packages a run's numbers depend on (those installed), then Python's."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    found["python"] = platform.python_version()
    return found


def now_iso(given: str) -> str:
    if given:
        return given
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def period(req: ReportRequest, config: Config) -> str:
    """The report's period: ``report.period``, else the month of the generation time."""
    return config.report.period or now_iso(req.generated_at)[:7]


@step("loop inputs", needs=(ReportRequest, Config), gives=LoopInputs)
def loop_inputs(env: Env, req: ReportRequest, config: Config) -> LoopInputs:
    """Outcomes file, last month's published scores and the history folder, read and checked
    before the expensive steps."""
    outcomes = published = None
    history: tuple = ()
    skipped = 0
    if req.outcomes is not None:
        if req.previous is None:
            raise InputFileError("outcomes: observed outcomes need previous, last month's report folder whose "
                                 "published scores and list they are measured against.", argument="outcomes")
        outcomes = bt.read_outcomes(req.outcomes, id_column=config.id_column)
    if req.previous is not None and (outcomes is not None or config.label_column):
        published = bt.read_published(req.previous)
    if req.history is not None:
        history, skipped = load_history(req.history, exclude=[p for p in (req.out,) if p is not None])
    return LoopInputs(outcomes, published, history, skipped)


@step("back-test", needs=(Config, Book, LoopInputs, ModelQuality), gives=(BackTest, InSample))
def backtest(env: Env, config: Config, book: Book, loop_in: LoopInputs, quality: Optional[ModelQuality]):
    """Back-test of last month's scores (outcomes file, else this table's labels for last
    month's customers), and in-sample figures when this table has labels."""
    loop = config.loop
    result = None
    outcomes, source = loop_in.outcomes, "outcomes_file"
    if outcomes is None and loop_in.published is not None and book.label is not None:
        outcomes, source = bt.outcomes_from_labels(book.ids, book.label), "label_column"
    if outcomes is not None and loop_in.published is not None:
        result = bt.backtest(loop_in.published, outcomes, outcome_source=source, n_boot=loop.bootstrap,
                             seed=config.seed, level=loop.level, threshold=config.churners.threshold)
    insample = None
    if book.label is not None:
        insample = InSample(bt.in_sample(book.label, book.score, n_boot=loop.bootstrap, seed=config.seed,
                                         level=loop.level, threshold=config.churners.threshold, quality=quality,
                                         backtest_auc=None if result is None else result.quality.auc))
    return (Omitted("backtest", "no_outcomes") if result is None else result), insample


def _previous_period(previous: Path) -> str:
    """The period of last month's folder (its month summary), else the folder's name."""
    summary = Path(previous) / SUMMARY_FILE
    if summary.is_file():
        return str(json.loads(summary.read_text(encoding="utf-8")).get("period") or Path(previous).name)
    return Path(previous).name


@step("measured campaign", needs=(ReportRequest, Config, Book, LoopInputs, Playbook, Migration),
      gives=(MeasuredCampaign, UpliftEvidence))
def measured_campaign(env: Env, req: ReportRequest, config: Config, book: Book, loop_in: LoopInputs,
                      book_rules: Playbook, migration: Optional[Migration]):
    """Effect and uplift of last month's list, from its own control group and the outcomes,
    pooled with the earlier months' evidence kept by last month's folder; every month's counts
    are moved to this month's segment keys along the segments' lineage (merges and splits)."""
    pub, loop = loop_in.published, config.loop
    outcomes = loop_in.outcomes
    if outcomes is None and pub is not None and book.label is not None:
        outcomes = bt.outcomes_from_labels(book.ids, book.label)
    if pub is None or outcomes is None or not (pub.listed & pub.control).any() or not (pub.listed & ~pub.control).any():
        return Omitted("uplift", "no_assignment"), None
    rows, y, _ = bt.match_outcomes(pub, outcomes)
    rows, y = rows[pub.listed[rows]], y[pub.listed[rows]]
    if not pub.control[rows].any() or pub.control[rows].all():
        return Omitted("uplift", "no_assignment"), None
    assumed = {r.action.en: float(r.uplift) for r in book_rules.rules}
    key_map = {} if migration is None else lineage_key_map(migration)
    earlier = remap_segments(read_evidence(req.previous), key_map)
    segment = current_keys(pub.segment[rows], key_map)
    measured = measure_campaign(y, pub.control[rows], segment, pub.action[rows], pub.value[rows],
                                assumed=assumed, prior_strength=loop.uplift_prior_strength,
                                min_treated=loop.min_treated, min_control=loop.min_control, level=loop.level,
                                history=earlier, period=_previous_period(req.previous), decay=loop.uplift_decay,
                                criterion=loop.uplift_criterion, quantile=loop.uplift_quantile)
    return measured, UpliftEvidence(tuple(earlier) + tuple(measured.evidence))


@step("expected values", needs=(Config, Playbook, Attributions, SourceFeatures, AlignedFeatures, Segments,
                                ActionPlan, MeasuredCampaign, UpliftEvidence),
      gives=(FinalPlan, BudgetPlan, PlanMoney, ControlAllocation))
def expected_values(env: Env, config: Config, book_rules: Playbook, attr: Attributions, X: SourceFeatures,
                    aligned: AlignedFeatures, segments: Segments, planned: ActionPlan,
                    measured: Optional[MeasuredCampaign], evidence: Optional[UpliftEvidence]):
    """The list as sent: measured uplift in this month's expected values and, with ``budget``,
    the budgeted list (the action plan itself when neither applies); each customer's action is
    a rule whose condition holds for that customer; the control group raised per action so that
    every action gets measured within ``loop.control_months`` (the pooled evidence's control
    customers counted); the plan's money with intervals from the uplift posterior when uplift
    was measured."""
    overrides = uplift_overrides(measured)
    budget, rules, loop = config.budget, book_rules.rules, config.loop
    conditions = playbook.condition_masks(rules, X.frame)
    keys = np.asarray(segments.keys).astype(str)
    names = np.array([r.action.en for r in rules] + [""], dtype=object)
    counts = () if evidence is None else evidence.counts

    def controls(listed, control, rule):
        return control_mod.allocate_controls(
            attr.customer_ids, names[np.where(rule >= 0, rule, -1)], listed, control, counts,
            base_share=config.report.control_share, min_control=loop.min_control, months=loop.control_months,
            decay=loop.uplift_decay, max_share=loop.max_control_share, seed=config.seed)

    uplift = budgeting.uplift_matrix(rules, keys, overrides) if (overrides or budget is not None) else None
    targeting, customer_rule, plan = planned.targeting, planned.customer_rule, None
    if budget is not None:
        default = playbook.effective_rules(planned.customer_rule, keys, planned.plans, conditions=conditions)
        cand = budgeting.candidate_rules(rules, attr.values, X.frame, attr.features, segment_keys=keys,
                                         plans=planned.plans)
        # every action measured: control raised where the chosen arms are short, chosen again until
        # every action holds its count (budget.allocate_with_controls)
        plan, allocation = budgeting.allocate_with_controls(
            attr.score, aligned.value, cand, uplift, controls=controls, control=planned.targeting.control,
            rules=rules, budget=budget, eligible=planned.targeting.listed, default_rule=default)
        chosen = plan.treated | plan.control
        targeting = Targeting(listed=chosen, control=plan.control, excluded=planned.targeting.excluded)
        customer_rule = np.where(chosen, plan.action, -1)
        plans = playbook.plan_segments(segments.items, rules, segment_keys=keys, X=X.frame, score=attr.score,
                                       value=aligned.value, targeting=targeting, customer_rule=customer_rule,
                                       uplift=uplift)
    else:
        index = playbook.effective_rules(customer_rule, keys, planned.plans, conditions=conditions)
        ctl, allocation = controls(targeting.listed, targeting.control, index)
        if (ctl != targeting.control).any():
            targeting = replace(targeting, control=ctl)
        if overrides or targeting is not planned.targeting:
            plans = playbook.plan_segments(segments.items, rules, segment_keys=keys, X=X.frame, score=attr.score,
                                           value=aligned.value, targeting=targeting, customer_rule=customer_rule,
                                           uplift=uplift)
        else:
            plans = planned.plans
        if not overrides:
            return FinalPlan(targeting, tuple(plans), index), None, None, allocation
    extra = budgeting.action_costs(rules, budget) - np.array([r.cost for r in rules]) if budget else None
    index = playbook.effective_rules(customer_rule, keys, plans, conditions=conditions)
    money = None
    if measured is not None and measured.pooled is not None:
        money = budgeting.plan_money(attr.score, aligned.value, index, targeting.target & (index >= 0), keys,
                                     rules=rules, pooled=measured.pooled, budget=budget, uplift=uplift,
                                     level=config.loop.level, seed=config.seed, draw=posterior_draws)
    return FinalPlan(targeting, tuple(plans), index, plan, uplift, extra), plan, money, allocation


@step("month summary", needs=(ReportRequest, Config, Book, Segments, GlobalDrivers, BackTest, MeasuredCampaign,
                              Monitoring, Migration), gives=MonthSummary)
def month_summary(env: Env, req: ReportRequest, config: Config, book: Book, segments: Segments,
                  drivers: GlobalDrivers, b: Optional[BackTest], m: Optional[MeasuredCampaign],
                  mon: Optional[Monitoring], migration: Optional[Migration]) -> MonthSummary:
    """This month's numbers for next months' trend pages (period and folder as the run knows
    them; the report folder's writer sets those of the folder it writes), with the segments'
    lineage from last month's keys (the trend's rows follow merges and splits)."""
    tri = lambda e: None if e is None or not np.isfinite(e.value) else (e.value, e.low, e.high)  # noqa: E731
    return MonthSummary(
        period=period(req, config), folder=Path(req.out).name if req.out else "",
        n_customers=book.n, score_psi=None if mon is None else float(mon.score_psi.psi),
        auc=None if b is None else tri(b.auc), ks=None if b is None else tri(b.ks),
        segments=tuple(SegmentSize(s.key, s.size, tuple(s.profile_features), tuple(float(x) for x in s.profile))
                       for s in segments.items), level=config.loop.level,
        drivers=tuple((d.feature, float(d.share)) for d in drivers.drivers),
        campaign=None if m is None else (m.overall.absolute_reduction, m.overall.ci_low, m.overall.ci_high,
                                         m.overall.retained_value),
        lineage=None if migration is None else tuple((l.previous, l.current, float(l.weight))
                                                     for l in migration.key_map))


@step("trend", needs=(ReportRequest, Config, LoopInputs, MonthSummary), gives=Trend)
def history_trend(env: Env, req: ReportRequest, config: Config, loop_in: LoopInputs, summary: MonthSummary):
    """Trend data over ``--history`` plus this month."""
    if req.history is None:
        return Omitted("trend", "no_history")
    mon = config.monitoring
    return trend(loop_in.history, summary, psi=mon.thresholds.psi, auc_drop=mon.thresholds.auc_drop,
                 months=mon.months, n_skipped=loop_in.history_skipped, confidence=mon.confidence)


# --- what changed since last month (dossier) ----------------------------------------------------

@step("data schema", needs=(Config, SourceFeatures), gives=DataSchema)
def schema(env: Env, config: Config, X: SourceFeatures) -> DataSchema:
    """The customer table's columns as the run used them (recorded in ``manifest.json``)."""
    return month_changes.data_schema(X.frame, id_column=config.id_column, label_column=config.label_column,
                                     value_column=config.value_column)


@step("changes since last month", needs=(ReportRequest, Config, LoadedModel, DataSchema), gives=MonthChanges)
def changes_since_last_month(env: Env, req: ReportRequest, config: Config, model: LoadedModel,
                             data_schema: DataSchema):
    """Model fingerprint, config, data schema and package versions against last month's
    ``manifest.json`` (``previous``)."""
    if req.previous is None:
        return Omitted("changes", "no_previous")
    return month_changes.month_changes(Path(req.previous), model=dataclasses.asdict(model.info),
                                       config=config.model_dump(mode="json"), schema=data_schema,
                                       packages=installed_versions())


@step("reasons month to month", needs=(ReportRequest, Config, Attributions, FinalPlan), gives=ReasonShift)
def reasons_month_to_month(env: Env, req: ReportRequest, config: Config, attr: Attributions, plan: FinalPlan):
    """The listed customers' first reasons, last month (its stored attributions of the customers
    on its published list) against this month, computed the same way from both."""
    if req.previous is None:
        return Omitted("reason-shift", "no_previous")
    if plan is None:  # no list this month: nothing to compare
        return None
    previous = Path(req.previous)
    if not (previous / "attributions.parquet").is_file():
        return Omitted("reason-shift", "no_previous")
    published = bt.read_published(previous)
    prev = attribution.read_attributions(previous / "attributions.parquet")
    listed = pd.Index(published.customer_ids[published.listed].astype(str))
    prev_rows = pd.Index(np.asarray(prev.customer_ids).astype(str)).isin(listed)
    eligible = [f for f in attr.features if not config.excluded_cause(f)]
    return month_changes.reason_shift(
        month_changes.first_reasons(prev.values[prev_rows], prev.features, eligible),
        month_changes.first_reasons(attr.values[plan.targeting.listed], attr.features, eligible))
