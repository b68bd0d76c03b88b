"""Timings of model quality, PSI, driver drift, control group and retention list at bank scale.

Run: .venv/bin/python benchmarks/bench_quality_monitoring.py [n_customers]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from churnlens.config import PlaybookRule
from churnlens.evaluation.quality import evaluate
from churnlens.monitoring.stability import driver_drift, psi_from_profile, reference_profile
from churnlens.actions.playbook import control_group, match_customer_rules, retention_list, select_targets


def timed(name, fn):
    t = time.perf_counter()
    out = fn()
    print(f"{name:<40s} {time.perf_counter() - t:7.2f} s")
    return out


def main(n: int = 500_000, f: int = 40) -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.1).astype(int)
    s = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y - 2)))
    X = pd.DataFrame(rng.normal(size=(n, f)), columns=[f"x{j}" for j in range(f)])
    X["region"] = pd.Series(rng.choice(["n", "s", "e", "w"], n), dtype="str")
    V = rng.normal(size=(n, f + 1))
    feats = list(X.columns)
    print(f"n = {n:,}, features = {f + 1}")
    timed("evaluate", lambda: evaluate(y, s))
    prof = timed("reference_profile", lambda: reference_profile(X, s))
    timed("psi_from_profile", lambda: psi_from_profile(prof, X, s))
    timed("driver_drift (200 boots)", lambda: driver_drift(V, V[::-1], feats, n_boot=200))
    ids = np.arange(n)
    timed("control_group", lambda: control_group(ids, share=0.1, seed=0))
    rules = tuple(PlaybookRule.model_validate({"when": {"driver": f"x{j}"}, "action": {"en": "a", "zh": "b"}}) for j in range(10))
    cr = timed("match_customer_rules (10 rules)", lambda: match_customer_rules(rules, V, X, feats))
    t = timed("select_targets (all churners)", lambda: select_targets(ids, s > 0.3, control_share=0.1, seed=0, do_not_contact=set(range(1000))))
    reasons = np.full((n, 3), "reason", dtype=object)
    timed("retention_list", lambda: retention_list(ids, t, segment=np.full(n, "S1", dtype=object), score=s,
                                                   value=np.ones(n), reasons=reasons, rule_index=cr, rules=rules))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500_000)
