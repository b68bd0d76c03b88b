"""Trends over up to twelve months of report folders (``--history DIR``).

Every report folder holds ``month_summary.json`` (:data:`SUMMARY_FILE`): its period, customers,
score PSI against the previous month, the back-test AUC/KS of the previous month's scores,
segment sizes with their signature vectors, driver shares and the measured campaign effect.
:func:`load_history` reads the summaries of the sub-folders of DIR (folders without one are
counted in ``n_skipped``), ordered by period then folder name; :func:`trend` appends this
month and keeps the last ``months``.

Verdicts (codes, from ``monitoring.thresholds``): a value below the amber limit is ``green``,
below the red limit ``amber``, else ``red``; ``none`` when not measured. PSI is the score's
PSI; the AUC drop is the window's first realised AUC minus the month's realised AUC.

Segments are matched month to month by signature: between consecutive months, the
assignment maximising total cosine similarity of the signature vectors
(``scipy.optimize.linear_sum_assignment``), pairs below :data:`MIN_SIMILARITY` left unmatched
(the rule of :mod:`churnlens.segmentation.history`). A row follows a segment back from the
latest month it appears in.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from churnlens.constants import MIN_SIMILARITY
from churnlens.errors import InputFileError
from churnlens.monitoring.results import MonthSummary, SegmentSize, SeriesRow, Trend, TrendPoint

__all__ = ["SUMMARY_FILE", "summary_to_json", "read_summary", "load_history", "trend", "verdict"]

SUMMARY_FILE = "month_summary.json"
_FORMAT = "churnlens.month_summary"
TOP_DRIVERS = 8


def _triple(v) -> Optional[list]:
    return None if v is None else [float(x) for x in v]


def summary_to_json(s: MonthSummary) -> str:
    """``month_summary.json`` text (stable key order; floats as written by ``json``)."""
    doc = {
        "format": _FORMAT, "version": 1, "period": s.period, "n_customers": s.n_customers,
        "score_psi": s.score_psi, "auc": _triple(s.auc), "ks": _triple(s.ks),
        "segments": [{"key": g.key, "size": g.size, "features": list(g.features), "signature": list(g.signature)}
                     for g in s.segments],
        "drivers": [[f, v] for f, v in s.drivers], "campaign": _triple(s.campaign),
    }
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
            drivers=tuple((str(f), float(v)) for f, v in doc["drivers"]), campaign=tup(doc["campaign"]))
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


def _segment_rows(months: Sequence[MonthSummary]) -> tuple[SeriesRow, ...]:
    """Segment sizes per month, segments followed back by signature from their latest month."""
    T = len(months)
    links = []  # links[t]: newer index j -> older index i between months t and t+1
    for t in range(T - 1):
        old, new = months[t].segments, months[t + 1].segments
        link = {}
        if old and new:
            sim = _cosine_matrix(old, new)
            ri, cj = linear_sum_assignment(-sim)
            link = {int(j): int(i) for i, j in zip(ri, cj) if sim[i, j] >= MIN_SIMILARITY}
        links.append(link)
    rows, claimed = [], [set() for _ in range(T)]
    for t in range(T - 1, -1, -1):
        for j, seg in enumerate(months[t].segments):
            if j in claimed[t]:
                continue
            sizes: list[Optional[float]] = [None] * T
            cur = j
            for u in range(t, -1, -1):
                claimed[u].add(cur)
                sizes[u] = float(months[u].segments[cur].size)
                if u == 0 or cur not in links[u - 1]:
                    break
                cur = links[u - 1][cur]
            rows.append(SeriesRow(key=seg.key, values=tuple(sizes)))
    return tuple(rows)


def _driver_rows(months: Sequence[MonthSummary]) -> tuple[SeriesRow, ...]:
    latest = [f for f, _ in months[-1].drivers[:TOP_DRIVERS]]
    maps = [dict(m.drivers) for m in months]
    return tuple(SeriesRow(key=f, values=tuple(m.get(f) for m in maps)) for f in latest)


def trend(history: Sequence[MonthSummary], current: MonthSummary, *, psi: tuple[float, float] = (0.1, 0.25),
          auc_drop: tuple[float, float] = (0.02, 0.05), months: int = 12, n_skipped: int = 0) -> Trend:
    """Trend over the last ``months`` months, ``current`` last (see the module docstring)."""
    window = (tuple(h for h in history if h.period != current.period) + (current,))[-months:]
    ref = next((m.auc[0] for m in window if m.auc is not None), None)
    points = []
    for m in window:
        drop = None if (m.auc is None or ref is None) else ref - m.auc[0]
        points.append(TrendPoint(period=m.period, n_customers=m.n_customers, auc=m.auc, ks=m.ks,
                                 score_psi=m.score_psi, psi_verdict=verdict(m.score_psi, psi), auc_drop=drop,
                                 auc_verdict=verdict(drop, auc_drop), campaign=m.campaign))
    order = {"none": -1, "green": 0, "amber": 1, "red": 2}
    last = points[-1]
    worst = max((last.psi_verdict, last.auc_verdict), key=order.__getitem__)
    return Trend(points=tuple(points), segments=_segment_rows(window), drivers=_driver_rows(window),
                 reference_auc=ref, psi_thresholds=tuple(psi), auc_drop_thresholds=tuple(auc_drop), verdict=worst,
                 n_skipped=n_skipped)
