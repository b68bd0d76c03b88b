"""Hard test books for segmentation: planted churn mechanisms of unequal sizes, overlaps, noise.

Not the demo book: these books are built to break segmentation methods the way real books do.

* Mechanism ``k`` exposes a share ``prevalence[k]`` of customers (default 10% / 6% / 4% / 2%).
  An exposed customer's log-odds rise by ``effect * severity`` (severity ~ U(0.8, 1.3)).
* ``overlap`` (15%) of exposed customers carry a second mechanism, weaker than the first
  (its effect is U(0.3, 0.65) x the first one's): the planted PRIMARY mechanism is the
  stronger one, the second is the planted secondary.
* Each mechanism acts through two visible features: ``m{k}_level`` (continuous, the
  severity plus noise for the exposed, noise for the others) and ``m{k}_flag`` (binary,
  1 for every exposed customer and for a share ``flag_rate`` of the others), so a
  tree model needs both and path-dependent TreeSHAP splits the effect between them.
* ``n_noise`` behaviour columns without effect; the first ``n_correlated`` of them are
  correlated (about 0.7) with a mechanism's level column, the model picks some of them up.
  One categorical column ``region`` (5 levels) and a one-hot block ``segment_A/B/C`` are noise.
* Background churn: every customer churns at ``background`` probability regardless.

Kinds: ``hard`` (the above), ``clean`` (no overlap, no correlated noise, equal sizes 7% x 4),
``noise`` (background churn only, at 8%), ``single`` (one mechanism of 12%), ``shaped`` (the
features of ``clean``, four mechanisms shaping levels and flags, but no effect: background churn
only, at 5%).

:func:`attribute` trains a small LightGBM model and returns exact TreeSHAP
(``pred_contrib``) attributions as :class:`Attributions`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnlens.attribution.results import Attributions

BACKGROUND = -1  # truth label of churners without a planted mechanism


@dataclass(frozen=True)
class Book:
    X: pd.DataFrame  # model features
    churned: np.ndarray  # (n,) 0/1
    primary: np.ndarray  # (n,) planted primary mechanism, -1 none
    secondary: np.ndarray  # (n,) planted secondary mechanism, -1 none
    mechanism_features: dict  # mechanism -> its two driver columns


KINDS = {
    "hard": dict(prevalence=(0.10, 0.06, 0.04, 0.02), overlap=0.15, n_noise=40, n_correlated=12, background=0.012),
    "clean": dict(prevalence=(0.07, 0.07, 0.07, 0.07), overlap=0.0, n_noise=10, n_correlated=0, background=0.006),
    "noise": dict(prevalence=(), overlap=0.0, n_noise=40, n_correlated=0, background=0.08),
    "single": dict(prevalence=(0.12,), overlap=0.0, n_noise=40, n_correlated=8, background=0.012),
    # four mechanisms shape the features (levels, flags) but cause nothing: churn is background only
    "shaped": dict(prevalence=(0.07, 0.07, 0.07, 0.07), overlap=0.0, n_noise=10, n_correlated=0, background=0.05,
                   effect=0.0),
}


def make_book(kind: str = "hard", *, n: int = 40_000, seed: int = 0, effect: float = 4.5, flag_rate: float = 0.3) -> Book:
    """Generate a book of ``n`` customers of the given ``kind`` (see the module docstring)."""
    spec = KINDS[kind]
    effect = spec.get("effect", effect)
    prevalence = spec["prevalence"]
    rng = np.random.default_rng([seed, len(kind)])
    k = len(prevalence)
    # Exposure: each customer at most one primary mechanism (by prevalence), then a second.
    p = np.r_[prevalence, 1.0 - sum(prevalence)]
    primary = rng.choice(k + 1, size=n, p=p)
    primary[primary == k] = BACKGROUND
    secondary = np.full(n, BACKGROUND)
    exposed = np.flatnonzero(primary >= 0)
    if spec["overlap"] and k > 1:
        two = exposed[rng.random(exposed.size) < spec["overlap"]]
        # the second mechanism by prevalence among the others
        for i in two:
            others = [j for j in range(k) if j != primary[i]]
            w = np.array([prevalence[j] for j in others])
            secondary[i] = rng.choice(others, p=w / w.sum())
    strength = np.zeros((n, k))
    sev = rng.uniform(0.8, 1.3, n)
    strength[exposed, primary[exposed]] = sev[exposed]
    two = np.flatnonzero(secondary >= 0)
    strength[two, secondary[two]] = sev[two] * rng.uniform(0.3, 0.65, two.size)

    cols: dict[str, np.ndarray] = {}
    feats: dict[int, tuple[str, str]] = {}
    for j in range(k):
        on = strength[:, j] > 0
        level = 2.0 * strength[:, j] + rng.normal(0.0, 0.25, n)
        flag = (on | (rng.random(n) < flag_rate)).astype(np.int64)
        cols[f"m{j}_level"], cols[f"m{j}_flag"] = level, flag
        feats[j] = (f"m{j}_level", f"m{j}_flag")
    for c in range(spec["n_noise"]):
        if c < spec["n_correlated"] and k:
            src = cols[f"m{c % k}_level"]
            cols[f"noise_{c:02d}"] = 0.7 * (src - src.mean()) / src.std() + 0.71 * rng.normal(0, 1, n)
        elif c % 4 == 3:
            cols[f"noise_{c:02d}"] = rng.poisson(2.0, n).astype(np.float64)
        else:
            cols[f"noise_{c:02d}"] = rng.normal(0.0, 1.0, n)
    X = pd.DataFrame(cols)
    X["region"] = pd.Categorical(rng.choice(["N", "S", "E", "W", "C"], n))
    onehot = rng.choice(3, n)
    for i, name in enumerate(("segment_A", "segment_B", "segment_C")):
        X[name] = (onehot == i).astype(np.int64)

    base = np.log(spec["background"] / (1 - spec["background"]))
    logit = base + effect * strength.sum(axis=1)
    churned = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return Book(X=X, churned=churned, primary=primary, secondary=secondary, mechanism_features=feats)


SHARED = (("x1", "x2"), ("x2", "x3"), ("x3", "x4"))  # three mechanisms, each sharing a feature with the next


def make_shared_book(*, n: int = 12_000, seed: int = 0, mechanisms: tuple = SHARED,
                     prevalence: tuple = (0.06, 0.05, 0.04), effect: float = 4.5, n_noise: int = 10,
                     background: float = 0.01) -> Book:
    """A book whose mechanisms share features (default: A = {x1, x2}, B = {x2, x3}, C = {x3, x4}).

    Each customer carries at most one mechanism (by ``prevalence``); an exposed customer's
    log-odds rise by ``effect * severity`` (severity ~ U(0.8, 1.3)), and every feature of its
    mechanism shows it: ``2 * severity`` plus noise N(0, 0.3), noise alone for the others. So a
    tree model needs the features together, a shared feature (x2, x3) is raised by two
    mechanisms, and only the unshared one (x1 / x4) or the pair tells them apart.
    ``n_noise`` columns without effect; background churn ``background``; no overlap
    (``secondary`` is -1 everywhere).
    """
    rng = np.random.default_rng([seed, 7])
    k = len(mechanisms)
    p = np.r_[prevalence, 1.0 - sum(prevalence)]
    primary = rng.choice(k + 1, size=n, p=p)
    primary[primary == k] = BACKGROUND
    names = sorted({f for m in mechanisms for f in m})
    sev = rng.uniform(0.8, 1.3, n)
    cols = {f: rng.normal(0.0, 0.3, n) for f in names}
    for j, feats in enumerate(mechanisms):
        on = primary == j
        for f in feats:
            cols[f][on] += 2.0 * sev[on]
    for c in range(n_noise):
        cols[f"noise_{c:02d}"] = rng.normal(0.0, 1.0, n)
    X = pd.DataFrame(cols)
    base = np.log(background / (1 - background))
    logit = base + effect * np.where(primary >= 0, sev, 0.0)
    churned = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return Book(X=X, churned=churned, primary=primary, secondary=np.full(n, BACKGROUND),
                mechanism_features={j: tuple(m) for j, m in enumerate(mechanisms)})


def attribute(book: Book, *, seed: int = 0, n_trees: int = 150, num_leaves: int = 15,
              min_child_samples: int = 40) -> Attributions:
    """Train LightGBM on the book and return its exact path-dependent TreeSHAP attributions
    (a model that memorises its labels: many trees, many leaves, ``min_child_samples`` small)."""
    import lightgbm as lgb

    params = dict(objective="binary", learning_rate=0.08, num_leaves=num_leaves, min_child_samples=min_child_samples,
                  feature_fraction=0.9, bagging_fraction=0.8, bagging_freq=1, seed=seed, verbose=-1,
                  num_threads=2, deterministic=True, force_col_wise=True)
    booster = lgb.train(params, lgb.Dataset(book.X, label=book.churned), num_boost_round=n_trees)
    n = len(book.X)
    return booster_attributions(booster, book.X, np.array([f"{i:07d}" for i in range(n)], dtype=object))


def booster_attributions(booster, X, customer_ids) -> Attributions:
    """LightGBM's own exact path-dependent TreeSHAP (``pred_contrib``) as :class:`Attributions`."""
    contrib = booster.predict(X, pred_contrib=True)  # last column: expected value
    raw = contrib.sum(axis=1)
    return Attributions(
        customer_ids=customer_ids,
        features=tuple(X.columns),
        values=contrib[:, :-1].astype(np.float32),
        base_value=float(contrib[0, -1]),
        raw_score=raw,
        score=1.0 / (1.0 + np.exp(-raw)),
        output_space="log_odds",
        additivity_max_error=0.0,
        method="TreeSHAP (path-dependent) via LightGBM pred_contrib",
    )


def truth_of(book: Book, rows: np.ndarray) -> np.ndarray:
    """Planted primary mechanism of the given rows (-1: background churn, no mechanism)."""
    return book.primary[np.asarray(rows)]
