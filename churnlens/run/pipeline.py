"""The monthly report flow: model + customer table + config -> report folder (SPEC.md).

``churnlens report`` and ``churnlens demo`` both call :func:`run_report`. Inputs are
validated before anything is written; outputs are staged and moved into place atomically.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd

from churnlens import attribution
from churnlens import reports
from churnlens import segmentation
from churnlens import __version__
from churnlens.config import Config, beside_config, load_config
from churnlens.io.tables import check_columns, mask_id, sha256_file, value_array
from churnlens.io.sources import TableSource, fingerprint, resolve_data
from churnlens.io.bom import add_utf8_bom
from churnlens.attribution.registry import is_model_uri
from churnlens.actions import playbook
from churnlens.campaign.effect import campaign_effect, read_campaign
from churnlens.errors import ConfigError, DataError, InputFileError
from churnlens.evaluation.quality import evaluate
from churnlens.monitoring.stability import ReferenceProfile, monitor, reference_profile
from churnlens.io.atomic import staged_folder
from churnlens.progress import Progress
from churnlens.reports.render import attributed_text
from churnlens.reports.context import (
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

    model: Path | str  # file path, or an MLflow model URI (models:/NAME/STAGE, runs:/RUN/path)
    data: "Path | str | TableSource | None"  # None: the config's data block
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
    attribute: Optional[str] = None  # "targeted" | "all": overrides config attribution.mode
    engine: str = "local"  # "local" | "dask"
    scheduler: Optional[str] = None  # Dask scheduler address; None starts a local cluster
    query: Optional[str] = None  # SQL selecting the table when ``data`` is a database URL
    encoding: Optional[str] = None  # CSV text encoding (overrides data.encoding)
    period: Optional[str] = None  # YYYY-MM: overrides report.period


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
    if not is_model_uri(req.model) and not Path(req.model).is_file():
        raise InputFileError(f"Model file {req.model} does not exist. Pass --model with the path of the trained model "
                             "(LightGBM .txt/.json, XGBoost .json/.ubj, .skops, or .joblib/.pkl with --trust-model).")
    if req.data.kind != "sql" and not req.data.path.exists():
        raise InputFileError(f"Data file {req.data.location} does not exist. Pass --data with the path of a CSV or "
                             "Parquet file (or a Parquet folder, or a database URL with --query).")
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
    from churnlens.run.engine import make_engine

    config = _with_overrides(load_config(req.config), req)
    req = replace(req, data=resolve_data(req.data, query=req.query, encoding=req.encoding, config=config,
                                         config_path=req.config))
    _check_inputs_exist(req)
    engine = make_engine(req.engine, scheduler=req.scheduler)
    with staged_folder(req.out) as staging, engine:
        return _build(req, config, staging, progress or Progress(quiet=True), engine)


def _with_overrides(config: Config, req: ReportRequest) -> Config:
    """Command-line options that override config keys (``--attribute``), and file paths in the
    config (logo, do-not-contact list) made relative to the config file's folder."""
    report = config.report
    files = {k: str(beside_config(req.config, getattr(report, k))) for k in ("logo", "do_not_contact")
             if getattr(report, k)}
    update: dict = {"report": report.model_copy(update=files)} if files else {}
    if req.period is not None:
        update["report"] = update.get("report", report).model_copy(update={"period": req.period})
    if req.attribute is not None:
        update["attribution"] = config.attribution.model_copy(update={"mode": req.attribute})
    return config.model_copy(update=update) if update else config


