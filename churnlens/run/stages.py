"""The stages of the report flow, in the order :data:`churnlens.run.pipeline` runs them.

Each stage is ``stage(state, env) -> RunState``: it reads what earlier stages set on the
frozen :class:`~churnlens.run.pipeline.RunState` and returns a copy with its own fields set.
Stages compute numbers and codes; words and files come later (:mod:`churnlens.run.write`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import pandas as pd

from churnlens import attribution, segmentation
from churnlens.actions import playbook
from churnlens.attribution.model import with_levels
from churnlens.campaign.effect import campaign_effect
from churnlens.config import Config
from churnlens.errors import DataError, InputFileError
from churnlens.evaluation.quality import evaluate
from churnlens.io.parallel import ahead
from churnlens.io.tables import check_columns, check_unique_ids, iter_table, value_array
from churnlens.monitoring.stability import ReferenceProfile, monitor
from churnlens.notes import Note
from churnlens.reports import words
from churnlens.run.pipeline import Book, Env, RunState
from churnlens.run.preflight import id_salt, preflight  # noqa: F401  (id_salt re-exported)
from churnlens.sampling import BottomK, hash_keys

CROSS_CHECK_ROWS = 200


# --- load model ---------------------------------------------------------------------------------

def load_inputs(state: RunState, env: Env) -> RunState:
    """The model, the playbook, the do-not-contact list, the id salt, the logo, last month's
    folder and the campaign table: everything the user can get wrong is read and checked before
    the expensive steps, by the same :func:`~churnlens.run.preflight.preflight` as ``validate``."""
    req, config = state.request, state.config
    if isinstance(req.model, attribution.LoadedModel):
        model = with_levels(req.model, config.levels())
    else:
        model = attribution.load_model(req.model, model_format=req.model_format, trust_model=req.trust_model,
                                       levels=config.levels())
    checked = preflight(config, config_path=req.config, previous=req.previous, campaign=req.campaign)
    return replace(
        # encoded columns -> source features (and dictionary.require_all) before any work
        state, model=model, sources=attribution.feature_sources(model.info.feature_names, config),
        rules=checked.rules, do_not_contact=checked.do_not_contact, salt=checked.salt,
        campaign_table=checked.campaign, previous=checked.previous,
    )


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

    def __init__(self, state: RunState) -> None:
        self.state, self.start = state, 0
        self.ids, self.value, self.label, self.score, self.kept = [], [], [], [], []
        self.pending: deque = deque()
        self.warnings: list[str] = []

    def aligned(self) -> Iterator[pd.DataFrame]:
        config, source = self.state.config, self.state.source
        for chunk in table_chunks(self.state.request.data, id_column=config.id_column,
                                  chunk_rows=config.attribution.chunk_rows):
            try:
                check_columns(chunk, config, source=source)
                aligned = attribution.align(self.state.model, chunk, source=source, known=config.data_columns())
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


def _scan(state: RunState, env: Env) -> Book:
    """Score every customer; keep the features of the population sample and of the churners
    decidable chunk by chunk. Memory holds a few numbers per customer plus those rows."""
    config = state.config
    scan, sample = _Scan(state), BottomK(config.attribution.sample)
    with env.progress.task("Reading and scoring customers", 1):
        # the next chunk is read, aligned and hashed while this one is scored (which releases the GIL)
        for score in env.engine.map(_score_chunk, ahead(scan.aligned()), shared=(state.model,)):
            ids, X, label, keys = scan.pending.popleft()
            scan.score.append(score)
            sample.add(keys, X)
            keep = _decided_churners(config, score, label)
            scan.kept.append(X if keep.all() else X[keep])
    ids = np.concatenate(scan.ids)
    check_unique_ids(ids, config, source=state.source)
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


def read_and_score(state: RunState, env: Env) -> RunState:
    """Scan the book, check the playbook and campaign against it, and select the churners."""
    config = state.config
    book = _scan(state, env)
    kept = attribution.source_frame(book.kept.iloc[:1000], state.sources)
    categorical = [c for c in kept.columns if not pd.api.types.is_numeric_dtype(kept[c])
                   or isinstance(kept[c].dtype, pd.CategoricalDtype)]
    playbook.validate_playbook(state.rules, features=state.sources.sources, config=config, categorical=categorical,
                               encoded={c: state.sources.source(c) for c in state.sources.columns})
    if state.campaign_table is not None:  # ids, arms and outcomes checked before attributions are computed
        campaign_effect(state.campaign_table, known_ids=book.ids)
    churners = segmentation.select_churners(book.score, selection=config.churners, label=book.label,
                                            value=book.value)
    in_sample = np.ones(book.n, dtype=bool) if config.attribution.mode == "all" else book.sample
    return replace(state, book=book, book_churners=churners, in_sample=in_sample)


# --- gather and attribute -----------------------------------------------------------------------

def gather(state: RunState, env: Env) -> RunState:
    """Aligned features of the customers to attribute: from the scan when it kept them, else
    from a second pass over the table."""
    book, config = state.book, state.config
    rows = np.flatnonzero(state.book_churners.mask | state.in_sample)
    kept = book.kept.index.to_numpy()
    if len(kept) == len(rows) and np.array_equal(kept, rows):  # the scan kept exactly these rows (mode all)
        return replace(state, rows=rows, X=book.kept)
    if np.isin(rows, kept).all():
        return replace(state, rows=rows, X=book.kept.loc[rows])
    mask = np.zeros(book.n, dtype=bool)
    mask[rows] = True
    parts = [attribution.align(state.model, chunk, source=state.source, known=config.data_columns()).X
             for chunk in table_chunks(state.request.data, id_column=config.id_column,
                                       chunk_rows=config.attribution.chunk_rows, rows=mask)]
    return replace(state, rows=rows, X=pd.concat(parts))


def _explain_chunk(item, model, output_space: str, config: Config, k: int, sources=None):
    """Attributions (summed to the source features), reason codes and global-driver sums of one
    block of customers (row-wise or additive: any split into blocks gives the same numbers)."""
    X, ids, weight = item
    attr = attribution.explain(model, X, customer_ids=ids, output_space=output_space, chunk_rows=len(X))
    attr = replace(attr, weight=weight)
    if sources is not None:
        attr, X = attribution.to_sources(attr, sources), attribution.source_frame(X, sources)
    return attr, attribution.reason_codes(attr, X, config, k=k), attribution.driver_sums(attr, config)


def attribute(state: RunState, env: Env) -> RunState:
    """Exact attributions, reason codes and global-driver sums, block by block on the engine.
    Each customer of the population sample weighs ``n / n_sample`` in the global views.
    Encoded columns are summed to their source features; ``X`` becomes the source features'
    values (one-hot columns decoded), ``X_model`` keeps the model's own columns."""
    config, X, rows = state.config, state.X, state.rows
    ids = state.book.ids[rows]
    weight = np.where(state.in_sample[rows], state.book.n / state.n_sample, 0.0)
    step = config.attribution.chunk_rows
    blocks = ((X.iloc[i:i + step], ids[i:i + step], weight[i:i + step]) for i in range(0, len(X), step))
    attrs, codes, sums = [], [], None
    shared = (state.model, config.output_space, config, config.k_reasons, state.sources)
    with env.progress.task("Attributions (exact TreeSHAP)", len(X)) as advance:
        for a, c, s in env.engine.map(_explain_chunk, blocks, shared=shared):
            attrs.append(a)
            codes.append(c)
            sums = s if sums is None else sums + s
            advance(a.n)
    return replace(state, attributions=attribution.concat(attrs), reasons=attribution.concat_reasons(codes),
                   driver_sums=sums, X_model=X, X=attribution.source_frame(X, state.sources))


