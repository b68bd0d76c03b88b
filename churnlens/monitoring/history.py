"""Trends over up to twelve months of report folders (``--history DIR``).

Every report folder holds ``month_summary.json`` (:data:`SUMMARY_FILE`): its period, customers,
score PSI against the previous month, the back-test AUC/KS of the previous month's scores,
segment sizes with their signature vectors, driver shares and the measured campaign effect.
:func:`load_history` reads the summaries of the sub-folders of DIR (folders without one are
counted in ``n_skipped``), ordered by period then folder name; :func:`trend` appends this
month and keeps the last ``months``.

Verdicts (codes): ``none`` when not measured; otherwise ``green`` unless the change is both
outside what chance explains *and* at least the configured limit (``monitoring.thresholds``):
then ``amber`` below the red limit, else ``red``. Chance is judged at ``monitoring.confidence``
(default 0.95):

* AUC drop. Baseline of a month: the realised AUC of the window's *earlier* months pooled with
  inverse-variance weights, ``A = sum w_m AUC_m / sum w_m``, ``w_m = 1 / se_m^2``, standard error
  ``se_A = 1 / sqrt(sum w_m)`` (a plain mean without standard error when a month has no interval);
  the window's first month with an AUC has no baseline (``none``). A month's standard error is
  read from its bootstrap interval: ``se = (high - low) / (2 z_l)``, ``z_l`` the normal quantile of
  the interval's level (``MonthSummary.level``, ``loop.level``). The drop ``d = A - AUC`` has
  standard error ``sqrt(se_A^2 + se^2)`` (the baseline's uncertainty and this month's), and chance
  explains it while ``d <= z x se_d``, ``z`` the normal quantile ``(1 + confidence) / 2`` (the drop
  lies inside its ``confidence`` interval around no change). Without intervals (``loop.bootstrap:
  0``) the limits alone decide.
* Score PSI (against the month before). Binned at the reference month's deciles, the PSI of a
  continuous score does not depend on the score's distribution, only on the two months' sizes,
  so its distribution with no change is simulated exactly (:func:`psi_chance`, seeded, no data
  needed); chance explains a PSI up to that distribution's ``confidence`` quantile, for ``n``
  this month's customers and ``n_ref`` the customers of the month before in the history (this
  month's own count when that month is not in the history). It is close to
  ``(1/n_ref + 1/n) x chi2.ppf(confidence, 9)``: 0.017 for two months of 2,000 customers, far
  below the fixed limits, which then decide; 0.23 for two months of 150, where sampling noise
  alone averages a PSI of 0.12 and would otherwise turn amber.

Segments follow their lineage month to month: each month's summary keeps the links from the
month before's segment keys to its own (``lineage``: merges and splits by shared members and
signatures, :func:`churnlens.segmentation.history.match_previous`). A row follows a segment back
from the latest month it appears in: before a merge its size is the sum of its parts' sizes
(the row's ``keys`` name them), a part of a split counts its share of the segment it came from.
Between two months whose newer summary has no lineage for them (an older summary, or a run
without ``--previous``) the segments are matched one to one by signature: the assignment
maximising total cosine similarity (``scipy.optimize.linear_sum_assignment``), pairs below
:data:`MIN_SIMILARITY` left unmatched. ``Trend.events`` lists the merges and splits of the
window.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from churnlens.constants import MIN_SIMILARITY, PSI_EPSILON
from churnlens.errors import InputFileError
from churnlens.monitoring.results import MonthSummary, SegmentSize, SeriesRow, Trend, TrendEvent, TrendPoint
from churnlens.lazy import lazy

linear_sum_assignment = lazy("scipy.optimize", "linear_sum_assignment")
chi2 = lazy("scipy.stats", "chi2")
norm = lazy("scipy.stats", "norm")

__all__ = ["SUMMARY_FILE", "summary_to_json", "read_summary", "load_history", "trend", "verdict", "interval_se",
           "pooled_baseline", "auc_drop_verdict", "psi_chance", "psi_verdict", "PSI_BINS"]

SUMMARY_FILE = "month_summary.json"
_FORMAT = "churnlens.month_summary"
TOP_DRIVERS = 8
PSI_BINS = 10  # the score's PSI bins (reference deciles, churnlens.monitoring.stability)
PSI_DRAWS = 20_000  # simulated month pairs behind the PSI chance bound


def _triple(v) -> Optional[list]:
    return None if v is None else [float(x) for x in v]


def summary_to_json(s: MonthSummary) -> str:
    """``month_summary.json`` text (stable key order; floats as written by ``json``)."""
    doc = {
        "format": _FORMAT, "version": 1, "period": s.period, "n_customers": s.n_customers,
        "score_psi": s.score_psi, "auc": _triple(s.auc), "ks": _triple(s.ks),
        "segments": [{"key": g.key, "size": g.size, "features": list(g.features), "signature": list(g.signature)}
                     for g in s.segments],
        "drivers": [[f, v] for f, v in s.drivers], "campaign": _triple(s.campaign), "level": s.level,
    }
    if s.lineage is not None:  # absent in older summaries, and in a month without a previous month
        doc["lineage"] = [[a, b, float(w)] for a, b, w in s.lineage]
    return json.dumps(doc, indent=1, ensure_ascii=False)


def read_summary(path: Path) -> MonthSummary:
    """Read one ``month_summary.json``.

    Raises
    ------
    InputFileError
        Not JSON, not a churnlens month summary, or a key missing.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != _FORMAT:
            raise KeyError("format")
        tup = lambda v: None if v is None else tuple(float(x) for x in v)  # noqa: E731
        return MonthSummary(
            period=str(doc["period"]), folder=path.parent.name, n_customers=int(doc["n_customers"]),
            score_psi=None if doc["score_psi"] is None else float(doc["score_psi"]), auc=tup(doc["auc"]),
            ks=tup(doc["ks"]),
            segments=tuple(SegmentSize(key=str(g["key"]), size=int(g["size"]), features=tuple(g["features"]),
                                       signature=tuple(float(x) for x in g["signature"])) for g in doc["segments"]),
            drivers=tuple((str(f), float(v)) for f, v in doc["drivers"]), campaign=tup(doc["campaign"]),
            level=float(doc.get("level", 0.95)),
            lineage=None if doc.get("lineage") is None else tuple((str(a), str(b), float(w))
                                                                  for a, b, w in doc["lineage"]))
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise InputFileError(f"history: {path} is not a churnlens month summary ({type(err).__name__}: {err}); it is "
                             "written by churnlens report into every report folder.", argument="history") from None


