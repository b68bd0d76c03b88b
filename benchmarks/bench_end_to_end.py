"""End-to-end benchmark of `churnlens report` at 100k, 300k and 1M customers x 100 features.

A 300-tree LightGBM model (31 leaves) on a synthetic book; each size runs `churnlens report`
(report + dossier HTML and PDF, retention list, artifacts) in a child process, which reports
its own wall time and peak memory: the proportional set size (PSS) of the run and of the report
writers it forks, sampled every 0.1 s (a forked writer's RSS counts the pages it shares with the
run, so adding RSS figures would count them twice; the run's own peak RSS is printed too). Stage times come from the run's `--verbose` log (timings are
never written into the report folder, so reruns stay byte-identical). The reference is
the naive approach measured in the same run: exact attributions of *every* customer with
shap's TreeExplainer (rate measured on a 20k-row slice, then scaled to the book size;
scoring and reporting are not even included in it).

Usage::

    python benchmarks/bench_end_to_end.py                 # 100k, 300k, 1M
    python benchmarks/bench_end_to_end.py --sizes 100000  # one size
    python benchmarks/bench_end_to_end.py --sizes 1000000 --attribute all

Targets at 1M (quiet 2-core machine): targeted run <= 45 s, ``--attribute all`` <= 5 minutes,
both <= 4 GB peak memory. The previous release's path (LightGBM's own ``pred_contrib``, which
churnlens called before it had its own TreeSHAP) is measured in the same run on 20,000 rows
and scaled to the attributed rows, next to churnlens' own kernel on the same rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
N_FEATURES = 100


def make_book(n: int, seed: int = 0):
    """Synthetic book: 100 numeric features, churn from a few of them: ~6% churn, ~2% flagged at score >= 0.5 (monthly attrition of a retail book is a few percent)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    logit = -5.0 + 1.4 * X[:, 0] - 1.1 * X[:, 1] + 0.9 * X[:, 2] * (X[:, 3] > 0) + 0.6 * X[:, 4] ** 2 - 0.4 * X[:, 5:15].sum(1) / 3
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    frame = pd.DataFrame(X, columns=[f"f{j:03d}" for j in range(N_FEATURES)])
    frame.insert(0, "customer_id", [f"C{i:08d}" for i in range(n)])
    frame["balance"] = np.round(np.exp(rng.normal(10, 1, n)), 2)
    frame["churned"] = y
    return frame


def train_model(path: Path) -> None:
    import lightgbm as lgb

    frame = make_book(60_000, seed=1)
    X = frame[[f"f{j:03d}" for j in range(N_FEATURES)]]
    booster = lgb.train({"objective": "binary", "num_leaves": 31, "learning_rate": 0.05, "verbose": -1,
                         "deterministic": True, "seed": 0, "num_threads": 2},
                        lgb.Dataset(X, frame["churned"]), num_boost_round=300)
    booster.save_model(str(path))


def reference_rows_per_second(model_path: Path, data_path: Path, rows: int = 20_000) -> float:
    import lightgbm as lgb
    import pandas as pd
    import shap

    X = pd.read_parquet(data_path).iloc[:rows][[f"f{j:03d}" for j in range(N_FEATURES)]]
    explainer = shap.TreeExplainer(lgb.Booster(model_file=str(model_path)))
    t0 = time.perf_counter()
    explainer.shap_values(X)
    return rows / (time.perf_counter() - t0)


def own_vs_previous(model_path: Path, data_path: Path, rows: int = 20_000) -> tuple[float, float]:
    """rows/s of churnlens' own TreeSHAP and of the previous path (LightGBM pred_contrib)."""
    import lightgbm as lgb
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    from churnlens.attribution import treeshap

    booster = lgb.Booster(model_file=str(model_path))
    M = pd.read_parquet(data_path).iloc[:rows][[f"f{j:03d}" for j in range(N_FEATURES)]].to_numpy(np.float64)
    fr = treeshap.from_lightgbm_dump(booster.dump_model())
    treeshap.shap_values(fr, M[:10])
    t0 = time.perf_counter()
    treeshap.shap_values(fr, M)
    own = rows / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    booster.predict(M, pred_contrib=True)
    return own, rows / (time.perf_counter() - t0)


def _tree_pss_kb(pid: int) -> int:
    """Proportional set size of ``pid`` and its descendants (Linux): shared pages counted once,
    split among the processes sharing them, so forked children are not counted twice."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (OSError, StopIteration):  # ended between two reads
            continue
    return total


class PssPeak:
    """Samples the process tree's PSS every ``every`` seconds in a thread; ``peak_mb`` after."""

    def __init__(self, every: float = 0.1) -> None:
        import threading

        self.peak_kb, self.every = 0, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _tree_pss_kb(os.getpid()))
            self._stop.wait(self.every)

    def __enter__(self) -> "PssPeak":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


