"""Back-test: last month's *published* scores and retention list against what happened.

Inputs
------
Published scores
    ``scores.parquet`` of last month's report folder (written by every ``churnlens report``
    since the monthly loop; schema :data:`SCORES_COLUMNS`): every scored customer's id and
    score, whether they were listed / in the control group, their segment key, action key
    (the rule's English action text), channel and value. An older folder without it falls back
    to the uniform population sample of ``attributions.parquet`` (rows with weight > 0) for the
    ranking figures and to ``retention_list.csv`` for the list (code ``population_sample_only``).
Outcomes
    A CSV or Parquet file with the id column (``id_column``) and ``churned`` (``churn`` is an
    alias): 1 when the customer churned during the outcome window, 0 when they stayed; one row
    per customer; ids are read as text (leading zeros kept). Or, without a file, this month's
    table's ``label_column`` for the customers who were scored last month.

Figures
-------
Exact values: :func:`churnlens.evaluation.quality.evaluate` on the matched customers (the
same definitions as sklearn/scipy). Intervals: the seeded percentile bootstrap of
:mod:`churnlens.evaluation.inference`, with deciles, calibration bins, list groups and segments
held at their published assignment. Hit rate of a group = its observed churn rate; the
control group's hit rate is the unbiased one (nobody in it was contacted).

In-sample figures (labels inside the scored table) are labelled ``basis = "in_sample"``;
:func:`training_data_codes` flags a table that looks like the model's training data
(in-sample AUC at least :data:`TRAINING_GAP` above the back-test AUC, or in-sample AUC of at
least :data:`NEAR_PERFECT_AUC`): a model's own training rows cannot be known, only what was
measured on what.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.constants import FEW_OUTCOMES, NEAR_PERFECT_AUC, TRAINING_GAP
from churnlens.errors import DataError, InputFileError
from churnlens.evaluation.inference import bootstrap, estimate
from churnlens.evaluation.quality import evaluate
from churnlens.evaluation.results import BackTest, HitRate, ModelQuality, Published
from churnlens.io.tables import read_table
from churnlens.notes import Note
from churnlens.io.files import check_regular_file
from churnlens.io.tables import parse_labels, row_examples

__all__ = ["SCORES_FILE", "SCORES_COLUMNS", "write_scores", "read_published", "read_outcomes",
           "outcomes_from_labels", "match_outcomes", "backtest", "in_sample", "training_data_notes",
           "training_data_codes"]

SCORES_FILE = "scores.parquet"
SCORES_COLUMNS = ("customer_id", "score", "listed", "control_group", "segment", "action", "channel", "value")
OUTCOME_COLUMNS = ("churned", "churn")


def write_scores(path: Path, published: Published) -> None:
    """Write ``scores.parquet`` (:data:`SCORES_COLUMNS`, ids as text)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def text(a) -> "pa.Array":
        return pa.array(np.asarray(a).astype(str), type=pa.string())

    table = pa.table({
        "customer_id": text(published.customer_ids),
        "score": pa.array(np.asarray(published.score, dtype=np.float64)),
        "listed": pa.array(np.asarray(published.listed, dtype=bool)),
        "control_group": pa.array(np.asarray(published.control, dtype=bool)),
        "segment": text(published.segment),
        "action": text(published.action),
        "channel": text(published.channel),
        "value": pa.array(np.asarray(published.value, dtype=np.float64)),
    })
    pq.write_table(table, path)


def _read_any(path: Path, what: str, **csv_kw) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt", ".gz"):
            return pd.read_csv(path, **csv_kw)
    except Exception as err:  # noqa: BLE001 - any parser failure is a bad input file
        raise InputFileError(f"{what} {path} could not be read: {err}", argument="previous") from None
    raise InputFileError(f"{what} {path} has suffix {suffix!r}; expected .csv or .parquet.", argument="previous")


