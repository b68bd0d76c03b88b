"""Playbook validation, rule matching (customer and segment level), control group, retention list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnlens.config import Config, PlaybookRule, parse_config
from churnlens.errors import ConfigError, DataError, PlaybookError
from churnlens.actions.playbook import (
    LIST_COLUMNS,
    control_group,
    effective_rules,
    load_playbook,
    match_customer_rules,
    plan_segments,
    read_id_list,
    retention_list,
    select_targets,
    validate_playbook,
    write_retention_list,
)
from churnlens.segmentation.results import SegmentSummary, SignatureItem

FEATURES = ["a", "b", "c", "region"]


def rule(driver, direction="up", *, op=None, value=None, priority=100, uplift=0.0, cost=0.0, channel="phone", text=None):
    when = {"driver": driver, "direction": direction}
    if op is not None:
        when["condition"] = {"op": op, "value": value}
    text = text or f"act on {driver}"
    return PlaybookRule.model_validate({
        "when": when, "action": {"en": text, "zh": f"针对{driver}"}, "channel": channel,
        "priority": priority, "uplift": uplift, "cost": cost,
    })


RULES = (
    rule("a", priority=1),                      # 0
    rule("b", "down", priority=1),              # 1
    rule("c", op=">", value=5, priority=0),     # 2
    rule("a", priority=1, text="duplicate"),    # 3: ties with 0, loses by order
    rule("region", op="==", value="north", priority=2),  # 4
)


def _X(c, region):
    return pd.DataFrame({"a": 0.0, "b": 0.0, "c": np.asarray(c, float), "region": pd.Series(region, dtype="str")})


def test_match_customer_rules_hand_cases():
    values = np.array([
        [0.5, -0.7, 1.0, 0.0],   # c condition fails (c=3): r0, r1, r3 match -> largest |attr| = r1
        [0.9, -0.2, 0.1, 0.0],   # c=10: r2 (priority 0) matches but its driver is weak -> r0/r3 tie, r0 earlier
        [-0.1, 0.3, -1.0, 0.0],  # nothing in the right direction -> -1
        [0.3, 0.0, 0.0, 0.0],    # r0 and r3 tie exactly -> earlier rule r0
        [0.0, 0.0, 2.0, 0.0],    # c missing: condition never holds -> -1
        [0.0, 0.0, 0.0, 0.4],    # region north and up -> r4
        [0.0, 0.0, 0.0, 0.4],    # region south -> -1
    ])
    X = _X([3, 10, 10, 0, np.nan, 0, 0], ["n", "n", "n", "n", "n", "north", "south"])
    got = match_customer_rules(RULES, values, X, FEATURES)
    assert got.tolist() == [1, 0, -1, 0, -1, 4, -1]
    assert match_customer_rules((), values, X, FEATURES).tolist() == [-1] * 7


def _brute(rules, values, X, features):
    out = []
    for i in range(values.shape[0]):
        best, key = -1, None
        for r_i, r in enumerate(rules):
            a = values[i, features.index(r.when.driver)]
            if not (a > 0 if r.when.direction == "up" else a < 0):
                continue
            c = r.when.condition
            if c is not None:
                x = X[r.when.driver].iloc[i]
                if pd.isna(x) or not eval(f"x {c.op} c.value"):  # noqa: S307 - test oracle on fixed ops
                    continue
            k = (-abs(a), r.priority, r_i)
            if key is None or k < key:
                best, key = r_i, k
        out.append(best)
    return out


def test_match_customer_rules_vs_brute_force():
    rng = np.random.default_rng(0)
    n = 400
    values = np.round(rng.normal(size=(n, 4)), 1)  # rounding makes attribution ties frequent
    X = _X(rng.integers(0, 10, n), rng.choice(["north", "south"], n))
    rules = RULES + (rule("c", "down", op="<=", value=4, priority=1), rule("b", priority=1))
    assert match_customer_rules(rules, values, X, FEATURES).tolist() == _brute(rules, values, X, FEATURES)


def _summary(key, seg_id, signature):
    return SegmentSummary(
        segment_id=seg_id, key=key, name=(), size=0, share=0.0, mean_score=0.0, value_at_risk=0.0,
        signature=tuple(SignatureItem(feature=f, mean_attribution=m, share=0.5) for f, m in signature),
        group_signature=(), top_drivers=tuple(f for f, _ in signature), drivers_vs_churners=(),
        traits_vs_churners=(), traits_vs_retained=(), stability=None,
    )


def test_plan_segments_and_effective_rules():
    rules = (
        rule("a", priority=1, uplift=0.2, cost=5.0),              # 0: S1 signature (a up)
        rule("b", "down", priority=2, uplift=0.1, cost=1.0),      # 1: customer-level only
        rule("c", op=">", value=5, priority=3, uplift=0.5, cost=2.0),  # 2: S1 signature, condition majority?
    )
    s1 = _summary("S1", 0, [("a", 0.8), ("c", 0.3)])
    s2 = _summary("S2", 1, [("c", -0.4)])  # c pushes risk down in S2: rule 2 (up) does not match
    keys = np.array(["S1"] * 4 + ["S2"] * 3 + [""])
    c = [6, 7, 1, 9, 0, 0, 0, 0]  # S1: 3 of 4 have c > 5 -> rule 2 is segment-level
    X = _X(c, ["x"] * 8)
    values = np.zeros((8, 4))
    values[0, 1] = -0.5   # S1 customer matches rule 1 (b down)
    values[4, 1] = -0.5   # S2 customer matches rule 1
    customer_rule = match_customer_rules(rules, values, X, FEATURES)
    assert customer_rule.tolist() == [1, -1, -1, -1, 1, -1, -1, -1]
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.1])
    value = np.array([100.0, 200, 300, 400, 500, 600, 700, 800])
    churn = keys != ""
    targeting = select_targets(np.arange(8), churn, control_share=0.0, seed=0, do_not_contact=[3])
    plans = plan_segments([s1, s2], rules, segment_keys=keys, X=X, score=score, value=value,
                          targeting=targeting, customer_rule=customer_rule)
    p1, p2 = plans
    assert [a.rule_index for a in p1.actions] == [0, 1, 2]
    assert [(a.segment_level, a.customers) for a in p1.actions] == [(True, 2), (False, 1), (True, 0)]
    assert p1.target_count == 3 and p1.control_count == 0  # customer 3 is do-not-contact
    assert p1.value_at_risk == pytest.approx(0.9 * 100 + 0.8 * 200 + 0.7 * 300 + 0.6 * 400)
    # Effective: c0 -> rule 1 (own), c1, c2 -> rule 0 (segment's first action).
    assert p1.expected_retained_value == pytest.approx(0.9 * 100 * 0.1 + 0.8 * 200 * 0.2 + 0.7 * 300 * 0.2)
    assert p1.cost == pytest.approx(1.0 + 5.0 + 5.0)
    assert not p1.no_rule
    assert [(a.rule_index, a.segment_level, a.customers) for a in p2.actions] == [(1, False, 1)]
    assert not p2.no_rule and p2.expected_retained_value == pytest.approx(0.5 * 500 * 0.1)
    eff = effective_rules(customer_rule, keys, plans)
    assert eff.tolist() == [1, 0, 0, 0, 1, -1, -1, -1]
    # A segment nothing applies to is flagged.
    s3 = _summary("S3", 2, [("b", 0.2)])
    p3 = plan_segments([s3], rules, segment_keys=np.array(["S3"] * 8), X=X, score=score, value=None,
                       targeting=select_targets(np.arange(8), np.ones(8, bool), control_share=0.25, seed=1),
                       customer_rule=np.full(8, -1))[0]
    assert p3.no_rule and p3.actions == () and p3.control_count == 2 and p3.target_count == 6
    assert p3.value_at_risk == 0.0


def test_control_group_exact_deterministic_shuffle_stable():
    ids = np.array([f"C{i:05d}" for i in range(1001)])
    m = control_group(ids, share=0.1, seed=7)
    assert m.sum() == 100  # round(100.1)
    assert control_group(ids, share=0.1, seed=7).tolist() == m.tolist()
    perm = np.random.default_rng(0).permutation(ids.size)
    assert set(ids[perm][control_group(ids[perm], share=0.1, seed=7)]) == set(ids[m])
    assert set(ids[control_group(ids, share=0.1, seed=8)]) != set(ids[m])
    assert control_group(ids, share=0.0, seed=7).sum() == 0
    assert control_group(np.arange(10), share=0.25, seed=0).sum() == 3  # 2.5 rounds half up
    with pytest.raises(DataError, match="unique"):
        control_group(np.array([1, 1, 2]), share=0.5, seed=0)


def _list_inputs(n=8):
    ids = np.array([105, 101, 103, 102, 104, 106, 107, 108])[:n]
    score = np.array([0.9, 0.5, 0.5, 0.8, 0.2, 0.7, 0.6, 0.3])[:n]
    value = np.array([10.0, 100.0, 100.0, 10.0, 1000.0, 20.0, 0.0, 5.0])[:n]
    reasons = np.array([[f"r{i}a", f"r{i}b", ""] for i in range(n)], dtype=object)
    rules = (rule("a", channel="sms", text="Call"),)
    rule_index = np.array([0, 0, -1, 0, 0, 0, 0, 0])[:n]
    segment = np.array(["S1"] * n, dtype=object)
    return ids, score, value, reasons, rules, rule_index, segment


def test_retention_list_columns_ranking_dnc_and_control():
    ids, score, value, reasons, rules, rule_index, segment = _list_inputs()
    churn = np.array([True] * 7 + [False])
    t = select_targets(ids, churn, control_share=0.2, seed=0, do_not_contact={"106"})
    assert t.excluded.sum() == 1 and not t.listed[5] and t.control.sum() == 1  # round(0.2 * 6) = 1
    rl = retention_list(ids, t, segment=segment, score=score, value=value, reasons=reasons,
                        rule_index=rule_index, rules=rules)
    f = rl.frame
    assert tuple(f.columns) == LIST_COLUMNS
    # value at risk: 104 -> 200, 101 and 103 -> 50 (tie: id order), 105 -> 9, 102 -> 8, 107 -> 0
    assert f["customer_id"].tolist() == [104, 101, 103, 105, 102, 107]
    assert f["expected_value_at_risk"].tolist() == pytest.approx([200, 50, 50, 9, 8, 0])
    assert f.loc[f["customer_id"] == 103, "action"].item() == "" and f.loc[f["customer_id"] == 103, "channel"].item() == ""
    assert f.loc[f["customer_id"] == 104, ["action", "channel"]].values.tolist() == [["Call", "sms"]]
    assert f["reason_1"].iloc[0] == "r4a" and f["reason_3"].iloc[0] == ""
    assert rl.excluded_do_not_contact == 1 and rl.control_count == 1 and f["control_group"].sum() == 1
    assert f.loc[f["control_group"], "customer_id"].isin(ids[t.control]).all()
    by_score = retention_list(ids, t, segment=segment, score=score, value=value, reasons=reasons,
                              rule_index=rule_index, rules=rules, rank_by="score")
    assert by_score.frame["customer_id"].tolist() == [105, 102, 107, 101, 103, 104]
    assert by_score.frame["action"].iloc[0] == "Call"  # machine words: the English text, whatever --lang
    no_value = retention_list(ids, t, segment=segment, score=score, value=None, reasons=reasons[:, :1],
                              rule_index=rule_index, rules=rules)
    assert no_value.frame["customer_id"].tolist() == by_score.frame["customer_id"].tolist()
    assert no_value.frame["value"].isna().all() and tuple(no_value.frame.columns) == LIST_COLUMNS


def test_retention_list_hashed_ids_and_files(tmp_path):
    ids, score, value, reasons, rules, rule_index, segment = _list_inputs()
    t = select_targets(ids, np.ones(8, bool), control_share=0.0, seed=0)
    plain = retention_list(ids, t, segment=segment, score=score, value=value, reasons=reasons,
                           rule_index=rule_index, rules=rules)
    hashed = retention_list(ids, t, segment=segment, score=score, value=value, reasons=reasons,
                            rule_index=rule_index, rules=rules, hash_ids=True, salt="s3cret")
    import hashlib

    assert hashed.frame["customer_id"].tolist() == [
        hashlib.sha256(f"s3cret:{i}".encode()).hexdigest()[:16] for i in plain.frame["customer_id"]
    ]
    path = write_retention_list(tmp_path / "retention_list.csv", plain)  # the workbook: tests/test_stack_workbook.py
    assert path.name == "retention_list.csv"
    back = pd.read_csv(path, keep_default_na=False)
    assert back["customer_id"].tolist() == plain.frame["customer_id"].tolist()
    assert list(back.columns) == list(LIST_COLUMNS)


# --- validation -------------------------------------------------------------------------------

def _config(**features):
    return Config.model_validate({"features": {
        f: {"label": {"en": f, "zh": f}, **kw} for f, kw in features.items()
    }})


def test_validate_playbook_ok_and_unknown_feature():
    cfg = _config(a={}, b={}, c={}, region={})
    validate_playbook(RULES, features=FEATURES, config=cfg, categorical=["region"])
    with pytest.raises(PlaybookError, match=r"playbook.0.when.driver \(rule 1\): unknown feature 'regoin'.*Did you mean 'region'"):
        validate_playbook([rule("regoin")], features=FEATURES, config=cfg)


def test_validate_playbook_type_mismatch_dictionary_protected():
    cfg = _config(a={"protected": True}, b={}, region={})
    bad = [
        rule("region", op="<", value="north"),   # 0: op on categorical
        rule("region", op="==", value=3),        # 1: number on categorical
        rule("b", op=">", value="high"),         # 2: text on numeric
        rule("c"),                               # 3: no dictionary entry
        rule("a"),                               # 4: protected
        rule("b", op=">", value="5"),            # ok: numeric text is a number
    ]
    with pytest.raises(PlaybookError) as err:
        validate_playbook(bad, features=FEATURES, config=cfg, categorical=["region"])
    msg = str(err.value)
    assert "playbook.0.when.condition.op (rule 1): found '<' on categorical feature 'region'; expected '==' or '!='" in msg
    assert "playbook.1.when.condition.value (rule 2): found the number 3.0 for categorical feature 'region'" in msg
    assert "playbook.2.when.condition.value (rule 3): found the text 'high' for numeric feature 'b'; expected a number" in msg
    assert "playbook.3.when.driver (rule 4): feature 'c' has no entry in the data dictionary" in msg
    assert "playbook.4.when.driver (rule 5): feature 'a' is marked protected" in msg
    assert "playbook.5" not in msg
    # Without any dictionary, raw feature names are allowed.
    validate_playbook([rule("c")], features=FEATURES, config=Config())


def test_load_playbook_and_schema_errors(tmp_path):
    p = tmp_path / "pb.yaml"
    p.write_text(
        "playbook:\n"
        "  - when: {driver: a, direction: up}\n"
        "    action: {en: Call, zh: 致电}\n"
        "    channel: sms\n"
        "    priority: 1\n",
        encoding="utf-8",
    )
    rules = load_playbook(p)
    assert len(rules) == 1 and rules[0].channel == "sms" and rules[0].action.zh == "致电"
    p.write_text(
        "- {when: {driver: a}, action: {en: x, zh: y}}\n"
        "- {when: {driver: a, direction: sideways}, action: {en: x, zh: y}}\n"
        "- {when: {driver: b}, action: {en: x}}\n",
        encoding="utf-8",
    )
    with pytest.raises(PlaybookError) as err:
        load_playbook(p)
    msg = str(err.value)
    assert "playbook.1.when.direction: Input should be 'up' or 'down' (found 'sideways')" in msg
    assert "playbook.2.action.zh: Field required" in msg
    with pytest.raises(PlaybookError, match="does not exist"):
        load_playbook(tmp_path / "none.yaml")
    # The same schema errors through the main config read well too.
    with pytest.raises(ConfigError, match=r"playbook.0.action.zh: Field required"):
        parse_config({"playbook": [{"when": {"driver": "a"}, "action": {"en": "x"}}]})


def test_read_id_list(tmp_path):
    p = tmp_path / "dnc.csv"
    pd.DataFrame({"customer_id": [101, 102], "note": ["x", "y"]}).to_csv(p, index=False)
    assert read_id_list(p) == {"101", "102"}
    t = tmp_path / "dnc.txt"
    t.write_text("C1\n\n C2 \n", encoding="utf-8")
    assert read_id_list(t) == {"C1", "C2"}
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(p, index=False)
    with pytest.raises(DataError, match="has no column 'customer_id'; columns are: a, b"):
        read_id_list(p)
    ids = np.array([101, 102, 103])
    t2 = select_targets(ids, np.ones(3, bool), control_share=0.0, seed=0, do_not_contact=read_id_list(tmp_path / "dnc.txt") | {"102"})
    assert t2.excluded.tolist() == [False, True, False] and t2.listed.tolist() == [True, False, True]
