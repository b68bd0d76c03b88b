"""The monthly loop's stages: last month's published scores and list against outcomes
(back-test), measured campaign effect and uplift, the budgeted list, and the trend.

Each is a ``stage(state, env) -> RunState`` like those of :mod:`churnlens.run.stages`;
:func:`churnlens.run.pipeline._stages` places them. Files they add to the report folder are
written by :func:`write_loop_files` (``scores.parquet``, ``month_summary.json``, ``tables/``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.actions import budget as budgeting
from churnlens.actions import playbook
from churnlens.actions.results import Targeting
from churnlens.campaign.uplift import measure_campaign, uplift_overrides
from churnlens.errors import InputFileError
from churnlens.evaluation import backtest as bt
from churnlens.evaluation.results import Published
from churnlens.monitoring.history import SUMMARY_FILE, load_history, summary_to_json, trend
from churnlens.monitoring.results import MonthSummary, SegmentSize
from churnlens.run.pipeline import Env, RunState


def loop_inputs(state: RunState, env: Env) -> RunState:
    """Outcomes file, last month's published scores and the history folder, read and checked
    before the expensive steps."""
    req, config = state.request, state.config
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
    return replace(state, outcomes=outcomes, published=published, history=history, history_skipped=skipped)


def backtest(state: RunState, env: Env) -> RunState:
    """Back-test of last month's scores (outcomes file, else this table's labels for last
    month's customers), and in-sample figures when this table has labels."""
    loop, config, book = state.config.loop, state.config, state.book
    result = None
    outcomes, source = state.outcomes, "outcomes_file"
    if outcomes is None and state.published is not None and book.label is not None:
        outcomes, source = bt.outcomes_from_labels(book.ids, book.label), "label_column"
    if outcomes is not None and state.published is not None:
        result = bt.backtest(state.published, outcomes, outcome_source=source, n_boot=loop.bootstrap,
                             seed=config.seed, level=loop.level, threshold=config.churners.threshold)
    insample = None
    if book.label is not None:
        insample = bt.in_sample(book.label, book.score, n_boot=loop.bootstrap, seed=config.seed, level=loop.level,
                                threshold=config.churners.threshold, quality=state.quality,
                                backtest_auc=None if result is None else result.quality.auc)
    if result is None:
        state = replace(state, omitted=state.omitted + (("backtest", "no_outcomes"),))
    return replace(state, backtest=result, in_sample_figures=insample)


def measured_campaign(state: RunState, env: Env) -> RunState:
    """Effect and uplift of last month's list, from its own control group and the outcomes."""
    pub, loop = state.published, state.config.loop
    outcomes = state.outcomes
    if outcomes is None and pub is not None and state.book.label is not None:
        outcomes = bt.outcomes_from_labels(state.book.ids, state.book.label)
    if pub is None or outcomes is None or not (pub.listed & pub.control).any() or not (pub.listed & ~pub.control).any():
        return replace(state, omitted=state.omitted + (("uplift", "no_assignment"),))
    rows, y, _ = bt.match_outcomes(pub, outcomes)
    rows, y = rows[pub.listed[rows]], y[pub.listed[rows]]
    if not pub.control[rows].any() or pub.control[rows].all():
        return replace(state, omitted=state.omitted + (("uplift", "no_assignment"),))
    assumed = {r.action.en: float(r.uplift) for r in state.rules}
    result = measure_campaign(y, pub.control[rows], pub.segment[rows], pub.action[rows], pub.value[rows],
                              assumed=assumed, prior_strength=loop.uplift_prior_strength,
                              min_treated=loop.min_treated, min_control=loop.min_control, level=loop.level)
    return replace(state, measured=result)


def expected_values(state: RunState, env: Env) -> RunState:
    """Measured uplift in this month's expected values and, with ``budget``, the budgeted list."""
    overrides = uplift_overrides(state.measured)
    budget = state.config.budget
    if not overrides and budget is None:
        return state
    from churnlens.run.stages import retention_list

    config, attr = state.config, state.attributions
    keys = np.asarray(state.segment_keys).astype(str)
    uplift = budgeting.uplift_matrix(state.rules, keys, overrides)
    targeting, customer_rule, plan = state.targeting, state.customer_rule, None
    if budget is not None:
        default = playbook.effective_rules(state.customer_rule, keys, state.plans)
        cand = budgeting.candidate_rules(state.rules, attr.values, state.X, attr.features, segment_keys=keys,
                                         plans=state.plans)
        plan = budgeting.allocate(attr.score, state.value, cand, uplift, rules=state.rules, budget=budget,
                                  eligible=state.targeting.listed, control=state.targeting.control,
                                  default_rule=default)
        chosen = plan.treated | plan.control
        targeting = Targeting(listed=chosen, control=plan.control, excluded=state.targeting.excluded)
        customer_rule = np.where(chosen, plan.action, -1)
    plans = playbook.plan_segments(state.segments, state.rules, segment_keys=keys, X=state.X, score=attr.score,
                                   value=state.value, targeting=targeting, customer_rule=customer_rule, uplift=uplift)
    state = replace(state, targeting=targeting, customer_rule=customer_rule, plans=tuple(plans), budget_plan=plan)
    extra = budgeting.action_costs(state.rules, budget) - np.array([r.cost for r in state.rules]) if budget else None
    state = replace(state, retention_terms=(uplift, extra))
    return replace(state, retention=retention_list(state))