def read_published(previous: Path) -> Published:
    """Last month's published scores and list (see the module docstring for the fallback).

    Raises
    ------
    InputFileError
        The folder holds neither ``scores.parquet`` nor ``attributions.parquet``.
    """
    previous = Path(previous)
    path = previous / SCORES_FILE
    if path.is_file():
        f = _read_any(path, "Published scores file")
        missing = [c for c in SCORES_COLUMNS if c not in f.columns]
        if missing:
            raise InputFileError(f"previous: {path} lacks the column(s) {missing}; expected {list(SCORES_COLUMNS)}.",
                                 argument="previous")
        return Published(
            customer_ids=f["customer_id"].astype(str).to_numpy(), score=f["score"].to_numpy(np.float64),
            listed=f["listed"].to_numpy(bool), control=f["control_group"].to_numpy(bool),
            segment=f["segment"].astype(str).to_numpy(), action=f["action"].astype(str).to_numpy(),
            channel=f["channel"].astype(str).to_numpy(), value=f["value"].to_numpy(np.float64),
            source="scores", sample_rows=np.ones(len(f), dtype=bool))
    return _published_from_old_folder(previous)


def _published_from_old_folder(previous: Path) -> Published:
    attr_path = previous / "attributions.parquet"
    if not attr_path.is_file():
        raise InputFileError(f"previous: {previous} holds neither {SCORES_FILE} nor attributions.parquet; give a "
                             "report folder written by churnlens report.", argument="previous")
    a = pd.read_parquet(attr_path, columns=["customer_id", "score", "weight"])
    ids = a["customer_id"].astype(str).to_numpy()
    n = len(ids)
    listed, control = np.zeros(n, bool), np.zeros(n, bool)
    segment, action, channel = (np.full(n, "", dtype=object) for _ in range(3))
    value = np.full(n, np.nan)
    lst = previous / "retention_list.csv"
    if lst.is_file():
        r = pd.read_csv(lst, dtype={"customer_id": "str"}, keep_default_na=False)
        pos = pd.Series(np.arange(n), index=ids)
        hit = r["customer_id"].isin(pos.index).to_numpy()
        at = pos.reindex(r["customer_id"][hit]).to_numpy()
        listed[at] = True
        control[at] = r["control_group"][hit].astype(str).str.lower().isin(["true", "1"]).to_numpy()
        segment[at] = r["segment"][hit].astype(str).str.split(" ").str[0].to_numpy()
        action[at] = r["action"][hit].astype(str).to_numpy()
        channel[at] = r["channel"][hit].astype(str).to_numpy()
        value[at] = pd.to_numeric(r["value"][hit], errors="coerce").to_numpy()
    return Published(customer_ids=ids, score=a["score"].to_numpy(np.float64), listed=listed, control=control,
                     segment=segment.astype(str), action=action.astype(str), channel=channel.astype(str),
                     value=value, source="population_sample", sample_rows=a["weight"].to_numpy() > 0)


