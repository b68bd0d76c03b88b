"""A small but real :class:`ReportContext` for the report tests, the benchmark and the screenshots.

The demo book (planted churn mechanisms) and the demo LightGBM model are scored with the
attribution engine (exact TreeSHAP), churners selected and clustered with the segmentation
stage, and model quality, PSI, driver drift and campaign effects computed with the team's
functions. Segment descriptions, plans and migration flows are built here with plain numpy
from those results (the pipeline's own assembly is the lead's).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import yaml

from churnlens import attribution
from churnlens.campaign import effect as campaign_mod
from churnlens.demo import book as demo
from churnlens.monitoring import stability as monitoring
from churnlens.config import Config, parse_config
from churnlens.io.tables import mask_id
from churnlens.evaluation.quality import evaluate
from churnlens.campaign.results import CampaignEffect
from churnlens.monitoring.results import Monitoring
from churnlens.actions.results import PlannedAction, SegmentPlan
from churnlens.reports.context import CustomerExample, InputFile, PackageVersion, ReportContext, RunFacts
from churnlens.segmentation.clustering import segment
from churnlens.segmentation.results import MIXED, Effect, NamePart, Flow, GroupSignatureItem, Migration, SegmentMatch, SegmentSummary, SignatureItem
from churnlens.segmentation.selection import select_churners

EVIL = "<script>alert(1)</script>"


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


def _effects(X: pd.DataFrame, a: np.ndarray, b: np.ndarray, features) -> tuple[Effect, ...]:
    """Cohen's d (pooled sd) of numeric features between row masks ``a`` and ``b``, |d| descending."""
    out = []
    for f in features:
        col = X[f]
        if not pd.api.types.is_numeric_dtype(col):
            continue
        v = col.to_numpy(dtype=np.float64)
        x, y = v[a], v[b]
        if len(x) < 2 or len(y) < 2:
            continue
        sd = np.sqrt(((len(x) - 1) * x.var(ddof=1) + (len(y) - 1) * y.var(ddof=1)) / (len(x) + len(y) - 2))
        d = 0.0 if sd == 0 else (x.mean() - y.mean()) / sd
        out.append(Effect(f, float(x.mean()), float(y.mean()), float(d)))
    return tuple(sorted(out, key=lambda e: (-abs(e.effect_size), e.feature)))


def _summaries(seg, attr, X, churner_mask, value, config) -> tuple[SegmentSummary, ...]:
    feats = attr.features
    rows_all = seg.rows
    out = []
    ids = list(range(seg.n_segments)) + ([MIXED] if (seg.labels == MIXED).any() else [])
    for sid in ids:
        members = rows_all[seg.labels == sid]
        if len(members) == 0:
            continue
        in_seg = np.zeros(attr.n, bool)
        in_seg[members] = True
        others = churner_mask & ~in_seg
        phi = attr.values[members].astype(np.float64)
        mean = phi.mean(0)
        mabs = np.abs(phi).mean(0)
        order = np.argsort(-mabs, kind="stable")[:6]
        sig = tuple(SignatureItem(feats[j], float(mean[j]), float(mabs[j] / mabs.sum())) for j in order)
        groups = sorted({config.group(f) for f in feats})
        gsig = tuple(GroupSignatureItem(g, float(sum(mean[j] for j, f in enumerate(feats) if config.group(f) == g)),
                                        float(sum(mabs[j] for j, f in enumerate(feats) if config.group(f) == g) / mabs.sum()))
                     for g in groups)
        top = tuple(feats[j] for j in order[:2] if mean[j] > 0)
        key = "MIX" if sid == MIXED else f"S{sid + 1}"
        var = float((attr.score[members] * value[members]).sum()) if value is not None else 0.0
        jac = seg.stability.segment_jaccard[sid] if sid != MIXED and sid < len(seg.stability.segment_jaccard) else None
        out.append(SegmentSummary(
            segment_id=sid, key=key, name=tuple(NamePart(f) for f in top), size=int(len(members)),
            share=len(members) / max(int(churner_mask.sum()), 1), mean_score=float(attr.score[members].mean()),
            value_at_risk=var, signature=sig, group_signature=gsig, top_drivers=top, drivers_vs_churners=(),
            traits_vs_churners=_effects(X, in_seg, others, feats)[:8],
            traits_vs_retained=_effects(X, in_seg, ~churner_mask, feats),
            stability=None if jac is None else float(jac),
        ))
    return tuple(out)


