"""Benchmark: churnlens' own TreeSHAP against shap's TreeExplainer and the libraries' own contributions.

Four models on a synthetic book of 100 numeric features (trained on 20,000 rows):

- LightGBM 300 trees x 31 leaves      (target: >= 8x shap)
- LightGBM 1000 trees x 63 leaves     (target: >= 4x shap)
- XGBoost 300 trees x depth 6         (target: >= 5x shap)
- scikit-learn RandomForest, 300 fully grown trees (target: >= 10x shap)

For each model the contenders run interleaved (ours, shap, library, ours, shap, ...) for
``--repeats`` rounds on the same rows, and the median seconds of each is reported, with the
ratio of medians. churnlens' forest is built (and its numba kernels compiled) before the
first timed run; the build time is reported separately. Peak memory: the resident set of
the process (``ru_maxrss``) after each model's runs, and the bytes of churnlens' per-model
plan (tables and paths). Every run is checked against shap (max |difference|).

Usage::

    .venv/bin/python benchmarks/bench_attribution.py [--repeats 5] [--scale 1.0] [--only lgb300,xgb,...]

``--scale`` multiplies the rows explained per model (defaults: 2,000 / 500 / 2,000 / 200).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time
import warnings

import numpy as np

F = 100
TRAIN = 20_000


def _data(rows: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, F))
    logit = X[:, :10] @ rng.normal(size=10) + 0.5 * np.sin(2 * X[:, 10]) * X[:, 11] - 1.0
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def _models():
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.ensemble import RandomForestClassifier

    X, y = _data(TRAIN)

    def lgbm(trees, leaves):
        return lambda: lgb.train({"objective": "binary", "num_leaves": leaves, "learning_rate": 0.05, "verbose": -1,
                                  "seed": 0, "num_threads": 2, "min_data_in_leaf": 5}, lgb.Dataset(X, y), trees)

    return {
        "lgb300x31": (lgbm(300, 31), 2000, 8.0),
        "lgb1000x63": (lgbm(1000, 63), 500, 4.0),
        "xgb300xd6": (lambda: xgb.XGBClassifier(n_estimators=300, max_depth=6, learning_rate=0.05, n_jobs=2,
                                                random_state=0).fit(X, y).get_booster(), 2000, 5.0),
        "rf300": (lambda: RandomForestClassifier(n_estimators=300, n_jobs=2, random_state=0).fit(X[:5000], y[:5000]),
                  200, 10.0),
    }


def _contenders(est):
    import shap

    from churnlens.attribution import treeshap
    from churnlens.attribution._families import FAMILIES, family_of

    fam = FAMILIES[family_of(est)]
    t = time.perf_counter()
    fr = fam.forest(est)
    pl = fr.plan()
    treeshap.shap_values(fr, np.zeros((2, F)))  # compile / load the cached kernels
    build_s = time.perf_counter() - t
    explainer = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")

    def ours(M):
        return treeshap.shap_values(fr, M)[0]

    def shap_(M):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            phi = np.asarray(explainer.shap_values(M, check_additivity=False), np.float64)
        return phi[:, :, 1] if phi.ndim == 3 else phi

    out = {"churnlens": ours, "shap": shap_}
    if hasattr(fam, "library_contribs"):
        out[f"{fam.name} own"] = lambda M: fam.library_contribs(est, M)[0]
    plan_mb = sum(getattr(pl, k).nbytes for k in pl.__dataclass_fields__ if isinstance(getattr(pl, k), np.ndarray))
    return out, build_s, plan_mb / 2**20


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--only", default="")
    args = p.parse_args(argv)
    import numba

    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, numba threads {numba.get_num_threads()}, "
          f"Python {platform.python_version()}; load average at start {os.getloadavg()[0]:.2f}")
    for name, (make, rows, target) in _models().items():
        if args.only and name not in args.only.split(","):
            continue
        t = time.perf_counter()
        est = make()
        train_s = time.perf_counter() - t
        M, _ = _data(max(int(rows * args.scale), 10), seed=1)
        funcs, build_s, plan_mb = _contenders(est)
        times = {k: [] for k in funcs}
        diff = 0.0
        for _ in range(args.repeats):
            results = {}
            for k, f in funcs.items():
                t = time.perf_counter()
                results[k] = f(M)
                times[k].append(time.perf_counter() - t)
            diff = max(diff, float(np.max(np.abs(results["churnlens"] - results["shap"]))))
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"\n{name}: {len(M):,} rows, trained in {train_s:.0f}s; churnlens forest + plan {build_s:.1f}s, "
              f"plan {plan_mb:.0f} MB; RSS peak so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
              f"load {os.getloadavg()[0]:.2f}")
        for k, v in med.items():
            print(f"  {k:16} median {v:8.3f}s  ({len(M) / v:10,.0f} rows/s)  runs {', '.join(f'{x:.2f}' for x in times[k])}")
        ratio = med["shap"] / med["churnlens"]
        print(f"  churnlens vs shap: {ratio:.1f}x (target >= {target:g}x: {'met' if ratio >= target else 'NOT met'}); "
              f"max |churnlens - shap| = {diff:.1e}")
        for k in med:
            if k.endswith(" own"):
                print(f"  churnlens vs {k}: {med[k] / med['churnlens']:.1f}x")


if __name__ == "__main__":
    main()
