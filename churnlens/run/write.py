"""From a computed :class:`~churnlens.run.pipeline.RunState` to the report folder.

Everything that depends on the report language, the timestamp or the output folder happens
here, so one computed run can be written in several languages (:meth:`churnlens.Run.write`).
"""

from __future__ import annotations

import hashlib
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
from churnlens.attribution.registry import is_model_uri
from churnlens.io import atomic, parallel
from churnlens.io.bom import add_utf8_bom
from churnlens.io.sources import TableSource, fingerprint
from churnlens.io.tables import mask_id, sha256_file
from churnlens.monitoring.stability import reference_profile
from churnlens.progress import Progress
from churnlens.reports.context import (
    CustomerExample,
    InputFile,
    PackageVersion,
    ReportContext,
    RunFacts,
)
from churnlens.reports import words
from churnlens.reports.words import attributed_text
from churnlens.run.loop import write_loop_files
from churnlens.run.pipeline import ReportOutcome, RunState

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


def examples(state: RunState) -> tuple[CustomerExample, ...]:
    """The riskiest few churners of each segment of the run (see :func:`pick_examples`)."""
    return pick_examples(state.segmentation, state.segments, state.attributions, state.reasons, state.config)


def pick_examples(seg, summaries, attr, codes, config) -> tuple[CustomerExample, ...]:
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
                reasons=tuple((f, v) for f, v in zip(codes.features[r], codes.values[r]) if f),
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
    if isinstance(obj, TableSource):  # a file, a Parquet folder (digest of its files) or a query (of its rows)
        fp = fingerprint(obj)
        shown = fp["url"] if obj.kind == "sql" else _shown(obj.path, out=out, staging=staging)
        return InputFile(role, shown, fp.get("sha256") or fp["rows_sha256"], rows)
    return InputFile(role, _shown(obj, out=out, staging=staging), sha256_file(Path(obj)), rows)


def input_files(state: RunState, *, out: Path, staging: Path) -> tuple[InputFile, ...]:
    req = state.request
    # a registry model is shown by its URI, with the SHA-256 of the artifact it resolved to
    model = state.model if is_model_uri(req.model) else req.model
    roles = [("model", model), ("data", req.data), ("config", req.config), ("campaign", req.campaign),
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
        if isinstance(state.request.model, (str, Path)) and not is_model_uri(state.request.model)
        else state.model.info,
        inputs=input_files(state, out=out, staging=staging),
        n_customers=state.book.n,
        packages=package_versions(),
        attributed="",
        n_attributed=len(state.rows),
        n_targeted=state.book_churners.count,
        n_sampled=state.n_sample,
    )
    return replace(facts, attributed=attributed_text(facts, "en"))


def report_context(state: RunState, facts: RunFacts) -> ReportContext:
    """What both documents show, assembled from the stages' results."""
    pos = state.sample_pos
    return ReportContext(
        lang=state.request.lang, facts=facts, config=state.config, attributions=state.attributions, X=state.X,
        display_rows=pos[display_rows(len(pos), state.config.seed)], value=state.value, churners=state.churners,
        drivers=state.drivers, segmentation=state.segmentation, segments=state.segments, plans=state.plans,
        examples=examples(state), cross_check=state.cross_check,
        quality=state.quality, monitoring=state.monitoring, migration=state.migration, campaign=state.campaign,
        excluded_do_not_contact=state.retention.excluded_do_not_contact,
        control_count=state.retention.control_count, omitted=state.omitted,
        sources=state.sources, profiles=state.profiles, interactions=state.interactions,
        segment_rules=state.segment_rules,
        excluded_reasons=attribution.excluded_features(state.attributions.features, state.config),
        # the monthly loop
        backtest=state.backtest, in_sample=state.in_sample_figures, measured=state.measured, budget=state.budget_plan,
        trend=state.trend, rules=tuple(state.rules),
    )