def _plans(summaries, config, attr, value, control_share) -> tuple[SegmentPlan, ...]:
    plans = []
    for s in summaries:
        acts = []
        for i, r in enumerate(config.playbook):
            if r.when.driver in s.top_drivers and r.when.direction == "up":
                acts.append(PlannedAction(i, r.when.driver, r.action.en, r.action.zh, r.channel, r.cost, r.uplift,
                                          r.priority))
        acts.sort(key=lambda a: (a.priority, a.rule_index))
        control = int(round(s.size * control_share))
        target = s.size - control
        best = max((a.uplift for a in acts), default=0.0)
        plans.append(SegmentPlan(s.key, tuple(acts), target, control, s.value_at_risk,
                                 s.value_at_risk * best * target / max(s.size, 1),
                                 sum(a.cost for a in acts[:1]) * target, no_rule=not acts))
    return tuple(plans)


def _examples(seg, summaries, attr, codes, config) -> tuple[CustomerExample, ...]:
    out = []
    for s in summaries:
        members = seg.rows[seg.labels == s.segment_id]
        for r in members[np.lexsort((members, -attr.score[members]))][:3]:
            cid = str(attr.customer_ids[r])
            out.append(CustomerExample(s.key, mask_id(cid) if config.report.mask_ids else cid,
                                       float(attr.score[r]), tuple((f, v) for f, v in zip(codes.features[r], codes.values[r]) if f)))
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class Scored:
    book: demo.DemoBook
    X: pd.DataFrame
    model: object
    attr: object
    seg: object


def _score(n: int, seed: int, config: Config, booster):
    book = demo.generate_book(n, seed=seed)
    X = demo.model_frame(book.customers)
    model = booster
    attr = attribution.explain(model, X, customer_ids=book.customers[demo.ID_COLUMN].to_numpy())
    value = book.customers[demo.VALUE_COLUMN].to_numpy(dtype=np.float64)
    label = book.customers[demo.LABEL_COLUMN].to_numpy()
    churners = select_churners(attr.score, selection=config.churners, label=label, value=value)
    seg = segment(attr, churners, config=config.segmentation)
    return Scored(book, X, model, attr, seg), churners


