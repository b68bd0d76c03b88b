"""The demo book, model and config: determinism, planted mechanisms, model quality, files."""

from __future__ import annotations

import re

import hdbscan
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, roc_auc_score

from churnlens.demo import book as demo
from churnlens.config import load_config
from churnlens.errors import UserInputError

N_TRAIN = 6000
N_HOLDOUT = 4000


@pytest.fixture(scope="module")
def book() -> demo.DemoBook:
    return demo.generate_book(N_TRAIN, seed=0)


@pytest.fixture(scope="module")
def holdout() -> demo.DemoBook:
    return demo.generate_book(N_HOLDOUT, seed=1)


@pytest.fixture(scope="module")
def model(book) -> lgb.Booster:
    return demo.train_demo_model(book, seed=0)


def _subpopulation(c: pd.DataFrame, mechanism: str) -> pd.Series:
    """Customers whose features show ``mechanism``, written from the business story."""
    if mechanism == "maturity_competitor":
        return (c.fd_maturity_days <= 60) & (c.competitor_rate_gap >= 0.7)
    if mechanism == "digital_disengagement":
        return c.mobile_logins_change <= -0.5
    if mechanism == "service_failure":
        return (c.complaints_90d >= 2) & (c.days_since_rm_contact >= 60)
    if mechanism == "salary_moved":
        return (c.payroll_customer == 1) & (c.salary_credits_3m <= 1) & (c.outbound_transfer_share >= 0.35)
    raise AssertionError(mechanism)


def _positive_profiles(model: lgb.Booster, X: pd.DataFrame) -> np.ndarray:
    """Per-customer shares of the positive (risk-raising) attributions."""
    contrib = model.predict(X, pred_contrib=True)[:, :-1]  # last column: expected value
    pos = np.clip(contrib, 0.0, None)
    return pos / pos.sum(axis=1, keepdims=True)


# --- the book ---------------------------------------------------------------------------------

def test_same_seed_gives_identical_book_and_other_seed_differs():
    a = demo.generate_book(2000, seed=7)
    assert a == demo.generate_book(2000, seed=7)
    b = demo.generate_book(2000, seed=8)
    assert not a.customers.equals(b.customers)
    assert not a.truth.equals(b.truth)


def test_book_layout(book):
    c, truth = book.customers, book.truth
    assert list(c.columns) == ["customer_id", *demo.FEATURES, "churned"]
    assert len(demo.FEATURES) >= 25
    assert c.customer_id.iloc[0] == "C0000001" and c.customer_id.is_unique
    assert c.customer_id.str.fullmatch(r"C\d{7}").all()
    assert c.churned.dtype == np.int64 and set(c.churned.unique()) == {0, 1}
    # The truth is aligned, named, and never a model feature.
    assert truth.name == "mechanism" and truth.index.equals(c.index)
    assert "mechanism" not in demo.FEATURES and "mechanism" not in c.columns
    assert set(truth.unique()) == {*demo.MECHANISMS, "background", "none"}
    assert ((truth == "none") == (c.churned == 0)).all()
    # Realistic types and ranges.
    for col in ("vip_tier", "gender", "region"):
        assert not pd.api.types.is_numeric_dtype(c[col])
    assert set(c.vip_tier.unique()) == set(demo.VIP_TIERS)
    assert set(c.gender.unique()) == {"F", "M"}
    assert set(c.city_tier.unique()) == {1, 2, 3, 4}
    assert c.age.between(18, 85).all() and (c.tenure_years <= c.age - 17).all()
    assert (c.aum_avg_3m > 0).all() and (c.fd_balance <= c.aum_avg_3m).all()
    assert ((c.fd_balance == 0) == (c.fd_maturity_days == demo.NO_DEPOSIT_DAYS)).all()
    assert c.outbound_transfer_share.between(0, 1).all() and (c.mobile_logins_change >= -1).all()
    # Assets are right-skewed (lognormal), as in a real book.
    assert c.aum_avg_3m.mean() > 1.5 * c.aum_avg_3m.median()


@pytest.mark.parametrize(("n", "seed"), [(500, 0), (3000, 1), (6000, 2), (20000, 5)])
def test_churn_rate_is_realistic(n, seed):
    rate = demo.generate_book(n, seed=seed).customers.churned.mean()
    assert 0.05 <= rate <= 0.20


@pytest.mark.parametrize("mechanism", demo.MECHANISMS)
def test_each_mechanism_lives_in_its_own_subpopulation(book, mechanism):
    c, truth = book.customers, book.truth
    churners = c.churned == 1
    mine = truth == mechanism
    assert mine.sum() >= 0.12 * churners.sum()  # a segment worth reporting
    own = _subpopulation(c, mechanism)
    assert own[mine].mean() >= 0.9  # its churners show its features ...
    for other in demo.MECHANISMS:
        if other != mechanism:
            assert _subpopulation(c, other)[mine].mean() <= 0.1  # ... and mostly not the others'
    # The sub-population churns far more than customers outside every sub-population.
    outside = ~np.logical_or.reduce([_subpopulation(c, m) for m in demo.MECHANISMS])
    assert c.churned[own].mean() >= 0.35
    assert c.churned[outside].mean() <= 0.03


