"""Benchmark: churnlens' own TreeSHAP against shap's TreeExplainer and the libraries' own contributions.

Four models on a synthetic book of 100 numeric features (trained on 20,000 rows), with the
targets of issue 34 (per CPU-second against shap):

- LightGBM 300 trees x 31 leaves      (target: >= 20x shap)
- LightGBM 1000 trees x 63 leaves     (target: >= 15x shap)
- XGBoost 300 trees x depth 6         (target: >= 20x shap)
- scikit-learn RandomForest, 300 fully grown trees (target: >= 30x shap)

Contenders, run interleaved for ``--repeats`` rounds on the same rows: churnlens' kernel
(``treeshap.shap_values``, the default Quadrature kernel), the previous classic kernel
(``kernel="classic"``), shap's TreeExplainer (tree_path_dependent), the library's own
contributions (LightGBM ``pred_contrib``, XGBoost ``pred_contribs``), and the public API
``churnlens.explain(model, DataFrame)`` with either kernel (model checks, alignment, the
additivity check against the model's own prediction and the float32 Explanation included;
the DataFrame is built before the clock starts). Each contender's median wall-clock seconds
and median CPU seconds (``time.process_time``: every thread of the process, numba's and the
libraries' OpenMP threads alike) are reported, with the ratios of medians to shap in both.
Then exact interaction values of all pairs (``treeshap.interaction_values``) against shap's
``shap_interaction_values`` on fewer rows (``--interaction-repeats`` rounds; 0 skips them).
churnlens' forest and plan are built and the cached kernels loaded before the first timed
run (reported separately). Peak memory: the resident set of the process (``ru_maxrss``), and
the bytes of churnlens' per-model plan. Every run is checked against shap (max |difference|).

Usage::

    .venv/bin/python benchmarks/bench_attribution.py [--repeats 5] [--scale 1.0] [--only lgb300x31,xgb300xd6,...]
        [--interaction-repeats 2]

``--scale`` multiplies the rows explained per model (defaults: 2,000 / 500 / 2,000 / 200; interaction
values 100 / 20 / 10 / 2: shap's interaction values of XGBoost run at ~2 rows/s, of the forest slower).
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
        "lgb300x31": (lgbm(300, 31), 2000, 20.0, 100),
        "lgb1000x63": (lgbm(1000, 63), 500, 15.0, 20),
        "xgb300xd6": (lambda: xgb.XGBClassifier(n_estimators=300, max_depth=6, learning_rate=0.05, n_jobs=2,
                                                random_state=0).fit(X, y).get_booster(), 2000, 20.0, 10),
        "rf300": (lambda: RandomForestClassifier(n_estimators=300, n_jobs=2, random_state=0).fit(X[:5000], y[:5000]),
                  200, 30.0, 2),
    }


def _contenders(est):
    import pandas as pd
    import shap

    import churnlens
    from churnlens.attribution import treeshap
    from churnlens.attribution._families import FAMILIES, family_of
    from churnlens.attribution.treeshap.api import KERNEL_ENV

    fam = FAMILIES[family_of(est)]
    t = time.perf_counter()
    fr = fam.forest(est)
    pl = fr.plan()
    treeshap.shap_values(fr, np.zeros((2, F)))  # compile / load the cached kernels
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    treeshap.shap_values(fr, np.zeros((2, F)), kernel="classic")  # the previous kernel: its own tables
    build_classic_s = time.perf_counter() - t
    explainer = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")
    names = list(churnlens.load_model(est).feature_names)

    def ours(M):
        return treeshap.shap_values(fr, M)[0]

    def classic(M):
        return treeshap.shap_values(fr, M, kernel="classic")[0]

    def shap_(M):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            phi = np.asarray(explainer.shap_values(M, check_additivity=False), np.float64)
        return phi[:, :, 1] if phi.ndim == 3 else phi

    def api(kernel):
        def run(M):
            if id(M) not in frames:  # the caller's DataFrame exists before the call: built once, not timed
                frames[id(M)] = (M, pd.DataFrame(M, columns=names))  # (M kept alive: its id stays unique)
            df = frames[id(M)][1]
            old = os.environ.get(KERNEL_ENV)
            os.environ[KERNEL_ENV] = kernel
            try:
                e = churnlens.explain(est, df)
            finally:
                os.environ.pop(KERNEL_ENV) if old is None else os.environ.__setitem__(KERNEL_ENV, old)
            return np.asarray(e.values, np.float64)  # float32 in the Explanation
        return run

    frames: dict = {}
    out = {"churnlens": ours, "churnlens classic": classic, "shap": shap_}
    if hasattr(fam, "library_contribs"):
        out[f"{fam.name} own"] = lambda M: fam.library_contribs(est, M)[0]
    out["explain()"] = api("quadrature")
    out["explain() classic"] = api("classic")
    plan_mb = sum(getattr(pl, k).nbytes for k in pl.__dataclass_fields__ if isinstance(getattr(pl, k), np.ndarray))

    def interactions(M):
        return treeshap.interaction_values(fr, M, features=range(F))

    def shap_interactions(M):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            phi = np.asarray(explainer.shap_interaction_values(M), np.float64)
        return phi[..., 1] if phi.ndim == 4 else phi

    inter = {"churnlens": interactions, "shap": shap_interactions}
    return out, inter, build_s, build_classic_s, plan_mb / 2**20


def _timed(funcs, M, repeats):
    """Interleaved runs; per contender the wall-clock and CPU seconds (all threads of this
    process: numba's, LightGBM's and XGBoost's OpenMP threads) of every run."""
    wall = {k: [] for k in funcs}
    cpu = {k: [] for k in funcs}
    results = {}
    for _ in range(repeats):
        for k, f in funcs.items():
            t, c = time.perf_counter(), time.process_time()
            results[k] = f(M)
            wall[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)
    return wall, cpu, results


def _report(wall, cpu, rows, targets, ref="shap"):
    mw = {k: statistics.median(v) for k, v in wall.items()}
    mc = {k: statistics.median(v) for k, v in cpu.items()}
    for k in mw:
        print(f"  {k:18} wall {mw[k]:8.3f}s  cpu {mc[k]:8.3f}s  ({rows / mw[k]:10,.0f} rows/s)  "
              f"runs {', '.join(f'{x:.2f}' for x in wall[k])}")
    for k in mw:
        if k == ref:
            continue
        rw, rc = mw[ref] / mw[k], mc[ref] / mc[k]
        tgt = targets.get(k)
        verdict = f" (target >= {tgt:g}x per CPU-second: {'met' if rc >= tgt else 'NOT met'})" if tgt else ""
        print(f"  {k} vs {ref}: {rw:.1f}x wall-clock, {rc:.1f}x per CPU-second{verdict}")
    for k in mw:
        if k.endswith(" own"):
            print(f"  churnlens vs {k}: {mw[k] / mw['churnlens']:.1f}x wall-clock, "
                  f"{mc[k] / mc['churnlens']:.1f}x per CPU-second")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--only", default="")
    p.add_argument("--interaction-repeats", type=int, default=2, help="0: skip the interaction values")
    args = p.parse_args(argv)
    import numba

    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, numba threads {numba.get_num_threads()}, "
          f"Python {platform.python_version()}; load average at start {os.getloadavg()[0]:.2f}")
    for name, (make, rows, target, inter_rows) in _models().items():
        if args.only and name not in args.only.split(","):
            continue
        t = time.perf_counter()
        est = make()
        train_s = time.perf_counter() - t
        M, _ = _data(max(int(rows * args.scale), 10), seed=1)
        funcs, inter, build_s, build_classic_s, plan_mb = _contenders(est)
        t = time.perf_counter()
        funcs["explain()"](M[:5])  # the first call through the API checks the model (then cached per object)
        first_s = time.perf_counter() - t
        wall, cpu, results = _timed(funcs, M, args.repeats)
        print(f"\n{name}: {len(M):,} rows, trained in {train_s:.0f}s; churnlens forest + plan + kernels "
              f"{build_s:.1f}s (classic kernel's tables {build_classic_s:.1f}s), plan {plan_mb:.0f} MB; "
              f"RSS peak so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
              f"load {os.getloadavg()[0]:.2f}; first explain() call (5 rows, model checks) {first_s:.2f}s")
        _report(wall, cpu, len(M), {"churnlens": target, "explain()": target})
        for k in ("churnlens", "churnlens classic", "explain()"):
            print(f"  max |{k} - shap| = {np.max(np.abs(results[k] - results['shap'])):.1e}")
        print(f"  max |churnlens - churnlens classic| = "
              f"{np.max(np.abs(results['churnlens'] - results['churnlens classic'])):.1e}")
        if args.interaction_repeats > 0:
            Mi = M[:max(int(inter_rows * args.scale), 2)]
            inter["churnlens"](Mi[:2])  # compile / load the cached kernel
            wall, cpu, results = _timed(inter, Mi, args.interaction_repeats)
            print(f"  interaction values, {len(Mi):,} rows x {F} x {F} (all pairs):")
            _report(wall, cpu, len(Mi), {"churnlens": 10.0})
            print(f"  max |churnlens - shap| = {np.max(np.abs(results['churnlens'] - results['shap'])):.1e}")


if __name__ == "__main__":
    main()
