"""Segment files and month-over-month matching: stable keys and names, customer migration."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from churnlens.constants import LINEAGE_MIN_CUSTOMERS, LINEAGE_PART, LINEAGE_SHARE, MIN_SIMILARITY
from churnlens.errors import InputFileError
from churnlens.io.csv_safety import unquote_cell, write_csv
from churnlens.segmentation.describe import MIXED_KEY
from churnlens.segmentation.results import (
    MIXED,
    Flow,
    KeyLink,
    LineageEvent,
    Migration,
    NamePart,
    PreviousSegments,
    PreviousSignature,
    SegmentMatch,
    Segmentation,
    SegmentSummary,
)
from churnlens.errors import DataError
from churnlens.io.tables import read_table
from churnlens.io.ids import normalise_ids

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
    write_csv(segments_frame(segmentation, summaries, names=names), Path(path))


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

    try:
        frame = read_table(csv_path, what="Previous segments file", all_text=True, allow_empty=True,
                           suffixes=(".csv",))
    except (InputFileError, DataError) as err:
        raise InputFileError(f"{err} {fix}") from None
    frame = frame.map(unquote_cell) if len(frame) else frame
    if "customer_id" in frame.columns:  # compared with this month's ids by the one rule

        frame["customer_id"] = normalise_ids(frame["customer_id"].to_numpy())
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


def _aligned(items: Sequence[tuple[tuple[str, ...], tuple[float, ...]]]) -> np.ndarray:
    """Signature vectors on the union of their features (sorted), shape (k, f)."""
    feats = sorted({f for fs, _ in items for f in fs})
    pos = {f: i for i, f in enumerate(feats)}
    out = np.zeros((len(items), len(feats)))
    for r, (fs, v) in enumerate(items):
        out[r, [pos[f] for f in fs]] = v
    return out


def _decompose(target: np.ndarray, parts: np.ndarray) -> tuple[np.ndarray, float]:
    """Non-negative least squares ``target ~ sum_k a_k parts[k]``: the coefficients' shares and the
    reconstruction's cosine with ``target``."""
    from scipy.optimize import nnls

    if parts.shape[0] == 0 or not np.any(target):
        return np.zeros(parts.shape[0]), 0.0
    a, _ = nnls(parts.T, target)
    fit = a @ parts
    nt, nf = np.linalg.norm(target), np.linalg.norm(fit)
    cos = float(fit @ target / (nt * nf)) if nt > 0 and nf > 0 else 0.0
    total = a.sum()
    return (a / total if total > 0 else a), cos


def _links(cur_sig: np.ndarray, prev_sig: np.ndarray, overlap: np.ndarray) -> np.ndarray:
    """Accepted lineage links, bool (current, previous) (rule in :func:`match_previous`)."""
    back = overlap.sum(axis=1, keepdims=True)  # current segment's returning members (from any previous segment)
    fwd = overlap.sum(axis=0, keepdims=True)  # previous segment's members in any current segment
    with np.errstate(invalid="ignore", divide="ignore"):
        cand = (overlap >= LINEAGE_MIN_CUSTOMERS) & ((overlap >= LINEAGE_SHARE * back) | (overlap >= LINEAGE_SHARE * fwd))
    ok = np.zeros_like(cand)
    for i in range(cand.shape[0]):  # merge view: this segment's signature made of its candidate parents'
        js = np.flatnonzero(cand[i])
        share, cos = _decompose(cur_sig[i], prev_sig[js])
        if cos >= MIN_SIMILARITY - 1e-12:
            ok[i, js[share >= LINEAGE_PART]] = True
    for j in range(cand.shape[1]):  # split view: the previous signature made of its candidate parts'
        iis = np.flatnonzero(cand[:, j])
        share, cos = _decompose(prev_sig[j], cur_sig[iis])
        if cos >= MIN_SIMILARITY - 1e-12:
            ok[iis[share >= LINEAGE_PART], j] = True
    return ok