def load_history(directory: Path, *, exclude: Sequence[Path] = ()) -> tuple[tuple[MonthSummary, ...], int]:
    """Month summaries of the report folders inside ``directory``, oldest first.

    Returns
    -------
    summaries : tuple of MonthSummary
    n_skipped : int
        Sub-folders without ``month_summary.json`` (older churnlens, or not report folders).

    Raises
    ------
    InputFileError
        ``directory`` is not a folder.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputFileError(f"history: {directory} is not a folder; give the folder that holds earlier months' "
                             "report folders (one sub-folder per month).", argument="history")
    skip = {Path(p).resolve() for p in exclude}
    found, skipped = [], 0
    for sub in sorted(p for p in directory.iterdir() if p.is_dir() and p.resolve() not in skip):
        if (sub / SUMMARY_FILE).is_file():
            found.append(read_summary(sub / SUMMARY_FILE))
        else:
            skipped += 1
    return tuple(sorted(found, key=lambda s: (s.period, s.folder))), skipped


def verdict(value: Optional[float], limits: tuple[float, float]) -> str:
    """``green`` below amber, ``amber`` below red, else ``red``; ``none`` without a value."""
    if value is None or not math.isfinite(value):
        return "none"
    return "green" if value < limits[0] else "amber" if value < limits[1] else "red"


def _cosine_matrix(a: Sequence[SegmentSize], b: Sequence[SegmentSize]) -> np.ndarray:
    feats = sorted({f for s in (*a, *b) for f in s.features})
    pos = {f: i for i, f in enumerate(feats)}

    def vec(s: SegmentSize) -> np.ndarray:
        v = np.zeros(len(feats))
        v[[pos[f] for f in s.features]] = s.signature
        n = np.linalg.norm(v)
        return v / n if n > 0 else v

    A = np.array([vec(s) for s in a]).reshape(len(a), len(feats))
    B = np.array([vec(s) for s in b]).reshape(len(b), len(feats))
    return A @ B.T


def _step_links(old: MonthSummary, new: MonthSummary) -> dict[str, dict[str, float]]:
    """This month's key -> {previous key: weight} between two consecutive months of the window:
    the newer month's lineage when it was computed against the older month's segments (weight =
    share of the previous segment's members that went to it), else a one-to-one signature match
    (weight 1)."""
    links: dict[str, dict[str, float]] = {}
    old_keys = {g.key for g in old.segments}
    new_keys = {g.key for g in new.segments}
    if new.lineage is not None and (not new.lineage or {a for a, _, _ in new.lineage} <= old_keys):
        for a, b, w in new.lineage:
            if b in new_keys:
                links.setdefault(b, {})[a] = links.get(b, {}).get(a, 0.0) + float(w)
        return links
    o, n = old.segments, new.segments
    if o and n:
        sim = _cosine_matrix(o, n)
        ri, cj = linear_sum_assignment(-sim)
        for i, j in zip(ri, cj):
            if sim[i, j] >= MIN_SIMILARITY:
                links[n[int(j)].key] = {o[int(i)].key: 1.0}
    return links


def _segment_rows(months: Sequence[MonthSummary]) -> tuple[SeriesRow, ...]:
    """Segment sizes per month, each row following its segment's lineage back from the latest
    month it appears in: a merged segment's earlier sizes are the sum of its parts', a split's
    part gets its share of the segment it came from (:func:`_step_links`)."""
    T = len(months)
    steps = [_step_links(months[t], months[t + 1]) for t in range(T - 1)]
    size = [{g.key: float(g.size) for g in m.segments} for m in months]
    rows, claimed = [], [set() for _ in range(T)]
    for t in range(T - 1, -1, -1):
        for seg in months[t].segments:
            if seg.key in claimed[t]:
                continue
            sizes: list[Optional[float]] = [None] * T
            keys: list[tuple[str, ...]] = [()] * T
            weight = {seg.key: 1.0}
            for u in range(t, -1, -1):
                weight = {k: w for k, w in weight.items() if k in size[u]}
                if not weight:
                    break
                claimed[u].update(weight)
                sizes[u] = float(sum(w * size[u][k] for k, w in weight.items()))
                keys[u] = tuple(sorted(weight, key=_key_order))
                if u == 0:
                    break
                back: dict[str, float] = {}
                for k, w in weight.items():
                    for p, pw in steps[u - 1].get(k, {}).items():
                        back[p] = back.get(p, 0.0) + w * pw
                weight = back
            rows.append(SeriesRow(key=seg.key, values=tuple(sizes), keys=tuple(keys)))
    return tuple(rows)


def _key_order(key: str) -> tuple:
    return (0, int(key[1:]), "") if key[:1] == "S" and key[1:].isdigit() else (1, 0, key)


def _events(months: Sequence[MonthSummary]) -> tuple[TrendEvent, ...]:
    """Merges and splits between consecutive months of the window, from each month's lineage."""
    out = []
    for t in range(1, len(months)):
        links = _step_links(months[t - 1], months[t])
        for cur, parents in sorted(links.items(), key=lambda kv: _key_order(kv[0])):
            if len(parents) > 1:
                out.append(TrendEvent(months[t].period, "merged", tuple(sorted(parents, key=_key_order)), (cur,)))
        children: dict[str, list[tuple[float, str]]] = {}
        for cur, parents in links.items():
            for p, w in parents.items():
                children.setdefault(p, []).append((w, cur))
        for p, cs in sorted(children.items(), key=lambda kv: _key_order(kv[0])):
            if len(cs) > 1:
                cs.sort(key=lambda wc: (-wc[0], _key_order(wc[1])))
                out.append(TrendEvent(months[t].period, "split", (p,), tuple(c for _, c in cs)))
    return tuple(out)


def _driver_rows(months: Sequence[MonthSummary]) -> tuple[SeriesRow, ...]:
    latest = [f for f, _ in months[-1].drivers[:TOP_DRIVERS]]
    maps = [dict(m.drivers) for m in months]
    return tuple(SeriesRow(key=f, values=tuple(m.get(f) for m in maps)) for f in latest)


def interval_se(triple: Optional[Sequence[float]], level: float) -> Optional[float]:
    """Standard error read from a (value, low, high) interval at ``level``: ``(high - low) / (2 z)``;
    None without a finite interval of positive width."""
    if triple is None:
        return None
    _, lo, hi = (float(x) for x in triple)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return None
    return (hi - lo) / (2.0 * float(norm.ppf((1.0 + level) / 2.0)))


def pooled_baseline(months: Sequence[MonthSummary]) -> tuple[Optional[float], Optional[float], int]:
    """Inverse-variance pooled realised AUC of ``months`` (those with an AUC) and its standard
    error; a plain mean and no standard error when one of them has no interval.

    Returns (baseline, se, number of months pooled); (None, None, 0) without any AUC.
    """
    vals = [(m.auc[0], interval_se(m.auc, m.level)) for m in months
            if m.auc is not None and math.isfinite(m.auc[0])]
    if not vals:
        return None, None, 0
    if all(se is not None for _, se in vals):
        w = np.array([1.0 / se ** 2 for _, se in vals])
        v = np.array([a for a, _ in vals])
        return float(w @ v / w.sum()), float(1.0 / math.sqrt(w.sum())), len(vals)
    return float(np.mean([a for a, _ in vals])), None, len(vals)


def auc_drop_verdict(drop: Optional[float], se: Optional[float], limits: tuple[float, float], *,
                     confidence: float = 0.95) -> tuple[str, Optional[float]]:
    """Verdict of an AUC drop with standard error ``se`` and the largest drop chance explains
    (``z x se``, None without ``se``): ``green`` while chance explains it, else by the limits."""
    if drop is None or not math.isfinite(drop):
        return "none", None
    chance = None if se is None else float(norm.ppf((1.0 + confidence) / 2.0)) * se
    if chance is not None and drop <= chance:
        return "green", chance
    return verdict(drop, limits), chance


@functools.lru_cache(maxsize=256)
def psi_chance(n_reference: int, n_current: int, *, confidence: float = 0.95, bins: int = PSI_BINS,
               draws: int = PSI_DRAWS, seed: int = 0) -> Optional[float]:
    """Largest score PSI that chance explains for two months of these sizes: the ``confidence``
    quantile of the PSI between two samples of one continuous distribution (module docstring).

    PSI over reference deciles does not depend on the distribution (any monotone transform keeps
    every customer's bin), so its null distribution is simulated exactly, seeded, without data:
    the probability mass of the bins cut at the reference's order statistics at positions
    ``ceil(k n_ref / bins)`` is Dirichlet(position gaps); this month's counts are multinomial on
    those masses; shares are floored at the PSI epsilon as :mod:`~churnlens.monitoring.stability`
    does. Below ``2 x bins`` reference customers the chi-square approximation
    ``(1/n_ref + 1/n) x chi2.ppf(confidence, bins - 1)`` is used.
    """
    n_reference, n_current = int(n_reference), int(n_current)
    if n_reference <= 0 or n_current <= 0:
        return None
    if n_reference < 2 * bins:
        return float(chi2.ppf(confidence, bins - 1)) * (1.0 / n_reference + 1.0 / n_current)
    pos = np.unique((np.arange(1, bins) * n_reference + bins - 1) // bins)  # 1-based order statistics
    gaps = np.diff(np.r_[0, pos, n_reference + 1]).astype(np.float64)
    ref = np.diff(np.r_[1, pos, n_reference + 1]) / n_reference
    rng = np.random.default_rng(seed)
    mass = rng.dirichlet(gaps, size=draws)
    cur = rng.multinomial(n_current, mass) / n_current
    r, c = np.maximum(ref, PSI_EPSILON)[None, :], np.maximum(cur, PSI_EPSILON)
    values = ((c - r) * np.log(c / r)).sum(axis=1)
    return float(np.quantile(values, confidence))


def psi_verdict(value: Optional[float], chance: Optional[float], limits: tuple[float, float]) -> str:
    """``green`` while chance explains the PSI, else by the limits; ``none`` without a value."""
    if value is None or not math.isfinite(value):
        return "none"
    if chance is not None and value <= chance:
        return "green"
    return verdict(value, limits)


def trend(history: Sequence[MonthSummary], current: MonthSummary, *, psi: tuple[float, float] = (0.1, 0.25),
          auc_drop: tuple[float, float] = (0.02, 0.05), months: int = 12, n_skipped: int = 0,
          confidence: float = 0.95) -> Trend:
    """Trend over the last ``months`` months, ``current`` last (see the module docstring)."""
    every = tuple(h for h in history if h.period != current.period) + (current,)
    window = every[-months:]
    first = len(every) - len(window)
    points = []
    for t, m in enumerate(window):
        base, base_se, _ = pooled_baseline(window[:t])
        drop = se = None
        if m.auc is not None and base is not None:
            drop = base - m.auc[0]
            parts = [x for x in (base_se, interval_se(m.auc, m.level)) if x is not None]
            se = math.sqrt(sum(x * x for x in parts)) if parts else None
        auc_code, chance = auc_drop_verdict(drop, se, auc_drop, confidence=confidence)
        n_ref = every[first + t - 1].n_customers if first + t > 0 else m.n_customers
        p_chance = None if m.score_psi is None else psi_chance(n_ref, m.n_customers, confidence=confidence)
        points.append(TrendPoint(period=m.period, n_customers=m.n_customers, auc=m.auc, ks=m.ks,
                                 score_psi=m.score_psi, psi_verdict=psi_verdict(m.score_psi, p_chance, psi),
                                 auc_drop=drop, auc_verdict=auc_code, campaign=m.campaign, auc_baseline=base,
                                 auc_drop_se=se, auc_drop_chance=chance, psi_chance=p_chance))
    order = {"none": -1, "green": 0, "amber": 1, "red": 2}
    last = points[-1]
    worst = max((last.psi_verdict, last.auc_verdict), key=order.__getitem__)
    ref, ref_se, n_ref_months = pooled_baseline(window[:-1])
    return Trend(points=tuple(points), segments=_segment_rows(window), drivers=_driver_rows(window),
                 events=_events(window),
                 reference_auc=ref, psi_thresholds=tuple(psi), auc_drop_thresholds=tuple(auc_drop), verdict=worst,
                 n_skipped=n_skipped, reference_se=ref_se, reference_months=n_ref_months, confidence=confidence)
