"""A small but real :class:`ReportContext` for the report tests, the benchmark and the screenshots.

Built through the real assembly: two months of the demo book (planted churn mechanisms) are
scored by the demo LightGBM model with exact TreeSHAP, churners selected, clustered and
described by the segmentation stage, last month's segment files written and matched, the
playbook planned and targeted, PSI / driver drift, campaign effect and model quality computed
by their stages, and the example churners picked by the pipeline's own function. Only the
campaign outcome (a planted 30% effect) and the run facts (paths, hashes) are made up here.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import yaml

from churnlens import attribution, segmentation
from churnlens.actions import playbook
from churnlens.campaign.effect import campaign_effect
from churnlens.config import Config, parse_config
from churnlens.demo import book as demo
from churnlens.evaluation.quality import evaluate
from churnlens.monitoring.stability import monitor, reference_profile
from churnlens.notes import Note
from churnlens.reports import words
from churnlens.reports.context import InputFile, PackageVersion, ReportContext, RunFacts
from churnlens.run.write import pick_examples

EVIL = "<script>alert(1)</script>"
DO_NOT_CONTACT = 7  # churners on the do-not-contact list


def demo_config(*, evil_feature: Optional[str] = None, logo: Optional[str] = None, **report) -> Config:
    data = yaml.safe_load(demo.DEMO_CONFIG_PATH.read_text(encoding="utf-8"))
    data.setdefault("report", {})
    data["report"].update({"title": None, "period": "2026-11", "institution": "Demo Bank"}, **report)
    if logo is not None:
        data["report"]["logo"] = logo
    if evil_feature is not None:
        data["features"][evil_feature]["label"] = {"en": EVIL, "zh": EVIL}
    # enough stability re-clusterings to flag unstable segments, few enough to stay fast
    data.setdefault("segmentation", {}).update({"stability_runs": 3, "sample": 5000})
    return parse_config(data, source="demo_config.yaml")


@dataclasses.dataclass(frozen=True)
class Month:
    """One month of the demo book through the attribution and segmentation stages."""

    book: demo.DemoBook
    X: pd.DataFrame
    ids: np.ndarray
    value: np.ndarray
    label: np.ndarray
    attr: object
    churners: object
    seg: object
    summaries: tuple


def _month(n: int, seed: int, config: Config, model) -> Month:
    book = demo.generate_book(n, seed=seed)
    X = demo.model_frame(book.customers)
    ids = book.customers[demo.ID_COLUMN].to_numpy()
    value = book.customers[demo.VALUE_COLUMN].to_numpy(dtype=np.float64)
    label = book.customers[demo.LABEL_COLUMN].to_numpy()
    attr = attribution.explain(model, X, customer_ids=ids)
    churners = segmentation.select_churners(attr.score, selection=config.churners, label=label, value=value)
    seg = segmentation.segment(attr, churners, config=config.segmentation)
    summaries = segmentation.describe(seg, attr, X, config, value=value)
    return Month(book, X, ids, value, label, attr, churners, seg, summaries)


def _segment_keys(month: Month, summaries) -> np.ndarray:
    keys = np.full(month.attr.n, "", dtype=object)
    for s in summaries:
        keys[month.seg.rows[month.seg.labels == s.segment_id]] = s.key
    return keys


def _previous(prev: Month, cur: Month, config: Config, seed: int):
    """Last month's folder files written and read back, matched to this month; PSI and drift."""
    with tempfile.TemporaryDirectory() as tmp:
        names = words.segment_names(prev.summaries, config, words.MACHINE_LANG)
        segmentation.write_segments_csv(Path(tmp) / "segments.csv", prev.seg, prev.summaries, names=names)
        segmentation.write_segment_signatures(Path(tmp) / "segment_signatures.json", prev.summaries, names=names)
        summaries, migration = segmentation.match_previous(cur.summaries, cur.seg, segmentation.load_previous(tmp))
    profile = reference_profile(prev.X, prev.attr.score, label="2026-10")
    mon = monitor(profile, cur.X, cur.attr.score, prev.attr.values, cur.attr.values, cur.attr.features,
                  reference=Note.of("monitoring.reference", folder="report-2026-10", period="2026-10"),
                  n_boot=50, seed=seed)
    return summaries, migration, mon


def _campaign(cur: Month, seg_keys: np.ndarray, seed: int):
    """A campaign on this month's churners with a planted 30% effect, through the campaign stage."""
    rng = np.random.default_rng(seed)
    m = cur.churners.mask
    treated = rng.random(cur.attr.n) < 0.8
    churned = cur.label.astype(bool) & ~(treated & (rng.random(cur.attr.n) < 0.3))
    table = pd.DataFrame({"customer_id": cur.ids[m], "arm": np.where(treated[m], "treatment", "control"),
                          "churned": churned[m].astype(int)})
    return campaign_effect(table, known_ids=cur.ids, value=pd.Series(cur.value, index=cur.ids),
                           segments=pd.Series(seg_keys[m], index=cur.ids[m]))