def read_outcomes(path: Path, *, id_column: str = "customer_id") -> pd.DataFrame:
    """Read an outcomes file: ``id_column`` and ``churned`` (0/1), one row per customer.

    Returns
    -------
    DataFrame with ``customer_id`` (text) and ``churned`` (int 0/1).

    Raises
    ------
    InputFileError
        Missing or unreadable file.
    DataError
        Missing columns, outcomes other than 0/1 (missing ones included), missing or duplicated ids.
    """

    path = Path(path)
    check_regular_file(path, "outcomes", argument="outcomes", what="outcomes: file",
                       hint=f"Give a CSV or Parquet file of {id_column!r} and 'churned' (0/1) for last month's "
                            "customers.")
    try:
        df = read_table(path, id_column=id_column)
    except InputFileError as err:
        raise InputFileError(f"outcomes: {err}", argument="outcomes") from None
    cols = list(map(str, df.columns))
    outcome = next((c for c in OUTCOME_COLUMNS if c in cols), None)
    missing = ([] if id_column in cols else [id_column]) + ([] if outcome else ["churned"])
    if missing:
        raise DataError(f"Outcomes file {path} lacks the column(s) {missing}; columns are: {', '.join(cols)}. It needs "
                        f"{id_column!r} (customer id; set id_column in the config) and 'churned' (1 churned during "
                        "the outcome window, 0 stayed).", argument="outcomes")
    ids = df[id_column]
    if ids.isna().any():
        raise DataError(f"Outcomes file {path}: {int(ids.isna().sum())} row(s) have no {id_column!r}.",
                        argument="outcomes")
    dup = ids[ids.astype(str).duplicated()]
    if len(dup):
        raise DataError(f"Outcomes file {path}: {len(dup)} duplicated {id_column!r} value(s), e.g. "
                        f"{dup.astype(str).head(3).tolist()}; each customer must appear once.", argument="outcomes")

    y, bad = parse_labels(df[outcome])
    if bad.any():
        raise DataError(f"Outcomes file {path}: column {outcome!r} must hold 0 (stayed) or 1 (churned), also written "
                        f"true/false, yes/no or y/n; found {int(bad.sum())} other value(s): "
                        f"{row_examples(df.index, bad, df[outcome])}. Drop customers whose outcome is not known "
                        "yet.", argument="outcomes")
    return pd.DataFrame({"customer_id": ids.astype(str).to_numpy(), "churned": y.astype(np.int64)})


def outcomes_from_labels(ids: np.ndarray, label: np.ndarray) -> pd.DataFrame:
    """Outcomes from this month's ``label_column`` (same frame as :func:`read_outcomes`)."""
    return pd.DataFrame({"customer_id": np.asarray(ids).astype(str), "churned": np.asarray(label, dtype=np.int64)})


