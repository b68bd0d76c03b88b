"""Time "what would keep this customer" (churnlens.actions.keep) for a whole retention list.

The demo book and model; the listed customers are the riskiest ``--listed`` of a book of
``--customers``; attributions from LightGBM's own ``pred_contrib`` (exact TreeSHAP, the same
numbers as the run's); the reference is a population sample of 20,000. Budget: 20,000 listed
customers in <= 30 s on 2 cores.

    .venv/bin/python benchmarks/bench_keep.py [--customers 100000] [--listed 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--listed", type=int, default=20_000)
    args = ap.parse_args()

    from churnlens import attribution
    from churnlens.actions import keep, playbook
    from churnlens.config import load_config
    from churnlens.demo import book as demo

    config = load_config(demo.DEMO_CONFIG_PATH)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.txt"
        demo.train_demo_model(demo.generate_book(20_000, seed=1), seed=0).save_model(str(path))
        model = attribution.load_model(path)
    customers = demo.generate_book(args.customers, seed=0).customers
    X = attribution.align(model, customers).X
    sources = attribution.feature_sources(model.feature_names, config)
    score = model.predict_proba(X)
    listed = np.sort(np.argsort(-score, kind="stable")[: args.listed])
    booster = model._backend.estimator  # the benchmark's shortcut to pred_contrib (the run uses explain)
    from churnlens.attribution.model import encode
    contrib = booster.predict(encode(model, X.iloc[listed]), pred_contrib=True)[:, :-1]
    reference = X.iloc[np.random.default_rng(0).choice(len(X), 20_000, replace=False)]
    S = attribution.source_frame(X, sources)
    t0 = time.perf_counter()
    out = keep.what_would_keep(
        model, X.iloc[listed], reference=reference, threshold=float(score[listed].min()),
        permitted=keep.permitted_features(config, sources), sources=sources,
        rules=playbook.config_rules(config, None), attributions=contrib, attribution_features=model.feature_names,
        similar_on=keep.similarity_features(config, S))
    took = time.perf_counter() - t0
    print(f"{len(listed):,} listed customers: {took:.1f} s, {out.n_scored:,} candidate rows re-scored "
          f"({out.n_scored / took:,.0f} rows/s); kept {out.kept.mean():.1%}, two features {(out.n_features == 2).mean():.1%}, "
          f"an option {out.found.mean():.1%}")


if __name__ == "__main__":
    main()
