"""What would keep this customer (churnlens.actions.keep): planted models with known answers,
every option checked by re-scoring the changed row, and the list's words in both languages."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from churnlens import attribution
from churnlens.actions import keep
from churnlens.actions.results import Targeting
from churnlens.actions.playbook import retention_list
from churnlens.config import PlaybookRule, parse_config
from churnlens.reports.lists import keep_columns

QS = keep.QUANTILES


def rule(driver, cost, *, op=None, value=None, text=None):
    when = {"driver": driver, "direction": "up"}
    if op is not None:
        when["condition"] = {"op": op, "value": value}
    return PlaybookRule.model_validate({"when": when, "action": {"en": text or f"act on {driver}",
                                                                 "zh": f"针对{driver}"}, "cost": cost})


class Fake:
    """A model with a known formula (what_would_keep only re-scores through predict_proba)."""

    def __init__(self, fn, check=None):
        self.fn, self.check, self.rows = fn, check, 0

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if self.check is not None:
            self.check(X)
        self.rows += len(X)
        return np.asarray(self.fn(X), dtype=np.float64)


def grid_reference() -> pd.DataFrame:
    """logins 0..10 and complaints 0..5, every combination 3 times: known quantiles."""
    lg, cp = np.meshgrid(np.arange(11.0), np.arange(6.0))
    return pd.DataFrame({"logins": np.repeat(lg.ravel(), 3), "complaints": np.repeat(cp.ravel(), 3)})


def observed_quantiles(values: np.ndarray) -> list[float]:
    v = np.sort(values)
    return [float(v[int(np.ceil(q * len(v))) - 1]) for q in QS]


def test_candidates_are_observed_quantiles():
    ref = grid_reference()
    assert observed_quantiles(ref.logins.to_numpy()) == [1.0, 2.0, 5.0, 8.0, 9.0]
    X = pd.DataFrame({"logins": [0.0], "complaints": [0.0]})
    # risk falls with logins: the smallest crossing candidate is the answer (5 -> p 0.2)
    model = Fake(lambda F: np.where(F.logins >= 4, 0.2, 0.9))
    out = keep.what_would_keep(model, X, reference=ref, threshold=0.5, permitted=("logins",))
    assert out.features[0].tolist() == ["logins", ""]
    assert out.from_values[0, 0] == 0.0 and out.to_values[0, 0] == 5.0
    assert out.before[0] == 0.9 and out.after[0] == 0.2 and out.kept[0]
    assert out.n_scored == 5  # 1, 2, 5, 8, 9


def test_one_change_is_not_enough_two_features():
    ref = grid_reference()
    X = pd.DataFrame({"logins": [1.0, 1.0], "complaints": [4.0, 0.0]})
    # churn when logins < 4 OR complaints > 2: customer 0 needs both, customer 1 only logins
    model = Fake(lambda F: np.where((F.logins < 4) | (F.complaints > 2), 0.8, 0.1))
    out = keep.what_would_keep(model, X, reference=ref, threshold=0.5, permitted=("logins", "complaints"))
    assert sorted(out.features[0].tolist()) == ["complaints", "logins"]
    got = dict(zip(out.features[0], out.to_values[0]))
    # complaints candidates 0, 1, 2, 3, 4 -> nearest crossing value in rank is 2; logins -> 5
    assert got == {"logins": 5.0, "complaints": 2.0}
    assert out.after[0] == 0.1 and out.kept[0]
    assert out.features[1].tolist() == ["logins", ""] and out.to_values[1, 0] == 5.0


def test_covered_change_first_then_cost_then_size():
    ref = grid_reference()
    X = pd.DataFrame({"logins": [1.0], "complaints": [4.0]})
    # churn only when both: changing either one keeps the customer
    model = Fake(lambda F: np.where((F.logins < 4) & (F.complaints > 2), 0.8, 0.1))
    # no playbook: the smaller change in ranks wins (complaints 4 -> 2 is closer than logins 1 -> 5)
    out = keep.what_would_keep(model, X, reference=ref, threshold=0.5, permitted=("logins", "complaints"))
    assert out.features[0].tolist() == ["complaints", ""] and out.to_values[0, 0] == 2.0
    assert out.rules[0].tolist() == [-1, -1]
    # a rule on logins only: the covered change comes first, whatever its size
    out = keep.what_would_keep(model, X, reference=ref, threshold=0.5, permitted=("logins", "complaints"),
                               rules=(rule("logins", 5.0),))
    assert out.features[0].tolist() == ["logins", ""] and out.rules[0, 0] == 0 and out.cost[0] == 5.0
    # rules on both: the cheaper action wins
    rules = (rule("logins", 5.0), rule("complaints", 2.0))
    out = keep.what_would_keep(model, X, reference=ref, threshold=0.5, permitted=("logins", "complaints"), rules=rules)
    assert out.features[0].tolist() == ["complaints", ""] and out.rules[0, 0] == 1 and out.cost[0] == 2.0
    # a rule whose condition does not hold on the customer's value does not produce the change
    rules = (rule("logins", 5.0, op=">=", value=3), rule("complaints", 2.0, op="<=", value=1))
    out = keep.what_would_keep(model, X, reference=ref, threshold=0.5, permitted=("logins", "complaints"), rules=rules)
    assert out.rules[0].tolist() == [-1, -1]


def test_largest_reduction_when_nothing_keeps():
    ref = grid_reference()
    X = pd.DataFrame({"logins": [0.0, 10.0], "complaints": [0.0, 0.0]})
    model = Fake(lambda F: 0.9 - 0.02 * F.logins)  # never below 0.5 on the book's values
    out = keep.what_would_keep(model, X, reference=ref, threshold=0.5, permitted=("logins",))
    assert out.to_values[0, 0] == 9.0 and np.isclose(out.after[0], 0.72) and not out.kept[0]
    # nothing lowers customer 1's probability: no option at all
    assert out.features[1].tolist() == ["", ""] and np.isnan(out.after[1]) and not out.found[1]


def test_only_permitted_features_change():
    ref = grid_reference().assign(gender=np.tile([0.0, 1.0], 99))
    X = pd.DataFrame({"logins": [1.0], "complaints": [0.0], "gender": [1.0]})
    model = Fake(lambda F: np.where(F.gender > 0, 0.9, 0.1))  # only the protected attribute matters
    config = parse_config({"features": {"gender": {"label": {"en": "Gender", "zh": "性别"}, "protected": True}}})
    permitted = keep.permitted_features(config, keep._identity(X.columns))
    assert permitted == ("logins", "complaints")
    out = keep.what_would_keep(model, X, reference=ref, threshold=0.5, permitted=permitted)
    assert not out.found[0]


def test_one_hot_block_changed_as_a_level():
    rng = np.random.default_rng(0)
    n = 600
    level = rng.choice(["app", "branch", "phone"], n, p=[0.5, 0.3, 0.2])
    frame = pd.DataFrame({f"channel_{lv}": (level == lv).astype(float) for lv in ("app", "branch", "phone")})
    frame["logins"] = rng.integers(0, 10, n).astype(float)

    def one_level(F):
        block = F[["channel_app", "channel_branch", "channel_phone"]].to_numpy()
        assert ((block == 0) | (block == 1)).all() and (block.sum(axis=1) == 1).all()

    model = Fake(lambda F: np.where(F.channel_branch == 1, 0.9, 0.2), check=one_level)
    config = parse_config({"features": {"channel": {"label": {"en": "Preferred channel", "zh": "偏好渠道"},
                                                    "columns": ["channel_app", "channel_branch", "channel_phone"]}}})
    fs = attribution.feature_sources(tuple(frame.columns), config)
    X = frame[level == "branch"].head(5)
    out = keep.what_would_keep(model, X, reference=frame, threshold=0.5, permitted=("channel",), sources=fs)
    assert (out.features[:, 0] == "channel").all()
    assert set(out.from_values[:, 0]) == {"branch"}
    assert set(out.to_values[:, 0]) == {"app"}  # the most frequent other level
    assert (out.after == 0.2).all()


def _planted(n: int = 4000, seed: int = 0):
    """A LightGBM model on a book where churn comes from few logins, many complaints and a
    protected attribute; a raw-category plan where 'basic' churns."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "logins": rng.poisson(6, n).astype(float),
        "complaints": rng.poisson(0.8, n).astype(float),
        "age": rng.integers(20, 80, n).astype(float),
        "gender": rng.integers(0, 2, n).astype(float),
        "plan": pd.Categorical(rng.choice(["basic", "plus", "premium"], n, p=[0.3, 0.4, 0.3]),
                               categories=["basic", "plus", "premium"]),
    })
    logit = -3.0 + 3.5 * (df.logins < 3) + 3.0 * (df.complaints >= 3) + 1.0 * df.gender + 2.0 * (df.plan == "basic")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    params = {"objective": "binary", "num_leaves": 8, "min_data_in_leaf": 20, "verbose": -1, "deterministic": True,
              "num_threads": 1, "seed": 0}
    booster = lgb.train(params, lgb.Dataset(df, y, categorical_feature=["plan"]), num_boost_round=60)
    model = attribution.from_estimator(booster)
    config = parse_config({
        "features": {
            "logins": {"label": {"en": "Mobile-banking logins", "zh": "手机银行登录次数"}},
            "complaints": {"label": {"en": "Complaints", "zh": "投诉次数"}},
            "age": {"label": {"en": "Age", "zh": "年龄"}, "actionable": False},
            "gender": {"label": {"en": "Gender", "zh": "性别"}, "protected": True},
            "plan": {"label": {"en": "Plan", "zh": "套餐"}},
        },
        "playbook": [
            {"when": {"driver": "logins", "direction": "up", "condition": {"op": "<", "value": 4}},
             "action": {"en": "Mobile-banking help", "zh": "手机银行指导"}, "cost": 1.0},
            {"when": {"driver": "plan", "direction": "up", "condition": {"op": "==", "value": "basic"}},
             "action": {"en": "Offer the plus plan", "zh": "推荐升级套餐"}, "cost": 20.0},
        ],
    })
    X = attribution.align(model, df).X
    return model, config, X


