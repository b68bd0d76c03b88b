"""From computed :class:`~churnlens.results.Results` to the report folder.

Everything that depends on the report language, the timestamp or the output folder happens
here, so one computed run can be written in several languages (:meth:`churnlens.Run.write`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from churnlens import attribution, reports, segmentation
from churnlens.version import __version__
from churnlens.actions import playbook
from churnlens.attribution.registry import is_model_uri
from churnlens.actions.results import Refusals
from churnlens.attribution.results import Attributions, ScoreParity
from churnlens.config import Config
from churnlens.io import atomic, parallel
from churnlens.io.bom import add_utf8_bom
from churnlens.io.sources import TableSource, fingerprint
from churnlens.io.tables import sha256_file
from churnlens.monitoring.changes import schema_json
from churnlens.monitoring.results import DataSchema, MonthChanges, MonthSummary
from churnlens.monitoring.stability import reference_profile
from churnlens.progress import Progress
from churnlens.reports import words
from churnlens.reports.context import InputFile, PackageVersion, ReportContext, RunFacts
from churnlens.run.lists import explanations_frame, list_rows, retention_list
from churnlens.reports.cards import render_cards
from churnlens.reports.catalogue import LANGS
from churnlens.reports.words import attributed_text
from churnlens.reports.workbook import write_retention_workbook
from churnlens.io.csv_safety import write_csv
from churnlens.results import AlignedFeatures, Book, InputChecks, PopulationSample, Results, Selection
from churnlens.run.loop import PACKAGES, LoopInputs, installed_versions, now_iso, period  # noqa: F401 (PACKAGES re-exported)
from churnlens.run.loop_files import write_loop_files
from churnlens.run.request import ReportOutcome, ReportRequest
from churnlens.run.tables import tables
from churnlens.segmentation.results import ChurnerSet, SegmentRules, Segmentation, Segments

EXPLANATIONS_FILE = "explanations.parquet"


def package_versions() -> tuple[PackageVersion, ...]:
    return tuple(PackageVersion(n, v) for n, v in installed_versions().items())


def _shown(path, *, out: Path, staging: Path) -> str:
    """``path`` as it will be once the staging folder is published as ``out``."""
    p = Path(path).absolute()
    return str(Path(out).absolute() / p.relative_to(staging) if p.is_relative_to(staging) else p)


def _fingerprint(role: str, obj, *, out: Path, staging: Path, n_rows: Optional[int]) -> InputFile:
    """An input with its SHA-256 and, for the customer table and the outcomes, its rows; paths
    inside the staging folder are shown at their final place, in-memory inputs by their kind (a
    DataFrame is fingerprinted by pandas' row hashes)."""
    rows = n_rows
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


def input_files(results: Results, *, out: Path, staging: Path) -> tuple[InputFile, ...]:
    req, model = results[ReportRequest], results[attribution.LoadedModel]
    # a registry model is shown by its URI, with the SHA-256 of the artifact it resolved to
    shown = model if is_model_uri(req.model) else req.model
    roles = [("model", shown), ("data", req.data), ("config", req.config), ("campaign", req.campaign),
             ("outcomes", req.outcomes)]
    loop_in = results.get(LoopInputs)
    rows = {"data": results[Book].n,
            "outcomes": None if loop_in is None or loop_in.outcomes is None else len(loop_in.outcomes)}
    return tuple(_fingerprint(role, obj, out=out, staging=staging, n_rows=rows.get(role))
                 for role, obj in roles if obj is not None)


def run_facts(results: Results, *, out: Path, staging: Path) -> RunFacts:
    req, config, model = results[ReportRequest], results[Config], results[attribution.LoadedModel]
    facts = RunFacts(
        generated_at=now_iso(req.generated_at),
        period=period(req, config),
        title=config.report.title.get(req.lang) if config.report.title else "",
        institution=config.report.institution.get(req.lang),
        command=req.command,
        seed=config.seed,
        model=replace(model.info, path=_shown(model.info.path, out=out, staging=staging))
        if isinstance(req.model, (str, Path)) and not is_model_uri(req.model) else model.info,
        inputs=input_files(results, out=out, staging=staging),
        n_customers=results[Book].n,
        packages=package_versions(),
        attributed="",
        n_attributed=len(results[AlignedFeatures].rows),
        n_targeted=results[Selection].churners.count,
        n_sampled=results[Selection].n_sample,
    )
    return replace(facts, attributed=attributed_text(facts, "en"))


def machine_names(results: Results) -> dict[str, str]:
    """Segment names in machine words (the same in every report language)."""
    return words.segment_names(results[Segments].items, results[Config], words.MACHINE_LANG)


def write_attributions(results: Results, path: Path) -> None:
    """``attributions.parquet``, one row group per block of ``attribution.chunk_rows`` rows."""
    attr, step = results[Attributions], results[Config].attribution.chunk_rows
    writer = attribution.AttributionsWriter(path)
    for i in range(0, attr.n, step):
        writer.write(attribution.take(attr, np.arange(i, min(i + step, attr.n))))
    writer.close()


def folder_files(folder: Path) -> tuple[str, ...]:
    """Every file of a report folder (paths relative to it, ``/``-separated), as it is published."""
    return tuple(sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*")
                        if p.is_file() and p.name != atomic.STAGING_MARKER))