def month_summary(state: RunState) -> MonthSummary:
    """This month's numbers for next months' trend pages."""
    from churnlens.run.write import period

    b, m = state.backtest, state.measured
    tri = lambda e: None if e is None or not np.isfinite(e.value) else (e.value, e.low, e.high)  # noqa: E731
    return MonthSummary(
        period=period(state), folder=Path(state.request.out).name if state.request.out else "",
        n_customers=state.book.n, score_psi=None if state.monitoring is None else float(state.monitoring.score_psi.psi),
        auc=None if b is None else tri(b.auc), ks=None if b is None else tri(b.ks),
        segments=tuple(SegmentSize(s.key, s.size, tuple(s.profile_features), tuple(float(x) for x in s.profile))
                       for s in state.segments),
        drivers=tuple((d.feature, float(d.share)) for d in state.drivers.drivers),
        campaign=None if m is None else (m.overall.absolute_reduction, m.overall.ci_low, m.overall.ci_high,
                                         m.overall.retained_value))


def history_trend(state: RunState, env: Env) -> RunState:
    """Trend data over ``--history`` plus this month."""
    if state.request.history is None:
        return replace(state, omitted=state.omitted + (("trend", "no_history"),))
    mon = state.config.monitoring
    t = trend(state.history, month_summary(state), psi=mon.thresholds.psi, auc_drop=mon.thresholds.auc_drop,
              months=mon.months, n_skipped=state.history_skipped)
    return replace(state, trend=t)


def published_now(state: RunState) -> Published:
    """Every scored customer of this month as ``scores.parquet`` publishes them."""
    book, n = state.book, state.book.n
    listed, control = np.zeros(n, bool), np.zeros(n, bool)
    segment, action, channel = (np.full(n, "", dtype=object) for _ in range(3))
    rows, tg = state.rows, state.targeting
    listed[rows], control[rows] = tg.listed, tg.control
    segment[rows] = np.where(tg.listed, np.asarray(state.segment_keys).astype(str), "")
    ridx = playbook.effective_rules(state.customer_rule, state.segment_keys, state.plans)
    names = np.array([r.action.en for r in state.rules] + [""], dtype=object)
    chans = np.array([r.channel for r in state.rules] + [""], dtype=object)
    action[rows] = np.where(tg.listed, names[ridx], "")
    channel[rows] = np.where(tg.listed, chans[ridx], "")
    return Published(customer_ids=np.asarray(book.ids).astype(str), score=book.score, listed=listed, control=control,
                     segment=segment.astype(str), action=action.astype(str), channel=channel.astype(str),
                     value=np.full(n, np.nan) if book.value is None else np.asarray(book.value, dtype=np.float64),
                     source="scores", sample_rows=np.ones(n, bool))


def write_loop_files(state: RunState, staging: Path) -> None:
    """``scores.parquet``, ``month_summary.json`` and the loop's tables (machine words only)."""
    bt.write_scores(staging / bt.SCORES_FILE, published_now(state))
    (staging / SUMMARY_FILE).write_text(summary_to_json(month_summary(state)), encoding="utf-8")
    tables = staging / "tables"
    frames = loop_tables(state)
    if frames:
        tables.mkdir(exist_ok=True)
        for name, frame in frames.items():
            frame.to_csv(tables / f"{name}.csv", index=False, encoding="utf-8")


def _est(prefix: str, e) -> dict:
    return {prefix: e.value, f"{prefix}_low": e.low, f"{prefix}_high": e.high}


def loop_tables(state: RunState) -> dict[str, pd.DataFrame]:
    """Back-test, uplift, budget and trend tables for BI tools."""
    out: dict[str, pd.DataFrame] = {}
    for name, b in (("backtest", state.backtest), ("in_sample", state.in_sample_figures)):
        if b is not None:
            out[name] = pd.DataFrame([{"basis": b.basis, "n": b.n_matched, **_est("auc", b.auc), **_est("ks", b.ks),
                                       **_est("brier", b.brier), **_est("top_decile_lift", b.top_decile_lift),
                                       "codes": " ".join(b.codes)}])
    if state.backtest is not None:
        out["backtest_hit_rates"] = pd.DataFrame([{"group": h.group, "segment": h.key, "customers": h.customers,
                                                   "churners": h.churners, **_est("rate", h.rate)}
                                                  for h in state.backtest.hit_rates])
    if state.measured is not None:
        out["uplift"] = pd.DataFrame([{k: getattr(u, k) for k in u.__dataclass_fields__} for u in state.measured.uplift])
        eff = [("all", state.measured.overall)] + [("segment", e) for e in state.measured.by_segment] + \
              [("action", e) for e in state.measured.by_action] + [("segment_action", e) for e in state.measured.cells]
        out["campaign_arms"] = pd.DataFrame([{"level": lvl, **{k: getattr(e, k) for k in e.__dataclass_fields__}}
                                             for lvl, e in eff])
    p = state.budget_plan
    if p is not None:
        out["budget_channels"] = pd.DataFrame([{k: getattr(c, k) for k in c.__dataclass_fields__} for c in p.channels])
        out["profit_curve"] = pd.DataFrame({"share_contacted": p.curve_share, "expected_net_value": p.curve_net})
    return out