@pytest.fixture(scope="module")
def planted():
    model, config, X = _planted()
    score = model.predict_proba(X)
    listed = score >= 0.5
    attr = attribution.explain(model, X[listed], customer_ids=np.flatnonzero(listed))
    fs = attribution.feature_sources(model.feature_names, config)
    out = keep.what_would_keep(
        model, X[listed], reference=X, threshold=0.5, permitted=keep.permitted_features(config, fs), sources=fs,
        rules=config.playbook, attributions=attr.values, attribution_features=attr.features,
        similar_on=keep.similarity_features(config, X))
    return model, config, X[listed], out


def test_planted_options_rescored_exactly(planted):
    model, config, X, out = planted
    assert out.similar_on == ("age",)
    assert out.found.mean() > 0.95
    np.testing.assert_array_equal(out.before, model.predict_proba(X))
    for i in np.flatnonzero(out.found):  # every option re-scored, one customer row at a time
        row = X.iloc[[i]].copy()
        for f, v in zip(out.features[i], out.to_values[i]):
            if f:
                row[f] = pd.Categorical([v], categories=X[f].cat.categories) if f == "plan" else float(v)
        assert model.predict_proba(row)[0] == pytest.approx(out.after[i], abs=1e-12)
        assert out.after[i] < out.before[i]


