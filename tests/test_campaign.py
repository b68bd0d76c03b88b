"""Campaign effect: Newcombe CI (published example), z-test by hand, Fisher exact, input errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact, norm

from churnlens.notes import Note
from churnlens.reports.words import note_text
from churnlens.campaign.effect import arm_effect, campaign_effect, read_campaign
from churnlens.errors import DataError, InputFileError


def _campaign(n_t, x_t, n_c, x_c, start=0):
    ids = np.arange(start, start + n_t + n_c)
    arm = ["treatment"] * n_t + ["control"] * n_c
    churned = [1] * x_t + [0] * (n_t - x_t) + [1] * x_c + [0] * (n_c - x_c)
    return pd.DataFrame({"customer_id": ids, "arm": arm, "churned": churned})


def test_newcombe_published_example():
    # Newcombe (1998), Stat Med 17:873, example (a): 56/70 vs 48/80, method 10: 0.0524 to 0.3339.
    churned = np.r_[np.ones(48), np.zeros(32), np.ones(56), np.zeros(14)]
    treated = np.r_[np.ones(80, bool), np.zeros(70, bool)]
    e = arm_effect("all", churned, treated)
    assert e.absolute_reduction == pytest.approx(0.2)
    assert e.ci_low == pytest.approx(0.0524, abs=5e-5)
    assert e.ci_high == pytest.approx(0.3339, abs=5e-5)
    assert e.relative_reduction == pytest.approx(0.2 / 0.8)


def test_large_arms_z_test_by_hand():
    camp = _campaign(1000, 80, 500, 60)
    value = pd.Series(np.linspace(100, 1100, 1500), index=camp["customer_id"])
    e = campaign_effect(camp, known_ids=np.arange(2000), value=value).overall
    p1, p0 = 0.08, 0.12
    pool = 140 / 1500
    z = (p0 - p1) / math.sqrt(pool * (1 - pool) * (1 / 1000 + 1 / 500))
    assert e.p_value == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9)
    assert e.test == "two-proportion z-test"
    assert (e.treated, e.control) == (1000, 500)
    assert e.treated_churn_rate == p1 and e.control_churn_rate == p0
    assert e.ci_low < 0.04 < e.ci_high
    assert e.retained_value == pytest.approx(0.04 * value.iloc[:1000].sum())


def test_small_counts_fisher_and_segments():
    camp = _campaign(12, 2, 8, 5)
    seg = pd.Series(["S1"] * 6 + ["S2"] * 6 + ["S1"] * 4 + ["S2"] * 4, index=camp["customer_id"].astype(str))
    eff = campaign_effect(camp, known_ids=np.arange(20), segments=seg)
    o = eff.overall
    assert o.test == "Fisher exact"
    assert o.p_value == pytest.approx(fisher_exact([[2, 10], [5, 3]]).pvalue)
    assert [s.population for s in eff.by_segment] == ["S1", "S2"]
    s1 = eff.by_segment[0]
    assert (s1.treated, s1.control) == (6, 4)
    assert s1.treated_churn_rate == pytest.approx(2 / 6) and s1.control_churn_rate == pytest.approx(4 / 4)
    assert o.retained_value == 0.0
    assert eff.method == Note.of("campaign.method")  # a code: the documents word it
    assert "Newcombe" in note_text(eff.method, "en") and "Fisher 精确检验" in note_text(eff.method, "zh")


def test_no_churn_anywhere():
    e = arm_effect("all", np.zeros(10), np.r_[np.ones(5, bool), np.zeros(5, bool)])
    assert e.absolute_reduction == 0.0 and e.relative_reduction is None and e.p_value == 1.0
    assert e.ci_low < 0 < e.ci_high


def test_ids_not_in_data():
    camp = _campaign(5, 1, 5, 2, start=98)
    with pytest.raises(DataError, match=r"2 of 10 campaign customer id\(s\) are not in the data, e.g. \['106', '107'\]"):
        campaign_effect(camp, known_ids=np.arange(106))


def test_empty_arm():
    camp = _campaign(5, 1, 0, 0)
    with pytest.raises(DataError, match="0 control customers"):
        campaign_effect(camp, known_ids=np.arange(5))


def test_read_campaign(tmp_path):
    p = tmp_path / "camp.csv"
    pd.DataFrame({"cid": [1, 2, 3], "arm": ["Treatment", " CONTROL", "treatment"], "churned": [0, 1, 1]}).to_csv(p, index=False)
    df = read_campaign(p, id_column="cid")
    assert list(df.columns) == ["customer_id", "arm", "churned"]
    assert df["arm"].tolist() == ["treatment", "control", "treatment"]
    assert df["churned"].tolist() == [0, 1, 1]
    pq = tmp_path / "camp.parquet"
    pd.read_csv(p).to_parquet(pq)
    assert read_campaign(pq, id_column="cid").equals(df)


def test_read_campaign_errors(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        read_campaign(tmp_path / "none.csv")
    p = tmp_path / "c.csv"
    pd.DataFrame({"customer_id": [1, 2, 3], "arm": ["treatment", "holdout", "ctrl"], "churned": [0, 1, 1]}).to_csv(p, index=False)
    with pytest.raises(DataError, match=r"unknown label\(s\) \['ctrl', 'holdout'\]; accepted are 'treatment' and 'control'"):
        read_campaign(p)
    pd.DataFrame({"id": [1], "arm": ["control"]}).to_csv(p, index=False)
    with pytest.raises(DataError, match=r"c.csv lacks the column\(s\) \['customer_id', 'churned'\]; columns are: id, arm"):
        read_campaign(p)
    pd.DataFrame({"customer_id": [1, 2], "arm": ["control"] * 2, "churned": [0, 2]}).to_csv(p, index=False)
    with pytest.raises(DataError, match=r"'churned' must hold 0 \(stayed\) or 1 \(churned\); found \['2'\]"):
        read_campaign(p)
    pd.DataFrame({"customer_id": [1, 1], "arm": ["control"] * 2, "churned": [0, 1]}).to_csv(p, index=False)
    with pytest.raises(DataError, match="duplicated"):
        read_campaign(p)


# --- issue 30: the campaign file describes a real month ----------------------------------------

def _month(n=400, seed=5):
    """Last month's published customers; the campaign ran on them; churned ones left this month."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"{i:06d}" for i in range(n)])
    treated = rng.random(n) < 0.5
    churned = (rng.random(n) < np.where(treated, 0.15, 0.30)).astype(int)
    camp = pd.DataFrame({"customer_id": ids, "arm": np.where(treated, "treatment", "control"), "churned": churned})
    stayers = ids[churned == 0]
    return camp, ids, stayers


