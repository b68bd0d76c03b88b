"""Refusals of personalised marketing (report.no_personalisation) are honoured: left out of the
list, or listed with the configured generic action, counted; across the CSV and the workbook."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnlens.actions import playbook
from churnlens.config import PlaybookRule, parse_config
from churnlens.errors import InputFileError
from churnlens.run.preflight import preflight

IDS = np.array([f"{i:07d}" for i in range(40)], dtype=object)
CHURNERS = np.arange(40) < 30
RULE = PlaybookRule.model_validate({"when": {"driver": "logins"}, "action": {"en": "Personal offer", "zh": "个性化优惠"},
                                    "channel": "relationship_manager", "cost": 30.0, "uplift": 0.2})
GENERIC = {"action": {"en": "General newsletter", "zh": "通用资讯"}, "channel": "email", "cost": 0.5, "uplift": 0.01}


def _list(targeting, generic=None, keep=None):
    n = len(IDS)
    score = np.linspace(0.99, 0.6, n)
    return playbook.retention_list(IDS, targeting, segment=np.full(n, "S1"), score=score, value=np.full(n, 1000.0),
                                   reasons=np.full((n, 3), "Logins: 1"), rule_index=np.zeros(n, np.int64),
                                   rules=(RULE,), extra=keep, generic_action=generic)


def test_config_and_preflight_read_the_list(tmp_path):
    path = tmp_path / "refused.csv"
    pd.DataFrame({"customer_id": ["0000003", "0000007", "9999999"]}).to_csv(path, index=False)
    config = parse_config({"report": {"no_personalisation": str(path), "generic_action": GENERIC}})
    assert config.report.generic_action.channel == "email"
    checked = preflight(config, config_path=None)
    assert checked.no_personalisation == frozenset({"0000003", "0000007", "9999999"})  # leading zeros kept
    assert checked.do_not_contact is None


def test_missing_file_names_the_key(tmp_path):
    config = parse_config({"report": {"no_personalisation": str(tmp_path / "nope.csv")}})
    with pytest.raises(InputFileError, match=r"No-personalisation file .* \(report.no_personalisation\)") as err:
        preflight(config, config_path=None)
    assert err.value.key == "report.no_personalisation"


def test_refused_customers_left_out_and_counted():
    refused = {"0000003", "0000007", "0000035", "9999999"}  # 35 is no churner, 9999999 nobody
    t = playbook.select_targets(IDS, CHURNERS, control_share=0.1, seed=0, do_not_contact={"0000001", "0000003"},
                                no_personalisation=refused)
    listed = set(IDS[t.listed])
    assert "0000007" not in listed and "0000003" not in listed and "0000001" not in listed
    assert t.refused[IDS == "0000007"].all() and not t.refused[IDS == "0000003"].any()  # do-not-contact comes first
    assert t.listed.sum() == 30 - 3 and not t.generic
    counts = playbook.count_refusals(IDS, t, refused)
    assert (counts.ids, counts.unknown, counts.churners, counts.excluded, counts.generic) == (4, 1, 1, 1, 0)
    people = _list(t)
    assert "0000007" not in set(people.frame.customer_id) and people.refused_no_personalisation == 1
    # the control group is drawn among the customers still listed, exactly as without the refusals
    base = playbook.select_targets(IDS[IDS != "0000007"], CHURNERS[IDS != "0000007"], control_share=0.1, seed=0,
                                   do_not_contact={"0000001", "0000003"})
    assert set(IDS[t.control]) == set(IDS[IDS != "0000007"][base.control])


def test_refused_customers_get_the_generic_action(tmp_path):
    refused = {"0000002", "0000005"}
    config = parse_config({"report": {"generic_action": GENERIC}})
    t = playbook.select_targets(IDS, CHURNERS, control_share=0.0, seed=0, no_personalisation=refused, generic=True)
    assert t.generic and t.listed.sum() == 30
    keep = {"keep_change": np.full(len(IDS), "if logins went from 1 to 9: 80% → 20%", dtype=object),
            "keep_probability": np.full(len(IDS), 0.2), "keep_action": np.full(len(IDS), "Personal offer", dtype=object)}
    people = _list(t, config.report.generic_action, keep)
    f = people.frame.set_index("customer_id")
    for i in refused:
        assert f.loc[i, "action"] == "General newsletter" and f.loc[i, "channel"] == "email"
        assert f.loc[i, "cost"] == 0.5 and f.loc[i, "expected_retained"] == pytest.approx(f.loc[i, "score"] * 1000 * 0.01)
        assert f.loc[i, "keep_change"] == "" and f.loc[i, "keep_action"] == "" and np.isnan(f.loc[i, "keep_probability"])
    others = f.drop(index=list(refused))
    assert (others.action == "Personal offer").all() and (others.keep_action == "Personal offer").all()
    assert people.refused_no_personalisation == 2
    counts = playbook.count_refusals(IDS, t, refused)
    assert (counts.excluded, counts.generic) == (0, 2)
    # the plan (group-by of the list) shows the generic action as its own row
    plan = playbook.retention_plan(people.frame)
    assert plan.set_index("action").loc["General newsletter", "customers"] == 2
    # CSV and workbook carry the same
    csv = playbook.write_retention_list(tmp_path / "retention_list.csv", people)
    back = pd.read_csv(csv, dtype={"customer_id": str}).set_index("customer_id")
    assert back.loc["0000002", "action"] == "General newsletter" and pd.isna(back.loc["0000002", "keep_action"])
    openpyxl = pytest.importorskip("openpyxl")
    from churnlens.reports.workbook import write_retention_workbook

    path = write_retention_workbook(tmp_path / "retention_list.xlsx", people, lang="en")
    ws = openpyxl.load_workbook(path)["S1"]
    rows = {r[0]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    header = [c.value for c in ws[1]]
    assert rows["0000002"][header.index("Action")] == "General newsletter"
    assert "What would keep them" in header


def test_generic_targeting_without_generic_action_is_refused():
    t = playbook.select_targets(IDS, CHURNERS, control_share=0.0, seed=0, no_personalisation={"0000002"}, generic=True)
    with pytest.raises(Exception, match="generic_action"):
        _list(t)


def test_no_list_no_change():
    a = playbook.select_targets(IDS, CHURNERS, control_share=0.1, seed=3)
    b = playbook.select_targets(IDS, CHURNERS, control_share=0.1, seed=3, no_personalisation=set())
    assert (a.listed == b.listed).all() and (a.control == b.control).all() and a.refused is None
    assert playbook.count_refusals(IDS, a, None) is None


def test_refusals_counted_in_words():
    from churnlens.actions.results import Refusals
    from churnlens.reports.words import refusals_text

    r = Refusals(ids=4, unknown=1, churners=2, excluded=2, generic=0)
    assert refusals_text(r, "en") == ("Refusals of personalised marketing: 4 ids on the list; 2 of this month's churners, "
                                      "2 left out of the retention list and 0 given the generic action. 1 ids of the list "
                                      "match no customer of the book: check the file's id format.")
    assert refusals_text(r, "zh").startswith("拒绝个性化营销：名单共 4 个编号；本月流失客户中 2 人")
    assert refusals_text(None, "en") == ""