def machine_names(state: RunState) -> dict[str, str]:
    """Segment names in machine words (the same in every report language)."""
    return words.segment_names(state.segments, state.config, words.MACHINE_LANG)


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
    t0 = time.perf_counter()
    write_attributions(state, staging / "attributions.parquet")
    facts = run_facts(state, out=Path(req.out), staging=staging)
    context = report_context(state, facts)

    def lists_and_tables() -> None:  # pure-Python writers: in a second process beside the documents
        playbook.write_retention_list(staging / "retention_list.csv", state.retention)
        write_workbook(state, staging / "retention_list.xlsx", facts)
        names = machine_names(state)
        segmentation.write_segments_csv(staging / "segments.csv", state.segmentation, state.segments, names=names)
        segmentation.write_segment_signatures(staging / "segment_signatures.json", state.segments, names=names)
        write_tables(state, staging / "tables")

    with parallel.beside(lists_and_tables), progress.task("Reports (HTML, PDF)", 1) as advance:
        reports.render_documents(context, staging, formats=req.formats)
        advance(1)
    write_loop_files(state, staging)
    profile = reference_profile(state.sample_X, state.attributions.score[state.sample_pos], label=period(state))
    (staging / "reference_profile.json").write_text(profile.to_json(), encoding="utf-8")
    if state.config.report.excel_bom:
        add_utf8_bom(staging)
    write_manifest(staging, context, data_source=data_source(state, out=Path(req.out), staging=staging))
    log_timings(state.timings + (("reports", round(time.perf_counter() - t0, 3)),))
    return ReportOutcome(Path(req.out), state.book.n, state.churners.count, state.segmentation.n_segments,
                         tuple(sorted(p.name for p in staging.iterdir() if p.is_file())), state.book.warnings)


def write_workbook(state: RunState, path: Path, facts: RunFacts) -> None:
    """``retention_list.xlsx`` for people, in the report language, when XlsxWriter (extra
    ``churnlens[xlsx]``) is installed; ``retention_list.csv`` stays in machine words."""
    try:
        import xlsxwriter  # noqa: F401
    except ImportError:
        return
    from churnlens.reports.workbook import write_retention_workbook
    from churnlens.run.stages import retention_list

    lang, config = state.request.lang, state.config
    people = state.retention if lang == words.MACHINE_LANG else retention_list(state, lang=lang)
    actions = {r.action.en: r.action.get(lang) for r in state.rules}
    frame = people.frame.assign(action=people.frame["action"].map(lambda a: actions.get(a, a)))
    spec = config.features.get(config.value_column or "")
    write_retention_workbook(path, replace(people, frame=frame), lang=lang, unit=spec.unit if spec else None,
                             period=facts.period, generated_at=facts.generated_at)


def write_tables(state: RunState, folder: Path) -> None:
    """``tables/*.csv``: the reports' tables for BI tools. ``retention_plan.csv`` is the
    group-by of ``retention_list.csv`` (:func:`churnlens.actions.playbook.retention_plan`)."""
    folder.mkdir(parents=True, exist_ok=True)
    playbook.retention_plan(state.retention.frame).to_csv(folder / "retention_plan.csv", index=False, encoding="utf-8")
    state.profiles.frame.to_csv(folder / "segment_profiles.csv", index=False, encoding="utf-8")
    attribution.drivers_table(state.drivers).to_csv(folder / "drivers.csv", index=False, encoding="utf-8")
    if state.segment_rules is not None:  # segment_rules.csv (+ .sql, segment_quality.csv), business words in machine lang
        segmentation.write_segment_rules(folder, state.segment_rules, words.rule_definitions(
            state.segment_rules, state.config, words.MACHINE_LANG, state.sources))


def data_source(state: RunState, *, out: Path, staging: Path) -> Optional[dict]:
    """Where the customer table came from: file / Parquet folder / SQL query (URL with the
    password masked, rows and their digest); None for a DataFrame. A path inside the staging
    folder (the demo's inputs) is shown at its final place, so reruns give the same manifest."""
    data = state.request.data
    if not isinstance(data, TableSource):
        return None
    fp = fingerprint(data)
    if "path" in fp:
        fp["path"] = _shown(fp["path"], out=out, staging=staging)
    return fp


def log_timings(timings) -> None:
    """Run timings go to the log (``--verbose``), not into any file: outputs stay byte-identical."""
    import logging

    log = logging.getLogger("churnlens.timings")
    for name, seconds in timings:
        log.info("%s: %.3f s", name, seconds)