def test_churned_customers_count_when_last_months_scores_are_given():
    camp, published, stayers = _month()
    # without last month's ids the churners (no longer in this month's table) are refused
    with pytest.raises(DataError, match=r"campaign customer id\(s\) are not in the data.*given as previous") as err:
        campaign_effect(camp, known_ids=stayers)
    assert f"{int(camp.churned.sum())} of {len(camp)}" in str(err.value) and err.value.argument == "campaign"
    eff = campaign_effect(camp, known_ids=stayers, published_ids=published,
                          value=pd.Series(1.0, index=stayers), published_value=pd.Series(2.0, index=published))
    assert eff.n_in_data == len(stayers) and eff.n_previous_only == int(camp.churned.sum())
    t = camp.arm == "treatment"
    assert eff.overall.treated == int(t.sum()) and eff.overall.control == int((~t).sum())
    assert eff.overall.treated_churn_rate == pytest.approx(camp.churned[t].mean())
    assert eff.overall.control_churn_rate == pytest.approx(camp.churned[~t].mean())
    assert eff.overall.control_churn_rate > 0.2  # not the 0.0% vs 0.0% of stayers only
    # value: this month's for stayers (1.0), last month's published for those who left (2.0)
    stay_t = t & camp.customer_id.isin(stayers)
    expected = eff.overall.absolute_reduction * (1.0 * stay_t.sum() + 2.0 * (t & ~stay_t).sum())
    assert eff.overall.retained_value == pytest.approx(expected)


def test_ids_in_neither_month_are_refused():
    camp, published, stayers = _month()
    camp.loc[[3, 9], "customer_id"] = ["X1", "X2"]
    with pytest.raises(DataError, match=r"2 of 400 campaign customer id\(s\) are not in this month's data nor last "
                                        r"month's published scores .*\['X1', 'X2'\]"):
        campaign_effect(camp, known_ids=stayers, published_ids=published)


def test_preflight_reads_last_months_published_ids(tmp_path):
    from churnlens.evaluation.backtest import write_scores
    from churnlens.evaluation.results import Published
    from churnlens.run.preflight import published_ids

    ids = np.array(["000001", "000002", "000003"])
    pub = Published(customer_ids=ids, score=np.array([0.1, 0.5, 0.9]), listed=np.array([False, True, True]),
                    control=np.zeros(3, bool), segment=np.array(["", "a", "a"]), action=np.array(["", "x", "x"]),
                    channel=np.array(["", "call", "call"]), value=np.ones(3), source="scores",
                    sample_rows=np.ones(3, bool))
    write_scores(tmp_path / "scores.parquet", pub)
    assert published_ids(tmp_path).tolist() == ids.tolist()
    assert published_ids(None) is None