def child(args) -> None:
    """Run one `churnlens report` in this process; print wall time and memory figures as JSON."""
    sys.path.insert(0, str(ROOT))
    from churnlens import cli

    t0 = time.perf_counter()
    with PssPeak() as pss:
        code = cli.main(["report", "--model", args.model, "--data", args.data, "--config", args.config,
                         "--out", args.out, "--generated-at", "2026-11-30T08:00:00+00:00", "--quiet", "--verbose",
                         "--attribute", args.attribute])
    wall = time.perf_counter() - t0
    own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # the largest report writer forked beside the run (churnlens.io.parallel); its RSS counts the
    # pages it shares copy-on-write with this process, so own + forked over-states the memory used
    forked_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"code": code, "wall": wall, "peak_mb": pss.peak_mb, "own_rss_mb": own_mb,
                      "forked_rss_mb": forked_mb}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "churnlens-bench-e2e")
    ap.add_argument("--attribute", choices=("targeted", "all"), default="targeted")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model"), ap.add_argument("--data"), ap.add_argument("--config"), ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    wd = args.workdir
    wd.mkdir(parents=True, exist_ok=True)
    model = wd / "model.txt"
    if not model.exists():
        print("training the 300-tree model ...", flush=True)
        train_model(model)
    config = wd / "config.yaml"
    config.write_text("id_column: customer_id\nlabel_column: churned\nvalue_column: balance\n"
                      "report: {title: Benchmark, institution: Bench Bank, period: '2026-11'}\n")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    results = []
    for n in args.sizes:
        data = wd / f"book-{n}.parquet"
        if not data.exists():
            make_book(n).to_parquet(data, index=False)
        out = wd / f"report-{n}"
        proc = subprocess.run([sys.executable, __file__, "--child", "--model", str(model), "--data", str(data),
                               "--config", str(config), "--out", str(out), "--attribute", args.attribute],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr)
            raise SystemExit(f"run at {n} failed")
        run = json.loads(proc.stdout.strip().splitlines()[-1])
        manifest = json.loads((out / "manifest.json").read_text())
        # the --verbose log's stage lines: "... churnlens.timings ...: <stage>: 1.234 s"
        import re

        stages = {m.group(1).strip(): float(m.group(2)) for m in re.finditer(r"([\w ,./-]+): (\d+\.\d+) s$", proc.stderr, re.M)}
        churners = manifest["churners"]["count"]
        results.append((n, run["wall"], run["peak_mb"], stages))
        print(f"\n{n:>9,} customers: {run['wall']:.1f} s end to end, peak memory {run['peak_mb']:,.0f} MB "
              f"(PSS of the run and its forked report writers, sampled every 0.1 s; RSS of the run "
              f"{run['own_rss_mb']:,.0f} MB, of the largest forked writer {run['forked_rss_mb']:,.0f} MB, "
              f"most of it shared with the run), "
              f"{churners:,} churners; attributed: {manifest['attribution']['attributed']}")
        for stage, sec in stages.items():
            print(f"    {stage:<20} {sec:8.2f} s")
    rate = reference_rows_per_second(model, wd / f"book-{args.sizes[0]}.parquet")
    print(f"\nreference: shap TreeExplainer on every customer, {rate:,.0f} rows/s (measured on 20,000 rows)")
    own, prev = own_vs_previous(model, wd / f"book-{args.sizes[0]}.parquet")
    print(f"churnlens' own TreeSHAP {own:,.0f} rows/s vs the previous release's path (LightGBM pred_contrib) "
          f"{prev:,.0f} rows/s on the same 20,000 rows: {own / prev:.1f}x")
    for n, wall, _, _ in results:
        ref = n / rate
        print(f"  {n:>9,}: reference ~{ref:,.0f} s for attributions alone vs churnlens {wall:.0f} s end to end "
              f"-> ratio {ref / wall:.1f}x")
    if len(results) >= 2:
        ns = np.log([r[0] for r in results])
        ts = np.log([r[1] for r in results])
        slope = np.polyfit(ns, ts, 1)[0]
        print(f"growth exponent (time ~ n^k): k = {slope:.2f}")
    big = [r for r in results if r[0] >= 1_000_000]
    limit = 300 if args.attribute == "all" else 45
    for n, wall, peak, _ in big:
        ok = wall <= limit and peak <= 4096
        print(f"target at {n:,} (--attribute {args.attribute}): <= {limit} s and <= 4,096 MB -> {wall:.0f} s, "
              f"{peak:,.0f} MB: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
