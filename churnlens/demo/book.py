"""The built-in demo: a synthetic retail-bank customer book with planted churn mechanisms.

``churnlens demo`` writes the book, a LightGBM model trained on it and the demo config into
a folder (:func:`write_demo_inputs`) and then runs the ordinary report path on them.

The book is generated so that the right answer is known. Four churn mechanisms each hit
their own sub-population through their own features; a small background churn hits anyone:

``maturity_competitor``
    A fixed deposit matures within weeks while competitors pay clearly more
    (``fd_maturity_days`` small and ``competitor_rate_gap`` high).
``digital_disengagement``
    Mobile-banking use collapsed (``mobile_logins_change`` near -1, ``mobile_logins_30d`` low).
``service_failure``
    Repeated complaints with nobody from the bank in touch
    (``complaints_90d`` >= 2 and ``days_since_rm_contact`` long).
``salary_moved``
    A payroll customer's salary stopped arriving and money flows out to other banks
    (``payroll_customer`` = 1, ``salary_credits_3m`` <= 1, ``outbound_transfer_share`` high,
    ``transactions_change`` and ``aum_change_3m`` down).
``background``
    Low-rate churn for reasons outside the data (slightly higher for young and new customers).

Each customer's churn hazard is a function of the observed features only; a churner's
mechanism is drawn in proportion to the hazards, so it is the mechanism the features show.
The mechanism (``DemoBook.truth``) is never a feature.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churnlens.errors import UserInputError
from churnlens.frozen import array_eq

ID_COLUMN = "customer_id"
LABEL_COLUMN = "churned"
VALUE_COLUMN = "aum_avg_3m"
TRUTH_NAME = "mechanism"

#: The four planted mechanisms, then the residual kinds of the truth column.
MECHANISMS: tuple[str, ...] = (
    "maturity_competitor",
    "digital_disengagement",
    "service_failure",
    "salary_moved",
)
BACKGROUND = "background"
NONE = "none"

VIP_TIERS: tuple[str, ...] = ("none", "silver", "gold", "platinum")
REGIONS: tuple[str, ...] = ("East", "North", "South", "Central", "West", "Northeast")
GENDERS: tuple[str, ...] = ("F", "M")

#: Categorical features and their categories, in the order the model stores them.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gender", GENDERS),
    ("region", REGIONS),
    ("vip_tier", VIP_TIERS),
)

#: Model features in model order: customer traits, products, behaviour, channels.
FEATURES: tuple[str, ...] = (
    # customer
    "age",
    "gender",
    "region",
    "city_tier",
    "tenure_years",
    "vip_tier",
    "payroll_customer",
    # product
    "n_products",
    "has_credit_card",
    "has_mortgage",
    "has_insurance",
    "wealth_products",
    "fd_balance",
    "fd_maturity_days",
    # behaviour
    "aum_avg_3m",
    "aum_change_3m",
    "salary_credits_3m",
    "transactions_30d",
    "transactions_change",
    "outbound_transfer_share",
    "card_spend_30d",
    "competitor_rate_gap",
    "complaints_90d",
    # channel
    "mobile_logins_30d",
    "mobile_logins_change",
    "branch_visits_90d",
    "days_since_rm_contact",
)

NO_DEPOSIT_DAYS = 999  # fd_maturity_days of customers without a fixed deposit
DEMO_CONFIG_PATH = Path(__file__).with_name("demo_config.yaml")
MIN_CUSTOMERS = 500  # below this too few churners per mechanism for the model and the segments


@array_eq
@dataclass(frozen=True, eq=False)
class DemoBook:
    """A synthetic customer book and the known reason of each churn.

    Attributes
    ----------
    customers : DataFrame, shape (n, 2 + len(FEATURES))
        ``customer_id`` ("C0000001", ...), the :data:`FEATURES` (categoricals as text) and
        the observed label ``churned`` (0/1 int).
    truth : Series of str, shape (n,)
        Named ``mechanism``, index aligned with ``customers``: one of :data:`MECHANISMS`
        or ``"background"`` for churners, ``"none"`` for customers who stayed.
    """

    customers: pd.DataFrame
    truth: pd.Series


@dataclass(frozen=True)
class DemoInputs:
    """Paths of the demo files written by :func:`write_demo_inputs`."""

    customers: Path  # customers.csv
    truth: Path  # truth.csv: customer_id, mechanism
    model: Path  # model.txt: LightGBM native text format
    config: Path  # config.yaml: copy of the demo config


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _check_args(n_customers: int, seed: int) -> None:
    if isinstance(n_customers, bool) or not isinstance(n_customers, (int, np.integer)) or n_customers < MIN_CUSTOMERS:
        raise UserInputError(
            f"The demo needs at least {MIN_CUSTOMERS:,} customers; found n_customers={n_customers!r}. "
            f"Give n_customers a whole number of {MIN_CUSTOMERS:,} or more (the demo default is 50000).",
            argument="n_customers",
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserInputError(f"seed: the demo seed must be a whole number >= 0; found {seed!r}. Use 0, 1, 2, ...",
                             argument="seed")


def generate_book(n_customers: int, *, seed: int = 0) -> DemoBook:
    """Generate a deterministic synthetic retail-bank customer book.

    Parameters
    ----------
    n_customers : int
        Number of customers (rows), at least 500.
    seed : int, default 0
        Seed of the numpy Generator; the same seed gives an identical book.

    Returns
    -------
    DemoBook
        ``customers`` of shape (n_customers, 29) and ``truth`` of shape (n_customers,).
        The churn rate is about 10-13%.

    Raises
    ------
    UserInputError
        ``n_customers`` below 500 or a negative seed.
    """
    _check_args(n_customers, seed)
    n = int(n_customers)
    rng = np.random.default_rng(seed)

    # --- customer traits ------------------------------------------------------------------
    age = np.clip(np.rint(rng.normal(44.0, 14.0, n)), 18, 85).astype(np.int64)
    gender = rng.choice(np.array(GENDERS), n)
    region = rng.choice(np.array(REGIONS), n, p=[0.28, 0.20, 0.20, 0.14, 0.10, 0.08])
    city_tier = rng.choice(np.array([1, 2, 3, 4], dtype=np.int64), n, p=[0.25, 0.35, 0.25, 0.15])
    tenure_years = np.round(np.clip(np.minimum(rng.gamma(2.0, 3.5, n), age - 18), 0.1, None), 1)
    # Assets: lognormal, richer with age, tenure and bigger cities.
    log_aum = np.log(60_000.0) + 0.012 * (age - 44) + 0.03 * tenure_years + 0.15 * (4 - city_tier) + rng.normal(0, 1.15, n)
    aum = np.exp(log_aum)
    tier_idx = np.searchsorted([100_000.0, 500_000.0, 2_000_000.0], aum * np.exp(rng.normal(0, 0.25, n)))
    vip_tier = np.array(VIP_TIERS)[tier_idx]
    payroll_customer = (rng.random(n) < np.where(age < 60, 0.38, 0.06)).astype(np.int64)

    # --- products -------------------------------------------------------------------------
    has_credit_card = (rng.random(n) < np.where(age < 45, 0.55, 0.38)).astype(np.int64)
    has_mortgage = (rng.random(n) < np.where((age >= 25) & (age <= 60), 0.22, 0.03)).astype(np.int64)
    has_insurance = (rng.random(n) < 0.18 + 0.04 * tier_idx).astype(np.int64)
    wealth_products = np.minimum(rng.poisson(0.25 + 0.55 * tier_idx), 6).astype(np.int64)
    fd_holder = rng.random(n) < np.where(age > 50, 0.45, 0.30)
    fd_balance = np.where(fd_holder, np.round(aum * rng.beta(2.0, 3.0, n), 2), 0.0)
    fd_maturity_days = np.where(fd_holder, rng.integers(1, 366, n), NO_DEPOSIT_DAYS).astype(np.int64)
    n_products = (
        1 + has_credit_card + has_mortgage + has_insurance + fd_holder + (wealth_products > 0) + rng.poisson(0.3, n)
    ).astype(np.int64)
    app_user = rng.random(n) < np.select([age < 40, age < 60], [0.9, 0.7], 0.35)

    # --- who is exposed to which mechanism (latent; only its effects on features are seen)
    u = rng.random(n)
    exp_maturity = fd_holder & (u < 0.13)
    exp_salary = (payroll_customer == 1) & ~exp_maturity & (rng.random(n) < 0.12)
    free = ~exp_maturity & ~exp_salary
    v = rng.random(n)
    exp_digital = free & app_user & (v < 0.055)
    exp_service = free & ~exp_digital & (v > 0.955)

    # Maturity & competitor pricing: deposit matures within weeks, rates elsewhere higher.
    fd_maturity_days = np.where(exp_maturity, rng.integers(1, 46, n), fd_maturity_days)
    competitor_rate_gap = np.round(np.where(exp_maturity, rng.normal(1.35, 0.25, n), rng.normal(0.20, 0.28, n)), 2)

    # Mobile banking: previous 3-month monthly average vs the last 30 days.
    usual = np.where(app_user, np.clip(rng.lognormal(np.log(16.0), 0.5, n), 5.0, None), 0.0)
    prev_avg = rng.poisson(3.0 * usual) / 3.0
    now_factor = np.where(exp_digital, rng.uniform(0.0, 0.2, n), np.exp(rng.normal(0.0, 0.15, n)))
    mobile_logins_30d = rng.poisson(usual * now_factor).astype(np.int64)
    mobile_logins_change = np.round(
        np.clip(np.where(prev_avg > 0, mobile_logins_30d / np.maximum(prev_avg, 1e-9) - 1.0, 0.0), -1.0, 3.0), 3
    )

    # Salary account moved away: salary stops, money leaves for other banks.
    salary_credits_3m = np.where(payroll_customer == 1, np.where(rng.random(n) < 0.03, 2, 3), 0)
    salary_credits_3m = np.where(exp_salary, rng.choice([0, 1], n, p=[0.6, 0.4]), salary_credits_3m).astype(np.int64)
    outbound_transfer_share = np.round(np.where(exp_salary, rng.beta(8.0, 3.0, n), rng.beta(2.0, 8.0, n)), 3)
    transactions_change = np.round(
        np.clip(np.where(exp_salary, rng.normal(-0.45, 0.12, n), rng.normal(0.0, 0.15, n)), -1.0, 2.0), 3
    )
    tx_rate = rng.lognormal(np.log(22.0), 0.6, n) * (1.0 + 0.3 * payroll_customer)
    transactions_30d = rng.poisson(tx_rate * (1.0 + transactions_change)).astype(np.int64)
    aum_change_3m = np.round(np.where(exp_salary, rng.normal(-0.18, 0.08, n), rng.normal(0.01, 0.07, n)), 3)
    card_spend_30d = np.where(has_credit_card == 1, np.round(rng.lognormal(np.log(3_000.0), 0.8, n), 2), 0.0)

    # Service: complaints and a relationship manager out of touch (mass market is rarely called).
    complaints_90d = np.where(exp_service, 1 + rng.poisson(1.6, n), rng.poisson(0.08, n)).astype(np.int64)
    rm_days = np.where(tier_idx >= 1, rng.gamma(2.0, 20.0, n), rng.gamma(3.0, 50.0, n))
    days_since_rm_contact = np.minimum(np.rint(np.where(exp_service, rng.uniform(100, 400, n), rm_days)), 730).astype(np.int64)
    branch_visits_90d = rng.poisson(np.where(age > 55, 2.5, 1.2) * np.where(app_user, 0.7, 1.3)).astype(np.int64)

    # --- churn hazards: functions of the observed features only ----------------------------
    hazards = np.column_stack(
        [
            0.72 * _sigmoid((competitor_rate_gap - 0.85) / 0.10) * _sigmoid((50.0 - fd_maturity_days) / 6.0),
            0.62 * _sigmoid((-mobile_logins_change - 0.6) / 0.06),
            0.70 * _sigmoid((complaints_90d - 1.5) / 0.12) * _sigmoid((days_since_rm_contact - 80.0) / 12.0),
            0.75
            * payroll_customer
            * _sigmoid((1.5 - salary_credits_3m) / 0.2)
            * _sigmoid((outbound_transfer_share - 0.45) / 0.06),
            0.009 * np.where(tenure_years < 2.0, 1.8, 1.0) * np.where(age < 30, 1.4, 1.0),
        ]
    )
    p_churn = 1.0 - np.prod(1.0 - hazards, axis=1)
    churned = rng.random(n) < p_churn
    # A churner's mechanism: drawn in proportion to the hazards (one dominates almost always).
    share = hazards / hazards.sum(axis=1, keepdims=True)
    pick = (rng.random(n)[:, None] > np.cumsum(share, axis=1)).sum(axis=1)
    kinds = np.array(MECHANISMS + (BACKGROUND,))
    mechanism = np.where(churned, kinds[np.minimum(pick, len(kinds) - 1)], NONE)

    customers = pd.DataFrame(
        {
            ID_COLUMN: [f"C{i:07d}" for i in range(1, n + 1)],
            "age": age,
            "gender": gender,
            "region": region,
            "city_tier": city_tier,
            "tenure_years": tenure_years,
            "vip_tier": vip_tier,
            "payroll_customer": payroll_customer,
            "n_products": n_products,
            "has_credit_card": has_credit_card,
            "has_mortgage": has_mortgage,
            "has_insurance": has_insurance,
            "wealth_products": wealth_products,
            "fd_balance": fd_balance,
            "fd_maturity_days": fd_maturity_days,
            "aum_avg_3m": np.round(aum, 2),
            "aum_change_3m": aum_change_3m,
            "salary_credits_3m": salary_credits_3m,
            "transactions_30d": transactions_30d,
            "transactions_change": transactions_change,
            "outbound_transfer_share": outbound_transfer_share,
            "card_spend_30d": card_spend_30d,
            "competitor_rate_gap": competitor_rate_gap,
            "complaints_90d": complaints_90d,
            "mobile_logins_30d": mobile_logins_30d,
            "mobile_logins_change": mobile_logins_change,
            "branch_visits_90d": branch_visits_90d,
            "days_since_rm_contact": days_since_rm_contact,
            LABEL_COLUMN: churned.astype(np.int64),
        }
    )
    truth = pd.Series(mechanism, index=customers.index, name=TRUTH_NAME, dtype="str")
    return DemoBook(customers=customers, truth=truth)


def model_frame(customers: pd.DataFrame) -> pd.DataFrame:
    """The demo model's input: :data:`FEATURES` in model order, categoricals as ``category``.

    Parameters
    ----------
    customers : DataFrame, shape (n, >= len(FEATURES))
        A demo book's customers (text or category columns for the categoricals).

    Returns
    -------
    DataFrame, shape (n, len(FEATURES))
        Categoricals use the fixed categories of :data:`CATEGORIES`, so the model file's
        ``pandas_categorical`` does not depend on which values a sample happens to hold.
    """
    missing = [f for f in FEATURES if f not in customers.columns]
    if missing:
        raise UserInputError(
            f"The demo customer table lacks the model features {missing}; columns are: {list(customers.columns)}. "
            "Generate it with churnlens.demo.generate_book."
        )
    X = customers.loc[:, list(FEATURES)].copy()
    for col, cats in CATEGORIES:
        X[col] = pd.Categorical(X[col].astype("str"), categories=list(cats))
    return X


def train_demo_model(book: DemoBook, *, seed: int = 0):
    """Train the demo churn model: a small deterministic LightGBM binary classifier.

    Parameters
    ----------
    book : DemoBook
        Training data; all of ``book.customers`` is used (the truth is not).
    seed : int, default 0
        LightGBM seed; with ``deterministic=True`` and fixed threads, the same book and
        seed give the same model file.

    Returns
    -------
    lightgbm.Booster
        200 trees of at most 15 leaves on :data:`FEATURES`; categoricals are pandas
        ``category`` so ``booster.save_model(path)`` stores ``pandas_categorical``.
    """
    import lightgbm as lgb

    X = model_frame(book.customers)
    y = book.customers[LABEL_COLUMN].to_numpy()
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": 40,
        "lambda_l2": 10.0,
        "min_gain_to_split": 1.0,  # no splits on noise: cleaner attribution profiles
        "feature_fraction": 1.0,
        "bagging_fraction": 1.0,
        "max_bin": 255,
        "deterministic": True,
        "force_row_wise": True,
        # One thread: on a busy 2-core machine OpenMP spin-waiting made 2 threads up to 60x slower.
        "num_threads": 1,
        "seed": int(seed),
        "verbose": -1,
    }
    data = lgb.Dataset(X, label=y, feature_name=list(FEATURES), categorical_feature=[c for c, _ in CATEGORIES])
    return lgb.train(params, data, num_boost_round=200)


def write_demo_inputs(directory: Path, *, n_customers: int, seed: int) -> DemoInputs:
    """Write the demo book, its truth, a trained model and the demo config into ``directory``.

    Parameters
    ----------
    directory : Path
        Created if missing; existing demo files in it are overwritten.
    n_customers : int
        Customers in the book (at least 500).
    seed : int
        Seed of both the book and the model.

    Returns
    -------
    DemoInputs
        Paths of ``customers.csv``, ``truth.csv``, ``model.txt`` and ``config.yaml``.
    """
    _check_args(n_customers, seed)
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserInputError(f"out: cannot create the demo folder {directory}: {err}. Give a writable folder.",
                             argument="out") from None
    book = generate_book(n_customers, seed=seed)
    booster = train_demo_model(book, seed=seed)
    paths = DemoInputs(
        customers=directory / "customers.csv",
        truth=directory / "truth.csv",
        model=directory / "model.txt",
        config=directory / "config.yaml",
    )
    book.customers.to_csv(paths.customers, index=False)
    pd.DataFrame({ID_COLUMN: book.customers[ID_COLUMN], TRUTH_NAME: book.truth}).to_csv(paths.truth, index=False)
    booster.save_model(str(paths.model))
    shutil.copyfile(DEMO_CONFIG_PATH, paths.config)
    return paths
