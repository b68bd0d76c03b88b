"""The monthly loop's files in the report folder: ``scores.parquet`` (what next month's
back-test reads), ``month_summary.json`` (the trend page's numbers) and the loop's tables,
all in machine words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from churnlens.actions.results import BudgetPlan, ControlAllocation, FinalPlan, Playbook
from churnlens.campaign.pooled import evidence_frame
from churnlens.campaign.results import MeasuredCampaign, UpliftEvidence
from churnlens.evaluation import backtest as bt
from churnlens.evaluation.results import BackTest, InSample, Published
from churnlens.monitoring.history import SUMMARY_FILE, summary_to_json
from churnlens.monitoring.results import MonthSummary
from churnlens.results import AlignedFeatures, Book, Results
from churnlens.segmentation.results import Segments


def published_now(results: Results) -> Published:
    """Every scored customer of this month as ``scores.parquet`` publishes them."""
    book = results[Book]
    n = book.n
    plan, keys, rules = results[FinalPlan], results[Segments].keys, results[Playbook].rules
    listed, control = np.zeros(n, bool), np.zeros(n, bool)
    segment, action, channel = (np.full(n, "", dtype=object) for _ in range(3))
    rows, tg = results[AlignedFeatures].rows, plan.targeting
    listed[rows], control[rows] = tg.listed, tg.control
    segment[rows] = np.where(tg.listed, np.asarray(keys).astype(str), "")
    ridx = plan.rule_index
    names = np.array([r.action.en for r in rules] + [""], dtype=object)
    chans = np.array([r.channel for r in rules] + [""], dtype=object)
    action[rows] = np.where(tg.listed, names[ridx], "")
    channel[rows] = np.where(tg.listed, chans[ridx], "")
    return Published(customer_ids=np.asarray(book.ids).astype(str), score=book.score, listed=listed, control=control,
                     segment=segment.astype(str), action=action.astype(str), channel=channel.astype(str),
                     value=np.full(n, np.nan) if book.value is None else np.asarray(book.value, dtype=np.float64),
                     source="scores", sample_rows=np.ones(n, bool))


def write_loop_files(results: Results, staging: Path, summary: MonthSummary) -> None:
    """``scores.parquet`` and ``month_summary.json`` (``summary``: this month's, with the period
    and folder of the folder being written); the loop's tables are among
    :func:`churnlens.run.tables.tables`."""
    bt.write_scores(staging / bt.SCORES_FILE, published_now(results))
    (staging / SUMMARY_FILE).write_text(summary_to_json(summary), encoding="utf-8")


def _est(prefix: str, e) -> dict:
    return {prefix: e.value, f"{prefix}_low": e.low, f"{prefix}_high": e.high}


CONTROL_PLAN_COLUMNS = ("action", "listed", "control", "share", "target_share", "control_evidence", "measurable_in")


def control_plan_frame(allocation: ControlAllocation) -> pd.DataFrame:
    """``tables/control_plan.csv``: this month's control group per action, the rows of the
    campaign page's control table (machine words, by action key): ``listed`` (contacted +
    control), ``control``, ``share`` (control / listed, 0 without listed customers),
    ``target_share`` (the allocation's share: ``report.control_share`` or the raised one),
    ``control_evidence`` (control customers already in the pooled evidence, weighted
    ``decay ** age``) and ``measurable_in`` (months, this one included, until the action holds
    ``loop.min_control``; 0: already; empty: not within 36 months, or no listed customer)."""
    frame = pd.DataFrame([{"action": p.action, "listed": p.arm, "control": p.control,
                           "share": p.control / p.arm if p.arm else 0.0, "target_share": p.share,
                           "control_evidence": p.have, "measurable_in": p.measurable_in}
                          for p in allocation.plans], columns=list(CONTROL_PLAN_COLUMNS))
    frame["measurable_in"] = frame["measurable_in"].astype("Int64")
    for c in ("listed", "control"):
        frame[c] = frame[c].astype("int64")
    for c in ("share", "target_share", "control_evidence"):
        frame[c] = frame[c].astype("float64")
    return frame


def loop_tables(results: Results) -> dict[str, pd.DataFrame]:
    """Back-test, uplift, budget, control plan and trend tables for BI tools."""
    out: dict[str, pd.DataFrame] = {}
    backtest, insample = results.get(BackTest), results.get(InSample)
    for name, b in (("backtest", backtest), ("in_sample", None if insample is None else insample.figures)):
        if b is not None:
            out[name] = pd.DataFrame([{"basis": b.basis, "n": b.n_matched, **_est("auc", b.auc), **_est("ks", b.ks),
                                       **_est("brier", b.brier), **_est("top_decile_lift", b.top_decile_lift),
                                       "codes": " ".join(b.codes)}])
    if backtest is not None:
        out["backtest_hit_rates"] = pd.DataFrame([{"group": h.group, "segment": h.key, "customers": h.customers,
                                                   "churners": h.churners, **_est("rate", h.rate)}
                                                  for h in backtest.hit_rates])
    measured = results.get(MeasuredCampaign)
    if measured is not None:
        out["uplift"] = pd.DataFrame([{k: getattr(u, k) for k in u.__dataclass_fields__} for u in measured.uplift])
        eff = [("all", measured.overall)] + [("segment", e) for e in measured.by_segment] + \
              [("action", e) for e in measured.by_action] + [("segment_action", e) for e in measured.cells]
        out["campaign_arms"] = pd.DataFrame([{"level": lvl, **{k: getattr(e, k) for k in e.__dataclass_fields__}}
                                             for lvl, e in eff])
    evidence = results.get(UpliftEvidence)
    if evidence is not None:
        out["uplift_evidence"] = evidence_frame(evidence.counts)
    allocation = results.get(ControlAllocation)
    if allocation is not None:
        out["control_plan"] = control_plan_frame(allocation)
    p = results.get(BudgetPlan)
    if p is not None:
        out["budget_channels"] = pd.DataFrame([{k: getattr(c, k) for k in c.__dataclass_fields__} for c in p.channels])
        out["profit_curve"] = pd.DataFrame({"share_contacted": p.curve_share, "expected_net_value": p.curve_net})
        out["profit_curve_limited"] = pd.DataFrame({"share_contacted": p.limited_share,
                                                    "expected_net_value": p.limited_net})
    return out
