"""The steps of the report flow: scoring, attributions, segments, checks and the action plan.

Each step is a function declared with :func:`~churnlens.run.step.step`: it receives the
results it needs and returns the result it gives (numbers and codes; words and files come
later, in :mod:`churnlens.reports` and :mod:`churnlens.run.write`). The loop's steps are in
:mod:`churnlens.run.loop`; :data:`churnlens.run.flow.FLOW` puts them all together.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import pandas as pd

from churnlens import attribution, segmentation
import churnlens.attribution.io  # noqa: F401  (attribution.io.stored_additivity_error)
from churnlens.actions import playbook
from churnlens.actions import keep
from churnlens.actions.keep import KeepOptions
from churnlens.actions.results import ActionPlan, FinalPlan, Playbook, Refusals
from churnlens.attribution.model import with_levels
from churnlens.attribution.results import (
    Attributions, CrossCheck, FeatureSources, GlobalDrivers, Interactions, ReasonCodes, ScoreParity, StoredPrecision,
)
from churnlens.attribution.drivers import DriverSums
from churnlens.attribution import LoadedModel
from churnlens.campaign.effect import campaign_effect
from churnlens.campaign.results import CampaignEffect
from churnlens.config import Config
from churnlens.constants import INTERACTION_DRIVERS, INTERACTION_PAIRS, INTERACTION_ROWS
from churnlens.errors import DataError, InputFileError
from churnlens.evaluation.distribution import score_distribution
from churnlens.evaluation.quality import evaluate
from churnlens.evaluation.fairness import fairness_of_run
from churnlens.evaluation.results import Fairness, ModelQuality, ScoreDistribution
from churnlens.io.parallel import ahead
from churnlens.io.tables import check_columns, check_unique_ids, iter_table, value_array
from churnlens.monitoring.results import Monitoring
from churnlens.monitoring.stability import ReferenceProfile, monitor
from churnlens.notes import Note
from churnlens.results import (
    AlignedFeatures, Book, Checked, DisplayRows, InputChecks, Omitted, PopulationSample, Selection, SourceFeatures,
)
from churnlens.evaluation.backtest import read_published
from churnlens.io.ids import match_ids
from churnlens.run.preflight import preflight, published_ids
from churnlens.run.request import Env, ReportRequest
from churnlens.run.step import step
from churnlens.sampling import BottomK, hash_keys
from churnlens.segmentation import claims as seg_claims, families as seg_families
from churnlens.segmentation.history import current_keys, lineage_key_map
from churnlens.segmentation.results import (
    ChurnerSet, Claims, Examples, Families, Migration, SegmentationBasis, SegmentEvidences, SegmentProfiles,
    SegmentRules, Segmentation, Segments,
)
from churnlens.segmentation.results import MIXED

CROSS_CHECK_ROWS = 200
DISPLAY_ROWS = 5_000
EXAMPLES_PER_SEGMENT = 5


# --- load model ---------------------------------------------------------------------------------

@step("load model", needs=(ReportRequest, Config), gives=(LoadedModel, FeatureSources, Playbook, Checked))
def load_inputs(env: Env, req: ReportRequest, config: Config):
    """The model, the playbook, the do-not-contact list, the id salt, the logo, last month's
    folder and the campaign table: everything the user can get wrong is read and checked before
    the expensive steps, by the same :func:`~churnlens.run.preflight.preflight` as ``validate``."""
    if isinstance(req.model, attribution.LoadedModel):
        model = with_levels(req.model, config.levels())
    else:
        model = attribution.load_model(req.model, model_format=req.model_format, trust_model=req.trust_model,
                                       levels=config.levels())
    checked = preflight(config, config_path=req.config, previous=req.previous, campaign=req.campaign,
                        strict=req.strict)
    # encoded columns -> source features (and dictionary.require_all) before any work
    sources = attribution.feature_sources(model.info.feature_names, config)
    return model, sources, Playbook(checked.rules), checked


# --- read and score -----------------------------------------------------------------------------

def table_chunks(data, *, id_column: str, chunk_rows: int, rows: Optional[np.ndarray] = None) -> Iterator[pd.DataFrame]:
    """Chunks of the customer table, a file (streamed) or a DataFrame, indexed by book row,
    ids as text; ``rows`` (bool, shape (n,)) keeps only those rows."""
    if not isinstance(data, pd.DataFrame):
        yield from iter_table(data, id_column=id_column, chunk_rows=chunk_rows, rows=rows)
        return
    if len(data) == 0:
        raise DataError("data: the DataFrame has no rows. Pass at least one customer.", argument="data")
    for start in range(0, len(data), chunk_rows):
        chunk = data.iloc[start:start + chunk_rows].copy()
        chunk.index = pd.RangeIndex(start, start + len(chunk))
        if rows is not None:
            chunk = chunk[rows[start:start + len(chunk)]]
        if len(chunk) == 0:
            continue
        if id_column in chunk.columns:
            chunk[id_column] = chunk[id_column].astype(str)
        yield chunk


def _score_chunk(X: pd.DataFrame, model) -> np.ndarray:
    return model.predict_proba(X)


def _decided_churners(config: Config, score: np.ndarray, label: Optional[np.ndarray]) -> np.ndarray:
    """Rows of one chunk whose features the scan keeps besides the sample: every row the churner
    rule can decide from the chunk alone (all rows with ``attribution.mode: all``). Rules that
    need the whole book (top fraction, value at risk) keep none; a second pass gathers them."""
    if config.attribution.mode == "all":
        return np.ones(len(score), dtype=bool)
    if config.churners.by == "score":
        return score >= config.churners.threshold
    if config.churners.by == "label" and label is not None:
        return label == 1
    return np.zeros(len(score), dtype=bool)


class _Scan:
    """Pass 1 over the table, chunk by chunk: check columns, align, and remember a few numbers
    per customer (the chunk's features wait in ``pending`` until the engine returns its scores)."""

    def __init__(self, req: ReportRequest, config: Config, model) -> None:
        self.req, self.config, self.model, self.start = req, config, model, 0
        self.ids, self.value, self.label, self.score, self.kept = [], [], [], [], []
        self.pending: deque = deque()
        self.warnings: list[str] = []

    def aligned(self) -> Iterator[pd.DataFrame]:
        config, source = self.config, self.req.source
        for chunk in table_chunks(self.req.data, id_column=config.id_column,
                                  chunk_rows=config.attribution.chunk_rows):
            try:
                check_columns(chunk, config, source=source)
                aligned = attribution.align(self.model, chunk, source=source, known=config.data_columns())
            except DataError as err:
                if self.start == 0:
                    raise
                # problems found in a later chunk: say where, since counts in the message are per chunk
                raise DataError(f"{err} (found in rows {self.start + 1:,}-{self.start + len(chunk):,} of "
                                f"{source})", argument=err.argument, key=err.key) from None
            self.warnings.extend(w for w in aligned.warnings if w not in self.warnings)
            ids = chunk[config.id_column].to_numpy()
            label = chunk[config.label_column].to_numpy().astype(np.int8) if config.label_column else None
            X = aligned.X.set_axis(pd.RangeIndex(self.start, self.start + len(chunk)))
            self.start += len(chunk)
            self.ids.append(ids)
            self.value.append(value_array(chunk, config))
            if label is not None:
                self.label.append(label)
            # the sampling keys are hashed here, in the reader's thread, while the last chunk is scored
            self.pending.append((ids, X, label, hash_keys(ids, purpose="sample", seed=config.seed)))
            yield X


def _scan(env: Env, req: ReportRequest, config: Config, model) -> Book:
    """Score every customer; keep the features of the population sample and of the churners
    decidable chunk by chunk. Memory holds a few numbers per customer plus those rows."""
    scan, sample = _Scan(req, config, model), BottomK(config.attribution.sample)
    with env.progress.task("Reading and scoring customers", 1):
        # the next chunk is read, aligned and hashed while this one is scored (which releases the GIL)
        for score in env.engine.map(_score_chunk, ahead(scan.aligned()), shared=(model,)):
            ids, X, label, keys = scan.pending.popleft()
            scan.score.append(score)
            sample.add(keys, X)
            keep = _decided_churners(config, score, label)
            scan.kept.append(X if keep.all() else X[keep])
    ids = np.concatenate(scan.ids)
    check_unique_ids(ids, config, source=req.source)
    if sum(len(k) for k in scan.kept) == len(ids):  # every row kept (mode all): the chunks are the book, in order
        kept = scan.kept[0] if len(scan.kept) == 1 else pd.concat(scan.kept)
        scan.kept.clear()
    else:
        kept = pd.concat(scan.kept + ([sample.X] if sample.X is not None else []))
        kept = kept[~kept.index.duplicated()].sort_index()
    in_sample = np.zeros(len(ids), dtype=bool)
    if sample.X is not None:
        in_sample[sample.X.index.to_numpy()] = True
    return Book(
        ids=ids, sample=in_sample, score=np.concatenate(scan.score),
        value=np.concatenate(scan.value) if config.value_column else None,
        label=np.concatenate(scan.label).astype(int) if config.label_column else None,
        kept=kept, warnings=tuple(scan.warnings),
    )


@step("read and score", needs=(ReportRequest, Config, LoadedModel, FeatureSources, Playbook, Checked),
      gives=(Book, Selection))
def read_and_score(env: Env, req: ReportRequest, config: Config, model, sources, book_rules: Playbook,
                   checked: Checked):
    """Scan the book, check the playbook and campaign against it, and select the churners."""
    book = _scan(env, req, config, model)
    kept = attribution.source_frame(book.kept.iloc[:1000], sources)
    categorical = [c for c in kept.columns if not pd.api.types.is_numeric_dtype(kept[c])
                   or isinstance(kept[c].dtype, pd.CategoricalDtype)]
    playbook.validate_playbook(book_rules.rules, features=sources.sources, config=config, categorical=categorical,
                               encoded={c: sources.source(c) for c in sources.columns})
    if checked.campaign is not None:  # ids, arms and outcomes checked before attributions are computed
        # matched against this month's table and last month's published scores: churners have left the table
        campaign_effect(checked.campaign, known_ids=book.ids, published_ids=published_ids(req.previous))
    churners = segmentation.select_churners(book.score, selection=config.churners, label=book.label,
                                            value=book.value)
    in_sample = np.ones(book.n, dtype=bool) if config.attribution.mode == "all" else book.sample
    return book, Selection(churners, in_sample)


@step("score parity", needs=(LoadedModel, Book), gives=ScoreParity)
def score_parity(env: Env, model, book: Book) -> ScoreParity:
    """Our scores against the library's own prediction of the model as stored (the owner's
    scores), on a deterministic sample of the scanned rows: a mismatch stops the run."""
    return attribution.require_parity(attribution.score_parity(model, book.kept))


@step("input checks", needs=(Book, Checked), gives=InputChecks)
def input_checks(env: Env, book: Book, checked: Checked) -> InputChecks:
    """Do-not-contact ids that match no customer (a compliance risk, not a no-op) and last
    month's folder against its manifest."""
    return InputChecks(match_ids(book.ids, checked.do_not_contact) if checked.do_not_contact is not None else None,
                       checked.previous_check)


# --- gather and attribute -----------------------------------------------------------------------

@step("gather", needs=(ReportRequest, Config, LoadedModel, Book, Selection), gives=AlignedFeatures)
def gather(env: Env, req: ReportRequest, config: Config, model, book: Book, selection: Selection) -> AlignedFeatures:
    """Aligned features of the customers to attribute: from the scan when it kept them, else
    from a second pass over the table."""
    rows = np.flatnonzero(selection.churners.mask | selection.in_sample)
    kept = book.kept.index.to_numpy()
    if len(kept) == len(rows) and np.array_equal(kept, rows):  # the scan kept exactly these rows (mode all)
        X = book.kept
    elif np.isin(rows, kept).all():
        X = book.kept.loc[rows]
    else:
        mask = np.zeros(book.n, dtype=bool)
        mask[rows] = True
        X = pd.concat([attribution.align(model, chunk, source=req.source, known=config.data_columns()).X
                       for chunk in table_chunks(req.data, id_column=config.id_column,
                                                 chunk_rows=config.attribution.chunk_rows, rows=mask)])
    return AlignedFeatures(rows=rows, frame=X, value=None if book.value is None else book.value[rows],
                           label=None if book.label is None else book.label[rows],
                           in_population=selection.in_sample[rows])


def _explain_chunk(item, model, output_space: str, config: Config, k: int, sources=None):
    """Attributions (summed to the source features), reason codes and global-driver sums of one
    block of customers (row-wise or additive: any split into blocks gives the same numbers)."""
    X, ids, weight = item
    attr = attribution.explain(model, X, customer_ids=ids, output_space=output_space, chunk_rows=len(X))
    attr = replace(attr, weight=weight)
    if sources is not None:
        attr, X = attribution.to_sources(attr, sources), attribution.source_frame(X, sources)
    return attr, attribution.reason_codes(attr, X, config, k=k), attribution.driver_sums(attr, config)


@step("attributions", needs=(Config, LoadedModel, FeatureSources, Book, Selection, AlignedFeatures),
      gives=(Attributions, ReasonCodes, DriverSums, SourceFeatures))
def attribute(env: Env, config: Config, model, sources, book: Book, selection: Selection,
              aligned: AlignedFeatures):
    """Exact attributions, reason codes and global-driver sums, block by block on the engine.
    Each customer of the population sample weighs ``n / n_sample`` in the global views.
    Encoded columns are summed to their source features, whose values (one-hot columns
    decoded) are the :class:`SourceFeatures`."""
    X, rows = aligned.frame, aligned.rows
    ids = book.ids[rows]
    weight = np.where(aligned.in_population, book.n / selection.n_sample, 0.0)
    step_rows = config.attribution.chunk_rows
    blocks = ((X.iloc[i:i + step_rows], ids[i:i + step_rows], weight[i:i + step_rows])
              for i in range(0, len(X), step_rows))
    attrs, codes, sums = [], [], None
    shared = (model, config.output_space, config, config.k_reasons, sources)
    with env.progress.task("Attributions (exact TreeSHAP)", len(X)) as advance:
        for a, c, s in env.engine.map(_explain_chunk, blocks, shared=shared):
            attrs.append(a)
            codes.append(c)
            sums = s if sums is None else sums + s
            advance(a.n)
    return (attribution.concat(attrs), attribution.concat_reasons(codes), sums,
            SourceFeatures(attribution.source_frame(X, sources)))


@step("population sample", needs=(AlignedFeatures, Attributions, SourceFeatures), gives=PopulationSample)
def population_sample(env: Env, aligned: AlignedFeatures, attr: Attributions, X: SourceFeatures) -> PopulationSample:
    """The global views' customers among the attributed rows (every row with ``attribution.mode: all``:
    then the attributions and features themselves, not copies)."""
    pos = np.flatnonzero(aligned.in_population)
    if len(pos) == attr.n:
        return PopulationSample(pos, attr, X.frame)
    return PopulationSample(pos, attribution.take(attr, pos), X.frame.iloc[pos])


@step("stored precision", needs=(Attributions,), gives=StoredPrecision)
def stored_precision(env: Env, attr: Attributions) -> StoredPrecision:
    """Additivity recomputed from the float32 values ``attributions.parquet`` stores."""
    return StoredPrecision(attribution.io.stored_additivity_error(attr))


@step("display rows", needs=(Config, PopulationSample), gives=DisplayRows)
def display_rows(env: Env, config: Config, sample: PopulationSample) -> DisplayRows:
    """A deterministic sample of at most 5,000 rows of the population sample for point charts."""
    pos = sample.pos
    if len(pos) <= DISPLAY_ROWS:
        return DisplayRows(pos)
    rng = np.random.default_rng(config.seed)
    return DisplayRows(pos[np.sort(rng.choice(len(pos), size=DISPLAY_ROWS, replace=False))])


# --- checks and summaries -----------------------------------------------------------------------

@step("cross-check", needs=(Config, LoadedModel, FeatureSources, AlignedFeatures, Attributions), gives=CrossCheck)
def cross_check(env: Env, config: Config, model, sources, aligned: AlignedFeatures, attr: Attributions) -> CrossCheck:
    """A seeded sample of rows recomputed by an independent reference (see attribution.crosscheck)."""
    X = aligned.frame
    rng = np.random.default_rng(config.seed)
    check_rows = np.sort(rng.choice(len(X), size=min(CROSS_CHECK_ROWS, len(X)), replace=False))
    values = attr.values[check_rows].astype(np.float64)
    if not sources.identity:  # the reference attributes the model's own columns: compare those
        values = attribution.explain(model, X.iloc[check_rows], customer_ids=attr.customer_ids[check_rows],
                                     output_space=attr.output_space).values.astype(np.float64)
    return attribution.cross_check(model, X.iloc[check_rows], values, output_space=attr.output_space)


@step("families", needs=(Config, PopulationSample), gives=Families)
def feature_families(env: Env, config: Config, sample: PopulationSample) -> Families:
    """Features that move together (declared, or |r| >= claims.correlation on the population
    sample): one mechanism, one driver."""
    return Families(seg_families.families(sample.X, sample.attributions.features, config))


def _labels(aligned: AlignedFeatures) -> Optional[np.ndarray]:
    return None if aligned.label is None else aligned.label.astype(np.float64)


@step("global drivers", needs=(Config, PopulationSample, DriverSums, AlignedFeatures, Families), gives=GlobalDrivers)
def global_drivers(env: Env, config: Config, sample: PopulationSample, sums, aligned: AlignedFeatures,
                   fams: Families) -> GlobalDrivers:
    """Means from the weighted sums of every block; direction and risk zones from the sample
    (a zone kept only when material and, with labels, when its churn is above the rest's)."""
    label = _labels(aligned)
    return attribution.global_drivers(sample.attributions, sample.X, config, sums=sums, families=fams.groups,
                                      label=None if label is None else label[sample.pos],
                                      in_sample=aligned.label is not None)


@step("segmentation", needs=(Config, FeatureSources, Book, Selection, AlignedFeatures, Attributions, SourceFeatures,
                             Families, ModelQuality), gives=(ChurnerSet, Segmentation, SegmentationBasis, SegmentEvidences),
      beside=True)
def segment(env: Env, config: Config, sources, book: Book, selection: Selection, aligned: AlignedFeatures,
            attr: Attributions, X: SourceFeatures, fams: Families, quality: Optional[ModelQuality]):
    """Segments from the churners' material drivers (HDBSCAN finds them), on the attributions
    without protected features and with each family joined; a candidate whose rules do not
    select customers who churn measurably more than the book (with labels), or that is not
    stable, is not named: its churners have no distinct reason."""
    churners = replace(selection.churners, mask=selection.churners.mask[aligned.rows])
    basis = seg_families.prepare(attr, families=fams.groups, exclude=seg_families.protected_features(
        attr.features, config))
    with env.progress.task("Segmentation (HDBSCAN)", 1) as advance:
        seg = segmentation.segment(basis, churners, config=config.segmentation)
        advance(1)
    candidates = segmentation.describe(seg, basis, X.frame, config, value=aligned.value)
    rules = _fit_rules(config, aligned, attr, seg, candidates, sources)
    evidence = seg_claims.segment_evidence(
        # measured on the population sample in either attribution mode (with mode all as well, where
        # every customer is attributed), so a segment's name does not depend on the mode
        tuple(candidates), seg, rules, aligned.frame, config, label=_labels(aligned),
        population=book.sample[aligned.rows], in_sample=aligned.label is not None,
        auc=None if quality is None else quality.auc)
    unnamed = tuple(e.segment_id for e in evidence if not e.named)
    if unnamed:
        seg = seg_claims.demote(seg, unnamed)
    return churners, seg, SegmentationBasis(basis), SegmentEvidences(evidence)


@step("describe segments", needs=(ReportRequest, Config, Checked, Book, AlignedFeatures, SegmentationBasis,
                                  SourceFeatures, Segmentation), gives=(Segments, Migration), beside=True)
def describe_segments(env: Env, req: ReportRequest, config: Config, checked: Checked, book: Book,
                      aligned: AlignedFeatures, basis: SegmentationBasis, X: SourceFeatures, seg: Segmentation):
    """Segment summaries, matched to last month's segments when a previous folder is given."""
    summaries = segmentation.describe(seg, basis.attributions, X.frame, config, value=aligned.value)
    migration = None
    if req.previous is not None:
        summaries, migration = segmentation.match_previous(summaries, seg, checked.previous, book_ids=book.ids)
    keys = np.full(len(X.frame), "", dtype=object)
    for s in summaries:
        keys[seg.rows[seg.labels == s.segment_id]] = s.key
    return Segments(tuple(summaries), keys), migration


@step("examples", needs=(Config, Segmentation, Segments, Attributions, ReasonCodes), gives=Examples, beside=True)
def examples(env: Env, config: Config, seg: Segmentation, segments: Segments, attr: Attributions,
             codes: ReasonCodes) -> Examples:
    """The riskiest few churners of each segment, ids masked unless ``mask_ids: false``."""
    return segmentation.pick_examples(seg, segments.items, attr, codes, mask=config.report.mask_ids,
                                      per_segment=EXAMPLES_PER_SEGMENT)


@step("segment interactions", needs=(Config, LoadedModel, FeatureSources, AlignedFeatures, Segments),
      gives=Interactions)
def segment_interactions(env: Env, config: Config, model, sources, aligned: AlignedFeatures,
                         segments: Segments) -> Interactions:
    """Exact SHAP interaction values among each segment's top drivers: its top interacting pairs."""

    rng = np.random.default_rng(config.seed)
    model_features = set(model.feature_names)
    out = []
    for s in segments.items:
        if s.segment_id == MIXED:
            continue
        feats = [it.feature for it in s.signature[:INTERACTION_DRIVERS]]
        columns = {f: sources.columns_of(f) for f in feats if f not in model_features and f in sources.sources}
        feats = [f for f in feats if f in model_features or f in columns]
        rows = np.flatnonzero(segments.keys == s.key)
        if len(rows) > INTERACTION_ROWS:
            rows = np.sort(rng.choice(rows, INTERACTION_ROWS, replace=False))
        try:
            pairs = attribution.top_pairs(model, aligned.frame.iloc[rows], feats, k=INTERACTION_PAIRS,
                                          columns=columns)
        except ValueError:  # a tree path over 63 distinct features: no interaction values
            pairs = ()
        out.append(attribution.SegmentInteractions(s.key, pairs))
    return Interactions(tuple(out))


@step("segment profiles", needs=(Config, SourceFeatures, Segments, ChurnerSet, AlignedFeatures),
      gives=SegmentProfiles)
def segment_profiles(env: Env, config: Config, X: SourceFeatures, segments: Segments, churners: ChurnerSet,
                     aligned: AlignedFeatures) -> SegmentProfiles:
    """Each segment's traits against the retained customers and the book (population sample)."""
    return segmentation.segment_profiles(X.frame, segments.keys, churners=churners.mask, book=aligned.in_population,
                                         config=config, segments=[s.key for s in segments.items])


@step("segment rules", needs=(Config, FeatureSources, AlignedFeatures, Attributions, Segmentation, Segments),
      gives=SegmentRules, beside=True)
def segment_rules(env: Env, config: Config, sources, aligned: AlignedFeatures, attr: Attributions,
                  seg: Segmentation, segments: Segments) -> SegmentRules:
    """Each segment as rules on the model's own columns (runnable on the customer table, never
    on protected features), with precision, coverage, and churn rate and AUC where labels exist
    (counted over the population sample)."""
    return _fit_rules(config, aligned, attr, seg, segments.items, sources)


def _fit_rules(config: Config, aligned: AlignedFeatures, attr: Attributions, seg, summaries,
               sources) -> SegmentRules:
    """Surrogate rules on the model's columns, never on a protected feature's (encoded) columns."""
    protected = tuple(c for c in aligned.frame.columns
                      if (spec := config.features.get(sources.source(c))) is not None
                      and spec.protected)
    return segmentation.fit_rules(seg, tuple(summaries), aligned.frame, seed=config.seed, label=aligned.label,
                                  score=attr.score, population=aligned.in_population, exclude=protected)


@step("claims", needs=(Config, Segments, Segmentation, SegmentationBasis, SourceFeatures, AlignedFeatures,
                       GlobalDrivers, SegmentEvidences, ModelQuality, SegmentProfiles), gives=Claims, beside=True)
def claims(env: Env, config: Config, segments: Segments, seg: Segmentation, basis: SegmentationBasis,
           X: SourceFeatures, aligned: AlignedFeatures, drivers: GlobalDrivers, evidence: SegmentEvidences,
           quality: Optional[ModelQuality], profiles: Optional[SegmentProfiles]) -> Claims:
    """Every name, zone, driver and headline as a claim with its evidence and verdict."""
    return Claims(seg_claims.build_claims(
        segments.items, seg, basis.attributions, X.frame, config, drivers=drivers, evidence=evidence.items,
        label=_labels(aligned), population=aligned.in_population, in_sample=aligned.label is not None,
        auc=None if quality is None else quality.auc, profiles=None if profiles is None else profiles.frame))


@step("model quality", needs=(Config, Book), gives=ModelQuality)
def model_quality(env: Env, config: Config, book: Book):
    """ROC, KS, lift and confusion over the whole book when it has observed outcomes."""
    if book.label is None:
        return Omitted("performance", "no_label_column")
    return evaluate(book.label, book.score, threshold=config.churners.threshold)


@step("monitoring", needs=(ReportRequest, Config, PopulationSample), gives=Monitoring)
def monitoring(env: Env, req: ReportRequest, config: Config, sample: PopulationSample):
    """Stability against last month's report folder: PSI from its reference profile, driver drift
    from its attributions (both over the population samples)."""
    previous = req.previous
    if previous is None:
        return Omitted("monitoring", "no_previous")
    profile_path = Path(previous) / "reference_profile.json"
    if not profile_path.is_file():
        raise InputFileError(f"previous: {previous} has no reference_profile.json; give a report folder written "
                             "by churnlens report (0.1 or later).", argument="previous")
    profile = ReferenceProfile.from_json(profile_path.read_text(encoding="utf-8"), source=str(profile_path))
    prev_attr = attribution.read_attributions(Path(previous) / "attributions.parquet")
    attr = sample.attributions
    prev_values = None
    if prev_attr.features == attr.features:  # drift compares last month's population sample with this month's
        prev_values = prev_attr.values[prev_attr.weights > 0]
    return monitor(profile, sample.X, attr.score, prev_values, attr.values if prev_values is not None else None,
                   attr.features,
                   reference=Note.of("monitoring.reference", folder=Path(previous).name, period=profile.label)
                   if profile.label else Note.of("monitoring.reference_unlabelled", folder=Path(previous).name),
                   seed=config.seed)


# --- actions ------------------------------------------------------------------------------------

@step("retention plan", needs=(Config, Checked, Playbook, Attributions, SourceFeatures, ChurnerSet, Segments,
                               AlignedFeatures), gives=ActionPlan, beside=True)
def plan_actions(env: Env, config: Config, checked: Checked, book_rules: Playbook, attr: Attributions,
                 X: SourceFeatures, churners: ChurnerSet, segments: Segments, aligned: AlignedFeatures) -> ActionPlan:
    """Control group, playbook matches per customer and per segment (the list in codes; its
    words are made by :mod:`churnlens.reports.lists`)."""
    targeting = playbook.select_targets(attr.customer_ids, churners.mask, control_share=config.report.control_share,
                                        seed=config.seed, do_not_contact=checked.do_not_contact,
                                        no_personalisation=checked.no_personalisation,
                                        generic=config.report.generic_action is not None)
    customer_rule = playbook.match_customer_rules(book_rules.rules, attr.values, X.frame, attr.features)
    plans = playbook.plan_segments(segments.items, book_rules.rules, segment_keys=segments.keys, X=X.frame,
                                   score=attr.score, value=aligned.value, targeting=targeting,
                                   customer_rule=customer_rule)
    return ActionPlan(targeting, customer_rule, tuple(plans))


@step("what would keep", needs=(Config, LoadedModel, FeatureSources, Playbook, AlignedFeatures, SourceFeatures,
                                Attributions, ChurnerSet, ActionPlan), gives=KeepOptions)
def what_would_keep(env: Env, config: Config, model, sources, book_rules: Playbook, aligned: AlignedFeatures,
                    X: SourceFeatures, attr: Attributions, churners: ChurnerSet, plan: ActionPlan) -> KeepOptions:
    """For each listed customer, the smallest permitted change (actionable features, values seen
    among similar customers, at most two) that brings the churn probability under the threshold,
    re-scored by the model, with the playbook action that makes it."""
    return keep.keep_for_list(model, config, sources, book_rules.rules, frame=aligned.frame, source=X.frame,
                              attributions=attr, listed=plan.targeting.listed, population=aligned.in_population,
                              churners=churners.mask)


@step("refusals", needs=(Book, ActionPlan, Checked), gives=Refusals)
def refusals(env: Env, book: Book, plan: ActionPlan, checked: Checked):
    """How the no-personalisation list was honoured (None without a list)."""
    return playbook.count_refusals(book.ids, plan.targeting, checked.no_personalisation)


@step("campaign effect", needs=(ReportRequest, Checked, Book, Migration), gives=CampaignEffect)
def campaign(env: Env, req: ReportRequest, checked: Checked, book: Book, migration: Optional[Migration]):
    """Uplift of last month's campaign, when its outcomes are given. The campaign ran on last
    month's list: each customer's segment is last month's, moved to this month's key along the
    segments' lineage (merges and splits), as the list's own evidence is (``measured campaign``)."""
    if checked.campaign is None:
        return Omitted("campaign", "no_campaign")
    previous, published = checked.previous, None
    if req.previous is not None and (Path(req.previous) / "scores.parquet").is_file():
        published = read_published(req.previous)
    return campaign_effect(
        checked.campaign, known_ids=book.ids,
        published_ids=None if published is None else published.customer_ids,
        published_value=None if published is None else pd.Series(published.value, index=published.customer_ids),
        value=pd.Series(book.value, index=book.ids) if book.value is not None else None,
        segments=None if previous is None else pd.Series(
            current_keys(previous.keys, {} if migration is None else lineage_key_map(migration)),
            index=previous.customer_ids))


@step("score distribution", needs=(Book, Selection, AlignedFeatures, FinalPlan), gives=ScoreDistribution)
def score_bands(env: Env, book: Book, selection: Selection, aligned: AlignedFeatures,
                plan: FinalPlan) -> ScoreDistribution:
    """The book's predicted probability in bands, with churners, listed customers and observed churn."""
    listed = np.zeros(book.n, dtype=bool)
    listed[aligned.rows] = plan.targeting.listed
    return score_distribution(book.score, churners=selection.churners.mask, listed=listed, label=book.label)


@step("fairness", needs=(Config, SourceFeatures, AlignedFeatures, ChurnerSet, FinalPlan, Attributions, Segments,
                         Playbook), gives=Fairness, beside=True)
def fairness(env: Env, config: Config, X: SourceFeatures, aligned: AlignedFeatures, churners: ChurnerSet,
             plan: FinalPlan, attr: Attributions, segments: Segments, book_rules: Playbook) -> Fairness:
    """Selection, contact and action rates by protected group, with disparity ratios, proxies and
    segment composition (the dossier's fairness view)."""
    return fairness_of_run(config, X.frame, aligned=aligned, churners=churners, plan=plan, attributions=attr,
                           segments=segments, rules=book_rules.rules)