def test_background_churn_is_a_minority(book):
    truth = book.truth[book.customers.churned == 1]
    assert 0.02 <= (truth == "background").mean() <= 0.15


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_customers": 10}, r"at least 500 customers; found n_customers=10"),
        ({"n_customers": 2000, "seed": -1}, r"seed must be a whole number >= 0; found -1"),
        ({"n_customers": 2000.5}, r"found n_customers=2000.5"),
    ],
)
def test_bad_arguments_are_user_errors(kwargs, match):
    with pytest.raises(UserInputError, match=match):
        demo.generate_book(**kwargs)


# --- the config -------------------------------------------------------------------------------

def test_demo_config_validates_and_describes_every_feature(book):
    cfg = load_config(demo.DEMO_CONFIG_PATH)
    assert (cfg.id_column, cfg.label_column, cfg.value_column) == ("customer_id", "churned", "aum_avg_3m")
    assert {cfg.id_column, cfg.label_column, cfg.value_column} <= set(book.customers.columns)
    assert set(cfg.features) == set(demo.FEATURES)
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for name, spec in cfg.features.items():
        assert spec.label.en.strip() and spec.label.en != name
        assert cjk.search(spec.label.zh), name
    assert cfg.features["gender"].protected and not cfg.features["gender"].actionable
    assert not cfg.features["age"].actionable
    assert [f for f, s in cfg.features.items() if s.protected] == ["gender"]
    assert cfg.features["fd_maturity_days"].label.zh == "定期存款到期天数"


def test_demo_playbook_covers_every_mechanism():
    cfg = load_config(demo.DEMO_CONFIG_PATH)
    drivers = {rule.when.driver for rule in cfg.playbook}
    assert drivers <= set(demo.FEATURES)
    story = {
        "maturity_competitor": {"fd_maturity_days", "competitor_rate_gap"},
        "digital_disengagement": {"mobile_logins_change", "mobile_logins_30d"},
        "service_failure": {"complaints_90d", "days_since_rm_contact"},
        "salary_moved": {"salary_credits_3m", "outbound_transfer_share", "transactions_change"},
    }
    for mechanism, features in story.items():
        assert drivers & features, mechanism
    assert not any(cfg.features[r.when.driver].protected for r in cfg.playbook)
    for rule in cfg.playbook:
        assert rule.action.en and rule.action.zh and rule.cost > 0 and 0 < rule.uplift < 1


# --- the model --------------------------------------------------------------------------------

def test_model_ranks_held_out_customers_well(model, holdout):
    score = model.predict(demo.model_frame(holdout.customers))
    assert roc_auc_score(holdout.customers.churned, score) > 0.85
    assert 50 <= model.num_trees() <= 200  # training stops early once no split gains enough
    assert model.feature_name() == list(demo.FEATURES)


def test_model_training_is_deterministic(book, model):
    assert demo.train_demo_model(book, seed=0).model_to_string() == model.model_to_string()


@pytest.mark.parametrize("which", ["train", "holdout"])
def test_churners_attribution_profiles_separate_by_mechanism(model, book, holdout, which):
    b = book if which == "train" else holdout
    churners = (b.customers.churned == 1).to_numpy()
    profiles = _positive_profiles(model, demo.model_frame(b.customers)[churners])
    labels = hdbscan.HDBSCAN(min_cluster_size=int(0.05 * churners.sum())).fit_predict(profiles)
    truth = b.truth.to_numpy()[churners]
    planted = np.isin(truth, demo.MECHANISMS)
    assert adjusted_rand_score(truth[planted], labels[planted]) >= 0.85
    assert labels.max() + 1 == len(demo.MECHANISMS)


# --- the files --------------------------------------------------------------------------------

def test_write_demo_inputs_round_trips(tmp_path):
    inputs = demo.write_demo_inputs(tmp_path / "demo", n_customers=2000, seed=3)
    assert inputs == demo.DemoInputs(
        customers=tmp_path / "demo" / "customers.csv",
        truth=tmp_path / "demo" / "truth.csv",
        model=tmp_path / "demo" / "model.txt",
        config=tmp_path / "demo" / "config.yaml",
    )
    expected = demo.generate_book(2000, seed=3)
    data = pd.read_csv(inputs.customers)
    pd.testing.assert_frame_equal(data, expected.customers, check_dtype=False)
    truth = pd.read_csv(inputs.truth)
    assert list(truth.columns) == ["customer_id", "mechanism"]
    assert (truth.mechanism.to_numpy() == expected.truth.to_numpy()).all()
    assert load_config(inputs.config) == load_config(demo.DEMO_CONFIG_PATH)

    # The model file alone (features, stored categories) reproduces the model's scores on
    # the CSV as read back: what `churnlens report` does with these files.
    booster = lgb.Booster(model_file=str(inputs.model))
    X = data[booster.feature_name()].copy()
    categorical = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    assert categorical == ["gender", "region", "vip_tier"]
    assert len(booster.pandas_categorical) == len(categorical)
    for col, cats in zip(categorical, booster.pandas_categorical):
        assert set(X[col].unique()) <= set(cats)
        X[col] = pd.Categorical(X[col], categories=cats)
    reference = demo.train_demo_model(expected, seed=3).predict(demo.model_frame(expected.customers))
    np.testing.assert_allclose(booster.predict(X), reference, rtol=0, atol=1e-12)