def test_planted_changes_are_permitted_and_plausible(planted):
    model, config, X, out = planted
    changed = set(out.features.ravel()) - {""}
    assert changed <= {"logins", "complaints", "plan"}  # never age (not actionable) nor gender (protected)
    for f in ("logins", "complaints"):
        hit = out.features == f
        assert set(out.to_values[hit]) <= set(X[f])  # observed values only
    # planted mechanisms: few logins alone -> logins raised to at least 3, with the logins rule
    only_logins = ((X.logins < 3) & (X.complaints < 3) & (X.plan != "basic")).to_numpy() & out.kept
    assert only_logins.sum() > 20
    assert (out.features[only_logins, 0] == "logins").all()
    assert (np.array(out.to_values[only_logins, 0], dtype=float) >= 3).all()
    assert (out.rules[only_logins, 0] == 0).all() and (out.cost[only_logins] == 1.0).all()
    # basic plan alone (and logins beyond the logins rule's condition) -> another plan, with the plan rule
    only_plan = ((X.logins >= 4) & (X.complaints < 3) & (X.plan == "basic")).to_numpy() & out.kept
    assert only_plan.sum() > 20
    assert (out.features[only_plan, 0] == "plan").all() and (out.rules[only_plan, 0] == 1).all()
    assert set(out.to_values[only_plan, 0]) <= {"plus", "premium"}
    # few logins and many complaints, basic plan: a second feature is needed for most
    both = ((X.logins < 3) & (X.complaints >= 4) & (X.plan == "basic")).to_numpy()
    assert (out.n_features[both] == 2).mean() >= 0.5