def write_report(results: Results, staging: Path, *, progress: Optional[Progress] = None) -> ReportOutcome:
    """Write every file of the report folder into ``staging`` (published by the caller).

    The results' :class:`~churnlens.run.request.ReportRequest` gives the language, formats,
    timestamp, command and final folder.
    """
    progress = progress or Progress(quiet=True)
    req, config = results[ReportRequest], results[Config]
    t0 = time.perf_counter()
    write_attributions(results, staging / "attributions.parquet")
    facts = run_facts(results, out=Path(req.out), staging=staging)
    context = ReportContext(req.lang, facts, results)

    def lists_and_tables() -> None:  # the lists, tables and cards: in a second process beside the documents
        machine = retention_list(results)
        people = {lang: machine if lang == words.MACHINE_LANG else retention_list(results, lang=lang)
                  for lang in LANGS}
        playbook.write_retention_list(staging / "retention_list.csv", machine)
        write_workbook(results, staging / "retention_list.xlsx", facts, machine, people=people[req.lang])
        write_explanations(staging / EXPLANATIONS_FILE, people)
        names = machine_names(results)
        seg, segments = results[Segmentation], results[Segments].items
        segmentation.write_segments_csv(staging / "segments.csv", seg, segments, names=names)
        segmentation.write_segment_signatures(staging / "segment_signatures.json", segments, names=names)
        write_tables(results, staging / "tables", machine)
        write_cards(results, context, staging, people[req.lang].frame)  # from the list just worded

    with parallel.beside(lists_and_tables), progress.task("Reports (HTML, PDF)", 1) as advance:
        reports.render_documents(context, staging, formats=req.formats)
        advance(1)
    summary = replace(results[MonthSummary], period=period(req, config),
                      folder=Path(req.out).name if req.out else "")
    write_loop_files(results, staging, summary)
    sample = results[PopulationSample]
    profile = reference_profile(sample.X, sample.attributions.score, label=period(req, config))
    (staging / "reference_profile.json").write_text(profile.to_json(), encoding="utf-8")
    if config.report.excel_bom:
        add_utf8_bom(staging)
    write_manifest(staging, context, data_source=data_source(results, out=Path(req.out), staging=staging))
    log_timings(results.timings + (("reports", round(time.perf_counter() - t0, 3)),))
    book = results[Book]
    warnings = run_warnings(results)
    return ReportOutcome(Path(req.out), book.n, results[ChurnerSet].count, results[Segmentation].n_segments,
                         folder_files(staging), tuple(t for _, t in warnings), tuple(c for c, _ in warnings))


def run_warnings(results: Results) -> tuple[tuple[str, str], ...]:
    """Every warning of the run as (code, text in machine words): the table's alignment warnings
    (``data``), do-not-contact ids that match no customer, last month's folder not matching its
    manifest."""
    out = [("data", w) for w in results[Book].warnings]
    checks = results.get(InputChecks)
    if checks is not None and checks.do_not_contact is not None and checks.do_not_contact.unmatched:
        m = checks.do_not_contact
        out.append(("do_not_contact_unmatched",
                    f"{m.unmatched:,} of the {m.listed:,} do-not-contact ids match no customer of this table "
                    "(check the id column and its format: leading zeros, spaces)"))
    if checks is not None and checks.previous is not None and not checks.previous.ok:
        p = checks.previous
        out.append(("previous_changed", "last month's folder does not match its manifest" + (
            f" (changed: {', '.join(p.changed)})" if p.changed else "") + (
            f" (missing: {', '.join(p.missing)})" if p.missing else "") + (
            f" (manifest {p.manifest})" if p.manifest != "ok" else "")))
    return tuple(out)


