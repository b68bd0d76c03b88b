"""Benchmark: churnlens ``explain`` vs shap's TreeExplainer on a 300-tree LightGBM model.

Synthetic book: ``--rows`` customers (default 100,000) x 100 features (95 numeric, 5
categorical), LightGBM 300 trees x 31 leaves. The model and data are built once into
``--dir`` (reused on later runs), then each contender runs in its own subprocess so that
its peak memory is its own:

- rows/s of the attribution step (churnlens: align + explain in 20,000-row chunks with the
  additivity check; shap: ``TreeExplainer(booster).shap_values(frame)``);
- peak traced Python/numpy memory (tracemalloc; LightGBM's C++ buffers are not traced);
- peak resident set size of the process (``resource.getrusage``: includes the
  interpreter, libraries, the loaded data and LightGBM's own buffers).

Usage::

    .venv/bin/python benchmarks/bench_attribution.py [--rows 100000] [--dir /tmp/churnlens-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

N_FEATURES = 100
N_CAT = 5
N_TREES = 300


def build(rows: int, d: Path) -> None:
    import lightgbm as lgb
    import pandas as pd

    d.mkdir(parents=True, exist_ok=True)
    model, data = d / f"model_{rows}.txt", d / f"book_{rows}.parquet"
    if model.exists() and data.exists():
        return
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(rows, N_FEATURES - N_CAT)), columns=[f"num_{i:02d}" for i in range(N_FEATURES - N_CAT)])
    for i in range(N_CAT):
        X[f"cat_{i}"] = pd.Categorical(rng.choice([f"c{k}" for k in range(6)], rows))
    logit = X.iloc[:, :10].to_numpy() @ rng.normal(size=10) + 0.8 * (X["cat_0"] == "c1") - 1.0
    logit += 0.5 * np.sin(X["num_10"].to_numpy() * 2) * X["num_11"].to_numpy()
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    train_rows = min(rows, 50_000)
    booster = lgb.train({"objective": "binary", "num_leaves": 31, "learning_rate": 0.05, "verbose": -1, "seed": 0,
                         "num_threads": 2}, lgb.Dataset(X.iloc[:train_rows], y[:train_rows]), N_TREES)
    booster.save_model(model)
    X.assign(customer_id=np.arange(rows)).to_parquet(data)


def worker(kind: str, rows: int, d: Path) -> dict:
    import pandas as pd

    data = pd.read_parquet(d / f"book_{rows}.parquet")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    t0 = time.perf_counter()
    if kind == "churnlens":
        from churnlens.attribution import align, explain, load_model

        model = load_model(d / f"model_{rows}.txt")
        aligned = align(model, data, source="book.parquet")
        t1 = time.perf_counter()
        a = explain(model, aligned.X, customer_ids=data["customer_id"])
        values, extra = a.values, {"additivity_max_error": a.additivity_max_error, "align_s": t1 - t0}
    else:
        import lightgbm as lgb
        import shap

        booster = lgb.Booster(model_file=str(d / f"model_{rows}.txt"))
        X = data.drop(columns="customer_id")
        t1 = time.perf_counter()
        values = shap.TreeExplainer(booster).shap_values(X)
        extra = {"shap": shap.__version__}
    t2 = time.perf_counter()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    np.save(d / f"values_{kind}_{rows}.npy", np.asarray(values, dtype=np.float32))
    return {"kind": kind, "rows": rows, "seconds_total": t2 - t0, "seconds_explain": t2 - t1,
            "rows_per_s": rows / (t2 - t0), "tracemalloc_peak_mb": peak / 2**20,
            "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_after_load_mb": rss_before, **extra}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--dir", type=Path, default=Path("/tmp/churnlens-bench"))
    p.add_argument("--worker", choices=["churnlens", "shap"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.rows, args.dir)))
        return
    t = time.perf_counter()
    build(args.rows, args.dir)
    print(f"data + model ready in {time.perf_counter() - t:.1f}s ({args.rows:,} rows x {N_FEATURES} features, "
          f"{N_TREES} trees x 31 leaves)")
    res = {}
    for kind in ("churnlens", "shap"):
        out = subprocess.run([sys.executable, __file__, "--worker", kind, "--rows", str(args.rows), "--dir", str(args.dir)],
                             check=True, capture_output=True, text=True)
        res[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    diff = float(np.max(np.abs(np.load(args.dir / f"values_churnlens_{args.rows}.npy")
                              - np.load(args.dir / f"values_shap_{args.rows}.npy"))))
    c, s = res["churnlens"], res["shap"]
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'':12}{'rows/s':>10}{'seconds':>10}{'tracemalloc peak MB':>22}{'RSS peak MB':>14}{'RSS after data MB':>20}")
    for r in (c, s):
        print(f"{r['kind']:12}{r['rows_per_s']:>10,.0f}{r['seconds_total']:>10.1f}{r['tracemalloc_peak_mb']:>22.0f}"
              f"{r['rss_peak_mb']:>14.0f}{r['rss_after_load_mb']:>20.0f}")
    print(f"ratio churnlens/shap rows/s: {c['rows_per_s'] / s['rows_per_s']:.2f}")
    print(f"churnlens: load+align {c['align_s']:.1f}s; additivity max error {c['additivity_max_error']:.2e}; "
          f"max |churnlens - shap| = {diff:.2e}")


if __name__ == "__main__":
    main()
