"""Segment files and month-over-month matching: stable keys and names, customer migration."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Mapping, Optional

from typing import Optional

import numpy as np
import pandas as pd

from churnlens.constants import MIN_SIMILARITY
from churnlens.errors import InputFileError
from churnlens.io.csv_safety import safe_for_spreadsheets, unquote_cell
from churnlens.segmentation.describe import MIXED_KEY
from churnlens.segmentation.results import (
    MIXED,
    Flow,
    Migration,
    NamePart,
    PreviousSegments,
    PreviousSignature,
    SegmentMatch,
    Segmentation,
    SegmentSummary,
)

SEGMENTS_CSV = "segments.csv"
SIGNATURES_JSON = "segment_signatures.json"
# SPEC's four columns, then the secondary segment; segment_name is in machine words (English),
# whatever the report language.
SEGMENTS_COLUMNS = ("customer_id", "segment", "segment_name", "membership_strength", "secondary_segment")
NEW, GONE = "NEW", "GONE"
LEFT = "LEFT"  # last month's churner no longer in the book (closed, sold, ...); GONE = still a customer, not selected
SIGNATURES_VERSION = 1


def _key_of(summaries: tuple[SegmentSummary, ...]) -> dict[int, SegmentSummary]:
    return {s.segment_id: s for s in summaries}


def write_segments_csv(path: Path, segmentation: Segmentation, summaries: tuple[SegmentSummary, ...], *,
                       names: Mapping[str, str]) -> None:
    """Write ``segments.csv`` (:func:`segments_frame`)."""
    # text cells never start a spreadsheet formula (a customer id "=HYPERLINK(...)")
    safe_for_spreadsheets(segments_frame(segmentation, summaries, names=names)).to_csv(Path(path), index=False,
                                                                                      encoding="utf-8")


def segments_frame(segmentation: Segmentation, summaries: tuple[SegmentSummary, ...], *,
                   names: Mapping[str, str]) -> pd.DataFrame:
    """The rows of ``segments.csv``: one per churner, in the segmentation's row order.

    Columns: customer_id, segment (key, e.g. "S1" or "MIX"), segment_name, membership_strength
    (share of the churner's material attribution carried by its segment's drivers, in [0, 1]),
    secondary_segment (key of the segment owning the churner's second material reason; None,
    an empty cell in the file, when there is none). ``names`` maps each key to its name in machine
    words (the English wording of ``churnlens.reports.words.segment_name``): a machine-readable
    file is the same whatever the report language.
    """
    by_id = _key_of(summaries)
    labels = np.asarray(segmentation.labels)
    missing = sorted(set(int(x) for x in np.unique(labels)) - set(by_id))
    if missing:
        raise ValueError(f"summaries lack segment ids {missing}; pass the output of describe() for this segmentation")
    return pd.DataFrame(
        {
            "customer_id": segmentation.customer_ids,
            "segment": [by_id[int(x)].key for x in labels],
            "segment_name": [names[by_id[int(x)].key] for x in labels],
            "membership_strength": np.round(np.asarray(segmentation.strength, dtype=np.float64), 6),
            "secondary_segment": [by_id[int(x)].key if int(x) >= 0 and int(x) in by_id else None
                                  for x in segmentation.secondary_labels],
        },
        columns=list(SEGMENTS_COLUMNS),
    )


def write_segment_signatures(path: Path, summaries: tuple[SegmentSummary, ...], *,
                             names: Mapping[str, str]) -> None:
    """Write ``segment_signatures.json``: each segment's key, name (``names[key]``, machine
    words, for people reading the file), name parts (inherited next month) and signature vector.

    The signature vector is the segment's mean risk-raising attribution share per feature
    (``SegmentSummary.profile``); next month :func:`match_previous` compares it by cosine
    similarity.
    """
    doc = {
        "version": SIGNATURES_VERSION,
        "signature": "mean risk-raising attribution share per feature",
        "segments": [
            {
                "key": s.key,
                "segment_id": s.segment_id,
                "name": names[s.key],
                "name_parts": [[p.feature, p.direction, p.level, list(p.levels), [list(r) for r in p.ranges]]
                               for p in s.name],
                "name_mixed": s.name_mixed,
                "name_with_key": s.name_with_key,
                "size": s.size,
                "features": list(s.profile_features),
                "signature": [float(x) for x in s.profile],
            }
            for s in summaries
        ],
    }
    Path(path).write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")


def load_previous(directory: Path) -> PreviousSegments:
    """Read last month's ``segments.csv`` and ``segment_signatures.json`` from a report folder.

    Raises
    ------
    InputFileError
        The folder or a file is missing, unreadable, or lacks a column or key.
    """
    directory = Path(directory)
    fix = (
        "Give (argument previous) last month's churnlens report folder, which holds "
        f"{SEGMENTS_CSV} and {SIGNATURES_JSON}."
    )
    if not directory.is_dir():
        raise InputFileError(f"Previous report folder {directory} does not exist or is not a folder. {fix}")
    csv_path, json_path = directory / SEGMENTS_CSV, directory / SIGNATURES_JSON
    for p in (csv_path, json_path):
        if not p.is_file():
            raise InputFileError(f"{p} is missing from the previous report folder. {fix}")
    from churnlens.errors import DataError
    from churnlens.io.tables import read_table

    try:
        frame = read_table(csv_path, what="Previous segments file", all_text=True, allow_empty=True,
                           suffixes=(".csv",))
    except (InputFileError, DataError) as err:
        raise InputFileError(f"{err} {fix}") from None
    frame = frame.map(unquote_cell) if len(frame) else frame
    need = ("customer_id", "segment")
    lacking = [c for c in need if c not in frame.columns]
    if lacking:
        raise InputFileError(
            f"{csv_path} lacks the column(s) {lacking}; columns are: {list(frame.columns)}. "
            f"Expected {list(SEGMENTS_COLUMNS)}. {fix}"
        )
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputFileError(f"{json_path} is not valid JSON ({err}). {fix}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("segments"), list):
        raise InputFileError(f"{json_path} has no 'segments' list; it must be written by churnlens. {fix}")
    sigs = []
    for i, item in enumerate(doc["segments"]):
        keys = ("key", "features", "signature")
        if not isinstance(item, dict) or any(k not in item for k in keys):
            raise InputFileError(f"{json_path}: segments[{i}] lacks one of the keys {list(keys)}. {fix}")
        feats, vec = item["features"], item["signature"]
        if not isinstance(feats, list) or not isinstance(vec, list) or len(feats) != len(vec):
            raise InputFileError(
                f"{json_path}: segments[{i}] ('{item['key']}') has {len(feats) if isinstance(feats, list) else '?'} "
                f"features but {len(vec) if isinstance(vec, list) else '?'} signature values; expected equal lists. {fix}"
            )
        try:
            vector = tuple(float(x) for x in vec)
        except (TypeError, ValueError):
            raise InputFileError(f"{json_path}: segments[{i}] ('{item['key']}') has non-numeric signature values. {fix}") from None
        sigs.append(
            PreviousSignature(
                key=str(item["key"]), features=tuple(str(f) for f in feats), vector=vector,
                name=_name_parts(item.get("name_parts")), name_with_key=bool(item.get("name_with_key", False)),
            )
        )
    unknown = sorted(set(frame["segment"]) - {s.key for s in sigs})
    if unknown:
        raise InputFileError(
            f"{csv_path} uses segment keys {unknown[:10]} that {json_path.name} does not describe; "
            f"the two files must come from the same run. {fix}"
        )
    return PreviousSegments(
        directory=str(directory),
        customer_ids=frame["customer_id"].to_numpy(dtype=object),
        keys=frame["segment"].to_numpy(dtype=object),
        signatures=tuple(sigs),
    )


def _name_parts(raw) -> Optional[tuple[NamePart, ...]]:
    """Name parts as written by :func:`write_segment_signatures`; None when absent or malformed
    (a file of an older churnlens: the segment keeps this month's name)."""
    if not isinstance(raw, list) or not all(isinstance(p, list) and len(p) in (2, 3, 5) for p in raw):
        return None
    try:
        return tuple(NamePart(*(str(x) for x in p[:3]),
                              *((tuple(str(x) for x in p[3]),
                                 tuple((None if lo is None else float(lo), None if hi is None else float(hi))
                                       for lo, hi in p[4])) if len(p) == 5 else ()))
                     for p in raw)
    except (TypeError, ValueError):
        return None


def _cosine(a: tuple[str, ...], va: tuple[float, ...], b: tuple[str, ...], vb: tuple[float, ...]) -> float:
    feats = sorted(set(a) | set(b))
    pos = {f: i for i, f in enumerate(feats)}
    x, y = np.zeros(len(feats)), np.zeros(len(feats))
    x[[pos[f] for f in a]] = va
    y[[pos[f] for f in b]] = vb
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    return float(np.clip(x @ y / (nx * ny), -1.0, 1.0)) if nx > 0 and ny > 0 else 0.0


def match_previous(
    summaries: tuple[SegmentSummary, ...],
    segmentation: Segmentation,
    previous: PreviousSegments,
    *,
    book_ids: Optional[np.ndarray] = None,
) -> tuple[tuple[SegmentSummary, ...], Migration]:
    """Carry last month's segment keys and names over to this month's matching segments.

    Segments are matched one to one by the cosine similarity of their signature vectors
    (mean risk-raising attribution share per feature) with the Hungarian algorithm
    (``scipy.optimize.linear_sum_assignment``, maximising total similarity); a pair counts
    only when its similarity is at least 0.8. Matched segments inherit the previous key and
    names; unmatched ones are new and get the next unused key ("S<k+1>", ...). The mixed
    group keeps "MIX". Customer flows count previous key -> current key per customer, with
    "NEW" for customers who were not churners last month, "GONE" for last month's churners
    who are still in the book (``book_ids``) but not selected as churners now, and "LEFT" for
    last month's churners who are no longer in the book. Without ``book_ids`` every previous
    churner not selected now counts as "GONE".

    Returns
    -------
    summaries : tuple of SegmentSummary
        Same order, keys and names updated.
    migration : Migration
    """
    from scipy.optimize import linear_sum_assignment

    current = [s for s in summaries if s.segment_id != MIXED]
    prev = [p for p in previous.signatures if p.key != MIXED_KEY]
    sim = np.zeros((len(current), len(prev)))
    for i, s in enumerate(current):
        for j, p in enumerate(prev):
            sim[i, j] = _cosine(s.profile_features, s.profile, p.features, p.vector)
    pairs: dict[int, int] = {}
    if sim.size:
        ri, ci = linear_sum_assignment(sim, maximize=True)
        pairs = {int(i): int(j) for i, j in zip(ri, ci) if sim[i, j] >= MIN_SIMILARITY - 1e-12}

    def key_number(key: str) -> int:
        return int(key[1:]) if key[:1] == "S" and key[1:].isdigit() else 0

    next_no = max([key_number(p.key) for p in previous.signatures] + [0]) + 1
    renamed: dict[int, SegmentSummary] = {}
    matches = []
    for i, s in enumerate(current):
        if i in pairs:
            p = prev[pairs[i]]
            inherited = {} if p.name is None else {"name": p.name, "name_with_key": p.name_with_key}
            renamed[s.segment_id] = dataclasses.replace(s, key=p.key, **inherited)
            matches.append(SegmentMatch(key=p.key, previous_key=p.key, similarity=float(sim[i, pairs[i]])))
        else:
            key = f"S{next_no}"
            next_no += 1
            renamed[s.segment_id] = dataclasses.replace(s, key=key)
            matches.append(SegmentMatch(key=key, previous_key=None, similarity=0.0))
    # A new segment's fresh name may equal an inherited one: tell them apart by key.
    taken = {renamed[s.segment_id].name for i, s in enumerate(current) if i in pairs}
    for i, s in enumerate(current):
        r = renamed[s.segment_id]
        if i not in pairs and r.name and r.name in taken:
            renamed[s.segment_id] = dataclasses.replace(r, name_with_key=True)
    out = tuple(renamed.get(s.segment_id, s) for s in summaries)

    key_by_id = {s.segment_id: s.key for s in out}
    cur_ids = np.asarray(segmentation.customer_ids).astype("str")
    cur_keys = np.array([key_by_id.get(int(x), MIXED_KEY) for x in np.asarray(segmentation.labels)], dtype=object)
    prev_map = dict(zip(np.asarray(previous.customer_ids).astype("str"), previous.keys))
    cur_map = dict(zip(cur_ids, cur_keys))
    counts: dict[tuple[str, str], int] = {}
    for cid, k in cur_map.items():
        pair = (str(prev_map.get(cid, NEW)), str(k))
        counts[pair] = counts.get(pair, 0) + 1
    in_book = None if book_ids is None else set(np.asarray(book_ids).astype("str").tolist())
    for cid, k in prev_map.items():
        if cid not in cur_map:
            pair = (str(k), GONE if in_book is None or cid in in_book else LEFT)
            counts[pair] = counts.get(pair, 0) + 1
    flows = tuple(Flow(from_key=a, to_key=b, count=c) for (a, b), c in sorted(counts.items()))
    matched_prev = {prev[j].key for j in pairs.values()}
    return out, Migration(
        matches=tuple(matches),
        flows=flows,
        new_segments=tuple(m.key for m in matches if m.previous_key is None),
        vanished_segments=tuple(p.key for p in prev if p.key not in matched_prev),
    )
