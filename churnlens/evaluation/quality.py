"""Bank-style model quality on labelled data: ROC/AUC, KS, gains/lift by decile, confusion,
calibration and Brier score, and the champion/challenger comparison of several models.

Definitions (what an auditor can re-compute)
--------------------------------------------
ROC, AUC
    ``sklearn.metrics.roc_curve`` (``drop_intermediate=True`` for the stored curve; its first
    threshold is sklearn's ``inf``, "nobody flagged") and ``roc_auc_score``.
KS
    ``max(TPR - FPR)`` over all thresholds of the full ROC curve, i.e. the one-sided two-sample
    Kolmogorov-Smirnov statistic ``scipy.stats.ks_2samp(score[churners],
    score[non_churners], alternative="less").statistic``; for any model that ranks churners
    above non-churners at least somewhere (every usable model) it equals the usual two-sided
    statistic. ``ks_threshold`` is the score ``t`` of the rule ``score >= t`` where the
    maximum is reached (the highest such ``t`` on ties). The KS curve has ``x = threshold``
    (descending, without sklearn's ``inf`` point) and ``y = TPR - FPR``.
Deciles (gains / lift table)
    Customers are ranked by score descending with a *stable* sort, so tied scores keep their
    input order, then cut into ``n_bins`` near-equal groups with ``numpy.array_split`` (the
    first ``n % n_bins`` groups hold one customer more). Decile 1 is the riskiest. A tie
    block straddling a boundary is therefore split by input order: the deterministic,
    documented choice that keeps group sizes equal (``min_score``/``max_score`` show it).
    With fewer customers than bins, only ``n`` one-customer groups exist (no empty rows).
    ``lift = decile churn rate / overall churn rate``; ``cumulative_lift = churn rate of
    deciles 1..d / overall rate``; ``cumulative_capture = churners in deciles 1..d / all
    churners``. Without any churner these three are NaN (undefined) and ``note`` says so.
Confusion
    At the operating threshold (``score >= threshold``) and for the top ``top_fraction`` of
    the ranking above (``round(top_fraction * n)`` customers, at least 1; its ``threshold``
    is the lowest score selected). ``sklearn.metrics.confusion_matrix`` /
    ``precision_score`` / ``recall_score`` with ``zero_division=0.0`` (precision is 0 when
    nobody is flagged, recall is 0 when there is no churner).
Calibration
    ``sklearn.calibration.calibration_curve`` binning (``strategy="quantile"`` by default:
    churn scores crowd near 0, so equal-width bins leave most bins empty; bins are
    right-closed as in sklearn, duplicate quantile edges give empty bins, and empty bins are
    omitted exactly as sklearn omits them). ``bin`` is the 0-based bin index. Brier score is
    ``sklearn.metrics.brier_score_loss``.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from churnlens.notes import Note
from churnlens.errors import DataError
from churnlens.evaluation.results import CalibrationRow, Confusion, Curve, DecileRow, ModelComparison, ModelComparisonRow, ModelQuality
from churnlens.lazy import lazy

brier_score_loss = lazy("sklearn.metrics", "brier_score_loss")
confusion_matrix = lazy("sklearn.metrics", "confusion_matrix")
precision_score = lazy("sklearn.metrics", "precision_score")
recall_score = lazy("sklearn.metrics", "recall_score")
roc_auc_score = lazy("sklearn.metrics", "roc_auc_score")
roc_curve = lazy("sklearn.metrics", "roc_curve")

__all__ = ["evaluate", "compare_models", "validate_labels_scores"]


def validate_labels_scores(label: np.ndarray, score: np.ndarray, *, what: str = "score") -> tuple[np.ndarray, np.ndarray]:
    """Check and normalise an observed-outcome vector and a probability vector.

    Parameters
    ----------
    label : array-like, shape (n,)
        Observed churn, 0/1 (bools and 0.0/1.0 accepted).
    score : array-like, shape (n,)
        Predicted churn probability in [0, 1].

    Returns
    -------
    label : ndarray of int8, shape (n,)
    score : ndarray of float64, shape (n,)

    Raises
    ------
    DataError
        Length mismatch, empty input, labels other than 0/1, NaN/inf or out-of-range scores.
    """
    label = np.asarray(label)
    score = np.asarray(score)
    if label.ndim != 1 or score.ndim != 1:
        raise DataError(
            f"Labels and {what}s must be one value per customer (1-D); found shapes {label.shape} and {score.shape}."
        )
    if label.shape[0] != score.shape[0]:
        raise DataError(
            f"Labels and {what}s have different lengths ({label.shape[0]} labels, {score.shape[0]} {what}s); "
            "pass one label and one score per customer, in the same order."
        )
    if label.shape[0] == 0:
        raise DataError("No customers to evaluate: the labels and scores are empty.")
    try:
        num = label.astype(np.float64)
    except (TypeError, ValueError):
        bad = sorted({str(v) for v in label.tolist()})[:5]
        raise DataError(
            f"The label column must hold 0 (stayed) or 1 (churned); found values such as {bad}. "
            "Recode the observed outcome as 0/1."
        ) from None
    ok = (num == 0) | (num == 1)
    if not ok.all():
        bad = sorted({repr(v) for v in label[~ok].tolist()})[:5]
        raise DataError(
            f"The label column must hold 0 (stayed) or 1 (churned); found {int((~ok).sum())} other value(s) "
            f"such as {', '.join(bad)}. Recode the observed outcome as 0/1 (missing outcomes must be dropped)."
        )
    try:
        score = score.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(f"The {what}s must be numbers (predicted churn probabilities).") from None
    finite = np.isfinite(score)
    if not finite.all():
        raise DataError(
            f"{int((~finite).sum())} {what}(s) are NaN or infinite (first at position {int(np.argmin(finite))}); "
            "every customer needs a predicted churn probability."
        )
    if score.min() < 0.0 or score.max() > 1.0:
        raise DataError(
            f"The {what}s must be probabilities in [0, 1]; found values from {score.min():.6g} to {score.max():.6g}. "
            "Pass predicted probabilities, not raw log-odds."
        )
    return num.astype(np.int8), score


def _rank(score: np.ndarray) -> np.ndarray:
    """Row positions by score descending; ties keep input order (stable)."""
    return np.argsort(-score, kind="stable")


def _deciles(label: np.ndarray, score: np.ndarray, n_bins: int) -> tuple[DecileRow, ...]:
    order = _rank(score)
    n = label.shape[0]
    total = int(label.sum())
    overall = total / n
    groups = np.array_split(order, min(n_bins, n))
    rows = []
    cum_customers = cum_churners = 0
    for d, g in enumerate(groups, start=1):
        customers = int(g.shape[0])
        churners = int(label[g].sum())
        cum_customers += customers
        cum_churners += churners
        rate = churners / customers
        if total > 0:
            capture = cum_churners / total
            lift = rate / overall
            cum_lift = (cum_churners / cum_customers) / overall
        else:
            capture = lift = cum_lift = math.nan
        rows.append(
            DecileRow(
                decile=d,
                customers=customers,
                churners=churners,
                rate=rate,
                cumulative_capture=capture,
                lift=lift,
                cumulative_lift=cum_lift,
                min_score=float(score[g].min()),
                max_score=float(score[g].max()),
            )
        )
    return tuple(rows)


def _confusion(label: np.ndarray, pred: np.ndarray, rule: Note, threshold: float) -> Confusion:
    tn, fp, fn, tp = confusion_matrix(label, pred, labels=[0, 1]).ravel()
    return Confusion(
        rule=rule,
        threshold=float(threshold),
        tp=int(tp),
        fp=int(fp),
        fn=int(fn),
        tn=int(tn),
        precision=float(precision_score(label, pred, labels=[0, 1], zero_division=0.0)),
        recall=float(recall_score(label, pred, labels=[0, 1], zero_division=0.0)),
    )


def _calibration(label: np.ndarray, score: np.ndarray, n_bins: int, strategy: str) -> tuple[CalibrationRow, ...]:
    # Same bin edges and assignment as sklearn.calibration.calibration_curve, plus counts.
    if strategy == "quantile":
        edges = np.percentile(score, np.linspace(0.0, 1.0, n_bins + 1) * 100)
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise ValueError(f"calibration strategy must be 'quantile' or 'uniform', not {strategy!r}")
    binids = np.searchsorted(edges[1:-1], score)
    sums = np.bincount(binids, weights=score, minlength=n_bins)
    trues = np.bincount(binids, weights=label.astype(np.float64), minlength=n_bins)
    totals = np.bincount(binids, minlength=n_bins)
    return tuple(
        CalibrationRow(bin=int(b), customers=int(totals[b]), mean_score=float(sums[b] / totals[b]),
                       observed_rate=float(trues[b] / totals[b]))
        for b in np.flatnonzero(totals)
    )


def evaluate(
    label: np.ndarray,
    score: np.ndarray,
    *,
    threshold: float = 0.5,
    top_fraction: float = 0.1,
    n_bins: int = 10,
    calibration_strategy: str = "quantile",
) -> ModelQuality:
    """Model performance of one model's scores against observed churn.

    Parameters
    ----------
    label : array-like of 0/1, shape (n,)
        Observed churn.
    score : array-like of float, shape (n,)
        Predicted churn probability.
    threshold : float
        Operating threshold of the first confusion matrix (``score >= threshold``).
    top_fraction : float in (0, 1]
        Share of the riskiest customers of the second confusion matrix.
    n_bins : int
        Number of score groups of the lift table and of the calibration table.
    calibration_strategy : {"quantile", "uniform"}
        Bin edges of the calibration table (sklearn's ``calibration_curve`` strategies).

    Returns
    -------
    ModelQuality
        See the module docstring for every definition. With one class only, ``auc``/``ks``
        and ``ks_threshold`` are None, ``roc``/``ks_curve`` are empty and ``note`` says why.

    Raises
    ------
    DataError
        Labels not 0/1, length mismatch, empty input, NaN or out-of-range scores.
    """
    label, score = validate_labels_scores(label, score)
    if not 0.0 < top_fraction <= 1.0:
        raise ValueError(f"top_fraction must be in (0, 1], not {top_fraction}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, not {n_bins}")
    n = int(label.shape[0])
    n_churners = int(label.sum())
    notes: list[Note] = []
    empty = Curve(x=np.empty(0), y=np.empty(0), thresholds=np.empty(0))
    if 0 < n_churners < n:
        fpr, tpr, thr = roc_curve(label, score)
        roc = Curve(x=fpr, y=tpr, thresholds=thr)
        auc: Optional[float] = float(roc_auc_score(label, score))
        # KS on the full curve: every distinct score is a candidate threshold.
        ffpr, ftpr, fthr = roc_curve(label, score, drop_intermediate=False)
        diff = (ftpr - ffpr)[1:]
        ks_curve = Curve(x=fthr[1:], y=diff, thresholds=fthr[1:])
        best = int(np.argmax(diff))
        ks: Optional[float] = float(max(diff[best], 0.0))
        ks_threshold: Optional[float] = float(fthr[1:][best])
        if np.ptp(score) == 0:
            notes.append(Note.of("quality.equal_scores"))
    else:
        notes.append(Note.of("quality.only_churners" if n_churners == n else "quality.only_non_churners"))
        roc, ks_curve, auc, ks, ks_threshold = empty, empty, None, None, None
        if n_churners == 0:
            notes.append(Note.of("quality.no_churners"))

    deciles = _deciles(label, score, n_bins)
    order = _rank(score)
    k = max(1, int(math.floor(top_fraction * n + 0.5)))
    top = np.zeros(n, dtype=bool)
    top[order[:k]] = True
    confusion = (
        _confusion(label, (score >= threshold).astype(np.int8), Note.of("quality.rule_score", threshold=float(threshold)),
                   threshold),
        _confusion(label, top.astype(np.int8), Note.of("quality.rule_top", percent=top_fraction * 100),
                   float(score[order[k - 1]])),
    )
    calibration = _calibration(label, score, n_bins, calibration_strategy)
    brier = float(brier_score_loss(label, score, labels=[0, 1]))
    return ModelQuality(
        n=n,
        n_churners=n_churners,
        auc=auc,
        roc=roc,
        ks=ks,
        ks_threshold=ks_threshold,
        ks_curve=ks_curve,
        deciles=deciles,
        confusion=confusion,
        calibration=calibration,
        brier=brier,
        notes=tuple(notes),
    )


def _key(v: Optional[float]) -> float:
    return -math.inf if v is None or math.isnan(v) else v


def _num(v: Optional[float]) -> Optional[float]:
    """A metric for a note: None when undefined (the reports print "n/a")."""
    return None if v is None or math.isnan(v) else float(v)


def compare_models(
    names: Sequence[str],
    sha256s: Sequence[str],
    label: np.ndarray,
    scores: Sequence[np.ndarray],
    *,
    top_fraction: float = 0.1,
) -> ModelComparison:
    """Champion/challenger comparison of several models on the same labelled customers.

    The champion has the highest top-decile lift, then (on an exact tie) the highest AUC,
    then the highest KS — the order in which banks read a churn model (who is in the first
    call list, then overall ranking, then separation). Undefined metrics (one class only)
    rank lowest; a complete tie goes to the model listed first.

    Parameters
    ----------
    names, sha256s : sequence of str, length m
        Model file names and their SHA-256.
    label : array-like of 0/1, shape (n,)
    scores : sequence of m arrays, each shape (n,)

    Returns
    -------
    ModelComparison
        Rows champion first, then by the same ordering; the verdict as a note (codes and numbers).
    """
    if not (len(names) == len(sha256s) == len(scores)):
        raise DataError(
            f"compare_models needs one name, one SHA-256 and one score vector per model; found "
            f"{len(names)} names, {len(sha256s)} hashes and {len(scores)} score vectors."
        )
    if len(names) == 0:
        raise DataError("model: no models to compare; give at least one model.", argument="model")
    quals = [evaluate(label, s, top_fraction=top_fraction) for s in scores]
    stats = [(q.deciles[0].lift, q.auc, q.ks) for q in quals]
    order = sorted(range(len(names)), key=lambda i: (-_key(stats[i][0]), -_key(stats[i][1]), -_key(stats[i][2]), i))
    rows = tuple(
        ModelComparisonRow(
            model=str(names[i]), sha256=str(sha256s[i]), top_decile_lift=float(stats[i][0]),
            auc=stats[i][1], ks=stats[i][2], champion=(r == 0),
        )
        for r, i in enumerate(order)
    )
    champ = rows[0]
    if len(rows) == 1:
        return ModelComparison(rows=rows, verdict=Note.of(
            "compare.only_one", model=champ.model, lift=_num(champ.top_decile_lift), auc=_num(champ.auc),
            ks=_num(champ.ks)))
    runner = rows[1]
    metrics = [("lift", champ.top_decile_lift, runner.top_decile_lift), ("auc", champ.auc, runner.auc),
               ("ks", champ.ks, runner.ks)]
    decided = next((m for m in metrics if _key(m[1]) != _key(m[2])), None)
    if decided is None:
        why = Note.of("compare.tie", runner=runner.model)
    else:
        tied = tuple(Note.of(f"compare.metric_{m[0]}") for m in metrics[: metrics.index(decided)])
        why = Note.of("compare.higher" if not tied else f"compare.higher_after_{len(tied)}",
                      metric=Note.of(f"compare.metric_{decided[0]}"), champion=_num(decided[1]),
                      runner_up=_num(decided[2]), runner=runner.model,
                      **{f"tied_{i + 1}": t for i, t in enumerate(tied)})
    return ModelComparison(rows=rows, verdict=Note.of("compare.champion", model=champ.model, why=why))
