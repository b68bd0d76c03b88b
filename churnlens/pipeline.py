"""The monthly report flow: model + customer table + config -> report folder (SPEC.md).

``churnlens report`` and ``churnlens demo`` both call :func:`run_report`. Inputs are
validated before anything is written; outputs are staged and moved into place atomically.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd

import attribution
import reports
import segmentation
from churnlens import __version__
from churnlens.config import Config, load_config
from churnlens.data import check_columns, mask_id, read_table, sha256_file, value_array
from churnlens.errors import InputFileError
from churnlens.output import staged_folder
from churnlens.progress import Progress
from reports.context import (
    CrossCheckResult,
    CustomerExample,
    InputFile,
    PackageVersion,
    ReportContext,
    RunFacts,
)

PACKAGES = ("churnlens", "numpy", "pandas", "scikit-learn", "scipy", "lightgbm", "shap", "hdbscan",
            "xgboost", "skops", "jinja2", "weasyprint", "matplotlib", "pyarrow", "pydantic")
DISPLAY_ROWS = 5_000
CROSS_CHECK_ROWS = 200
EXAMPLES_PER_SEGMENT = 5


@dataclass(frozen=True)
class ReportRequest:
    """Everything ``churnlens report`` was asked to do."""

    model: Path
    data: Path
    out: Path
    config: Optional[Path] = None
    lang: str = "en"
    previous: Optional[Path] = None
    campaign: Optional[Path] = None
    trust_model: bool = False
    model_format: Optional[str] = None
    formats: tuple[str, ...] = ("html", "pdf")
    command: str = ""
    generated_at: str = ""  # ISO 8601; empty = now (UTC)
    quiet: bool = False


@dataclass(frozen=True)
class ReportOutcome:
    out: Path
    n_customers: int
    n_churners: int
    n_segments: int
    files: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())


def package_versions() -> tuple[PackageVersion, ...]:
    found = []
    for name in PACKAGES:
        try:
            found.append(PackageVersion(name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    found.append(PackageVersion("python", platform.python_version()))
    return tuple(found)


def _now_iso(given: str) -> str:
    if given:
        return given
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _check_inputs_exist(req: ReportRequest) -> None:
    """Fail on missing inputs before any work (and before any output folder is touched)."""
    if not Path(req.model).is_file():
        raise InputFileError(f"Model file {req.model} does not exist. Pass --model with the path of the trained model "
                             "(LightGBM .txt/.json, XGBoost .json/.ubj, .skops, or .joblib/.pkl with --trust-model).")
    if not Path(req.data).is_file():
        raise InputFileError(f"Data file {req.data} does not exist. Pass --data with the path of a CSV or Parquet file.")
    if req.previous is not None and not Path(req.previous).is_dir():
        raise InputFileError(f"--previous {req.previous} is not a folder; pass last month's report folder.")
    if req.campaign is not None and not Path(req.campaign).is_file():
        raise InputFileError(f"Campaign file {req.campaign} does not exist. Pass --campaign with a CSV of "
                             "customer id, arm (treatment/control) and observed churn.")
    bad = [f for f in req.formats if f not in ("html", "pdf")]
    if bad:
        raise InputFileError(f"--format {','.join(req.formats)}: unknown format(s) {', '.join(bad)}; use html, pdf or html,pdf.")


class _Timer:
    def __init__(self) -> None:
        self.timings: list[tuple[str, float]] = []

    def __call__(self, name: str, fn: Callable, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        self.timings.append((name, round(time.perf_counter() - t0, 3)))
        return result


def _display_rows(n: int, seed: int) -> np.ndarray:
    if n <= DISPLAY_ROWS:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=DISPLAY_ROWS, replace=False))


def run_report(req: ReportRequest, *, progress: Optional[Progress] = None) -> ReportOutcome:
    """Run the whole flow and publish the report folder atomically."""
    _check_inputs_exist(req)
    config = load_config(req.config)
    with staged_folder(req.out) as staging:
        return _build(req, config, staging, progress or Progress(quiet=True))


def run_demo(out: Path, *, n_customers: int, seed: int, lang: str = "en", formats: tuple[str, ...] = ("html", "pdf"),
             command: str = "", generated_at: str = "", progress: Optional[Progress] = None) -> ReportOutcome:
    """Generate the demo book, model and config into ``out/inputs`` and run the report path on them.

    Inputs and report are staged together, so a failed demo leaves ``out`` as it was.
    """
    from churnlens.demo import write_demo_inputs

    if n_customers < 500:
        raise InputFileError(f"--customers {n_customers} is too small for a meaningful demo; use at least 500.")
    out = Path(out).absolute()
    with staged_folder(out) as staging:
        inputs = write_demo_inputs(staging / "inputs", n_customers=n_customers, seed=seed)
        req = ReportRequest(model=inputs.model, data=inputs.customers, config=inputs.config, out=out, lang=lang,
                            formats=formats, command=command, generated_at=generated_at)
        _check_inputs_exist(req)
        return _build(req, load_config(inputs.config), staging, progress or Progress(quiet=True))


def _build(req: ReportRequest, config: Config, out: Path, progress: Progress) -> ReportOutcome:
    timer = _Timer()
    seed = config.seed
    model = timer("load model", attribution.load_model, req.model, model_format=req.model_format,
                  trust_model=req.trust_model)
    frame = timer("read data", read_table, req.data, id_column=config.id_column)
    source = Path(req.data).name
    check_columns(frame, config, source=source)
    aligned = timer("align", attribution.align, model, frame, source=source)
    X = aligned.X
    ids = frame[config.id_column].to_numpy()
    value = value_array(frame, config)
    label = frame[config.label_column].to_numpy().astype(int) if config.label_column else None

    with progress.task("Attributions (exact TreeSHAP)", len(X)) as advance:
        attr = timer("attributions", attribution.explain, model, X, customer_ids=ids,
                     output_space=config.output_space, progress=advance)
    rng = np.random.default_rng(seed)
    check_rows = np.sort(rng.choice(len(X), size=min(CROSS_CHECK_ROWS, len(X)), replace=False))
    cc = timer("cross-check", attribution.cross_check, model, X.iloc[check_rows],
               attr.values[check_rows].astype(np.float64))
    drivers = timer("global drivers", attribution.global_drivers, attr, X, config)
    codes = timer("reason codes", attribution.reason_codes, attr, X, config, k=config.reason_codes, lang=req.lang)

    churners = segmentation.select_churners(attr.score, selection=config.churners, label=label, value=value)
    with progress.task("Segmentation (HDBSCAN)", 1) as advance:
        seg = timer("segmentation", segmentation.segment, attr, churners, config=config.segmentation)
        advance(1)
    summaries = timer("describe segments", segmentation.describe, seg, attr, X, config, value=value)
    migration = None
    if req.previous is not None:
        previous = segmentation.load_previous(req.previous)
        summaries, migration = segmentation.match_previous(summaries, seg, previous)

    # ... evaluation / monitoring / campaign / playbook are wired in below as they land
    quality = None
    omitted: list[tuple[str, str]] = []

    examples = _examples(seg, summaries, attr, codes, config)
    facts = RunFacts(
        generated_at=_now_iso(req.generated_at),
        period=config.report.period or _now_iso(req.generated_at)[:7],
        title=config.report.title or "",
        institution=config.report.institution,
        command=req.command,
        seed=seed,
        model=model.info,
        inputs=_input_files(req, len(frame), staging=out),
        n_customers=len(frame),
        packages=package_versions(),
        timings=tuple(timer.timings),
        attributed=f"all {len(frame):,} customers",
    )
    context = ReportContext(
        lang=req.lang, facts=facts, config=config, attributions=attr, X=X,
        display_rows=_display_rows(len(X), seed), value=value, churners=churners, drivers=drivers,
        segmentation=seg, segments=summaries, plans=(), examples=examples,
        cross_check=CrossCheckResult(cc.n_rows, cc.max_abs_diff, cc.reference),
        quality=quality, monitoring=None, migration=migration, campaign=None,
        excluded_do_not_contact=0, control_count=0, omitted=tuple(omitted),
    )
    written = list(reports.render_documents(context, out, formats=req.formats))
    attribution.write_attributions(out / "attributions.parquet", attr)
    segmentation.write_segments_csv(out / "segments.csv", seg, summaries)
    segmentation.write_segment_signatures(out / "segment_signatures.json", summaries)
    _write_manifest(out, req, context)
    return ReportOutcome(Path(req.out), len(frame), churners.count, seg.n_segments,
                         tuple(sorted(p.name for p in out.iterdir() if p.is_file())), aligned.warnings)


def _input_files(req: ReportRequest, n_rows: int, *, staging: Path) -> tuple[InputFile, ...]:
    """Inputs with their SHA-256; paths inside the staging folder are shown at their final place."""

    def shown(p: Path) -> str:
        p = Path(p).absolute()
        return str(Path(req.out).absolute() / p.relative_to(staging)) if p.is_relative_to(staging) else str(p)

    roles = [("model", req.model), ("data", req.data), ("config", req.config), ("campaign", req.campaign)]
    return tuple(InputFile(role, shown(p), sha256_file(Path(p)), n_rows if role == "data" else None)
                 for role, p in roles if p is not None)


def _examples(seg, summaries, attr, codes, config: Config) -> tuple[CustomerExample, ...]:
    """The riskiest few churners of each segment, ids masked unless ``mask_ids: false``."""
    out = []
    for s in summaries:
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


def _write_manifest(out: Path, req: ReportRequest, ctx: ReportContext) -> None:
    facts = ctx.facts
    seg = ctx.segmentation
    manifest = {
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
            "segments": [{"key": s.key, "name_en": s.name_en, "name_zh": s.name_zh, "size": s.size}
                         for s in ctx.segments],
        },
        "timings_seconds": dict(facts.timings),
        "outputs": {},
    }
    for p in sorted(out.iterdir()):
        if p.is_file():
            manifest["outputs"][p.name] = sha256_file(p)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=_json_default),
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