def run_demo(out: Path, *, n_customers: int, seed: int, lang: str = "en", formats: tuple[str, ...] = ("html", "pdf"),
             command: str = "", generated_at: str = "", progress: Optional[Progress] = None) -> ReportOutcome:
    """Generate the demo book, model and config into ``out/inputs`` and run the report path on them.

    Inputs and report are staged together, so a failed demo leaves ``out`` as it was.
    """
    from churnlens.demo.book import write_demo_inputs

    if n_customers < 500:
        raise InputFileError(f"--customers {n_customers} is too small for a meaningful demo; use at least 500.")
    out = Path(out).absolute()
    with staged_folder(out) as staging:
        inputs = write_demo_inputs(staging / "inputs", n_customers=n_customers, seed=seed)
        req = ReportRequest(model=inputs.model, data=resolve_data(inputs.customers), config=inputs.config, out=out, lang=lang,
                            formats=formats, command=command, generated_at=generated_at)
        _check_inputs_exist(req)
        return _build(req, _with_overrides(load_config(inputs.config), req), staging, progress or Progress(quiet=True))


@dataclass(frozen=True)
class _Book:
    """What the scan keeps of every customer: a few numbers each, never the feature matrix."""

    ids: np.ndarray  # (n,)
    score: np.ndarray  # (n,) predicted churn probability
    value: Optional[np.ndarray]  # (n,) money at risk
    label: Optional[np.ndarray]  # (n,) observed churn
    kept: pd.DataFrame  # aligned features of the rows kept during the scan (index = book row)
    sample: np.ndarray  # (n,) bool: the population sample (see population_sample)
    warnings: tuple[str, ...]

    @property
    def n(self) -> int:
        return int(self.ids.shape[0])


def _score_chunk(X: pd.DataFrame, model) -> np.ndarray:
    return model.predict_proba(X)


def _explain_chunk(item, model, output_space: str, config: Config, k: int, lang: str):
    """Attributions, reason codes and global-driver sums of one block of customers (row-wise
    or additive: any split into blocks gives the same numbers)."""
    X, ids, weight = item
    attr = attribution.explain(model, X, customer_ids=ids, output_space=output_space, chunk_rows=len(X))
    attr = replace(attr, weight=weight)
    return attr, attribution.reason_codes(attr, X, config, k=k, lang=lang), attribution.driver_sums(attr, config)


def _decided_churners(config: Config, score: np.ndarray, label: Optional[np.ndarray]) -> np.ndarray:
    """Rows of one chunk whose features the scan keeps besides the sample: every row the churner
    rule can decide from the chunk alone (all rows with ``churnlens.attribution.mode: all``). Rules that
    need the whole book (top fraction, value at risk) keep none; a second pass gathers them."""
    if config.attribution.mode == "all":
        return np.ones(len(score), dtype=bool)
    if config.churners.by == "score":
        return score >= config.churners.threshold
    if config.churners.by == "label" and label is not None:
        return label == 1
    return np.zeros(len(score), dtype=bool)


def _sample_keys(ids: np.ndarray, seed: int) -> np.ndarray:
    """Key of each customer for the population sample: first 8 bytes of SHA-256(seed, id)."""
    import hashlib

    prefix = f"churnlens-sample:{seed}:".encode()
    return np.fromiter((int.from_bytes(hashlib.sha256(prefix + str(i).encode()).digest()[:8], "big") for i in ids),
                       dtype=np.uint64, count=len(ids))


def population_sample(ids: np.ndarray, *, size: int, seed: int) -> np.ndarray:
    """Deterministic uniform sample of ``size`` customers (all when the book is smaller).

    The ``size`` customers with the smallest keys SHA-256("churnlens-sample:<seed>:<id>")
    (ties by position) are sampled: the same customers on every run, whatever the row order
    or chunking, and computable while streaming (see :class:`_BottomK`).
    """
    n = ids.shape[0]
    if size >= n:
        return np.ones(n, dtype=bool)
    order = np.lexsort((np.arange(n), _sample_keys(ids, seed)))
    mask = np.zeros(n, dtype=bool)
    mask[order[:size]] = True
    return mask


