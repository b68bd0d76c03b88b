"""The loop through the command line: month 1 (demo) publishes scores.parquet and
month_summary.json; month 2 back-tests them against an outcomes file, measures the campaign,
budgets the list and draws the trend; bad inputs exit 2 naming the flag."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from churnlens.cli import main

GEN = "2026-12-01T00:00:00+00:00"


@pytest.fixture(scope="module")
def months(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    hist = root / "history"
    m1 = hist / "2026-11"
    assert main(["demo", "--out", str(m1), "--customers", "1500", "--format", "html", "--quiet",
                 "--generated-at", GEN]) == 0
    inputs = m1 / "inputs"
    scores = pd.read_parquet(m1 / "scores.parquet")
    data = pd.read_csv(inputs / "customers.csv", dtype={"customer_id": str})
    y = data.set_index("customer_id")["churned"].reindex(scores["customer_id"]).to_numpy()
    treated = (scores["listed"] & ~scores["control_group"]).to_numpy()
    rng = np.random.default_rng(0)
    y = np.where(treated & (y == 1) & (rng.random(len(y)) < 0.3), 0, y)  # the campaign retained some
    outcomes = root / "outcomes.csv"
    pd.DataFrame({"customer_id": scores["customer_id"], "churned": y}).to_csv(outcomes, index=False)
    config = yaml.safe_load((inputs / "config.yaml").read_text(encoding="utf-8"))
    config["report"]["period"] = "2026-12"
    config["budget"] = {"total": 5000, "channels": {"phone": {"cost": 5, "capacity": 30},
                                                    "relationship_manager": {"cost": 20, "capacity": 15}}}
    config["monitoring"] = {"thresholds": {"psi": [0.1, 0.25], "auc_drop": [0.02, 0.05]}}
    config["playbook_file"] = None
    cfg = root / "config.yaml"
    cfg.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    m2 = root / "m2"
    args = ["report", "--model", str(inputs / "model.txt"), "--data", str(inputs / "customers.csv"), "--config",
            str(cfg), "--previous", str(m1), "--outcomes", str(outcomes), "--history", str(hist), "--out", str(m2),
            "--format", "html", "--quiet", "--generated-at", GEN]
    assert main(args) == 0
    return dict(root=root, m1=m1, m2=m2, args=args, outcomes=outcomes, scores=scores, y=y)


def test_month_one_publishes_scores_and_summary(months):
    s = months["scores"]
    assert len(s) == 1500 and s["customer_id"].is_unique
    listed = pd.read_csv(months["m1"] / "retention_list.csv", dtype={"customer_id": str})
    assert set(s.loc[s["listed"], "customer_id"]) == set(listed["customer_id"])
    assert s["control_group"].sum() == listed["control_group"].sum()
    summary = json.loads((months["m1"] / "month_summary.json").read_text(encoding="utf-8"))
    assert summary["period"] == "2026-11" and summary["auc"] is None  # nothing to back-test in month one


def test_month_two_backtest_campaign_budget_trend(months):
    from sklearn.metrics import roc_auc_score

    m2, s, y = months["m2"], months["scores"], months["y"]
    bt = pd.read_csv(m2 / "tables" / "backtest.csv")
    assert bt.loc[0, "auc"] == pytest.approx(roc_auc_score(y, s["score"]), abs=1e-12)
    assert bt.loc[0, "auc_low"] < bt.loc[0, "auc"] < bt.loc[0, "auc_high"]
    arms = pd.read_csv(m2 / "tables" / "campaign_arms.csv")
    overall = arms[arms["level"] == "all"].iloc[0]
    listed = s["listed"].to_numpy()
    ctrl = s["control_group"].to_numpy()
    assert overall["treated"] == int((listed & ~ctrl).sum()) and overall["control"] == int(ctrl.sum())
    # control shares differ by action (raised where short): each action's own arms, weighted by
    # its contacted customers (recomputed from the published list and the outcomes)
    act = s["action"].fillna("").astype(str).to_numpy()
    trt = listed & ~ctrl
    both = [a for a in sorted(set(act[listed])) if (trt & (act == a)).any() and (ctrl & (act == a)).any()]
    n1 = np.array([(trt & (act == a)).sum() for a in both], dtype=float)
    diff = np.array([y[ctrl & (act == a)].mean() - y[trt & (act == a)].mean() for a in both])
    assert len(both) >= 2
    assert overall["absolute_reduction"] == pytest.approx(float(n1 @ diff / n1.sum()), abs=1e-12)
    channels = pd.read_csv(m2 / "tables" / "budget_channels.csv").set_index("channel")
    assert channels.loc["phone", "contacts"] <= 30 and channels.loc["relationship_manager", "contacts"] <= 15
    assert channels["spend"].sum() <= 5000 + 1e-6
    lst = pd.read_csv(m2 / "retention_list.csv", dtype={"customer_id": str})
    treated = lst[~lst["control_group"]]
    assert (treated["channel"] == "phone").sum() <= 30
    curve = pd.read_csv(m2 / "tables" / "profit_curve.csv")
    assert curve["share_contacted"].iloc[0] == 0 and curve["share_contacted"].iloc[-1] == 1
    summary = json.loads((m2 / "month_summary.json").read_text(encoding="utf-8"))
    assert summary["period"] == "2026-12" and summary["auc"][0] == pytest.approx(bt.loc[0, "auc"])
    html = (m2 / "report.html").read_text(encoding="utf-8")
    trend = html[html.index('<section id="trend"'):]
    assert "2026-11" in trend and "2026-12" in trend
    manifest = json.loads((m2 / "manifest.json").read_text(encoding="utf-8"))
    assert "outcomes" in {i["role"] for i in manifest["inputs"]} and "scores.parquet" in manifest["outputs"]


def test_workbook_shows_the_budgeted_money_of_the_csv(months):
    """With a budget and a measured campaign the list's costs and expected values change; the
    people's workbook (any language) must show the CSV's numbers, not the unbudgeted ones."""
    m2 = months["m2"]
    lst = pd.read_csv(m2 / "retention_list.csv", dtype={"customer_id": str})
    assert lst["expected_retained"].sum() > 0 and lst["cost"].nunique() > 1
    sheets = pd.read_excel(m2 / "retention_list.xlsx", sheet_name=None, dtype={"Customer ID": str})
    rows = pd.concat([f for name, f in sheets.items() if name != "Summary"])
    book = rows.set_index("Customer ID").loc[lst["customer_id"]]
    assert np.allclose(book["Expected retained value"].to_numpy(float), lst["expected_retained"].to_numpy(float))
    assert np.allclose(book["Cost per contact"].to_numpy(float), lst["cost"].to_numpy(float))


def test_rerun_is_byte_identical(months, tmp_path):
    args = list(months["args"])
    args[args.index("--out") + 1] = str(tmp_path / "again")
    assert main(args) == 0
    for name in ("scores.parquet", "month_summary.json", "retention_list.csv", "tables/backtest.csv",
                 "tables/uplift.csv", "tables/profit_curve.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (months["m2"] / name).read_bytes(), name


def test_bad_loop_inputs_exit_2_naming_the_flag(months, tmp_path, capsys):
    args = list(months["args"])
    out = args.index("--out") + 1
    args[out] = str(tmp_path / "x")
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,churned\nC1,maybe\n", encoding="utf-8")
    args[args.index("--outcomes") + 1] = str(bad)
    assert main(args) == 2
    assert "must hold 0 (stayed) or 1 (churned)" in capsys.readouterr().err
    no_prev = [a for i, a in enumerate(args) if a != "--previous" and args[i - 1] != "--previous"]
    no_prev[no_prev.index("--outcomes") + 1] = str(months["outcomes"])
    assert main(no_prev) == 2
    assert "error: --outcomes: observed outcomes need previous" in capsys.readouterr().err
    args[args.index("--outcomes") + 1] = str(tmp_path / "missing.csv")
    assert main(args) == 2
    assert "--outcomes" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_machine_readable_outputs_identical_in_both_languages(months, tmp_path):
    """Codes and machine words in CSV/JSON/Parquet; words only in the documents (and in the
    people's workbook, retention_list.xlsx, whose headers follow the report language)."""
    args = list(months["args"])
    args[args.index("--out") + 1] = str(tmp_path / "zh")
    assert main(args + ["--lang", "zh"]) == 0
    en, zh = months["m2"], tmp_path / "zh"
    names = sorted(str(p.relative_to(en)) for p in en.rglob("*")
                   if p.is_file() and p.suffix in (".csv", ".json", ".parquet") and p.name != "manifest.json"
                   and "inputs" not in p.parts)
    assert {"scores.parquet", "month_summary.json", "retention_list.csv", "tables/uplift.csv",
            "tables/backtest.csv", "tables/budget_channels.csv"} <= set(names)
    for name in names:
        assert (zh / name).read_bytes() == (en / name).read_bytes(), name
    lst = pd.read_csv(zh / "retention_list.csv", dtype={"customer_id": str})
    rules = yaml.safe_load((months["m1"] / "inputs" / "config.yaml").read_text(encoding="utf-8"))["playbook"]
    assert set(lst["action"].dropna()) <= {r["action"]["en"] for r in rules}  # the action key, never the zh words
    html = (zh / "report.html").read_text(encoding="utf-8")
    assert "回测" in html and "预算" in html and "趋势" in html


def test_every_action_gets_measured_in_the_written_lists(months):
    """Issue 31.2 through the CLI: month one (no evidence, no budget) holds out round(30 / (1.8 x
    arm) x arm) of a small action's listed customers (the base draw of report.control_share where
    that is more), recomputed from the list and the seed; month two (budgeted) brings every action
    to loop.min_control within loop.control_months, counting the evidence it pooled; control
    customers are never contacted (no cost, no expected value) and the report says when each
    action is measurable."""
    from churnlens.actions.control import _months_until, decayed_controls
    from churnlens.actions.playbook import control_group
    from churnlens.campaign.pooled import read_evidence

    m1, m2 = months["m1"], months["m2"]
    config = yaml.safe_load((m1 / "inputs" / "config.yaml").read_text(encoding="utf-8"))
    seed, base = int(config.get("seed", 0)), float(config.get("report", {}).get("control_share", 0.1))
    lst = pd.read_csv(m1 / "retention_list.csv", dtype={"customer_id": str}, keep_default_na=False)
    ctl = lst["control_group"].astype(bool).to_numpy()
    drawn = control_group(lst["customer_id"].to_numpy(), share=base, seed=seed)
    raised = 0
    for action, g in lst[lst["action"] != ""].groupby("action"):
        arm = len(g)
        want = int(drawn[g.index].sum())
        if base * arm < 30:
            want = max(want, math.floor(min(max(base, 30 / (1.8 * arm)), 0.5) * arm + 0.5))
            raised += want > drawn[g.index].sum()
        assert ctl[g.index].sum() == want, (action, arm)
    assert raised >= 1  # the demo's small actions were raised
    none = (lst["action"] == "").to_numpy()
    assert (ctl[none] == drawn[none]).all()  # listed without an action: the base draw
    for folder in (m1, m2):
        lst = pd.read_csv(folder / "retention_list.csv", dtype={"customer_id": str}, keep_default_na=False)
        held = lst[lst["control_group"].astype(bool)]
        assert len(held) and (held["cost"] == 0).all() and (held["expected_retained"] == 0).all()
    # month two: the pooled evidence it read (last month's list) plus this month's control customers
    have = decayed_controls(read_evidence(m2), decay=0.8)
    lst = pd.read_csv(m2 / "retention_list.csv", dtype={"customer_id": str}, keep_default_na=False)
    for action, g in lst[lst["action"] != ""].groupby("action"):
        c = int(g["control_group"].astype(bool).sum())
        if 0.5 * len(g) * 1.8 >= 30 + 2:  # reachable at the capped share (2 customers of rounding)
            assert _months_until(have.get(action, 0.0), c, 30, 0.8) <= 2, (action, len(g), c, have.get(action))
    html = (m2 / "report.html").read_text(encoding="utf-8")
    up = html[html.index('<section id="uplift"'):]
    assert "Control group per action: when each action is measurable" in up.split("</section>")[0]