def manifest(ctx: ReportContext, *, data_source: Optional[dict] = None) -> dict:
    """``manifest.json`` without its ``schema`` marker and ``outputs`` (the files' hashes), which
    :func:`churnlens.io.atomic.write_manifest` adds."""
    facts, seg = ctx.facts, ctx.segmentation
    return {
        "churnlens_version": __version__,
        "generated_at": facts.generated_at,
        "command": facts.command,
        "lang": ctx.lang,
        "seed": facts.seed,
        "inputs": [asdict(f) for f in facts.inputs],
        "data_source": data_source,
        "model": asdict(facts.model),
        "config": ctx.config.model_dump(mode="json"),
        "packages": {p.name: p.version for p in facts.packages},
        "attribution": {
            "method": ctx.attributions.method,
            "output_space": ctx.attributions.output_space,
            "attributed": facts.attributed,
            "additivity_max_error": ctx.attributions.additivity_max_error,
            "additivity_tolerance": ctx.attributions.additivity_tolerance,
            "cross_check": asdict(ctx.cross_check),
        },
        "churners": {"by": ctx.churners.by, "rule": words.churner_rule(ctx.churners, words.MACHINE_LANG), "count": ctx.churners.count},
        "segmentation": {
            "n_segments": seg.n_segments,
            "representation": words.representation(seg, words.MACHINE_LANG),
            "min_cluster_size": seg.min_cluster_size,
            "n_fitted": seg.n_fitted,
            "seed": seg.seed,
            "note": words.segmentation_note(seg, words.MACHINE_LANG),
            "note_codes": [n.code for n in seg.notes],
            "stability": asdict(seg.stability),
            "noise": seg.noise,
            "n_assigned": seg.n_assigned,
            "min_samples": seg.min_samples,
            "fit_min_cluster_size": seg.fit_min_cluster_size,
            "segments": [{"key": s.key, "name": words.segment_name(s, ctx.config, words.MACHINE_LANG),
                          "size": s.size, "stability_jaccard": s.stability} for s in ctx.segments],
            **material_manifest(ctx),
        },
        "dictionary": {
            "mapped_columns": [{"column": c, "feature": f, "how": h} for c, f, h in ctx.sources.mapped]
            if ctx.sources else [],
            "undeclared_features": list(ctx.sources.undeclared) if ctx.sources else [],
            "excluded_from_reasons": [{"feature": f, "cause": c} for f, c in ctx.excluded_reasons],
        },
    }


def material_manifest(ctx: ReportContext) -> dict:
    """The material-driver segmentation's numbers for ``manifest.json`` (segments by key)."""
    seg = ctx.segmentation
    key = {s.segment_id: s.key for s in ctx.segments}
    ids = range(seg.n_segments)
    return {
        "materiality": seg.materiality,
        "material_floor": seg.material_floor,
        "n_material": seg.n_material,
        "reference": None if seg.reference is None else [float(x) for x in seg.reference],
        "segment_drivers": {key.get(i, str(i)): list(seg.segment_drivers[i]) for i in ids
                            if i < len(seg.segment_drivers)},
        "flags": {key.get(i, str(i)): list(seg.flags[i]) for i in ids if i < len(seg.flags)},
        "overlap": {"keys": [key.get(i, str(i)) for i in ids],
                    "counts": [] if seg.overlap is None else seg.overlap.tolist()},
        "combinations": [{"size": c.size, "parts": [key.get(p, "MIX") for p in c.parts]} for c in seg.combinations],
        "mixed": None if seg.mixed is None else {"size": seg.mixed.size, "share": seg.mixed.share,
                                                 "counts": dict(seg.mixed.counts)},
    }


def write_manifest(out: Path, ctx: ReportContext, *, data_source: Optional[dict] = None) -> None:
    """``manifest.json``: schema ``churnlens.report/1`` (how churnlens recognises its own folder),
    the run's record, and ``outputs``: the SHA-256 of every other file in the folder."""
    atomic.write_manifest(out, "report", manifest(ctx, data_source=data_source), default=_json_default)


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
