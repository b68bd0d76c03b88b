"""Extra cost of the monthly loop at N customers against scoring the same book.

    .venv/bin/python benchmarks/bench_loop.py --customers 1000000

Times, on one synthetic book: the reference (LightGBM demo-shaped model scoring N customers)
and the loop's own work (reading published scores + outcomes, back-test with its bootstrap,
in-sample figures, measured campaign, budget allocation over the listed 10%, writing
scores.parquet). Prints both and the ratio loop / reference.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--bootstrap", type=int, default=200)
    args = ap.parse_args()
    import lightgbm as lgb

    from churnlens.actions.budget import allocate
    from churnlens.campaign.uplift import measure_campaign
    from churnlens.config import BudgetConfig, PlaybookRule
    from churnlens.evaluation.backtest import backtest, in_sample, read_published, write_scores
    from churnlens.evaluation.quality import evaluate
    from churnlens.evaluation.results import Published

    n = args.customers
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 20))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X[:, 0] + X[:, 1] - 2)))).astype(int)
    model = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 15, "num_threads": 2, "seed": 0},
                      lgb.Dataset(X[:50_000], y[:50_000]), num_boost_round=200)
    t0 = time.perf_counter()
    score = model.predict(X)
    ref = time.perf_counter() - t0

    steps: list[tuple[str, float]] = []

    def timed(name, fn):
        t = time.perf_counter()
        out = fn()
        steps.append((name, time.perf_counter() - t))
        return out

    ids = np.char.add("C", np.arange(n).astype(str))
    listed = score >= np.quantile(score, 0.9)
    control = listed & (rng.random(n) < 0.1)
    seg = np.where(listed, np.array(["S1", "S2", "S3"])[rng.integers(0, 3, n)], "")
    act = np.where(listed, np.array(["Call", "Meet"])[rng.integers(0, 2, n)], "")
    pub = Published(customer_ids=ids, score=score, listed=listed, control=control, segment=seg, action=act,
                    channel=np.where(listed, "phone", ""), value=rng.lognormal(8, 1, n), source="scores",
                    sample_rows=np.ones(n, bool))
    outcomes = pd.DataFrame({"customer_id": ids, "churned": y})
    with tempfile.TemporaryDirectory() as tmp:
        timed("write scores.parquet", lambda: write_scores(Path(tmp) / "scores.parquet", pub))
        pub = timed("read scores.parquet", lambda: read_published(Path(tmp)))
    timed("back-test", lambda: backtest(pub, outcomes, n_boot=args.bootstrap, seed=0))
    quality = evaluate(y, score)  # the model-quality stage computes it anyway: the loop reuses it
    timed("in-sample figures", lambda: in_sample(y, score, n_boot=args.bootstrap, seed=0, quality=quality))
    m = listed
    timed("measured campaign", lambda: measure_campaign(y[m], control[m], seg[m], act[m], pub.value[m],
                                                        assumed={"Call": 0.1, "Meet": 0.3}))
    rules = tuple(PlaybookRule.model_validate({"when": {"driver": f"f{i}"}, "action": {"en": a, "zh": a},
                                               "channel": c, "cost": 5, "uplift": u})
                  for i, (a, c, u) in enumerate((("Call", "phone", 0.1), ("Meet", "relationship_manager", 0.3))))
    k = int(m.sum())
    budget = BudgetConfig.model_validate({"total": 1e6, "channels": {"phone": {"capacity": k // 4},
                                                                     "relationship_manager": {"capacity": k // 20}}})
    cand = rng.random((k, 2)) < 0.7
    timed("budget allocation", lambda: allocate(score[m], pub.value[m], cand, np.tile([0.1, 0.3], (k, 1)),
                                                rules=rules, budget=budget, eligible=np.ones(k, bool),
                                                control=control[m], default_rule=np.zeros(k, int)))
    loop = sum(t for _, t in steps)
    for name, t in steps:
        print(f"  {name:<22} {t:7.2f} s")
    print(f"customers {n:,}: scoring {ref:.2f} s, loop {loop:.2f} s, ratio loop/scoring {loop / ref:.2f}")


if __name__ == "__main__":
    main()
