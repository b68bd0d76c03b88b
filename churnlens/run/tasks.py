"""The single-step commands (`explain`, `segment`, `evaluate`, `validate`) as library calls.

Each validates its inputs first and writes its outputs atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

import pandas as pd

from churnlens import attribution
from churnlens import segmentation
from churnlens.actions import playbook
from churnlens.config import Config, load_config
from churnlens.io.tables import check_columns, check_unique_ids, missing_data, read_table, value_array
from churnlens.errors import DataError, InputFileError
from churnlens.io.atomic import (atomic_write_file, check_out, check_out_file, check_out_vs_inputs, staged_folder,
                                 write_manifest)
from churnlens.io.sources import TableSource, resolve_data
from churnlens.attribution.registry import is_model_uri
from churnlens.reports import words
from churnlens.segmentation.history import segments_frame
from churnlens.io.tables import sha256_file
from churnlens.campaign.effect import campaign_effect
from churnlens.run.pipeline import ReportRequest, check_request, with_overrides
from churnlens.run.preflight import preflight, published_ids
from churnlens.evaluation.compare import compare_with_evidence
from churnlens.evaluation.quality import evaluate
from churnlens.reports.evaluation import write_evaluation


def check_frame(frame: pd.DataFrame, config: Config, *, source: str) -> pd.DataFrame:
    """``frame`` after checking the columns the config names and that ids are unique."""
    check_columns(frame, config, source=source)
    check_unique_ids(frame[config.id_column].to_numpy(), config, source=source)
    return frame


def data_source(data, config: Config, config_path: Optional[Path] = None, *, query: Optional[str] = None,
                encoding: Optional[str] = None) -> TableSource:
    """``data`` (file, Parquet folder, database URL, or None for the config's ``data:`` block) as
    the :class:`~churnlens.io.sources.TableSource` to read, checked to exist."""
    source = resolve_data(data, query=query, encoding=encoding, config=config, config_path=config_path)
    if source.kind != "sql" and not source.path.exists():
        raise missing_data(source.location)
    return source


def read_checked(data, config: Config, *, query: Optional[str] = None, encoding: Optional[str] = None,
                 config_path: Optional[Path] = None) -> pd.DataFrame:
    """The whole customer table (ids as text), checked as :func:`check_frame`."""
    source = data_source(data, config, config_path, query=query, encoding=encoding)
    return check_frame(read_table(source, id_column=config.id_column), config, source=source.name)


def model_name(model) -> str:
    """How messages name a model: its URI, or its file name."""
    return str(model) if is_model_uri(model) else Path(model).name


def _check_model(model_path) -> None:
    if not is_model_uri(model_path) and not Path(model_path).is_file():
        raise InputFileError(f"model: file {model_path} does not exist. Give the path of an existing model file.",
                             argument="model")


def _load(model_path, data, config_path: Optional[Path], *, trust_model: bool, model_format: Optional[str],
          query: Optional[str] = None, encoding: Optional[str] = None):
    config = load_config(config_path)
    _check_model(model_path)
    source = data_source(data, config, config_path, query=query, encoding=encoding)
    model = attribution.load_model(model_path, model_format=model_format, trust_model=trust_model,
                                   levels=config.levels())
    frame = check_frame(read_table(source, id_column=config.id_column), config, source=source.name)
    aligned = attribution.align(model, frame, source=source.name, known=config.data_columns())
    return config, model, frame, aligned, source


def explain_to_parquet(model_path, data_path, config_path: Optional[Path], out: Path, *,
                       trust_model: bool = False, model_format: Optional[str] = None, query: Optional[str] = None,
                       encoding: Optional[str] = None) -> int:
    """Compute exact attributions of every customer and write ``out`` (Parquet). Returns rows written."""
    if Path(out).suffix.lower() not in (".parquet", ".pq"):
        raise InputFileError(f"out: {out} must end in .parquet (the attributions file to write).", argument="out")
    # the one output guard, before any work: not an input, not inside an input dataset, not a foreign file
    check_out_file(out, inputs=[model_path, data_path, config_path])
    config, model, frame, aligned, _ = _load(model_path, data_path, config_path, trust_model=trust_model,
                                             model_format=model_format, query=query, encoding=encoding)
    attr = attribution.explain(model, aligned.X, customer_ids=frame[config.id_column].to_numpy(),
                               output_space=config.output_space)
    # one column per source feature, as in the report folder: encoded columns summed (signed)
    sources = attribution.feature_sources(model.info.feature_names, config)
    if not sources.identity:
        attr = attribution.to_sources(attr, sources)
    atomic_write_file(Path(out), lambda tmp: attribution.write_attributions(tmp, attr))
    return attr.n


@dataclass(frozen=True)
class SegmentOutcome:
    n_churners: int
    n_segments: int


@dataclass(frozen=True, eq=False)
class Segmented:
    """Churners selected by score from attributions alone and segmented (no feature values).

    ``frame()`` gives the rows of ``segments.csv`` (segment names in machine words)."""

    churners: segmentation.ChurnerSet
    segmentation: segmentation.Segmentation
    segments: tuple  # SegmentSummary
    config: Config

    def frame(self) -> pd.DataFrame:
        names = words.segment_names(self.segments, self.config, words.MACHINE_LANG)
        return segments_frame(self.segmentation, self.segments, names=names)


def segment_churners(attr: attribution.Attributions, config: Config) -> Segmented:
    """Select churners by score from ``attr`` and segment them by their attributions.

    Raises
    ------
    DataError
        ``churners.by`` needs labels or values, which attributions alone do not have.
    """
    if config.churners.by in ("label", "value_at_risk"):
        raise DataError(
            f"churners.by is {config.churners.by!r}, but segmenting from attributions alone only has its scores "
            "(no labels or values). Use churners.by 'score' or 'top_fraction', or run the whole report.",
            key="churners.by"
        )
    churners = segmentation.select_churners(attr.score, selection=config.churners)
    seg = segmentation.segment(attr, churners, config=config.segmentation)
    return Segmented(churners, seg, tuple(segmentation.describe(seg, attr, None, config)), config)


def segment_attributions(attributions_path: Path, config_path: Optional[Path], out: Path) -> SegmentOutcome:
    """Select churners by score from an attributions file and segment them (no feature values needed).
    ``out`` is a segmentation folder (manifest schema ``churnlens.segments/1``): never a report folder."""
    check_out_vs_inputs(out, [attributions_path, config_path])
    check_out(out, kind="segments")
    config = load_config(config_path)
    done = segment_churners(attribution.read_attributions(attributions_path), config)
    churners, seg, summaries = done.churners, done.segmentation, done.segments
    with staged_folder(out, kind="segments", keep=[p for p in (attributions_path, config_path) if p]) as staging:
        names = words.segment_names(summaries, config, words.MACHINE_LANG)  # machine words, no --lang
        segmentation.write_segments_csv(staging / "segments.csv", seg, summaries, names=names)
        segmentation.write_segment_signatures(staging / "segment_signatures.json", summaries, names=names)
        write_manifest(staging, "segments", {"inputs": _inputs(attributions=attributions_path, config=config_path)})
    return SegmentOutcome(churners.count, seg.n_segments)


def _inputs(**paths: Optional[Path]) -> list[dict]:
    """Manifest ``inputs`` entries (role, absolute path, SHA-256) of the given files."""

    return [{"role": role, "path": str(Path(p).absolute()), "sha256": sha256_file(Path(p))}
            for role, p in paths.items() if p is not None]


def validate_inputs(model_path, data_path, config_path: Optional[Path], *, trust_model: bool = False,
                    model_format: Optional[str] = None, query: Optional[str] = None,
                    encoding: Optional[str] = None, previous: Optional[Path] = None,
                    campaign: Optional[Path] = None, strict: bool = False) -> str:
    """Check that model, data, config and the files they name fit together, with the same checks
    and messages as the report (:func:`churnlens.run.preflight.preflight`); returns a short
    report of what was found."""

    req = ReportRequest(model=model_path, data=data_path, config=config_path, previous=previous, campaign=campaign,
                        formats=(), query=query, encoding=encoding)
    check_request(req)
    config, model, frame, aligned, source = _load(model_path, data_path, config_path, trust_model=trust_model,
                                                  model_format=model_format, query=query, encoding=encoding)
    config = with_overrides(config, req)
    # the scores churnlens computes are the owner's (trees beyond the best iteration dropped)
    parity = attribution.require_parity(attribution.score_parity(model, aligned.X))
    checked = preflight(config, config_path=config_path, previous=previous, campaign=campaign, strict=strict)
    info = model.info
    rules = checked.rules
    sources = attribution.feature_sources(info.feature_names, config)
    source_frame = attribution.source_frame(aligned.X.iloc[:1000], sources)
    categorical = [c for c in source_frame.columns if not pd.api.types.is_numeric_dtype(source_frame[c])
                   or isinstance(source_frame[c].dtype, pd.CategoricalDtype)]
    playbook.validate_playbook(rules, features=sources.sources, config=config, categorical=categorical,
                               encoded={c: sources.source(c) for c in sources.columns})
    if checked.campaign is not None:
        # churned customers have left this month's table: last month's published scores count too
        campaign_effect(checked.campaign, known_ids=frame[config.id_column].to_numpy(),
                        published_ids=published_ids(previous))
    # the same mapping as the report's: encoded columns count under their source feature
    undocumented = list(sources.undeclared)
    lines = [
        f"OK: {model_name(model_path)} ({info.family}, {info.n_trees} trees, {info.n_features} features) "
        f"fits {source.name} ({len(frame):,} rows).",
        f"  scores: equal to {info.family}'s own predict_proba on {parity.n_rows:,} rows (largest difference "
        f"{parity.max_abs_diff:.1e}, tolerance {parity.tolerance:g}); {_trees_line(info)}",
        f"  id column: {config.id_column}; value column: {config.value_column or '-'}; "
        f"label column: {config.label_column or '-'}; playbook: {len(rules)} rule(s)",
    ]
    if undocumented:
        lines.append(f"  note: {len(undocumented)} model feature(s) have no dictionary entry in the config "
                     f"(shown by their column names): {', '.join(undocumented[:10])}")
    if sources.absent:
        lines.append(f"  note: {len(sources.absent)} encoded column(s) listed in the dictionary are not columns of "
                     "this model (the dictionary may serve other models of the book): "
                     + ", ".join(f"{c} ({f})" for f, c in sources.absent[:10]))
    lines += [f"  warning: {w}" for w in aligned.warnings]
    return "\n".join(lines)


def _trees_line(info) -> str:
    """Which trees count, for validate's report."""
    if info.trees_dropped:
        return (f"{info.n_trees} of the {info.trees_in_file} trees stored are used (best_iteration "
                f"{info.best_iteration}; the rest are ignored, as the model's own predict_proba ignores them)")
    if info.best_iteration is not None:
        return f"all {info.n_trees} trees used (best_iteration {info.best_iteration})"
    return f"all {info.n_trees} trees used"


def _model_inputs(path: Path, data_for: Mapping[str, Path], frame: pd.DataFrame, config: Config, source: str):
    """The table a model is scored on: its own ``data_for`` file (rows matched to ``data`` by
    id, in ``data``'s order), else ``data`` itself."""
    own = data_for.get(Path(path).name, data_for.get(str(path)))
    if own is None:
        return frame, source
    other = read_table(own, id_column=config.id_column)
    name = Path(own).name
    if config.id_column not in other.columns:
        raise DataError(f"data_for: {name} (for {Path(path).name}) has no id column {config.id_column!r}.",
                        argument="data_for")
    check_unique_ids(other[config.id_column].to_numpy(), config, source=name)
    ids = frame[config.id_column].astype(str)
    other = other.set_index(other[config.id_column].astype(str))
    missing = ids[~ids.isin(other.index)]
    extra = len(other) - (len(ids) - len(missing))
    if len(missing) or extra:
        raise DataError(f"data_for: {name} (for {Path(path).name}) must hold exactly the customers of the data "
                        f"table; {len(missing)} are missing (e.g. {missing.head(3).tolist()}) and {extra} are extra. "
                        "Encode the same customer table for every model.", argument="data_for")
    return other.loc[ids.to_numpy()].reset_index(drop=True), name


def evaluate_models(model_paths: Sequence, data_path, config_path: Optional[Path], out: Path, *,
                    trust_model: bool = False, model_format: Optional[str] = None, lang: str = "en",
                    generated_at: str = "", query: Optional[str] = None, encoding: Optional[str] = None,
                    data_for: Optional[Mapping[str, Path]] = None, formats: tuple[str, ...] = ("html", "pdf")) -> str:
    """Score every model on the same labelled customers, compare them with evidence (bootstrap
    intervals, DeLong's test, ``evaluation.rank_by``) and write the comparison. Returns the verdict.

    ``data_for`` maps a model (file name or path as given) to its own encoding of the customer
    table; labels and values always come from ``data_path``. ``out`` is a model-comparison folder
    (``churnlens.evaluation/1``): never a report folder.
    """

    check_out_vs_inputs(out, [data_path, config_path, *model_paths, *(data_for or {}).values()])
    check_out(out, kind="evaluation")
    config = load_config(config_path)
    data_for = dict(data_for or {})
    if not config.label_column:
        raise DataError("evaluating models needs observed outcomes: set label_column in the config.",
                        key="label_column")
    missing = [str(p) for p in model_paths if not is_model_uri(p) and not Path(p).is_file()]
    if missing:
        raise InputFileError(f"model: file(s) {', '.join(missing)} do not exist. Give existing model files.",
                             argument="model")
    missing = [str(p) for p in data_for.values() if not Path(p).is_file()]
    if missing:
        raise InputFileError(f"data_for: file(s) {', '.join(missing)} do not exist.", argument="data_for")
    unknown = sorted(set(data_for) - {Path(p).name for p in model_paths} - {str(p) for p in model_paths})
    if unknown:
        raise DataError(f"data_for: {unknown} name no model; use a model's file name, e.g. "
                        f"{Path(model_paths[0]).name}=encoded.csv.", argument="data_for")
    bad = [f for f in formats if f not in ("html", "pdf")]
    if bad:
        raise InputFileError(f"formats: unknown format(s) {', '.join(bad)}; use html, pdf or both.", argument="formats")
    data = data_source(data_path, config, config_path, query=query, encoding=encoding)
    frame = check_frame(read_table(data, id_column=config.id_column), config, source=data.name)
    source = data.name
    label = frame[config.label_column].to_numpy().astype(int)
    names, hashes, scores, qualities = [], [], [], []
    for p in model_paths:
        model = attribution.load_model(p, model_format=model_format, trust_model=trust_model,
                                       levels=config.levels())
        table, table_source = _model_inputs(p, data_for, frame, config, source)
        aligned = attribution.align(model, table, source=table_source, known=config.data_columns())
        attribution.require_parity(attribution.score_parity(model, aligned.X))
        score = model.predict_proba(aligned.X)
        names.append(model_name(p))
        hashes.append(model.info.sha256)
        scores.append(score)
        qualities.append(evaluate(label, score, threshold=config.churners.threshold))
    ev = config.evaluation
    comparison = compare_with_evidence(names, hashes, label, scores,
                                       value=value_array(frame, config) if config.value_column else None,
                                       rank_by=ev.rank_by, k=ev.k, uplift=ev.uplift, cost=ev.cost,
                                       n_boot=ev.bootstrap, seed=config.seed, level=ev.level)
    files = [p for p in (data_path, config_path, *model_paths, *data_for.values())
             if p is not None and not is_model_uri(p) and Path(str(p)).is_file()]
    with staged_folder(out, kind="evaluation", keep=files) as staging:
        write_evaluation(staging, comparison, tuple(qualities), tuple(names), lang=lang, generated_at=generated_at,
                         formats=formats)
        write_manifest(staging, "evaluation", {"generated_at": generated_at, "inputs": _inputs(
            config=config_path, **({"data": Path(data_path)} if data_path is not None and Path(str(data_path)).is_file()
                                   else {}),
            **{f"model_{i + 1}": p for i, p in enumerate(model_paths) if not is_model_uri(p)},
            **{f"data_for_{i + 1}": p for i, p in enumerate(data_for.values())})})
    return words.comparison_verdict(comparison, lang)