def write_cards(results: Results, context: ReportContext, staging: Path, people=None) -> tuple[Path, ...]:
    """``cards.html`` / ``cards.pdf``: relationship-manager cards of the list's first customers to
    contact, in the report language (:mod:`churnlens.reports.cards`); ``people`` is the retention
    list's frame in that language (computed when not given)."""
    if results[Config].report.cards.top_n == 0:
        return ()
    if people is None:
        people = retention_list(results, lang=context.lang).frame
    return render_cards(context, people, list_rows(results, people), staging, formats=results[ReportRequest].formats)


def write_explanations(path: Path, lists: dict) -> None:
    """``explanations.parquet``: the list's words per customer in every language
    (:func:`churnlens.run.lists.explanations_frame`), read by ``churnlens customer``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = explanations_frame(lists)
    pq.write_table(pa.table({c: pa.array(frame[c].tolist(), type=pa.string()) for c in frame.columns}), path)


def write_workbook(results: Results, path: Path, facts: RunFacts, machine, people=None) -> None:
    """``retention_list.xlsx`` for people, in the report language; ``retention_list.csv``
    stays in machine words."""
    req, config = results[ReportRequest], results[Config]
    if people is None:
        people = machine if req.lang == words.MACHINE_LANG else retention_list(results, lang=req.lang)
    spec = config.features.get(config.value_column or "")
    unit = None if spec is None or spec.unit is None else spec.unit if isinstance(spec.unit, str) \
        else spec.unit.get(req.lang)
    write_retention_workbook(path, people, lang=req.lang, unit=unit, period=facts.period,
                             generated_at=facts.generated_at)


def write_tables(results: Results, folder: Path, machine) -> None:
    """``tables/*.csv``: the reports' tables for BI tools (:func:`churnlens.run.tables.tables`);
    ``retention_plan.csv`` is the group-by of ``retention_list.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables(results, machine=machine).items():
        write_csv(frame, folder / f"{name}.csv")
    rules = results.get(SegmentRules)
    if rules is not None:  # segment_rules.csv (+ .sql, segment_quality.csv), business words in machine lang
        segmentation.write_segment_rules(folder, rules, words.rule_definitions(
            rules, results[Config], words.MACHINE_LANG, results[attribution.FeatureSources]))


def data_source(results: Results, *, out: Path, staging: Path) -> Optional[dict]:
    """Where the customer table came from: file / Parquet folder / SQL query (URL with the
    password masked, rows and their digest); None for a DataFrame. A path inside the staging
    folder (the demo's inputs) is shown at its final place, so reruns give the same manifest."""
    data = results[ReportRequest].data
    if not isinstance(data, TableSource):
        return None
    fp = fingerprint(data)
    if "path" in fp:
        fp["path"] = _shown(fp["path"], out=out, staging=staging)
    return fp


def log_timings(timings) -> None:
    """Run timings go to the log (``--verbose``), not into any file: outputs stay byte-identical."""
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
            "absent_columns": list(getattr(ctx.sources, "absent", ())) if ctx.sources else [],
        },
        "score_parity": None if ctx.get(ScoreParity) is None else asdict(ctx.get(ScoreParity)),
        "input_checks": _input_checks(ctx.get(InputChecks)),
        "data_schema": None if ctx.get(DataSchema) is None else schema_json(ctx.get(DataSchema)),
        "changes_since_previous": _changes(ctx.get(MonthChanges)),
        "refusals": None if ctx.get(Refusals) is None else asdict(ctx.get(Refusals)),
        "warnings": [{"code": c, "text": t} for c, t in run_warnings(ctx.results)],
    }


def _changes(c: Optional[MonthChanges]) -> Optional[dict]:
    """What changed since last month's folder (None without ``previous``), for machines."""
    if c is None:
        return None
    pairs = lambda xs: [{"what": x.what, "before": x.before, "after": x.after} for x in xs]  # noqa: E731
    return {"folder": c.folder, "manifest": c.manifest, "model_changed": c.model_changed,
            "model_sha256_before": c.model_before, "config": pairs(c.config),
            "schema_recorded": c.schema_recorded, "schema": pairs(c.schema), "packages": pairs(c.packages)}


def _input_checks(checks: Optional[InputChecks]) -> Optional[dict]:
    if checks is None:
        return None
    dnc, prev = checks.do_not_contact, checks.previous
    return {"do_not_contact": None if dnc is None else {"listed": dnc.listed, "matched": dnc.matched,
                                                        "unmatched": dnc.unmatched},
            "previous": None if prev is None else {"manifest": prev.manifest, "changed": list(prev.changed),
                                                   "missing": list(prev.missing)}}


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
