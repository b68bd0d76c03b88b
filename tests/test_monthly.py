"""Month over month through the CLI: --previous (PSI, driver drift, segment matching and
migration) and --campaign (treatment vs control), plus `churnlens evaluate`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from churnlens import cli
from churnlens.demo.book import generate_book

N = 3000
WHEN = "2026-12-31T08:00:00+00:00"


@pytest.fixture(scope="module")
def months(tmp_path_factory):
    root = tmp_path_factory.mktemp("monthly")
    oct_dir = root / "2026-11"
    assert cli.main(["demo", "--out", str(oct_dir), "--customers", str(N), "--seed", "0", "--format", "html",
                     "--generated-at", "2026-11-30T08:00:00+00:00", "--quiet"]) == 0
    # Next month's book: same customer ids, new behaviour (another seed).
    nxt = generate_book(N, seed=1).customers
    data = root / "customers-2026-12.csv"
    nxt.to_csv(data, index=False)
    # Last month's list: treated = listed and not control; outcomes observed this month.
    rl = pd.read_csv(oct_dir / "retention_list.csv", dtype={"customer_id": str})
    outcome = nxt.set_index("customer_id")["churned"]
    campaign = pd.DataFrame({
        "customer_id": rl["customer_id"],
        "arm": np.where(rl["control_group"].astype(bool), "control", "treatment"),
        "churned": outcome.loc[rl["customer_id"]].to_numpy(),
    })
    campaign_path = root / "campaign.csv"
    campaign.to_csv(campaign_path, index=False)
    dec_dir = root / "2026-12"
    code = cli.main(["report", "--model", str(oct_dir / "inputs" / "model.txt"), "--data", str(data),
                     "--config", str(oct_dir / "inputs" / "config.yaml"), "--out", str(dec_dir),
                     "--previous", str(oct_dir), "--campaign", str(campaign_path), "--format", "html",
                     "--generated-at", WHEN, "--quiet"])
    assert code == 0
    return root, oct_dir, dec_dir, data, campaign


def test_segments_keep_their_keys_and_names(months):
    _, oct_dir, dec_dir, _, _ = months
    a = json.loads((oct_dir / "manifest.json").read_text())["segmentation"]["segments"]
    b = json.loads((dec_dir / "manifest.json").read_text())["segmentation"]["segments"]
    names_a = {s["key"]: s["name"] for s in a if s["key"] != "MIX"}
    names_b = {s["key"]: s["name"] for s in b if s["key"] != "MIX"}
    shared = set(names_a) & set(names_b)
    assert len(shared) >= 3
    for key in shared:
        assert names_a[key] == names_b[key]


def test_monitoring_and_campaign_sections_are_filled(months):
    _, _, dec_dir, _, campaign = months
    html = (dec_dir / "report.html").read_text(encoding="utf-8")
    section = html[html.index('<section id="monitoring"'):]
    section = section[:section.index("</section>")]
    assert "PSI" in section
    assert "no previous report" not in section.lower()
    treated = int((campaign["arm"] == "treatment").sum())
    assert f"{treated:,}" in html
    # one campaign view (issue 30.7): the campaign file's effect is in the uplift section, its rows
    # named by source, and the monitoring page no longer carries a second campaign table
    up = html[html.index('<section id="uplift"'):]
    up = up[:up.index("</section>")]
    assert "Campaign effect" not in section
    from_file = up.split("Source: Campaign file</th></tr>")[1]
    assert from_file.lstrip().startswith(f'<tr><td>All listed customers</td><td class="r">{treated:,}</td>')
    control = int((campaign["arm"] == "control").sum())
    assert f'<td class="r">{treated:,}</td><td class="r">{control:,}</td>' in up
    assert 'class="omitted"' not in up


def test_manifest_records_previous_and_campaign_inputs(months):
    _, _, dec_dir, _, _ = months
    m = json.loads((dec_dir / "manifest.json").read_text())
    roles = {i["role"] for i in m["inputs"]}
    assert {"model", "data", "config", "campaign"} <= roles
    assert (dec_dir / "reference_profile.json").is_file()


def test_campaign_with_unknown_arm_exits_2(months, tmp_path, capsys):
    root, oct_dir, _, data, campaign = months
    bad = campaign.copy()
    bad.loc[bad.index[:3], "arm"] = "holdout-B"
    path = tmp_path / "campaign.csv"
    bad.to_csv(path, index=False)
    out = tmp_path / "out"
    code = cli.main(["report", "--model", str(oct_dir / "inputs" / "model.txt"), "--data", str(data),
                     "--config", str(oct_dir / "inputs" / "config.yaml"), "--out", str(out),
                     "--campaign", str(path), "--format", "html", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "holdout-B" in err and "treatment" in err
    assert not out.exists()


def test_campaign_ids_not_in_data_exit_2(months, tmp_path, capsys):
    root, oct_dir, _, data, campaign = months
    bad = pd.concat([campaign, pd.DataFrame({"customer_id": ["ZZ999"], "arm": ["control"], "churned": [0]})])
    path = tmp_path / "campaign.csv"
    bad.to_csv(path, index=False)
    code = cli.main(["report", "--model", str(oct_dir / "inputs" / "model.txt"), "--data", str(data),
                     "--config", str(oct_dir / "inputs" / "config.yaml"), "--out", str(tmp_path / "out"),
                     "--campaign", str(path), "--format", "html", "--quiet"])
    assert code == 2
    assert "ZZ999" in capsys.readouterr().err


def test_evaluate_names_the_champion(months, tmp_path, capsys):
    import lightgbm as lgb

    root, oct_dir, _, data, _ = months
    frame = pd.read_csv(data)
    weak = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4, "num_threads": 1, "seed": 0},
                     lgb.Dataset(frame[["age", "tenure_years"]], frame["churned"]), num_boost_round=10)
    weak_path = tmp_path / "weak.txt"
    weak.save_model(weak_path)
    out = tmp_path / "eval"
    code = cli.main(["evaluate", "--model", str(weak_path), "--model", str(oct_dir / "inputs" / "model.txt"),
                     "--data", str(data), "--config", str(oct_dir / "inputs" / "config.yaml"), "--out", str(out)])
    assert code == 0
    assert capsys.readouterr().out.startswith("Champion: model.txt")
    table = pd.read_csv(out / "comparison.csv")
    assert table.loc[0, "model"] == "model.txt" and table.loc[0, "champion"] == 1
    assert table.loc[0, "top_decile_lift"] > table.loc[1, "top_decile_lift"]
    html = (out / "evaluation.html").read_text(encoding="utf-8")
    assert "weak.txt" in html and "http://" not in html and "https://" not in html


def test_evaluate_without_label_column_exits_2(months, tmp_path, capsys):
    _, oct_dir, _, data, _ = months
    cfg = tmp_path / "c.yaml"
    cfg.write_text("id_column: customer_id\n")
    code = cli.main(["evaluate", "--model", str(oct_dir / "inputs" / "model.txt"), "--data", str(data),
                     "--config", str(cfg), "--out", str(tmp_path / "eval")])
    assert code == 2
    assert "label_column" in capsys.readouterr().err