class _BottomK:
    """Streaming version of :func:`population_sample`: keeps the features of the ``k`` rows
    with the smallest (key, position) seen so far, so memory stays bounded by ``k`` rows."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.keys = np.empty(0, dtype=np.uint64)
        self.X: Optional[pd.DataFrame] = None

    def add(self, keys: np.ndarray, X: pd.DataFrame) -> None:
        """``X`` is indexed by book position, in order; ``keys`` aligned with its rows."""
        all_keys = np.concatenate([self.keys, keys])
        X_all = X if self.X is None else pd.concat([self.X, X])
        if len(all_keys) > self.k:
            best = np.sort(np.lexsort((X_all.index.to_numpy(), all_keys))[:self.k])
            all_keys, X_all = all_keys[best], X_all.iloc[best]
        self.keys, self.X = all_keys, X_all


def _scan(req: ReportRequest, config: Config, model, engine, progress: Progress, source: str) -> _Book:
    """Pass 1 over the table: check columns, align, score every customer, and keep the features
    of the population sample and of the churners decidable chunk by chunk. Memory holds a few
    numbers per customer plus those rows, never the whole feature matrix."""
    from collections import deque

    from churnlens.io.tables import check_unique_ids, iter_table

    ids_parts, value_parts, label_parts, score_parts, kept = [], [], [], [], []
    pending: deque = deque()  # chunks sent to the engine, awaiting their scores
    warnings: list[str] = []
    start = 0

    def aligned_chunks():
        nonlocal start
        for chunk in iter_table(req.data, id_column=config.id_column, chunk_rows=config.attribution.chunk_rows):
            try:
                check_columns(chunk, config, source=source)
                aligned = attribution.align(model, chunk, source=source, known=config.data_columns())
            except DataError as err:
                if start == 0:
                    raise
                # problems found in a later chunk: say where, since counts in the message are per chunk
                raise DataError(f"{err} (found in rows {start + 1:,}-{start + len(chunk):,} of {source})") from None
            warnings.extend(w for w in aligned.warnings if w not in warnings)
            ids = chunk[config.id_column].to_numpy()
            label = chunk[config.label_column].to_numpy().astype(np.int8) if config.label_column else None
            X = aligned.X.set_axis(pd.RangeIndex(start, start + len(chunk)))
            start += len(chunk)
            ids_parts.append(ids)
            value_parts.append(value_array(chunk, config))
            if label is not None:
                label_parts.append(label)
            pending.append((ids, X, label))
            yield X

    sample = _BottomK(config.attribution.sample)
    with progress.task("Reading and scoring customers", 1):
        for score in engine.map(_score_chunk, aligned_chunks(), shared=(model,)):
            ids, X, label = pending.popleft()
            score_parts.append(score)
            sample.add(_sample_keys(ids, config.seed), X)
            kept.append(X[_decided_churners(config, score, label)])
    ids = np.concatenate(ids_parts)
    check_unique_ids(ids, config, source=source)
    kept_all = pd.concat(kept + ([sample.X] if sample.X is not None else []))
    kept_all = kept_all[~kept_all.index.duplicated()].sort_index()
    in_sample = np.zeros(len(ids), dtype=bool)
    if sample.X is not None:
        in_sample[sample.X.index.to_numpy()] = True
    return _Book(
        ids=ids,
        sample=in_sample,
        score=np.concatenate(score_parts),
        value=np.concatenate(value_parts) if config.value_column else None,
        label=np.concatenate(label_parts).astype(int) if config.label_column else None,
        kept=kept_all,
        warnings=tuple(warnings),
    )


def _gather(req: ReportRequest, config: Config, model, book: _Book, rows: np.ndarray, source: str) -> pd.DataFrame:
    """Aligned features of ``rows`` (book positions, sorted): from the scan when it kept them,
    else from a second pass over the table."""
    if np.isin(rows, book.kept.index.to_numpy()).all():
        return book.kept.loc[rows]
    from churnlens.io.tables import iter_table

    mask = np.zeros(book.n, dtype=bool)
    mask[rows] = True
    parts = [attribution.align(model, chunk, source=source, known=config.data_columns()).X
             for chunk in iter_table(req.data, id_column=config.id_column, chunk_rows=config.attribution.chunk_rows,
                                     rows=mask)]
    return pd.concat(parts)


def _attribute(engine, model, X: pd.DataFrame, ids: np.ndarray, weight: np.ndarray, config: Config, lang: str,
               progress: Progress, path: Path):
    """Exact attributions, reason codes and global-driver sums of ``X``, block by block on the
    engine; each block is appended to ``attributions.parquet`` as it arrives."""
    step = config.attribution.chunk_rows
    blocks = ((X.iloc[i:i + step], ids[i:i + step], weight[i:i + step]) for i in range(0, len(X), step))
    attrs, codes, sums = [], [], None
    writer = attribution.AttributionsWriter(path)
    with progress.task("Attributions (exact TreeSHAP)", len(X)) as advance:
        for a, c, s in engine.map(_explain_chunk, blocks,
                                  shared=(model, config.output_space, config, config.reason_codes, lang)):
            writer.write(a)
            attrs.append(a)
            codes.append(c)
            sums = s if sums is None else sums + s
            advance(a.n)
    writer.close()
    return attribution.concat(attrs), attribution.concat_reasons(codes), sums


def _build(req: ReportRequest, config: Config, out: Path, progress: Progress, engine=None) -> ReportOutcome:
    from churnlens.run.engine import LocalEngine

    engine = engine or LocalEngine()
    timer = _Timer()
    seed = config.seed
    source = req.data.name
    model = timer("load model", attribution.load_model, req.model, model_format=req.model_format,
                  trust_model=req.trust_model, levels=config.levels())
    # Everything the user can get wrong is checked before the expensive steps.
    rules = playbook.config_rules(config, req.config)
    do_not_contact = None
    if config.report.do_not_contact:
        do_not_contact = playbook.read_id_list(config.report.do_not_contact,
                                               id_column=config.id_column)
    salt = _id_salt(config)
    campaign_table = read_campaign(req.campaign, id_column=config.id_column) if req.campaign else None

    book = timer("read and score", _scan, req, config, model, engine, progress, source)
    categorical = [c for c in book.kept.columns if not pd.api.types.is_numeric_dtype(book.kept[c])]
    playbook.validate_playbook(rules, features=model.info.feature_names, config=config, categorical=categorical)
    if campaign_table is not None:  # ids, arms and outcomes checked before attributions are computed
        campaign_effect(campaign_table, known_ids=book.ids)

    book_churners = segmentation.select_churners(book.score, selection=config.churners, label=book.label,
                                                 value=book.value)
    in_sample = np.ones(book.n, dtype=bool) if config.attribution.mode == "all" else book.sample
    rows = np.flatnonzero(book_churners.mask | in_sample)
    X = timer("gather", _gather, req, config, model, book, rows, source)
    ids = book.ids[rows]
    n_sample = int(in_sample.sum())
    weight = np.where(in_sample[rows], book.n / n_sample, 0.0)
    attr, codes, sums = timer("attributions", _attribute, engine, model, X, ids, weight, config, req.lang,
                              progress, out / "attributions.parquet")
    value = None if book.value is None else book.value[rows]
    sample_pos = np.flatnonzero(in_sample[rows])  # positions of the population sample among attributed rows
    attr_sample, X_sample = attribution.take(attr, sample_pos), X.iloc[sample_pos]

    rng = np.random.default_rng(seed)
    check_rows = np.sort(rng.choice(len(X), size=min(CROSS_CHECK_ROWS, len(X)), replace=False))
    cc = timer("cross-check", attribution.cross_check, model, X.iloc[check_rows],
               attr.values[check_rows].astype(np.float64), output_space=attr.output_space)
    # means from the weighted sums of every block; direction and risk ranges from the sample
    drivers = timer("global drivers", attribution.global_drivers, attr_sample, X_sample, config, sums=sums)

    churners = replace(book_churners, mask=book_churners.mask[rows])
    with progress.task("Segmentation (HDBSCAN)", 1) as advance:
        seg = timer("segmentation", segmentation.segment, attr, churners, config=config.segmentation)
        advance(1)
    summaries = timer("describe segments", segmentation.describe, seg, attr, X, config, value=value)
    migration, previous = None, None
    if req.previous is not None:
        previous = segmentation.load_previous(req.previous)
        summaries, migration = segmentation.match_previous(summaries, seg, previous)

    omitted: list[tuple[str, str]] = []
    quality = None
    if book.label is not None:
        quality = timer("model quality", evaluate, book.label, book.score, threshold=config.churners.threshold)
    else:
        omitted.append(("performance", "no_label_column"))
    profile = reference_profile(X_sample, attr_sample.score, label=_period(config, req))
    monitoring = None
    if req.previous is not None:
        monitoring = timer("monitoring", _monitor, req.previous, profile_of=X_sample, attr=attr_sample, seed=seed)
    else:
        omitted.append(("monitoring", "no_previous"))

    seg_keys = np.full(len(X), "", dtype=object)
    for s in summaries:
        seg_keys[seg.rows[seg.labels == s.segment_id]] = s.key
    targeting = playbook.select_targets(ids, churners.mask, control_share=config.report.control_share, seed=seed,
                                        do_not_contact=do_not_contact)
    customer_rule = playbook.match_customer_rules(rules, attr.values, X, attr.features)
    plans = playbook.plan_segments(summaries, rules, segment_keys=seg_keys, X=X, score=attr.score,
                                   value=value, targeting=targeting, customer_rule=customer_rule)
    retention = timer("retention list", playbook.retention_list, ids, targeting, segment=seg_keys, score=attr.score,
                      value=value, reasons=codes.texts,
                      rule_index=playbook.effective_rules(customer_rule, seg_keys, plans), rules=rules,
                      lang=req.lang, rank_by=config.report.rank_by, hash_ids=config.report.hash_ids, salt=salt)

    campaign = None
    if campaign_table is not None:
        campaign = timer("campaign effect", campaign_effect, campaign_table, known_ids=book.ids,
                         value=pd.Series(book.value, index=book.ids) if book.value is not None else None,
                         # the campaign targeted last month's list: its segments are last month's
                         segments=None if previous is None else pd.Series(previous.keys, index=previous.customer_ids))
    else:
        omitted.append(("campaign", "no_campaign"))

    examples = _examples(seg, summaries, attr, codes, config)
    facts = RunFacts(
        generated_at=_now_iso(req.generated_at),
        period=_period(config, req),
        title=config.report.title.get(req.lang) if config.report.title else "",
        institution=config.report.institution.get(req.lang),
        command=req.command,
        seed=seed,
        model=model.info,
        inputs=_input_files(req, book.n, staging=out, model_sha256=model.info.sha256),
        n_customers=book.n,
        packages=package_versions(),
        timings=tuple(timer.timings),
        attributed="",
        n_attributed=len(rows),
        n_targeted=book_churners.count,
        n_sampled=n_sample,
    )
    facts = replace(facts, attributed=attributed_text(facts, "en"))
    context = ReportContext(
        lang=req.lang, facts=facts, config=config, attributions=attr, X=X,
        display_rows=sample_pos[_display_rows(len(sample_pos), seed)], value=value, churners=churners,
        drivers=drivers, segmentation=seg, segments=summaries, plans=plans, examples=examples,
        cross_check=CrossCheckResult(cc.n_rows, cc.max_abs_diff, cc.reference),
        quality=quality, monitoring=monitoring, migration=migration, campaign=campaign,
        excluded_do_not_contact=retention.excluded_do_not_contact, control_count=retention.control_count,
        omitted=tuple(omitted),
    )
    with progress.task("Reports (HTML, PDF)", 1) as advance:
        timer("reports", reports.render_documents, context, out, formats=req.formats)
        advance(1)
    playbook.write_retention_list(out / "retention_list.csv", retention)
    _write_workbook(out / "retention_list.xlsx", retention, config, req.lang, facts)
    segmentation.write_segments_csv(out / "segments.csv", seg, summaries)
    segmentation.write_segment_signatures(out / "segment_signatures.json", summaries)
    (out / "reference_profile.json").write_text(profile.to_json(), encoding="utf-8")
    if config.report.excel_bom:
        add_utf8_bom(out)
    _write_manifest(out, req, replace(context, facts=replace(facts, timings=tuple(timer.timings))))
    return ReportOutcome(Path(req.out), book.n, churners.count, seg.n_segments,
                         tuple(sorted(p.name for p in out.iterdir() if p.is_file())), book.warnings)


def _write_workbook(path: Path, retention, config: Config, lang: str, facts: RunFacts) -> None:
    """``retention_list.xlsx`` when openpyxl (extra ``churnlens[xlsx]``) is installed."""
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        return
    from churnlens.reports.workbook import write_retention_workbook

    spec = config.features.get(config.value_column or "")
    write_retention_workbook(path, retention, lang=lang, unit=spec.unit if spec else None, period=facts.period,
                             generated_at=facts.generated_at)


def _id_salt(config: Config) -> str:
    """Secret salt for ``report.hash_ids``: without one, hashed ids can be reversed by hashing every id."""
    if not config.report.hash_ids:
        return ""
    salt = os.environ.get("CHURNLENS_ID_SALT", "")
    if len(salt) < 8:
        raise ConfigError("report.hash_ids is true but the environment variable CHURNLENS_ID_SALT is not set "
                          "(or shorter than 8 characters). Set it to a secret kept by your team, the same every "
                          "month, so hashed ids stay comparable and cannot be reversed by hashing every id.")
    return salt


def _period(config: Config, req: ReportRequest) -> str:
    return config.report.period or _now_iso(req.generated_at)[:7]


def _monitor(previous: Path, *, profile_of: pd.DataFrame, attr, seed: int):
    """Stability against last month's report folder: PSI from its reference profile, driver drift
    from its attributions."""
    profile_path = Path(previous) / "reference_profile.json"
    if not profile_path.is_file():
        raise InputFileError(f"--previous {previous} has no reference_profile.json; pass a report folder written "
                             "by churnlens report (0.1 or later).")
    profile = ReferenceProfile.from_json(profile_path.read_text(encoding="utf-8"), source=str(profile_path))
    prev_attr = attribution.read_attributions(Path(previous) / "attributions.parquet")
    prev_values = None
    if prev_attr.features == attr.features:  # drift compares last month's population sample with this month's
        prev_values = prev_attr.values[prev_attr.weights > 0]
    return monitor(profile, profile_of, attr.score, prev_values, attr.values if prev_values is not None else None,
                   attr.features, reference_label=f"{Path(previous).name} ({profile.label or 'previous run'})",
                   reference_label_zh=f"{Path(previous).name}（{profile.label or '上一期'}）", seed=seed)


def _input_files(req: ReportRequest, n_rows: int, *, staging: Path, model_sha256: str) -> tuple[InputFile, ...]:
    """Inputs with their SHA-256; paths inside the staging folder are shown at their final place.
    A registry model is shown by its URI; a folder or SQL table by its fingerprint's digest."""

    def shown(p: Path) -> str:
        p = Path(p).absolute()
        return str(Path(req.out).absolute() / p.relative_to(staging)) if p.is_relative_to(staging) else str(p)

    data = fingerprint(req.data)
    model = (InputFile("model", str(req.model), model_sha256) if is_model_uri(req.model)
             else InputFile("model", shown(req.model), sha256_file(Path(req.model))))
    data_file = InputFile("data", data.get("url") or shown(req.data.path), data.get("sha256") or data["rows_sha256"],
                          n_rows)
    roles = [("config", req.config), ("campaign", req.campaign)]
    return (model, data_file) + tuple(InputFile(role, shown(p), sha256_file(Path(p))) for role, p in roles
                                      if p is not None)


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
        "data_source": fingerprint(req.data),
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