# --- checks and summaries -----------------------------------------------------------------------

def cross_check(state: RunState, env: Env) -> RunState:
    """A seeded sample of rows recomputed with shap's reference TreeExplainer."""
    X, attr = state.X_model, state.attributions
    rng = np.random.default_rng(state.config.seed)
    check_rows = np.sort(rng.choice(len(X), size=min(CROSS_CHECK_ROWS, len(X)), replace=False))
    values = attr.values[check_rows].astype(np.float64)
    if not state.sources.identity:  # the reference attributes the model's own columns: compare those
        values = attribution.explain(state.model, X.iloc[check_rows], customer_ids=attr.customer_ids[check_rows],
                                     output_space=attr.output_space).values.astype(np.float64)
    cc = attribution.cross_check(state.model, X.iloc[check_rows], values, output_space=attr.output_space)
    return replace(state, cross_check=cc)


def global_drivers(state: RunState, env: Env) -> RunState:
    """Means from the weighted sums of every block; direction and risk ranges from the sample."""
    drivers = attribution.global_drivers(state.sample_attributions, state.sample_X, state.config,
                                         sums=state.driver_sums)
    return replace(state, drivers=drivers)


def segment(state: RunState, env: Env) -> RunState:
    """Segments from the churners' material drivers (HDBSCAN finds them); the reference
    attribution is taken over the population sample's non-churners (attribution weights)."""
    churners = replace(state.book_churners, mask=state.book_churners.mask[state.rows])
    with env.progress.task("Segmentation (HDBSCAN)", 1) as advance:
        seg = segmentation.segment(state.attributions, churners, config=state.config.segmentation)
        advance(1)
    return replace(state, churners=churners, segmentation=seg)