def match_outcomes(published: Published, outcomes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """Rows of ``published`` with an outcome, their outcomes, and the outcomes left unmatched.

    Returns
    -------
    rows : ndarray of int, shape (m,)
        Positions in ``published`` (ascending).
    churned : ndarray of int, shape (m,)
    unmatched : int
        Outcome rows whose id was not published.
    """
    out_ids = outcomes["customer_id"].astype(str).to_numpy()
    pub_ids = np.asarray(published.customer_ids).astype(str)
    if len(out_ids) == len(pub_ids) and np.array_equal(out_ids, pub_ids):  # same customers, same order
        return np.arange(len(pub_ids)), outcomes["churned"].to_numpy().astype(np.int64), 0
    y = pd.Series(outcomes["churned"].to_numpy(), index=out_ids)
    found = y.reindex(pd.Index(pub_ids))
    rows = np.flatnonzero(found.notna().to_numpy())
    return rows, found.to_numpy()[rows].astype(np.int64), int(len(y) - len(rows))


def _decile_index(score: np.ndarray, n_bins: int, order: Optional[np.ndarray] = None) -> np.ndarray:
    order = np.argsort(-score, kind="stable") if order is None else order
    g = np.empty(len(score), dtype=np.int64)
    for d, part in enumerate(np.array_split(order, min(n_bins, len(score)))):
        g[part] = d
    return g


def _calibration_index(score: np.ndarray, quality: ModelQuality, n_bins: int) -> np.ndarray:
    """Calibration bin per customer, renumbered to the rows of ``quality.calibration``."""
    edges = np.percentile(score, np.linspace(0.0, 1.0, n_bins + 1) * 100)
    raw = np.searchsorted(edges[1:-1], score)
    lookup = np.full(n_bins, -1, dtype=np.int64)
    for i, row in enumerate(quality.calibration):
        lookup[row.bin] = i
    return lookup[raw]


def _list_groups(pub: Published, rows: np.ndarray) -> tuple[np.ndarray, list[tuple[str, str]], np.ndarray, list]:
    listed, control = pub.listed[rows], pub.control[rows]
    g = np.where(control, 1, np.where(listed, 2, 3))  # list_control, list_treated, not_listed
    names = [("list", ""), ("list_control", ""), ("list_treated", ""), ("not_listed", "")]
    seg = pub.segment[rows].astype(str)
    uniq, inverse = np.unique(seg, return_inverse=True)  # sorted keys; "" (no segment) sorts first
    keys = [str(k) for k in uniq if k]
    seg_idx = inverse.astype(np.int64) - (1 if len(uniq) and uniq[0] == "" else 0)
    seg_idx[~listed | (seg == "")] = -1
    return g, names, seg_idx, keys


def backtest(published: Published, outcomes: pd.DataFrame, *, outcome_source: str = "outcomes_file",
             n_boot: int = 200, seed: int = 0, level: float = 0.95, threshold: float = 0.5,
             n_bins: int = 10) -> BackTest:
    """Measure ``published`` scores and list against ``outcomes`` (:func:`read_outcomes`).

    Parameters
    ----------
    published : Published
        From :func:`read_published`.
    outcomes : DataFrame
        ``customer_id`` (text) and ``churned`` (0/1).
    outcome_source : {"outcomes_file", "label_column"}
    n_boot, seed, level
        Bootstrap resamples, seed and confidence level of the intervals.
    threshold, n_bins
        As in :func:`churnlens.evaluation.quality.evaluate`.

    Raises
    ------
    DataError
        No published customer has an outcome (ids of another book or id format).
    """
    rows, y, unmatched = match_outcomes(published, outcomes)
    if len(rows) == 0:
        raise DataError(
            f"None of the {len(outcomes):,} outcome ids matches a customer scored last month "
            f"({len(published.customer_ids):,} published ids, e.g. {published.customer_ids[:3].tolist()}); the outcomes "
            "must use the same id_column and id format as last month's table.", argument="outcomes")
    notes = []
    if published.source == "population_sample":
        notes.append(Note.of("backtest.population_sample_only"))
    if unmatched:
        notes.append(Note.of("backtest.outcomes_unmatched", n=unmatched))
    if len(rows) < len(published.customer_ids):
        notes.append(Note.of("backtest.scores_without_outcome", n=len(published.customer_ids) - len(rows)))
    rank_rows = rows[published.sample_rows[rows]]
    y_rank = y[published.sample_rows[rows]]
    if len(rank_rows) < FEW_OUTCOMES:
        notes.append(Note.of("backtest.few_outcomes", n=len(rank_rows), minimum=FEW_OUTCOMES))
    score = published.score[rank_rows]
    q = evaluate(y_rank, score, threshold=threshold, n_bins=n_bins)
    return BackTest(
        basis="backtest", score_source=published.source, outcome_source=outcome_source,
        n_published=int(len(published.customer_ids)), n_matched=int(len(rank_rows)), n_outcomes_unmatched=unmatched,
        quality=q, **_figures(y_rank, score, q, n_boot=n_boot, seed=seed, level=level, n_bins=n_bins),
        hit_rates=_hit_rates(published, rows, y, n_boot=n_boot, seed=seed, level=level),
        notes=tuple(notes), level=level, seed=seed)


def _figures(y: np.ndarray, score: np.ndarray, q: ModelQuality, *, n_boot: int, seed: int, level: float,
             n_bins: int) -> dict:
    """The ranking figures of ``q`` with their bootstrap intervals."""
    order = np.argsort(-score, kind="stable")  # one sort for the deciles and the bootstrap's blocks
    dec = _decile_index(score, n_bins, order)
    cal = _calibration_index(score, q, n_bins)
    draws = bootstrap(y, score, n_boot=n_boot, seed=seed, level=level, groupings={"decile": dec, "cal": cal},
                      order=order)
    lift = (draws.groups["decile"] / draws.pooled_rate("decile")[:, None] if n_boot
            else np.empty((0, len(q.deciles))))
    return dict(
        auc=estimate(q.auc, draws.auc, level), ks=estimate(q.ks, draws.ks, level),
        brier=estimate(q.brier, draws.brier, level), top_decile_lift=estimate(q.deciles[0].lift, lift[:, 0], level),
        decile_lift=tuple(estimate(d.lift, lift[:, i], level) for i, d in enumerate(q.deciles)),
        calibration_rate=tuple(estimate(c.observed_rate, draws.groups["cal"][:, i], level)
                               for i, c in enumerate(q.calibration)))


def _hit_rates(pub: Published, rows: np.ndarray, y: np.ndarray, *, n_boot: int, seed: int,
               level: float) -> tuple[HitRate, ...]:
    """Churn rate of the list, its control and treated parts, the unlisted, and each segment's listed."""
    g, names, seg_idx, keys = _list_groups(pub, rows)
    listed = np.where(g < 3, 0, -1)
    draws = bootstrap(y, pub.score[rows], n_boot=n_boot, seed=seed + 1, level=level, ranking=False,
                      groupings={"list": listed, "parts": g - 1, "seg": seg_idx})

    def col(name: str, j: int) -> np.ndarray:
        d = draws.groups[name]
        return d[:, j] if d.shape[1] > j else np.empty(0)

    out = []
    members = [g < 3, g == 1, g == 2, g == 3]
    cols = [col("list", 0)] + [col("parts", j) for j in range(3)]
    for (name, key), m, d in zip(names, members, cols):
        if m.any():
            out.append(HitRate(group=name, key=key, customers=int(m.sum()), churners=int(y[m].sum()),
                               rate=estimate(float(y[m].mean()), d, level)))
    for i, k in enumerate(keys):
        m = seg_idx == i
        if m.any():
            out.append(HitRate(group="segment", key=k, customers=int(m.sum()), churners=int(y[m].sum()),
                               rate=estimate(float(y[m].mean()), col("seg", i), level)))
    return tuple(out)


def in_sample(label: np.ndarray, score: np.ndarray, *, n_boot: int = 200, seed: int = 0, level: float = 0.95,
              threshold: float = 0.5, backtest_auc: Optional[float] = None, n_bins: int = 10,
              quality: Optional[ModelQuality] = None) -> BackTest:
    """Figures on labels found inside the scored table, marked ``basis = "in_sample"``.

    ``quality``: :func:`~churnlens.evaluation.quality.evaluate` of the same labels and scores
    when the run already has it (the model-quality stage), so it is not computed twice.
    """
    y = np.asarray(label, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    q = quality if quality is not None else evaluate(y, score, threshold=threshold, n_bins=n_bins)
    return BackTest(
        basis="in_sample", score_source="this_table", outcome_source="label_column", n_published=len(score),
        n_matched=len(score), n_outcomes_unmatched=0, quality=q,
        **_figures(y, score, q, n_boot=n_boot, seed=seed, level=level, n_bins=n_bins),
        hit_rates=(), notes=training_data_notes(q.auc, backtest_auc), level=level, seed=seed)


def training_data_notes(in_sample_auc: Optional[float], backtest_auc: Optional[float]) -> tuple[Note, ...]:
    """Warnings for a scored table that looks like the model's training data (a model's own
    training rows cannot be known: say what was measured on what)."""
    notes = []
    if in_sample_auc is not None and backtest_auc is not None and in_sample_auc - backtest_auc >= TRAINING_GAP:
        notes.append(Note.of("backtest.looks_like_training_data", in_sample=in_sample_auc, backtest=backtest_auc,
                             gap=TRAINING_GAP))
    if in_sample_auc is not None and in_sample_auc >= NEAR_PERFECT_AUC:
        notes.append(Note.of("backtest.near_perfect_separation", auc=in_sample_auc, limit=NEAR_PERFECT_AUC))
    return tuple(notes)


def training_data_codes(in_sample_auc: Optional[float], backtest_auc: Optional[float]) -> tuple[str, ...]:
    """The codes of :func:`training_data_notes` (without the ``backtest.`` prefix)."""
    return tuple(n.code.split(".", 1)[1] for n in training_data_notes(in_sample_auc, backtest_auc))
