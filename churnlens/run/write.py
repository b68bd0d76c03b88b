"""From a computed :class:`~churnlens.run.pipeline.RunState` to the report folder.

Everything that depends on the report language, the timestamp or the output folder happens
here, so one computed run can be written in several languages (:meth:`churnlens.Run.write`).
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import asdict, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from churnlens import __version__, attribution, reports, segmentation
from churnlens.actions import playbook
from churnlens.io.tables import mask_id, sha256_file
from churnlens.monitoring.stability import reference_profile
from churnlens.progress import Progress
from churnlens.reports.context import (
    CrossCheckResult,
    CustomerExample,
    InputFile,
    PackageVersion,
    ReportContext,
    RunFacts,
)
from churnlens.reports.render import attributed_text
from churnlens.run.pipeline import ReportOutcome, RunState
from churnlens.run.loop import write_loop_files
from churnlens.run.stages import retention_list

PACKAGES = ("churnlens", "numpy", "pandas", "scikit-learn", "scipy", "lightgbm", "shap", "hdbscan",
            "xgboost", "skops", "jinja2", "weasyprint", "matplotlib", "pyarrow", "pydantic")
DISPLAY_ROWS = 5_000
EXAMPLES_PER_SEGMENT = 5


def package_versions() -> tuple[PackageVersion, ...]:
    found = []
    for name in PACKAGES:
        try:
            found.append(PackageVersion(name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    found.append(PackageVersion("python", platform.python_version()))
    return tuple(found)


def now_iso(given: str) -> str:
    if given:
        return given
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def period(state: RunState) -> str:
    return state.config.report.period or now_iso(state.request.generated_at)[:7]


def display_rows(n: int, seed: int) -> np.ndarray:
    """Deterministic sample of at most DISPLAY_ROWS positions for point charts."""
    if n <= DISPLAY_ROWS:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=DISPLAY_ROWS, replace=False))


def in_language(state: RunState, lang: str) -> RunState:
    """The state with reason codes and retention list worded in ``lang`` (recomputed only
    when the run was computed for another language)."""
    if state.reasons.lang == lang:
        return state
    reasons = attribution.reason_codes(state.attributions, state.X, state.config, k=state.config.reason_codes,
                                       lang=lang)
    return replace(state, reasons=reasons, retention=retention_list(state, reasons, lang))


def examples(state: RunState) -> tuple[CustomerExample, ...]:
    """The riskiest few churners of each segment, ids masked unless ``mask_ids: false``."""
    seg, attr, codes, config = state.segmentation, state.attributions, state.reasons, state.config
    out = []
    for s in state.segments:
        members = seg.rows[seg.labels == s.segment_id]
        if len(members) == 0:
            continue
        order = members[np.lexsort((members, -attr.score[members]))][:EXAMPLES_PER_SEGMENT]
        for r in order:
            cid = str(attr.customer_ids[r])
            out.append(CustomerExample(
                segment_key=s.key,
                customer=mask_id(cid) if config.report.mask_ids else cid,
                score=float(attr.score[r]),
                reasons=tuple(t for t in codes.texts[r] if t),
            ))
    return tuple(out)


def _shown(path, *, out: Path, staging: Path) -> str:
    """``path`` as it will be once the staging folder is published as ``out``."""
    p = Path(path).absolute()
    return str(Path(out).absolute() / p.relative_to(staging) if p.is_relative_to(staging) else p)


def _fingerprint(role: str, obj, *, out: Path, staging: Path, n_rows: int) -> InputFile:
    """An input with its SHA-256; paths inside the staging folder are shown at their final place,
    in-memory inputs by their kind (a DataFrame is fingerprinted by pandas' row hashes)."""
    rows = n_rows if role == "data" else None
    if isinstance(obj, pd.DataFrame):
        digest = hashlib.sha256(pd.util.hash_pandas_object(obj, index=False).to_numpy().tobytes())
        return InputFile(role, "<DataFrame>", digest.hexdigest(), rows)
    if isinstance(obj, attribution.LoadedModel):
        return InputFile(role, obj.info.path, obj.info.sha256, rows)
    return InputFile(role, _shown(obj, out=out, staging=staging), sha256_file(Path(obj)), rows)


def input_files(state: RunState, *, out: Path, staging: Path) -> tuple[InputFile, ...]:
    req = state.request
    roles = [("model", req.model), ("data", req.data), ("config", req.config), ("campaign", req.campaign),
             ("outcomes", req.outcomes)]
    return tuple(_fingerprint(role, obj, out=out, staging=staging, n_rows=state.book.n)
                 for role, obj in roles if obj is not None)


def run_facts(state: RunState, *, out: Path, staging: Path) -> RunFacts:
    req, config = state.request, state.config
    facts = RunFacts(
        generated_at=now_iso(req.generated_at),
        period=period(state),
        title=config.report.title.get(req.lang) if config.report.title else "",
        institution=config.report.institution.get(req.lang),
        command=req.command,
        seed=config.seed,
        model=replace(state.model.info, path=_shown(state.model.info.path, out=out, staging=staging))
        if isinstance(state.request.model, (str, Path)) else state.model.info,
        inputs=input_files(state, out=out, staging=staging),
        n_customers=state.book.n,
        packages=package_versions(),
        timings=state.timings,
        attributed="",
        n_attributed=len(state.rows),
        n_targeted=state.book_churners.count,
        n_sampled=state.n_sample,
    )
    return replace(facts, attributed=attributed_text(facts, "en"))


def report_context(state: RunState, facts: RunFacts) -> ReportContext:
    """What both documents show, assembled from the stages' results."""
    cc, pos = state.cross_check, state.sample_pos
    return ReportContext(
        lang=state.request.lang, facts=facts, config=state.config, attributions=state.attributions, X=state.X,
        display_rows=pos[display_rows(len(pos), state.config.seed)], value=state.value, churners=state.churners,
        drivers=state.drivers, segmentation=state.segmentation, segments=state.segments, plans=state.plans,
        examples=examples(state), cross_check=CrossCheckResult(cc.n_rows, cc.max_abs_diff, cc.reference),
        quality=state.quality, monitoring=state.monitoring, migration=state.migration, campaign=state.campaign,
        excluded_do_not_contact=state.retention.excluded_do_not_contact,
        control_count=state.retention.control_count, omitted=state.omitted,
        backtest=state.backtest, in_sample=state.in_sample_figures, measured=state.measured, budget=state.budget_plan,
        trend=state.trend,
    )


def write_attributions(state: RunState, path: Path) -> None:
    """``attributions.parquet``, one row group per block of ``attribution.chunk_rows`` rows."""
    attr, step = state.attributions, state.config.attribution.chunk_rows
    writer = attribution.AttributionsWriter(path)
    for i in range(0, attr.n, step):
        writer.write(attribution.take(attr, np.arange(i, min(i + step, attr.n))))
    writer.close()


def write_report(state: RunState, staging: Path, *, progress: Optional[Progress] = None) -> ReportOutcome:
    """Write every file of the report folder into ``staging`` (published by the caller).

    ``state.request`` gives the language, formats, timestamp, command and final folder.
    """
    progress = progress or Progress(quiet=True)
    req = state.request
    state = in_language(state, req.lang)
    t0 = time.perf_counter()
    write_attributions(state, staging / "attributions.parquet")
    facts = run_facts(state, out=Path(req.out), staging=staging)
    context = report_context(state, facts)
    with progress.task("Reports (HTML, PDF)", 1) as advance:
        reports.render_documents(context, staging, formats=req.formats)
        advance(1)
    playbook.write_retention_list(staging / "retention_list.csv", state.retention, xlsx=True)
    segmentation.write_segments_csv(staging / "segments.csv", state.segmentation, state.segments)
    segmentation.write_segment_signatures(staging / "segment_signatures.json", state.segments)
    pos = state.sample_pos
    profile = reference_profile(state.X.iloc[pos], state.attributions.score[pos], label=period(state))
    (staging / "reference_profile.json").write_text(profile.to_json(), encoding="utf-8")
    write_loop_files(state, staging)
    timings = state.timings + (("reports", round(time.perf_counter() - t0, 3)),)
    write_manifest(staging, replace(context, facts=replace(facts, timings=timings)))
    return ReportOutcome(Path(req.out), state.book.n, state.churners.count, state.segmentation.n_segments,
                         tuple(sorted(p.name for p in staging.iterdir() if p.is_file())), state.book.warnings)


def manifest(ctx: ReportContext) -> dict:
    """``manifest.json`` without its ``outputs`` (the files' hashes)."""
    facts, seg = ctx.facts, ctx.segmentation
    return {
        "churnlens_version": __version__,
        "generated_at": facts.generated_at,
        "command": facts.command,
        "lang": ctx.lang,
        "seed": facts.seed,
        "inputs": [asdict(f) for f in facts.inputs],
        "model": asdict(facts.model),
        "config": ctx.config.model_dump(mode="json"),
        "packages": {p.name: p.version for p in facts.packages},
        "attribution": {
            "method": ctx.attributions.method,
            "output_space": ctx.attributions.output_space,
            "attributed": facts.attributed,
            "additivity_max_error": ctx.attributions.additivity_max_error,
            "additivity_tolerance": 1e-4,
            "cross_check": asdict(ctx.cross_check),
        },
        "churners": {"by": ctx.churners.by, "rule": ctx.churners.rule_en, "count": ctx.churners.count},
        "segmentation": {
            "n_segments": seg.n_segments,
            "representation": seg.representation,
            "min_cluster_size": seg.min_cluster_size,
            "n_fitted": seg.n_fitted,
            "seed": seg.seed,
            "note": seg.note,
            "stability": asdict(seg.stability),
            "note_zh": seg.note_zh,
            "noise": seg.noise,
            "n_assigned": seg.n_assigned,
            "min_samples": seg.min_samples,
            "fit_min_cluster_size": seg.fit_min_cluster_size,
            "segments": [{"key": s.key, "name_en": s.name_en, "name_zh": s.name_zh, "size": s.size,
                          "stability_jaccard": s.stability} for s in ctx.segments],
        },
        "timings_seconds": dict(facts.timings),
        "outputs": {},
    }


def write_manifest(out: Path, ctx: ReportContext) -> None:
    data = manifest(ctx)
    for p in sorted(out.iterdir()):
        if p.is_file():
            data["outputs"][p.name] = sha256_file(p)
    (out / "manifest.json").write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default),
                                       encoding="utf-8")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