def describe_segments(state: RunState, env: Env) -> RunState:
    """Segment summaries, matched to last month's segments when a previous folder is given."""
    seg = state.segmentation
    summaries = segmentation.describe(seg, state.attributions, state.X, state.config, value=state.value)
    previous = migration = None
    if state.request.previous is not None:
        previous = state.previous  # read by load_inputs (preflight)
        if previous is None:
            previous = segmentation.load_previous(state.request.previous)
        summaries, migration = segmentation.match_previous(summaries, seg, previous, book_ids=state.book.ids)
    keys = np.full(len(state.X), "", dtype=object)
    for s in summaries:
        keys[seg.rows[seg.labels == s.segment_id]] = s.key
    return replace(state, segments=tuple(summaries), previous=previous, migration=migration, segment_keys=keys)


def segment_interactions(state: RunState, env: Env) -> RunState:
    """Exact SHAP interaction values among each segment's top drivers: its top interacting pairs."""
    from churnlens.constants import INTERACTION_DRIVERS, INTERACTION_PAIRS, INTERACTION_ROWS
    from churnlens.segmentation.results import MIXED

    if not state.segments or state.segment_keys is None:
        return state
    rng = np.random.default_rng(state.config.seed)
    model_features = set(state.model.feature_names)
    out = []
    for s in state.segments:
        if s.segment_id == MIXED:
            continue
        feats = [it.feature for it in s.signature[:INTERACTION_DRIVERS]]
        columns = {f: state.sources.columns_of(f) for f in feats
                   if f not in model_features and state.sources is not None and f in state.sources.sources}
        feats = [f for f in feats if f in model_features or f in columns]
        rows = np.flatnonzero(state.segment_keys == s.key)
        if len(rows) > INTERACTION_ROWS:
            rows = np.sort(rng.choice(rows, INTERACTION_ROWS, replace=False))
        try:
            pairs = attribution.top_pairs(state.model, state.X_model.iloc[rows], feats, k=INTERACTION_PAIRS,
                                          columns=columns)
        except ValueError:  # a tree path over 63 distinct features: no interaction values
            pairs = ()
        out.append(attribution.SegmentInteractions(s.key, pairs))
    return replace(state, interactions=tuple(out))


def segment_profiles(state: RunState, env: Env) -> RunState:
    """Each segment's traits against the retained customers and the book (population sample)."""
    profiles = segmentation.segment_profiles(state.X, state.segment_keys, churners=state.churners.mask,
                                             book=state.in_sample[state.rows], config=state.config,
                                             segments=[s.key for s in state.segments])
    return replace(state, profiles=profiles)


def segment_rules(state: RunState, env: Env) -> RunState:
    """Each segment as rules on the model's own columns (runnable on the customer table, never
    on protected features), with precision, coverage, and churn rate and AUC where labels exist
    (counted over the population sample)."""
    config = state.config
    protected = tuple(c for c in state.X_model.columns
                      if (spec := config.features.get(state.sources.source(c) if state.sources else c)) is not None
                      and spec.protected)
    label = None if state.book.label is None else state.book.label[state.rows]
    rules = segmentation.fit_rules(state.segmentation, state.segments, state.X_model, seed=config.seed, label=label,
                                   score=state.attributions.score, population=state.in_sample[state.rows],
                                   exclude=protected)
    return replace(state, segment_rules=rules)


def model_quality(state: RunState, env: Env) -> RunState:
    """ROC, KS, lift and confusion over the whole book when it has observed outcomes."""
    book = state.book
    if book.label is None:
        return replace(state, omitted=state.omitted + (("performance", "no_label_column"),))
    return replace(state, quality=evaluate(book.label, book.score, threshold=state.config.churners.threshold))


