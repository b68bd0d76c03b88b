"""Claims and their evidence: every name, zone, driver and headline the documents may state,
as an object with the numbers that support it, and made only when they do.

Tests (thresholds: ``Config.claims``, documented in docs/config.md):

* **segment_name** (one claim per name part): *support* -- share of the segment's churners
  whose value satisfies the phrase (:func:`churnlens.segmentation.phrases.holds`) -- at least
  ``min_support`` (default 0.5), else ``dropped`` (``support_below``). A "Mixed: ..." name is a
  ``caveat`` (``no_majority_phrase``). With labels, the churn of the population customers the
  phrase selects vs the others is given with its interval.
* **set_apart** (one per segment, :func:`segment_evidence`): the segment's rules evaluated on
  the whole book. With labels the customers they select must churn at least ``min_lift`` times
  the book's rate with the Newcombe interval of (selected - rest) above 0 (``not_above_book``),
  the interval's level Bonferroni-adjusted for the number of candidate segments tested
  (``1 - (1 - level) / k``), and its lower end at least ``(min_lift - 1)`` times the book's rate:
  the excess churn itself must be measurable, not only its sign (on a book whose features are
  shaped by mechanisms that cause nothing, a small group picked by chance churns 2x the book
  with an interval reaching down to +0.3 points);
  the segment must be stable (``unstable``); a model at ``NEAR_PERFECT_AUC`` (0.98) or above on
  its own training outcomes has memorised them, and nothing is named (``memorised``). A segment failing it is not named: its churners
  are "no distinct reason" (:func:`demote`). Rules that mention none of the name's features are
  ``caveat`` (``rules_off_name``).
* **risk_zone**: the zones of the top drivers, reported (``made``) or dropped with the code of
  :func:`churnlens.attribution.drivers.zone_evidence` (``not_material`` / ``churn_not_higher``).
  The churn check's labels are flagged ``in_sample`` when they are the model's training outcomes;
  on a model that memorised them (in-sample AUC at ``NEAR_PERFECT_AUC`` or above) a zone that
  passes is a ``caveat`` (``in_sample_memorised``): the labels agree because the model learnt them.
* **driver**: a protected driver among the top ones is ``dropped`` from the business story
  (``protected``); the others are ``made``.
* **trait** (:func:`trait_claims`): a segment's distinguishing traits from
  ``tables/segment_profiles.csv``. A share of a level or band (``trait.share``, ``trait.band``,
  ``trait.missing``): *support* is the share among the segment's customers, *effect_pp* its
  difference from the book's share, ``n`` / ``n_out`` the segment's and the book's customers with
  a known value; made when |effect| reaches ``min_trait_pp`` with the Newcombe interval of the
  difference excluding 0 (``trait_not_different``). A median (``trait.median``) is made when
  |Cohen's d| against the retained customers reaches ``min_trait_d``. A protected attribute is
  never a business trait (``protected``); the profile pages list only made traits.
* **headline**: ``segments.named`` (how many segments are named, the share of churners they
  hold) or ``segments.none`` with why (``no_named_segment``).

All claims, made and dropped, go to ``tables/claims.csv`` (:func:`claims_frame`).
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.attribution.results import Attributions, GlobalDrivers
from churnlens.config import Config
from churnlens.constants import NEAR_PERFECT_AUC
from churnlens.io import parallel
from churnlens.proportions import newcombe, wilson
from churnlens.segmentation.phrases import Phrase, holds
from churnlens.segmentation.results import (
    MixedReasons,
    MIXED,
    Claim,
    Evidence,
    Segmentation,
    SegmentEvidence,
    SegmentRules,
    SegmentSummary,
    TRAIT_STATEMENTS,
)
from churnlens.notes import Note
from churnlens.lazy import lazy

DecisionTreeClassifier = lazy("sklearn.tree", "DecisionTreeClassifier")

CLAIM_COLUMNS = ("claim", "kind", "segment", "feature", "statement", "level", "low", "high", "support", "effect_pp",
                 "churn_in", "churn_in_low", "churn_in_high", "churn_out", "churn_out_low", "churn_out_high",
                 "diff_low", "diff_high", "n", "n_out", "in_sample", "verdict", "reason")
TOP_DRIVER_CLAIMS = 10  # drivers examined for "driver" and "risk_zone" claims
TRAITS_PER_GROUP = 6  # trait candidates claimed per segment and feature group (a profile page's rows)


def _f(x) -> Optional[float]:
    return None if x is None or not np.isfinite(x) else float(x)


def churn_compare(inside: np.ndarray, label: Optional[np.ndarray], population: np.ndarray, *, level: float = 0.95,
                  in_sample: Optional[bool] = None) -> Evidence:
    """Observed churn of the population rows ``inside`` vs the other population rows, with
    Wilson intervals and the Newcombe interval of the difference (an empty Evidence without
    labels). ``label``: 0/1, NaN = unknown."""
    if label is None:
        return Evidence(in_sample=in_sample)
    lab = np.asarray(label, dtype=np.float64).reshape(-1)
    known = np.asarray(population, dtype=bool) & np.isfinite(lab)
    a, b = known & inside, known & ~inside
    n1, n2 = int(a.sum()), int(b.sum())
    x1, x2 = float(lab[a].sum()), float(lab[b].sum())
    l1, u1 = wilson(x1, n1, level)
    l2, u2 = wilson(x2, n2, level)
    dl, dh = newcombe(x1, n1, x2, n2, level) if n1 and n2 else (np.nan, np.nan)
    return Evidence(churn_in=x1 / n1 if n1 else None, churn_in_low=_f(l1), churn_in_high=_f(u1),
                    churn_out=x2 / n2 if n2 else None, churn_out_low=_f(l2), churn_out_high=_f(u2),
                    diff_low=_f(dl), diff_high=_f(dh), n=n1, n_out=n2, in_sample=in_sample)


def _numeric(X: pd.DataFrame) -> np.ndarray:
    """The raw columns as numbers for the trees (categories as their codes, missing as NaN)."""
    M = X.apply(lambda c: pd.to_numeric(c, errors="coerce") if not isinstance(c.dtype, pd.CategoricalDtype)
                else c.cat.codes.astype(float)).to_numpy(dtype=np.float64)
    M = np.where(np.isfinite(M), M, np.nan)  # scikit-learn trees send missing values down their own branch
    return M.astype(np.float32)  # what the trees fit and predict on anyway (one conversion, not two per tree)


def book_selection(segmentation: Segmentation, segment_id: int, X: pd.DataFrame, population: np.ndarray, *,
                   seed: int = 0, numeric: Optional[np.ndarray] = None) -> np.ndarray:
    """The customers of the book a shallow tree on the raw columns picks out as the segment's
    (its members against every other customer of the population, churner or not), shape (n,).

    The surrogate rules of :func:`churnlens.segmentation.rules.fit_rules` separate a segment
    from the *other churners* (the last one is often "everything else"); whether a segment is a
    real mechanism is whether the customers that look like its members churn more than the book,
    so this tree is fitted one segment against everyone. It is cross-fitted (two seeded halves,
    each customer picked or not by the tree fitted on the other half), so the churn of the
    customers it picks is an honest estimate: members are the model's riskiest customers, and on
    its own training rows a model's riskiest customers churn whatever the mechanism.
    ``numeric``: ``X`` already converted by :func:`_numeric` (shared by all segments)."""
    members = np.zeros(len(X), dtype=bool)
    members[segmentation.rows[segmentation.labels == segment_id]] = True
    train = members | population
    if members.sum() < 2 or (~members & train).sum() < 2:
        return members.copy()
    M = _numeric(X) if numeric is None else numeric
    # the halves follow the customers (their book rows, X's index), not their positions in X: the
    # same customer falls in the same half whichever rows were attributed (mode all or targeted)
    rows = np.asarray(X.index, dtype=np.int64)
    fold = (pd.util.hash_array(rows ^ np.int64(seed * 0x9E3779B1 & 0x7FFFFFFFFFFFFFFF)) & np.uint64(1)).astype(np.int64)
    picked = np.zeros(len(X), dtype=bool)
    for k in (0, 1):
        fit = train & (fold != k)
        if members[fit].sum() < 2 or (~members[fit]).sum() < 2:
            continue
        leaf = max(5, int(0.2 * members[fit].sum()))
        tree = DecisionTreeClassifier(max_depth=3, min_samples_leaf=leaf, class_weight="balanced", random_state=seed)
        tree.fit(M[fit], members[fit])
        picked[fold == k] = tree.predict(M[fold == k]).astype(bool)
    return picked


def segment_evidence(summaries: tuple[SegmentSummary, ...], segmentation: Segmentation, rules: SegmentRules,
                     X: pd.DataFrame, config: Config, *, label: Optional[np.ndarray] = None,
                     population: Optional[np.ndarray] = None, in_sample: Optional[bool] = None,
                     auc: Optional[float] = None) -> tuple[SegmentEvidence, ...]:
    """Each segment's rules evaluated on the whole book (module docstring, ``set_apart``).

    ``X``: the raw feature frame of the attributed rows (the rules' columns); ``label``: their
    observed churn (0/1, NaN unknown) or None; ``population``: the rows standing for the book
    (weight > 0), default all; ``in_sample`` / ``auc``: the labels are the model's training
    outcomes and its AUC on them. A model at ``NEAR_PERFECT_AUC`` or above on its own training
    outcomes has memorised them: those labels confirm nothing it says, and no segment is named
    (reason ``memorised``)."""
    n = len(X)
    pop = np.ones(n, dtype=bool) if population is None else np.asarray(population, dtype=bool).reshape(-1)
    lab = None if label is None else np.asarray(label, dtype=np.float64).reshape(-1)
    quality = {q.key: q for q in rules.quality}
    out = []
    # every candidate is tested: the interval is Bonferroni-adjusted for their number, so a book
    # without mechanisms names none however many candidate groups the clustering offers
    ids = [s.segment_id for s in summaries if s.segment_id != MIXED]
    level = 1.0 - (1.0 - config.claims.level) / max(len(ids), 1)
    numeric = _numeric(X) if ids else None  # the raw columns as numbers, once for every segment's trees

    def select(segment_id: int) -> np.ndarray:
        return book_selection(segmentation, segment_id, X, pop, seed=config.seed, numeric=numeric)

    # each segment's trees are independent and scikit-learn fits them without the GIL: two at a time
    if len(ids) > 1 and not parallel.serial():
        with ThreadPoolExecutor(max_workers=2) as pool:
            selections = dict(zip(ids, pool.map(select, ids)))
    else:
        selections = {i: select(i) for i in ids}
    for s in summaries:
        if s.segment_id == MIXED:
            continue
        sel = selections[s.segment_id]
        ev = churn_compare(sel, lab, pop, level=level)
        known = pop if lab is None else pop & np.isfinite(lab)
        book = None if lab is None or not known.any() else float(lab[known].mean())
        lift = None if ev.churn_in is None or not book else ev.churn_in / book
        used = {c.feature for r in rules.rules if r.key == s.key for c in r.conditions}
        named_feats = {p.feature for p in s.name} or set(s.top_drivers)
        reason = ""
        if in_sample and auc is not None and auc >= NEAR_PERFECT_AUC:
            reason = "memorised"
        elif "unstable" in (segmentation.flags[s.segment_id] if s.segment_id < len(segmentation.flags) else ()):
            reason = "unstable"
        elif lab is not None and not (lift is not None and lift >= config.claims.min_lift - 1e-12
                                      and ev.diff_low is not None and ev.diff_low > 0
                                      and ev.diff_low >= (config.claims.min_lift - 1.0) * book - 1e-12):
            reason = "not_above_book"
        elif not (sel & pop).any() and lab is not None:  # nothing on the book looks like its members
            reason = "no_rules"
        q = quality.get(s.key)
        out.append(SegmentEvidence(
            key=s.key, segment_id=s.segment_id, selected_n=int((sel & pop).sum()), selected_churn=ev.churn_in,
            book_churn=book, lift=lift, diff_low=ev.diff_low, diff_high=ev.diff_high,
            precision=float(q.precision) if q is not None else 0.0,
            rules_on_name=bool(used & named_feats), named=not reason, reason=reason))
    return tuple(out)


def demote(segmentation: Segmentation, drop: tuple[int, ...]) -> Segmentation:
    """The segmentation with the segments ``drop`` (ids) dissolved: their churners join the
    mixed group ("no distinct reason", strength 0, no secondary), the other segments keep their
    order with ids 0..k-1; the note ``segmentation.not_named`` records how many were dissolved.
    Describe and fit rules again on the result."""
    drop = set(int(d) for d in drop)
    if not drop:
        return segmentation

    k = segmentation.n_segments
    keep = [j for j in range(k) if j not in drop]
    new_of = np.full(k + 1, MIXED, dtype=np.int64)  # index k: MIXED -> MIXED
    for new, old in enumerate(keep):
        new_of[old] = new
    lab = np.asarray(segmentation.labels)
    labels = new_of[np.where(lab >= 0, lab, k)]
    gone = labels == MIXED
    strength = np.where(gone, 0.0, segmentation.strength)
    secondary = None
    overlap = None
    if segmentation.secondary is not None:
        sec = np.asarray(segmentation.secondary)
        secondary = np.where(gone, MIXED, new_of[np.where(sec >= 0, sec, k)])
        overlap = np.zeros((len(keep), len(keep)), dtype=np.int64)
        both = (labels >= 0) & (secondary >= 0)
        np.add.at(overlap, (labels[both], secondary[both]), 1)
    stab = segmentation.stability
    stability = dataclasses.replace(
        stab, segment_jaccard=tuple(stab.segment_jaccard[j] for j in keep if j < len(stab.segment_jaccard)),
        unstable=tuple(int(new_of[j]) for j in stab.unstable if j in keep))
    notes = tuple(segmentation.notes) + (Note.of("segmentation.not_named", count=len(drop)),)
    if not keep:
        notes += (Note.of("segmentation.none_named"),)
    mixed = segmentation.mixed
    size = int(gone.sum())
    if mixed is not None or size:  # the dissolved segments' churners are mixed reasons now: their drivers are no named segment's
        counts = dict(mixed.counts) if mixed is not None else {}
        no_material = int(counts.get("no_material_driver", 0))
        mixed = MixedReasons(size=size, share=size / len(labels) if len(labels) else 0.0,
                             counts=(("no_material_driver", no_material), ("no_segment_driver", size - no_material)),
                             drivers=mixed.drivers if mixed is not None else ())
    return dataclasses.replace(
        segmentation, labels=labels, strength=strength, secondary=secondary, overlap=overlap, n_segments=len(keep),
        stability=stability, notes=notes, mixed=mixed,
        segment_drivers=tuple(segmentation.segment_drivers[j] for j in keep if j < len(segmentation.segment_drivers)),
        flags=tuple(segmentation.flags[j] for j in keep if j < len(segmentation.flags)))


def _phrase(part) -> Phrase:
    return Phrase(direction=part.direction, level=part.level, levels=part.levels, ranges=part.ranges)


def _name_statement(part) -> str:
    if part.level in ("0", "1"):
        return "segment_name.binary"
    if part.level or part.levels:
        return "segment_name.level"
    if part.ranges:
        return "segment_name.range"
    return "segment_name.direction" if part.direction else "segment_name.driver"


def _bounds(part) -> tuple[Optional[float], Optional[float]]:
    if len(part.ranges) == 1:
        return part.ranges[0]
    return None, None


def build_claims(summaries: tuple[SegmentSummary, ...], segmentation: Segmentation, attributions: Attributions,
                 X: Optional[pd.DataFrame], config: Config, *, drivers: Optional[GlobalDrivers] = None,
                 evidence: tuple[SegmentEvidence, ...] = (), label: Optional[np.ndarray] = None,
                 population: Optional[np.ndarray] = None, in_sample: Optional[bool] = None,
                 auc: Optional[float] = None, profiles: Optional[pd.DataFrame] = None) -> tuple[Claim, ...]:
    """Every claim with its evidence and verdict (module docstring), recomputed from the data.

    Parameters
    ----------
    summaries, segmentation : the described segmentation (after :func:`demote`, if any).
    attributions : Attributions (rows aligned with ``X``, ``label`` and ``population``).
    X : the raw feature frame of the attributed rows, or None (no supports, no churn rates).
    drivers : GlobalDrivers, optional -- their zones and protected flags.
    evidence : :func:`segment_evidence` of the segments (before demotion: dissolved ones too).
    label : observed churn of the attributed rows (0/1, NaN unknown), optional.
    population : rows standing for the book (weight > 0), default ``attributions.weights > 0``.
    in_sample : the labels are the model's training outcomes (None: unknown).
    auc : the model's AUC on those labels; at ``NEAR_PERFECT_AUC`` or above on in-sample labels
        the model has memorised them, and a zone that passes its churn check is made only with
        the caveat ``in_sample_memorised`` (the labels agree with the model because it learnt them).
    profiles : ``tables/segment_profiles.csv``'s frame: the segments' traits as claims
        (:func:`trait_claims`).
    """
    memorised = bool(in_sample) and auc is not None and auc >= NEAR_PERFECT_AUC
    lv = config.claims.level
    pop = (np.asarray(attributions.weights) > 0) if population is None else np.asarray(population, dtype=bool)
    lab = None if label is None else np.asarray(label, dtype=np.float64).reshape(-1)
    feats = tuple(attributions.features)
    rows = np.asarray(segmentation.rows, dtype=np.int64)
    labels = np.asarray(segmentation.labels)
    claims: list[Claim] = []
    for s in summaries:
        if s.segment_id == MIXED or not s.name:
            continue
        members = rows[labels == s.segment_id]
        if s.name_mixed:
            claims.append(Claim(f"{s.key}.name", "segment_name", s.key, "|".join(p.feature for p in s.name),
                                "segment_name.mixed", Evidence(in_sample=in_sample), "caveat", "no_majority_phrase"))
            continue
        for i, part in enumerate(s.name, start=1):
            j = feats.index(part.feature) if part.feature in feats else None
            effect = None if j is None or members.size == 0 else float(attributions.points(members, j).mean())
            if X is None or part.feature not in X.columns or not part.stated:
                ev = Evidence(effect_pp=effect, in_sample=in_sample)
                claims.append(Claim(f"{s.key}.name.{i}", "segment_name", s.key, part.feature, _name_statement(part),
                                    ev, "caveat", "not_measured", level="|".join(part.levels) or part.level))
                continue
            ph = _phrase(part)
            if ph.level or ph.levels or ph.ranges:
                support = float(holds(ph, X[part.feature].iloc[members]).mean()) if members.size else 0.0
                inside = holds(ph, X[part.feature])
            else:  # an older direction-only part: no values to check
                support, inside = None, None
            ev = (churn_compare(inside, lab, pop, level=lv, in_sample=in_sample) if inside is not None
                  else Evidence(in_sample=in_sample))
            ev = dataclasses.replace(ev, support=support, effect_pp=effect)
            ok = support is not None and support >= config.claims.min_support - 1e-12
            low, high = _bounds(part)
            claims.append(Claim(f"{s.key}.name.{i}", "segment_name", s.key, part.feature, _name_statement(part), ev,
                                "made" if ok else ("caveat" if support is None else "dropped"),
                                "" if ok else ("not_measured" if support is None else "support_below"),
                                level="|".join(part.levels) or part.level, low=low, high=high,
                                params=(("ranges", part.ranges),) if len(part.ranges) > 1 else ()))
    for e in evidence:
        ev = Evidence(effect_pp=None if e.selected_churn is None or e.book_churn is None
                      else 100.0 * (e.selected_churn - e.book_churn),
                      churn_in=e.selected_churn, churn_out=e.book_churn, diff_low=e.diff_low, diff_high=e.diff_high,
                      n=e.selected_n, in_sample=in_sample)
        verdict, reason = ("made", "") if e.named else ("dropped", e.reason)
        if e.named and not e.rules_on_name:
            verdict, reason = "caveat", "rules_off_name"
        claims.append(Claim(f"{e.key}.set_apart", "set_apart", e.key, "", "segment.selection", ev, verdict, reason,
                            params=(("lift", e.lift), ("precision", e.precision))))
    if drivers is not None:
        for rank, d in enumerate(drivers.drivers[:TOP_DRIVER_CLAIMS], start=1):
            claims.append(Claim(f"drivers.{d.feature}", "driver", "", d.feature, "driver.rank",
                                Evidence(in_sample=in_sample), "dropped" if d.protected else "made",
                                "protected" if d.protected else "", params=(("rank", rank), ("share", d.share))))
            zones = [(z, "") for z in d.zones] + list(d.dropped_zones)
            for i, (z, code) in enumerate(zones, start=1):
                ev = Evidence(effect_pp=_f(z.mean_pp), churn_in=z.churn_in, churn_out=z.churn_out,
                              diff_low=z.diff_low, diff_high=z.diff_high, n=z.n_in if z.churn_in is not None else z.n,
                              n_out=z.n_out if z.churn_out is not None else None, in_sample=in_sample)
                if z.churn_in is not None:
                    (l1, u1), (l2, u2) = wilson(z.churn_in * z.n_in, z.n_in, lv), wilson(z.churn_out * z.n_out, z.n_out, lv)
                    ev = dataclasses.replace(ev, churn_in_low=_f(l1), churn_in_high=_f(u1), churn_out_low=_f(l2),
                                             churn_out_high=_f(u2))
                verdict = "dropped" if code or d.protected else "made"
                reason = code or ("protected" if d.protected else "")
                if verdict == "made" and memorised and z.churn_in is not None:
                    verdict, reason = "caveat", "in_sample_memorised"
                ev = dataclasses.replace(ev, in_sample=z.in_sample if z.in_sample is not None else ev.in_sample)
                claims.append(Claim(f"drivers.{d.feature}.zone.{i}", "risk_zone", "", d.feature,
                                    "risk_zone.level" if z.categories else "risk_zone.range", ev, verdict,
                                    reason, level="|".join(z.categories),
                                    low=z.low, high=z.high,
                                    params=(("value", z.value),) if z.value is not None else ()))
    if profiles is not None and X is not None and len(profiles):
        real = [s.key for s in summaries if s.segment_id != MIXED]
        claims.extend(trait_claims(profiles[profiles["segment"].isin(real)], X, config, population=pop))
    named = [e for e in evidence if e.named]
    m = int(rows.size)
    covered = int(sum(s.size for s in summaries if s.segment_id != MIXED))
    if evidence:
        claims.append(Claim("headline.segments", "headline", "", "",
                            "segments.named" if named and covered else "segments.none",
                            Evidence(support=covered / m if m else 0.0, n=m, in_sample=in_sample),
                            "made" if named and covered else "caveat", "" if named and covered else "no_named_segment",
                            params=(("named", len(named)), ("found", len(evidence)))))
    return tuple(claims)


def trait_claims(profiles: pd.DataFrame, X: pd.DataFrame, config: Config, *,
                 population: np.ndarray) -> tuple[Claim, ...]:
    """The distinguishing traits of every segment as claims (module docstring, ``trait``).

    ``profiles``: :func:`churnlens.segmentation.traits.segment_profiles`' frame; ``X``: the
    source features of the same rows; ``population``: the rows standing for the book. Only rows
    that could be a trait are claimed: shares at least ``min_trait_pp`` points from the retained
    customers' or the book's, medians at least ``min_trait_d`` from the retained customers'."""
    cc = config.claims
    pop = np.asarray(population, dtype=bool)
    out: list[Claim] = []
    book_n: dict[str, int] = {}
    # the strongest candidates of each segment and feature group (a profile page lists at most
    # TRAITS_PER_GROUP of them): shares by their largest difference in points, medians with
    # |d| = min_trait_d counting as min_trait_pp points
    f = profiles.assign(_g=[config.group(x) for x in profiles["feature"]])
    size = np.where(f["stat"] == "median", f["effect"].abs() / max(cc.min_trait_d, 1e-9) * cc.min_trait_pp,
                    np.maximum((100.0 * (f["segment_value"] - f["book_value"])).abs(), f["effect"].abs()))
    f = f.assign(_size=np.nan_to_num(size, nan=0.0)).sort_values("_size", ascending=False, kind="stable")
    f = f.groupby(["segment", "_g"], sort=False).head(TRAITS_PER_GROUP).sort_index()
    for r in f.itertuples(index=False):
        spec = config.features.get(r.feature)
        protected = bool(spec is not None and spec.protected)
        statement = TRAIT_STATEMENTS.get(r.stat)
        if statement is None:
            continue
        level = "" if r.stat in ("median", "missing") else str(r.level)
        cid = f"{r.segment}.trait.{r.feature}.{r.stat}" + (f".{level}" if level else "")
        if r.stat == "median":
            d = float(r.effect) if r.effect == r.effect else None
            if d is None or abs(d) < cc.min_trait_d:
                continue
            out.append(Claim(cid, "trait", r.segment, r.feature, statement, Evidence(n=int(r.n)),
                             "dropped" if protected else "made", "protected" if protected else "",
                             params=(("d", d), ("segment_median", float(r.segment_value)),
                                     ("book_median", float(r.book_value)))))
            continue
        sv, bv, rv = float(r.segment_value), float(r.book_value), float(r.retained_value)
        if not (sv == sv and bv == bv):
            continue
        vs_book, vs_ret = 100.0 * (sv - bv), (100.0 * (sv - rv) if rv == rv else 0.0)
        if max(abs(vs_book), abs(vs_ret)) < cc.min_trait_pp:
            continue  # not a candidate trait at all
        if r.feature not in book_n:
            book_n[r.feature] = int((pop & X[r.feature].notna().to_numpy()).sum()) if r.feature in X.columns else 0
        n_seg, n_book = int(r.n), book_n[r.feature]
        if r.stat == "missing":
            n_book = int(pop.sum())
        lo, hi = newcombe(sv * n_seg, n_seg, bv * n_book, n_book, cc.level) if n_seg and n_book else (np.nan, np.nan)
        ev = Evidence(support=sv, effect_pp=vs_book, diff_low=_f(lo), diff_high=_f(hi), n=n_seg, n_out=n_book)
        if protected:
            verdict, reason = "dropped", "protected"
        elif abs(vs_book) >= cc.min_trait_pp - 1e-12 and np.isfinite(lo) and (lo > 0 or hi < 0):
            verdict, reason = "made", ""
        else:
            verdict, reason = "dropped", "trait_not_different"
        out.append(Claim(cid, "trait", r.segment, r.feature, statement, ev, verdict, reason, level=level,
                         params=(("book_share", bv), ("retained_share", rv))))
    return tuple(out)


def claims_frame(claims: tuple[Claim, ...]) -> pd.DataFrame:
    """``tables/claims.csv``: one row per claim, columns ``CLAIM_COLUMNS`` (documented in
    docs/report-folder.md); empty cells where a number does not apply."""
    rows = []
    for c in claims:
        e = c.evidence
        rows.append(dict(claim=c.claim, kind=c.kind, segment=c.segment, feature=c.feature, statement=c.statement,
                         level=c.level, low=c.low, high=c.high, support=e.support, effect_pp=e.effect_pp,
                         churn_in=e.churn_in, churn_in_low=e.churn_in_low, churn_in_high=e.churn_in_high,
                         churn_out=e.churn_out, churn_out_low=e.churn_out_low, churn_out_high=e.churn_out_high,
                         diff_low=e.diff_low, diff_high=e.diff_high, n=e.n, n_out=e.n_out,
                         in_sample=e.in_sample, verdict=c.verdict, reason=c.reason))
    frame = pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))
    return frame.astype({"n": "Int64", "n_out": "Int64", "in_sample": "boolean"})
