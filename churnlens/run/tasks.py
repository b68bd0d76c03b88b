"""The single-step commands (`explain`, `segment`, `evaluate`, `validate`) as library calls.

Each validates its inputs first and writes its outputs atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from churnlens import attribution
from churnlens import segmentation
from churnlens.actions import playbook
from churnlens.config import Config, load_config
from churnlens.io.tables import check_columns, check_unique_ids, read_table
from churnlens.errors import DataError, InputFileError
from churnlens.io.atomic import atomic_write_file, check_out, staged_folder, write_manifest
from churnlens.reports import words


def check_frame(frame: pd.DataFrame, config: Config, *, source: str) -> pd.DataFrame:
    """``frame`` after checking the columns the config names and that ids are unique."""
    check_columns(frame, config, source=source)
    check_unique_ids(frame[config.id_column].to_numpy(), config, source=source)
    return frame


def read_checked(data_path: Path, config: Config) -> pd.DataFrame:
    """The whole customer table (ids as text), checked as :func:`check_frame`."""
    if not Path(data_path).is_file():
        raise InputFileError(f"data: file {data_path} does not exist. Give the path of a CSV or Parquet file.",
                             argument="data")
    return check_frame(read_table(data_path, id_column=config.id_column), config, source=Path(data_path).name)


def _load(model_path: Path, data_path: Path, config_path: Optional[Path], *, trust_model: bool,
          model_format: Optional[str]):
    config = load_config(config_path)
    if not Path(model_path).is_file():
        raise InputFileError(f"model: file {model_path} does not exist. Give the path of an existing model file.",
                             argument="model")
    if not Path(data_path).is_file():
        raise InputFileError(f"data: file {data_path} does not exist. Give the path of a CSV or Parquet file.",
                             argument="data")
    model = attribution.load_model(model_path, model_format=model_format, trust_model=trust_model)
    frame = read_checked(data_path, config)
    aligned = attribution.align(model, frame, source=Path(data_path).name,
                                known=config.data_columns())
    return config, model, frame, aligned


def explain_to_parquet(model_path: Path, data_path: Path, config_path: Optional[Path], out: Path, *,
                       trust_model: bool = False, model_format: Optional[str] = None) -> int:
    """Compute exact attributions of every customer and write ``out`` (Parquet). Returns rows written."""
    if Path(out).suffix.lower() not in (".parquet", ".pq"):
        raise InputFileError(f"out: {out} must end in .parquet (the attributions file to write).", argument="out")
    config, model, frame, aligned = _load(model_path, data_path, config_path, trust_model=trust_model,
                                          model_format=model_format)
    attr = attribution.explain(model, aligned.X, customer_ids=frame[config.id_column].to_numpy(),
                               output_space=config.output_space)
    atomic_write_file(Path(out), lambda tmp: attribution.write_attributions(tmp, attr))
    return attr.n


@dataclass(frozen=True)
class SegmentOutcome:
    n_churners: int
    n_segments: int


def segment_attributions(attributions_path: Path, config_path: Optional[Path], out: Path) -> SegmentOutcome:
    """Select churners by score from an attributions file and segment them (no feature values needed).
    ``out`` is a segmentation folder (manifest schema ``churnlens.segments/1``): never a report folder."""
    check_out(out, kind="segments")
    config = load_config(config_path)
    if config.churners.by in ("label", "value_at_risk"):
        raise DataError(
            f"churners.by is {config.churners.by!r}, but segmenting an attributions file only has its scores "
            "(no labels or values). Use churners.by 'score' or 'top_fraction', or run the whole report.",
            key="churners.by"
        )
    attr = attribution.read_attributions(attributions_path)
    churners = segmentation.select_churners(attr.score, selection=config.churners)
    seg = segmentation.segment(attr, churners, config=config.segmentation)
    summaries = segmentation.describe(seg, attr, None, config)
    with staged_folder(out, kind="segments", keep=[p for p in (attributions_path, config_path) if p]) as staging:
        names = words.segment_names(summaries, config, words.MACHINE_LANG)  # machine words, no --lang
        segmentation.write_segments_csv(staging / "segments.csv", seg, summaries, names=names)
        segmentation.write_segment_signatures(staging / "segment_signatures.json", summaries, names=names)
        write_manifest(staging, "segments", {"inputs": _inputs(attributions=attributions_path, config=config_path)})
    return SegmentOutcome(churners.count, seg.n_segments)


def _inputs(**paths: Optional[Path]) -> list[dict]:
    """Manifest ``inputs`` entries (role, absolute path, SHA-256) of the given files."""
    from churnlens.io.tables import sha256_file

    return [{"role": role, "path": str(Path(p).absolute()), "sha256": sha256_file(Path(p))}
            for role, p in paths.items() if p is not None]


def validate_inputs(model_path: Path, data_path: Path, config_path: Optional[Path], *, trust_model: bool = False,
                    model_format: Optional[str] = None, previous: Optional[Path] = None,
                    campaign: Optional[Path] = None) -> str:
    """Check that model, data, config and the files they name fit together, with the same checks
    and messages as the report (:func:`churnlens.run.preflight.preflight`); returns a short
    report of what was found."""
    from churnlens.campaign.effect import campaign_effect
    from churnlens.run.pipeline import ReportRequest, check_request, with_overrides
    from churnlens.run.preflight import preflight

    req = ReportRequest(model=model_path, data=data_path, config=config_path, previous=previous, campaign=campaign,
                        formats=())
    check_request(req)
    config, model, frame, aligned = _load(model_path, data_path, config_path, trust_model=trust_model,
                                          model_format=model_format)
    config = with_overrides(config, req)
    checked = preflight(config, config_path=config_path, previous=previous, campaign=campaign)
    info = model.info
    rules = checked.rules
    sources = attribution.feature_sources(info.feature_names, config)
    source_frame = attribution.source_frame(aligned.X.iloc[:1000], sources)
    categorical = [c for c in source_frame.columns if not pd.api.types.is_numeric_dtype(source_frame[c])
                   or isinstance(source_frame[c].dtype, pd.CategoricalDtype)]
    playbook.validate_playbook(rules, features=sources.sources, config=config, categorical=categorical,
                               encoded={c: sources.source(c) for c in sources.columns})
    if checked.campaign is not None:
        campaign_effect(checked.campaign, known_ids=frame[config.id_column].to_numpy())
    undocumented = [f for f in info.feature_names if f not in config.features]
    lines = [
        f"OK: {Path(model_path).name} ({info.family}, {info.n_trees} trees, {info.n_features} features) "
        f"fits {Path(data_path).name} ({len(frame):,} rows).",
        f"  id column: {config.id_column}; value column: {config.value_column or '-'}; "
        f"label column: {config.label_column or '-'}; playbook: {len(rules)} rule(s)",
    ]
    if undocumented:
        lines.append(f"  note: {len(undocumented)} model feature(s) have no dictionary entry in the config "
                     f"(shown by their column names): {', '.join(undocumented[:10])}")
    lines += [f"  warning: {w}" for w in aligned.warnings]
    return "\n".join(lines)


def evaluate_models(model_paths: Sequence[Path], data_path: Path, config_path: Optional[Path], out: Path, *,
                    trust_model: bool = False, model_format: Optional[str] = None, lang: str = "en",
                    generated_at: str = "") -> str:
    """Score every model on the same labelled data, compare them, write the comparison. Returns the verdict.
    ``out`` is a model-comparison folder (``churnlens.evaluation/1``): never a report folder."""
    from churnlens.evaluation.quality import compare_models, evaluate
    from churnlens.reports.evaluation import write_evaluation

    check_out(out, kind="evaluation")
    config = load_config(config_path)
    if not config.label_column:
        raise DataError("evaluating models needs observed outcomes: set label_column in the config.",
                        key="label_column")
    missing = [str(p) for p in model_paths if not Path(p).is_file()]
    if missing:
        raise InputFileError(f"model: file(s) {', '.join(missing)} do not exist. Give existing model files.",
                             argument="model")
    frame = read_checked(data_path, config)
    source = Path(data_path).name
    label = frame[config.label_column].to_numpy().astype(int)
    names, hashes, scores, qualities = [], [], [], []
    for p in model_paths:
        model = attribution.load_model(p, model_format=model_format, trust_model=trust_model)
        aligned = attribution.align(model, frame, source=source, known=config.data_columns())
        score = model.predict_proba(aligned.X)
        names.append(Path(p).name)
        hashes.append(model.info.sha256)
        scores.append(score)
        qualities.append(evaluate(label, score, threshold=config.churners.threshold))
    comparison = compare_models(names, hashes, label, scores)
    keep = [p for p in (data_path, config_path, *model_paths) if p]
    with staged_folder(out, kind="evaluation", keep=keep) as staging:
        write_evaluation(staging, comparison, tuple(qualities), tuple(names), lang=lang, generated_at=generated_at)
        write_manifest(staging, "evaluation", {"generated_at": generated_at, "inputs": _inputs(
            data=data_path, config=config_path, **{f"model_{i + 1}": p for i, p in enumerate(model_paths)})})
    return words.note_text(comparison.verdict, lang)