def monitoring(state: RunState, env: Env) -> RunState:
    """Stability against last month's report folder: PSI from its reference profile, driver drift
    from its attributions (both over the population samples)."""
    previous = state.request.previous
    if previous is None:
        return replace(state, omitted=state.omitted + (("monitoring", "no_previous"),))
    profile_path = Path(previous) / "reference_profile.json"
    if not profile_path.is_file():
        raise InputFileError(f"previous: {previous} has no reference_profile.json; give a report folder written "
                             "by churnlens report (0.1 or later).", argument="previous")
    profile = ReferenceProfile.from_json(profile_path.read_text(encoding="utf-8"), source=str(profile_path))
    prev_attr = attribution.read_attributions(Path(previous) / "attributions.parquet")
    attr = state.sample_attributions
    prev_values = None
    if prev_attr.features == attr.features:  # drift compares last month's population sample with this month's
        prev_values = prev_attr.values[prev_attr.weights > 0]
    result = monitor(profile, state.sample_X, attr.score, prev_values,
                     attr.values if prev_values is not None else None, attr.features,
                     reference=Note.of("monitoring.reference", folder=Path(previous).name, period=profile.label)
                     if profile.label else Note.of("monitoring.reference_unlabelled", folder=Path(previous).name),
                     seed=state.config.seed)
    return replace(state, monitoring=result)


# --- actions ------------------------------------------------------------------------------------

def plan_actions(state: RunState, env: Env) -> RunState:
    """Control group, playbook matches per customer and per segment, and the retention list."""
    config, attr = state.config, state.attributions
    targeting = playbook.select_targets(attr.customer_ids, state.churners.mask,
                                        control_share=config.report.control_share, seed=config.seed,
                                        do_not_contact=state.do_not_contact)
    customer_rule = playbook.match_customer_rules(state.rules, attr.values, state.X, attr.features)
    plans = playbook.plan_segments(state.segments, state.rules, segment_keys=state.segment_keys, X=state.X,
                                   score=attr.score, value=state.value, targeting=targeting,
                                   customer_rule=customer_rule)
    state = replace(state, targeting=targeting, customer_rule=customer_rule, plans=tuple(plans))
    return replace(state, retention=retention_list(state))


def retention_list(state: RunState, *, lang: str = words.MACHINE_LANG):
    """The retention list: reasons, drivers, protective factors, segment names and actions in
    machine words (a machine-readable file: the same whatever the report language), or in
    ``lang`` for the people's workbook (:func:`churnlens.run.write.write_workbook`), with the
    measured uplift (m, R) and the budget's channel costs (R,) that
    :func:`churnlens.run.loop.expected_values` set in ``state.retention_terms``, so every
    language shows the same money."""
    config, attr, reasons = state.config, state.attributions, state.reasons
    uplift, extra_cost = state.retention_terms or (None, None)
    rule_index = playbook.effective_rules(state.customer_rule, state.segment_keys, state.plans)
    names = np.full(len(state.segment_keys), "", dtype=object)
    for key, name in words.segment_names(state.segments, config, lang).items():
        names[state.segment_keys == key] = name
    listed = state.targeting.listed  # only listed customers are worded: the others are not in the list
    return playbook.retention_list(attr.customer_ids, state.targeting, segment=state.segment_keys, score=attr.score,
                                   value=state.value, reasons=words.reason_texts(reasons, config, lang, rows=listed),
                                   rule_index=rule_index, rules=state.rules, segment_name=names,
                                   drivers=words.reason_texts(reasons, config, lang, family="driver", rows=listed),
                                   protective=words.reason_texts(reasons, config, lang, family="protective",
                                                                 rows=listed),
                                   rank_by=config.report.rank_by, hash_ids=config.report.hash_ids, salt=state.salt,
                                   uplift=uplift, extra_cost=extra_cost)


def campaign(state: RunState, env: Env) -> RunState:
    """Uplift of last month's campaign, when its outcomes are given."""
    if state.campaign_table is None:
        return replace(state, omitted=state.omitted + (("campaign", "no_campaign"),))
    book, previous = state.book, state.previous
    effect = campaign_effect(
        state.campaign_table, known_ids=book.ids,
        value=pd.Series(book.value, index=book.ids) if book.value is not None else None,
        # the campaign targeted last month's list: its segments are last month's
        segments=None if previous is None else pd.Series(previous.keys, index=previous.customer_ids))
    return replace(state, campaign=effect)