@functools.lru_cache(maxsize=4)
def build_context(n: int = 2000, *, lang: str = "en", seed: int = 0, config: Optional[Config] = None,
                  with_label: bool = True, with_previous: bool = True, with_campaign: bool = True,
                  display_rows: int = 5000) -> ReportContext:
    """Score a demo book of ``n`` customers and assemble everything both documents show.

    Cached: the context is frozen, so test modules of one session share it.
    """
    config = config or demo_config()
    train = demo.generate_book(max(n, 2000), seed=seed)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        # through the model file, as the pipeline reads it (the file stores pandas_categorical)
        demo.train_demo_model(train, seed=seed).save_model(str(Path(tmp) / "model.txt"))
        booster = attribution.load_model(Path(tmp) / "model.txt")
    cur, churners = _score(n, seed + 1, config, booster)
    attr, X, seg, book = cur.attr, cur.X, cur.seg, cur.book
    value = book.customers[demo.VALUE_COLUMN].to_numpy(dtype=np.float64)
    label = book.customers[demo.LABEL_COLUMN].to_numpy()
    drivers = attribution.global_drivers(attr, X, config)
    codes = attribution.reason_codes(attr, X, config, k=config.reason_codes)
    summaries = _summaries(seg, attr, X, churners.mask, value, config)
    plans = _plans(summaries, config, attr, value, config.report.control_share)

    examples = _examples(seg, summaries, attr, codes, config)

    quality = evaluate(label, attr.score, threshold=config.churners.threshold) if with_label else None

    mon = migration = None
    if with_previous:
        prev, prev_churners = _score(n, seed + 2, config, booster)
        score_psi = monitoring.psi(prev.attr.score, attr.score, name="score")
        feature_psi = []
        for f in attr.features:
            cat = not pd.api.types.is_numeric_dtype(X[f])
            a = prev.X[f].astype("str") if cat else prev.X[f].to_numpy(dtype=np.float64)
            b = X[f].astype("str") if cat else X[f].to_numpy(dtype=np.float64)
            feature_psi.append(monitoring.psi(a, b, categorical=cat, name=f))
        feature_psi.sort(key=lambda r: (-r.psi, r.name))
        drift = monitoring.driver_drift(prev.attr.values, attr.values, attr.features, n_boot=50, seed=seed)
        mon = Monitoring("the previous month (demo book, another seed)", score_psi, tuple(feature_psi), drift,
                         reference_zh="上个月（演示客户簿，另一随机种子）")
        # flows by customer id between the two months' segment keys
        prev_key = {str(prev.attr.customer_ids[r]): (f"S{l + 1}" if l != MIXED else "MIX")
                    for r, l in zip(prev.seg.rows, prev.seg.labels)}
        cur_key = {str(attr.customer_ids[r]): (f"S{l + 1}" if l != MIXED else "MIX") for r, l in zip(seg.rows, seg.labels)}
        pairs = pd.Series([(prev_key.get(c, "NEW"), k) for c, k in cur_key.items()] +
                          [(k, "GONE") for c, k in prev_key.items() if c not in cur_key])
        counts = pairs.value_counts()
        flows = tuple(Flow(a, b, int(c)) for (a, b), c in sorted(counts.items()))
        keys = [s.key for s in summaries if s.segment_id != MIXED]
        prev_keys = sorted({k for k in prev_key.values() if k != "MIX"})
        migration = Migration(
            matches=tuple(SegmentMatch(k, k if k in prev_keys else None, 0.9 if k in prev_keys else 0.0) for k in keys),
            flows=flows, new_segments=tuple(k for k in keys if k not in prev_keys),
            vanished_segments=tuple(k for k in prev_keys if k not in keys))

    camp = None
    if with_campaign:
        rng = np.random.default_rng(seed)
        m = churners.mask
        treated = rng.random(attr.n) < 0.8
        churned = label.astype(bool) & ~(treated & (rng.random(attr.n) < 0.3))  # a planted 30% effect
        overall = campaign_mod.arm_effect("all", churned[m], treated[m], value[m])
        seg_keys = np.array([""] * attr.n, dtype=object)
        for s in summaries:
            seg_keys[seg.rows[seg.labels == s.segment_id]] = s.key
        by_seg = tuple(campaign_mod.arm_effect(s.key, churned[seg_keys == s.key], treated[seg_keys == s.key],
                                               value[seg_keys == s.key]) for s in summaries if s.size >= 20)
        camp = CampaignEffect(overall, by_seg, campaign_mod.METHOD, campaign_mod.METHOD_ZH)

    rows = np.arange(0, min(200, attr.n))
    cc = attribution.cross_check(cur.model, X.iloc[rows], attr.values[rows].astype(np.float64))
    info = dataclasses.replace(cur.model.info, path="/data/bank/model.txt", sha256="ab" * 32)
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
        timings=(("attributions", 1.2), ("segmentation", 0.8)), attributed=f"all {n:,} customers", n_attributed=n,
    )
    omitted = []
    if not with_label:
        omitted.append(("performance", "Model performance is not shown: the data has no label column 'churned'."
                        if lang == "en" else "未展示模型表现：数据中没有标签列 “churned”。"))
    if display_rows >= attr.n:
        disp = np.arange(attr.n)
    else:
        disp = np.sort(np.random.default_rng(seed).choice(attr.n, size=display_rows, replace=False))
    return ReportContext(
        lang=lang, facts=facts, config=config, attributions=attr, X=X, display_rows=disp, value=value,
        churners=churners, drivers=drivers, segmentation=seg, segments=summaries, plans=plans,
        examples=examples, cross_check=cc,
        quality=quality, monitoring=mon, migration=migration, campaign=camp,
        excluded_do_not_contact=7, control_count=sum(p.control_count for p in plans), omitted=tuple(omitted),
    )


def relabel(ctx: ReportContext, lang: str) -> ReportContext:
    """The same run reported in another language."""
    omitted = tuple((sid, "未展示模型表现：数据中没有标签列 “churned”。" if lang == "zh" else r) for sid, r in ctx.omitted)
    return dataclasses.replace(ctx, lang=lang, omitted=omitted)
