"""Champion/challenger with evidence: intervals, DeLong verdict codes, configurable ranking
metric, models with different encodings of the same table, HTML and PDF page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from pypdf import PdfReader

from churnlens.cli import main
from churnlens.errors import ConfigError
from churnlens.evaluation.compare import compare_with_evidence
from churnlens.evaluation.inference import delong_test


def _data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    z = rng.normal(size=n) + 1.5 * y
    strong = 1 / (1 + np.exp(-(z - 2)))
    twin = 1 / (1 + np.exp(-(z + rng.normal(0, 0.05, n) - 2)))  # practically the same model
    weak = 1 / (1 + np.exp(-(rng.normal(size=n) + 0.3 * y - 2)))
    return y, strong, twin, weak, rng.lognormal(8, 1, n)


def test_champion_significant_and_not_significant():
    y, strong, twin, weak, value = _data()
    c = compare_with_evidence(["weak", "strong"], ["w", "s"], y, [weak, strong], n_boot=100, rank_by="auc")
    assert [r.model for r in c.rows] == ["strong", "weak"] and c.code == "champion_significant"
    t = c.rows[1].vs_champion
    assert t == delong_test(y, strong, weak)
    assert c.rows[1].significant is True and c.rows[0].significant is None
    for e in (c.rows[0].auc, c.rows[0].ks, c.rows[0].brier, c.rows[0].lift_at_k):
        assert e.low <= e.value <= e.high
    c2 = compare_with_evidence(["strong", "twin"], ["s", "t"], y, [strong, twin], n_boot=50, rank_by="auc")
    assert c2.code == "champion_not_significant" and c2.rows[1].significant is False
    one = compare_with_evidence(["strong"], ["s"], y, [strong], n_boot=0)
    assert one.code == "single_model" and np.isnan(one.rows[0].auc.low)


def test_ranking_metrics_and_expected_net_value():
    y, strong, _, weak, value = _data()
    c = compare_with_evidence(["weak", "strong"], ["w", "s"], y, [weak, strong], value=value, n_boot=30,
                              rank_by="expected_net_value", k=0.2, uplift=0.3, cost=10.0)
    top = np.argsort(-(strong * value), kind="stable")[:600]
    assert c.rows[0].model == "strong"
    assert c.rows[0].expected_net_value.value == pytest.approx((y[top] * 0.3 * value[top] - 10.0).sum())
    lift = compare_with_evidence(["s"], ["s"], y, [strong], n_boot=0, k=0.1).rows[0].lift_at_k.value
    top = np.argsort(-strong, kind="stable")[:300]
    assert lift == pytest.approx(y[top].mean() / y.mean())
    with pytest.raises(ConfigError, match="value_column"):
        compare_with_evidence(["s"], ["s"], y, [strong], rank_by="expected_net_value")
    with pytest.raises(ConfigError, match="evaluation.rank_by"):
        compare_with_evidence(["s"], ["s"], y, [strong], rank_by="gini")


def test_models_with_different_encodings_cli_html_and_pdf(tmp_path, capsys):
    import lightgbm as lgb

    rng = np.random.default_rng(1)
    n = 1200
    region = rng.choice(["North", "South", "East"], n)
    tenure = rng.gamma(2, 3, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.5 + (region == "East") * 1.5 - 0.1 * tenure)))).astype(int)
    ids = [f"{i:05d}" for i in range(n)]
    raw = pd.DataFrame({"customer_id": ids, "region": pd.Categorical(region), "tenure": tenure, "churned": y})
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 0, "num_leaves": 7}
    a = lgb.train(params, lgb.Dataset(raw[["region", "tenure"]], y), num_boost_round=30)
    onehot = pd.get_dummies(raw[["region"]], dtype=float).assign(tenure=tenure)
    b = lgb.train(params, lgb.Dataset(onehot, y), num_boost_round=5)
    a.save_model(tmp_path / "raw.txt")
    b.save_model(tmp_path / "onehot.txt")
    raw.to_csv(tmp_path / "book.csv", index=False)
    enc = onehot.assign(customer_id=ids).sample(frac=1.0, random_state=0)  # another row order: matched by id
    enc.to_csv(tmp_path / "encoded.csv", index=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"label_column": "churned", "evaluation": {"rank_by": "auc", "bootstrap": 50}}))
    out = tmp_path / "eval"
    args = ["evaluate", "--model", str(tmp_path / "raw.txt"), "--model", str(tmp_path / "onehot.txt"), "--data",
            str(tmp_path / "book.csv"), "--data-for", f"onehot.txt={tmp_path / 'encoded.csv'}", "--config", str(cfg),
            "--out", str(out), "--quiet"]
    assert main(args) == 0
    verdict = capsys.readouterr().out
    assert verdict.startswith("Champion: ")
    table = pd.read_csv(out / "comparison.csv")
    assert list(table["rank_by"]) == ["auc", "auc"] and table.loc[0, "champion"] == 1
    assert set(table["model"]) == {"raw.txt", "onehot.txt"}
    # the one-hot model scored on its own file equals scoring it on the encoded rows in --data's order
    from sklearn.metrics import roc_auc_score

    auc_b = roc_auc_score(y, b.predict(onehot))
    assert table.set_index("model").loc["onehot.txt", "auc"] == pytest.approx(auc_b, abs=1e-6)
    html = (out / "evaluation.html").read_text(encoding="utf-8")
    for word in ("Brier", "TP", "Calibration", "DeLong"):
        assert word in html
    pdf = " ".join(p.extract_text() for p in PdfReader(str(out / "evaluation.pdf")).pages)
    assert "DeLong" in pdf and "TP" in pdf and "Brier" in pdf
    # without --data-for the one-hot model cannot read the raw table: exit 2
    assert main(args[:7] + args[9:]) == 2
    enc.iloc[:-5].to_csv(tmp_path / "short.csv", index=False)
    bad = list(args)
    bad[bad.index("--data-for") + 1] = f"onehot.txt={tmp_path / 'short.csv'}"
    assert main(bad) == 2
    assert "5 are missing" in capsys.readouterr().err
