"""Small real inputs shared by the tests of issue 17 (registry, SQL, encodings, Excel, CLI)."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

REGIONS = ("华东", "华南", "华北")  # Chinese category values: GBK-encodable


def book(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Customers with zero-padded ids, a Chinese text column, money and a planted churn rule."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer_id": [f"{i:07d}" for i in range(n)],
        "region": rng.choice(REGIONS, n),
        "logins": rng.poisson(5, n).astype(float),
        "complaints": rng.poisson(0.4, n).astype(float),
        "aum": np.round(rng.lognormal(10, 1, n), 2),
    })
    frame["churned"] = ((frame.logins < 3) | (frame.complaints > 1)).astype(int)
    return frame


def lgb_model(frame: pd.DataFrame) -> lgb.Booster:
    params = {"objective": "binary", "verbose": -1, "num_leaves": 4, "deterministic": True, "num_threads": 1, "seed": 0}
    return lgb.train(params, lgb.Dataset(frame[["logins", "complaints", "aum"]], frame.churned), num_boost_round=8)


def write_inputs(d: Path, n: int = 300) -> Path:
    """model.txt, customers.csv (UTF-8) and config.yaml in ``d``."""
    frame = book(n)
    lgb_model(frame).save_model(d / "model.txt")
    frame.to_csv(d / "customers.csv", index=False)
    (d / "config.yaml").write_text("id_column: customer_id\nlabel_column: churned\nvalue_column: aum\n"
                                   "segmentation: {stability_runs: 0}\n", encoding="utf-8")
    return d