def test_deterministic(planted):
    model, config, X, out = planted
    fs = attribution.feature_sources(model.feature_names, config)
    attr = attribution.explain(model, X, customer_ids=np.arange(len(X)))
    again = keep.what_would_keep(
        model, X, reference=_planted()[2], threshold=0.5, permitted=keep.permitted_features(config, fs), sources=fs,
        rules=config.playbook, attributions=attr.values, attribution_features=attr.features,
        similar_on=keep.similarity_features(config, X))
    assert again == out


def test_keep_words_and_list_columns(planted):
    model, config, X, out = planted
    i = int(np.flatnonzero(out.kept & (out.features[:, 0] == "logins") & (out.n_features == 1))[0])
    en = keep_columns(out, config, config.playbook, "en")
    zh = keep_columns(out, config, config.playbook, "zh")
    old, new = out.from_values[i, 0], out.to_values[i, 0]
    b, a = f"{100 * out.before[i]:.0f}%", f"{100 * out.after[i]:.0f}%"
    assert en["keep_change"][i] == f"if Mobile-banking logins went from {old:,.0f} to {new:,.0f}: {b} → {a}"
    assert zh["keep_change"][i] == f"若手机银行登录次数由{old:,.0f}变为{new:,.0f}：{b} → {a}"
    assert en["keep_action"][i] == "Mobile-banking help" and zh["keep_action"][i] == "手机银行指导"
    np.testing.assert_array_equal(en["keep_probability"], zh["keep_probability"])  # numbers: no language
    partial = np.flatnonzero(out.found & ~out.kept)
    for j in partial[:3]:
        assert "still at or above 50%" in en["keep_change"][j]
    # in the retention list, in list order
    n = out.n
    targeting = Targeting(listed=np.ones(n, bool), control=np.zeros(n, bool), excluded=np.zeros(n, bool))
    people = retention_list(np.arange(n), targeting, segment=np.full(n, "S1"), score=out.before, value=None,
                            reasons=np.full((n, 3), ""), rule_index=np.full(n, -1), rules=config.playbook, extra=en)
    f = people.frame
    assert list(f.columns[-3:]) == ["keep_change", "keep_probability", "keep_action"]
    row = f[f.customer_id == i].iloc[0]
    assert row.keep_change == en["keep_change"][i] and row.keep_probability == out.after[i]


def test_spread_to_attributed_rows(planted):
    model, config, X, out = planted
    rows = np.array([1, 3])
    part = keep._spread(keep.KeepOptions(**{f: getattr(out, f)[:2] if isinstance(getattr(out, f), np.ndarray) else
                                              getattr(out, f) for f in out.__dataclass_fields__}), rows, 5)
    assert part.computed.tolist() == [False, True, False, True, False]
    assert part.features[3].tolist() == out.features[1].tolist()
    assert np.isnan(part.after[[0, 2, 4]]).all()


def test_threshold_of_the_selection():
    config = parse_config({"churners": {"by": "top_fraction", "fraction": 0.5}})
    assert keep.keep_threshold(config, np.array([0.1, 0.3, 0.7, 0.9]), np.array([0, 0, 1, 1], bool)) == 0.7
    assert keep.keep_threshold(parse_config({}), np.array([0.9]), np.array([True])) == 0.5