@functools.lru_cache(maxsize=4)
def build_context(n: int = 2000, *, lang: str = "en", seed: int = 0, config: Optional[Config] = None,
                  with_label: bool = True, with_previous: bool = True, with_campaign: bool = True,
                  display_rows: int = 5000) -> ReportContext:
    """Score a demo book of ``n`` customers and assemble everything both documents show.

    Cached: the context is frozen, so test modules of one session share it.
    """
    config = config or demo_config()
    train = demo.generate_book(max(n, 2000), seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        # through the model file, as the pipeline reads it (the file stores pandas_categorical)
        demo.train_demo_model(train, seed=seed).save_model(str(Path(tmp) / "model.txt"))
        model = attribution.load_model(Path(tmp) / "model.txt")
    cur = _month(n, seed + 1, config, model)
    attr, X = cur.attr, cur.X
    summaries, mon, migration = cur.summaries, None, None
    omitted = []
    if with_previous:
        summaries, migration, mon = _previous(_month(n, seed + 2, config, model), cur, config, seed)
    else:
        omitted.append(("monitoring", "no_previous"))
    drivers = attribution.global_drivers(attr, X, config)
    codes = attribution.reason_codes(attr, X, config, k=config.reason_codes)

    seg_keys = _segment_keys(cur, summaries)
    rules = playbook.config_rules(config, None)
    dnc = set(np.sort(cur.ids[cur.churners.mask].astype(str))[:DO_NOT_CONTACT].tolist())
    targeting = playbook.select_targets(cur.ids, cur.churners.mask, control_share=config.report.control_share,
                                        seed=seed, do_not_contact=dnc)
    customer_rule = playbook.match_customer_rules(rules, attr.values, X, attr.features)
    plans = playbook.plan_segments(summaries, rules, segment_keys=seg_keys, X=X, score=attr.score, value=cur.value,
                                   targeting=targeting, customer_rule=customer_rule)
    examples = pick_examples(cur.seg, summaries, attr, codes, config)

    quality = evaluate(cur.label, attr.score, threshold=config.churners.threshold) if with_label else None
    if not with_label:
        omitted.append(("performance", "no_label_column"))
    camp = _campaign(cur, seg_keys, seed) if with_campaign else None
    if not with_campaign:
        omitted.append(("campaign", "no_campaign"))

    rows = np.arange(0, min(200, attr.n))
    cc = attribution.cross_check(model, X.iloc[rows], attr.values[rows].astype(np.float64))
    inter = tuple(attribution.SegmentInteractions(s.key, attribution.top_pairs(
        model, X.iloc[np.flatnonzero(seg_keys == s.key)[:300]], [it.feature for it in s.signature[:4]], k=2))
        for s in summaries if s.segment_id >= 0)
    info = dataclasses.replace(model.info, path="/data/bank/model.txt", sha256="ab" * 32)
    facts = RunFacts(
        generated_at="2026-11-25T02:30:00+00:00", period="2026-11", title=config.report.title.get("en") if config.report.title else "",
        institution=config.report.institution.get("en"),
        command="churnlens report --model model.txt --data customers.csv --config config.yaml --out report",
        seed=config.seed, model=info,
        inputs=(InputFile("model", "/data/bank/model.txt", "ab" * 32),
                InputFile("data", "/data/bank/customers.csv", "cd" * 32, n),
                InputFile("config", "/data/bank/config.yaml", "ef" * 32)),
        n_customers=n, packages=(PackageVersion("lightgbm", "4.7.0"), PackageVersion("shap", "0.51.0"),
                                 PackageVersion("hdbscan", "0.8.44")),
        attributed=f"all {n:,} customers", n_attributed=n,
    )
    if display_rows >= attr.n:
        disp = np.arange(attr.n)
    else:
        disp = np.sort(np.random.default_rng(seed).choice(attr.n, size=display_rows, replace=False))
    return ReportContext(
        lang=lang, facts=facts, config=config, attributions=attr, X=X, display_rows=disp, value=cur.value,
        churners=cur.churners, drivers=drivers, segmentation=cur.seg, segments=summaries, plans=plans,
        examples=examples, cross_check=cc, quality=quality, monitoring=mon, migration=migration, campaign=camp,
        excluded_do_not_contact=int(targeting.excluded.sum()), control_count=int(targeting.control.sum()),
        omitted=tuple(omitted), interactions=inter,
        segment_rules=segmentation.fit_rules(cur.seg, summaries, X, seed=seed,
                                             label=cur.label if with_label else None, score=attr.score),
    )


def relabel(ctx: ReportContext, lang: str) -> ReportContext:
    """The same run reported in another language (results carry no words: only ``lang`` changes)."""
    return dataclasses.replace(ctx, lang=lang)