def match_previous(
    summaries: tuple[SegmentSummary, ...],
    segmentation: Segmentation,
    previous: PreviousSegments,
    *,
    book_ids: Optional[np.ndarray] = None,
) -> tuple[tuple[SegmentSummary, ...], Migration]:
    """Carry last month's segment keys and names over to this month's segments, with merges and
    splits (segment lineage).

    Evidence: the *members* (churners of both months, by customer id: ``overlap[c, p]`` = this
    month's segment ``c`` members who were in last month's segment ``p``) and the *signatures*
    (mean risk-raising attribution share per feature; a segment made of parts has about the
    member-weighted mean of their signatures). The mixed group ("MIX") takes no part.

    1. Candidate links ``p -> c``: at least ``LINEAGE_MIN_CUSTOMERS`` shared members that are at
       least ``LINEAGE_SHARE`` of ``c``'s returning members (churners last month, in any
       segment) or of ``p``'s members found this month.
    2. A candidate link is accepted when the signatures agree with it: ``c``'s signature is a
       non-negative combination (``scipy.optimize.nnls``) of its candidate parents' signatures
       with cosine at least ``MIN_SIMILARITY`` in which ``p`` carries at least ``LINEAGE_PART``
       of the weight (merge view), or the same with ``p``'s signature made of its candidate
       parts (split view). Members shared by chance (another mechanism) fail this.
    3. Keys: accepted links by decreasing shared members (ties: higher signature cosine, then
       keys): ``c`` takes ``p``'s key when neither is taken yet -- a merged segment keeps the key
       of the previous segment that brought most of its members, a split's largest part keeps
       the old key, the other parts get new keys. A segment keeps the inherited name only when
       its signature still matches that previous segment's (cosine at least ``MIN_SIMILARITY``);
       otherwise its own name, describing its members, stays.
    4. Segments without any accepted link (no shared members, e.g. new customer ids) are matched
       one to one by signature cosine with the Hungarian algorithm
       (``scipy.optimize.linear_sum_assignment``), pairs below ``MIN_SIMILARITY`` left unmatched,
       among the previous segments without a link; the rest are new and get the next unused key
       ("S<k+1>", ...).

    Codes: a segment with several previous segments is ``merged``; one of several parts of a
    previous segment is ``split``; one-to-one ``same``; none ``new``. ``Migration.events`` lists
    each merge (previous keys sorted) and split (main part first); ``Migration.key_map`` gives every
    previous key's current key(s) with the share of its members that went to each
    (:func:`lineage_key_map` for :func:`churnlens.campaign.pooled.remap_segments`). A previous
    segment with no part this month is vanished; a merged one is not.

    Customer flows count previous key -> current key per customer, with "NEW" for customers who
    were not churners last month, "GONE" for last month's churners who are still in the book
    (``book_ids``) but not selected as churners now, and "LEFT" for last month's churners who are
    no longer in the book. Without ``book_ids`` every previous churner not selected now counts as
    "GONE".

    Returns
    -------
    summaries : tuple of SegmentSummary
        Same order, keys and names updated.
    migration : Migration
    """
    from scipy.optimize import linear_sum_assignment

    current = [s for s in summaries if s.segment_id != MIXED]
    prev = [p for p in previous.signatures if p.key != MIXED_KEY]
    C, P = len(current), len(prev)
    sig = _aligned([(s.profile_features, s.profile) for s in current] + [(p.features, p.vector) for p in prev])
    cur_sig, prev_sig = sig[:C], sig[C:]
    sim = np.zeros((C, P))
    for i, s in enumerate(current):
        for j, p in enumerate(prev):
            sim[i, j] = _cosine(s.profile_features, s.profile, p.features, p.vector)

    # members shared with last month (customer ids as text)
    cur_ids = np.asarray(segmentation.customer_ids).astype("str")
    labels = np.asarray(segmentation.labels)
    prev_map = dict(zip(np.asarray(previous.customer_ids).astype("str"), previous.keys))
    ci_of = {s.segment_id: i for i, s in enumerate(current)}
    pj_of = {p.key: j for j, p in enumerate(prev)}
    overlap = np.zeros((C, P))
    for cid, lab in zip(cur_ids, labels):
        i, k = ci_of.get(int(lab)), prev_map.get(cid)
        if i is not None and k is not None and k in pj_of:
            overlap[i, pj_of[k]] += 1
    linked = _links(cur_sig, prev_sig, overlap) if C and P else np.zeros((C, P), dtype=bool)

    owner: dict[int, int] = {}  # current index -> previous index whose key it takes
    given: set[int] = set()
    for i, j in sorted(zip(*np.nonzero(linked)), key=lambda ij: (-overlap[ij], -sim[ij], prev[ij[1]].key,
                                                                  current[ij[0]].segment_id)):
        if int(i) not in owner and int(j) not in given:
            owner[int(i)], _ = int(j), given.add(int(j))
    free_c = [i for i in range(C) if not linked[i].any()]
    free_p = [j for j in range(P) if not linked[:, j].any()]
    by_signature: dict[int, int] = {}
    if free_c and free_p:
        sub = sim[np.ix_(free_c, free_p)]
        ri, cj = linear_sum_assignment(sub, maximize=True)
        by_signature = {free_c[a]: free_p[b] for a, b in zip(ri, cj) if sub[a, b] >= MIN_SIMILARITY - 1e-12}
    owner.update(by_signature)

    def key_number(key: str) -> int:
        return int(key[1:]) if key[:1] == "S" and key[1:].isdigit() else 0

    next_no = max([key_number(p.key) for p in previous.signatures] + [0]) + 1
    renamed: dict[int, SegmentSummary] = {}
    matches = []
    inherited_name: set[int] = set()
    for i, s in enumerate(current):
        if i in owner:
            p = prev[owner[i]]
            keep_name = p.name is not None and sim[i, owner[i]] >= MIN_SIMILARITY - 1e-12
            extra = {"name": p.name, "name_with_key": p.name_with_key} if keep_name else {}
            if keep_name:
                inherited_name.add(i)
            renamed[s.segment_id] = dataclasses.replace(s, key=p.key, **extra)
        else:
            renamed[s.segment_id] = dataclasses.replace(s, key=f"S{next_no}")
            next_no += 1
    key_of = [renamed[s.segment_id].key for s in current]
    for i, s in enumerate(current):
        parents = [int(j) for j in np.flatnonzero(linked[i])]
        parents.sort(key=lambda j: (j != owner.get(i, -1), -overlap[i, j], prev[j].key))
        if not parents and i in by_signature:
            parents = [by_signature[i]]
        back = overlap[i].sum()
        if not parents:
            matches.append(SegmentMatch(key=key_of[i], previous_key=None, similarity=0.0, code="new"))
            continue
        main = parents[0]
        split = any(linked[:, j].sum() > 1 for j in parents)
        code = "merged" if len(parents) > 1 else "split" if split else "same"
        matches.append(SegmentMatch(key=key_of[i], previous_key=prev[main].key, similarity=float(sim[i, main]),
                                    code=code, previous_keys=tuple(prev[j].key for j in parents),
                                    overlap=float(overlap[i, main] / back) if back > 0 else 0.0))
    # A fresh name may equal an inherited one: tell them apart by key.
    taken = {renamed[current[i].segment_id].name for i in inherited_name}
    for i, s in enumerate(current):
        r = renamed[s.segment_id]
        if i not in inherited_name and r.name and r.name in taken:
            renamed[s.segment_id] = dataclasses.replace(r, name_with_key=True)
    out = tuple(renamed.get(s.segment_id, s) for s in summaries)

    events, links = [], []
    for i in range(C):
        js = np.flatnonzero(linked[i])
        if len(js) > 1:
            js = sorted(js, key=lambda j: prev[j].key)
            back = overlap[i, js].sum()
            events.append(LineageEvent(code="merged", previous=tuple(prev[j].key for j in js), current=(key_of[i],),
                                       shares=tuple(float(overlap[i, j] / back) for j in js)))
    for j in range(P):
        iis = [int(i) for i in np.flatnonzero(linked[:, j])]
        if not iis and j in by_signature.values():
            iis = [i for i, jj in by_signature.items() if jj == j]
            links.append(KeyLink(previous=prev[j].key, current=key_of[iis[0]], weight=1.0))
            continue
        iis.sort(key=lambda i: (owner.get(i) != j, -overlap[i, j], key_number(key_of[i])))
        fwd = overlap[iis, j].sum()
        weights = [float(overlap[i, j] / fwd) if fwd > 0 else 1.0 / len(iis) for i in iis]
        links += [KeyLink(previous=prev[j].key, current=key_of[i], weight=w) for i, w in zip(iis, weights)]
        if len(iis) > 1:
            events.append(LineageEvent(code="split", previous=(prev[j].key,), current=tuple(key_of[i] for i in iis),
                                       shares=tuple(weights)))

    key_by_id = {s.segment_id: s.key for s in out}
    cur_keys = np.array([key_by_id.get(int(x), MIXED_KEY) for x in labels], dtype=object)
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
    descended = {l.previous for l in links}
    return out, Migration(
        matches=tuple(matches),
        flows=flows,
        new_segments=tuple(m.key for m in matches if m.code == "new"),
        vanished_segments=tuple(p.key for p in prev if p.key not in descended),
        events=tuple(sorted(events, key=lambda e: (e.code, e.previous, e.current))),
        key_map=tuple(links),
    )


def lineage_key_map(migration: Migration) -> dict[str, tuple[str, ...]]:
    """Previous key -> this month's key(s), heaviest first, from ``migration.key_map``: the
    ``key_map`` argument of :func:`churnlens.campaign.pooled.remap_segments` (a merge maps every
    part to the merged key, a split maps the old key to each part)."""
    out: dict[str, list[tuple[float, str]]] = {}
    for l in migration.key_map:
        out.setdefault(l.previous, []).append((l.weight, l.current))
    return {k: tuple(c for _, c in sorted(v, key=lambda wc: -wc[0])) for k, v in out.items()}


def current_keys(keys: Sequence[str], key_map: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Last month's segment keys of customers (last month's list, a campaign file's customers) as
    this month's keys along the lineage (``key_map``: :func:`lineage_key_map`): a merged part
    takes the merged segment's key, a split segment the key of its part that took most of its
    members; a key without a lineage (vanished, the mixed group) stays as it was. Text, shape (n,)."""
    return np.array([str(key_map.get(str(k), (str(k),))[0]) for k in np.asarray(keys).tolist()],
                    dtype=object).astype(str)
