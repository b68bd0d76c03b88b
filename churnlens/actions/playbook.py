"""Retention playbook: rules (driver, direction, optional value condition -> action), their
validation against the model and the data dictionary, per-customer and per-segment
matching, the control group, and the retention list.

Matching
--------
Customer level
    A rule matches a customer when the customer's attribution for the rule's driver has the
    rule's direction (``up``: > 0, the driver raises the customer's risk; ``down``: < 0) and
    the rule's optional value condition holds on the customer's own value of the driver
    (missing values never satisfy a condition). Among matching rules the best is the one whose
    driver has the largest |attribution| (the action answers the customer's strongest reason),
    then the lowest ``priority`` number, then the earlier rule. Ranking by priority first
    would let a high-priority rule on a marginal driver override the customer's main reason.
Segment level
    A rule matches a segment when its driver is one of the segment's signature drivers
    (``SegmentSummary.signature``) with the same sign of mean attribution, and - for a rule
    with a value condition - the condition holds for at least half of the segment's members.
Effective action of a customer
    The customer-level best rule; when none matches, the first segment-level action of the
    customer's segment (by priority, then rule order) *whose value condition holds for that
    customer* (a segment-level rule answers the segment's reason, but a customer whose own
    value fails the rule's condition -- ``deposit_maturing == 1`` for a customer with 0 -- never
    gets it); otherwise none (-1). Without the per-customer condition table
    (``conditions=None``) a segment-level rule with a value condition is never given as a
    fallback: an action is only ever given where its condition is known to hold.

Control group
-------------
Customer ``i`` gets the key ``SHA-256("churnlens-control:<seed>:<id>")`` (first 8 bytes as
an unsigned integer); the ``round(share * n)`` customers with the smallest keys (ties by id
text) form the control group. The choice depends only on the ids and the seed: it is exact in
size, identical on every run and under any row order, and it lets next month's ``--campaign``
measurement compare treated with control customers.

Hashed ids
----------
With ``hash_ids`` the list shows ``SHA-256("<salt>:<id>")`` as 16 hex characters (64 bits;
collisions are negligible below billions of customers). Keep the salt secret: ids are easy
to enumerate, so an unsalted hash could be reversed by trying every id.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import operator
import os
from dataclasses import replace
from pathlib import Path
from typing import Collection, Optional, Sequence

import numpy as np
import pandas as pd
from pydantic import TypeAdapter, ValidationError

from churnlens.config import Config, PlaybookRule, beside_config, format_validation_error, kind_of, read_yaml
from churnlens.errors import DataError, InputFileError, PlaybookError
from churnlens.io.ids import normalise_id, normalise_ids
from churnlens.redact import shorten
from churnlens.actions.results import PlannedAction, Refusals, RetentionList, SegmentPlan, Targeting
from churnlens.segmentation.results import SegmentSummary
from churnlens.io.tables import csv_encoding, read_table
from churnlens.io.files import check_regular_file, iter_text_lines
from churnlens.io.csv_safety import write_csv

__all__ = [
    "load_playbook",
    "validate_playbook",
    "condition_masks",
    "match_customer_rules",
    "segment_actions",
    "effective_rules",
    "plan_segments",
    "control_group",
    "select_targets",
    "read_id_list",
    "hash_id",
    "retention_list",
    "write_retention_list",
    "retention_plan",
    "LIST_COLUMNS",
    "PLAN_COLUMNS",
]

LIST_COLUMNS = (
    "customer_id", "segment", "segment_name", "score", "value", "expected_value_at_risk",
    "reason_1", "reason_2", "reason_3", "driver_1", "driver_2", "driver_3", "protective_1",
    "action", "channel", "cost", "expected_retained", "control_group",
)
PLAN_COLUMNS = ("segment", "segment_name", "action", "channel", "customers", "control", "value_at_risk", "cost",
                "expected_retained")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}


# --- loading and validation ------------------------------------------------------------------

def load_playbook(path: str | Path, *, _chain: tuple[Path, ...] = ()) -> tuple[PlaybookRule, ...]:
    """Read playbook rules from a YAML file: a list of rules, or a mapping with ``playbook:``
    (the rules) and/or ``playbook_file:`` (a further playbook file, relative to this one, whose
    rules follow). A chain of files that leads back to itself is refused naming the chain.

    Raises
    ------
    PlaybookError
        Missing, not a regular file, too large or unreadable file (described by its kind, never
        quoted: a wrong path may point at a credentials file), a cycle of ``playbook_file``, an
        unknown top-level key, or a rule that does not fit the rule schema; the message gives the
        key path, e.g. ``playbook.2.action.zh: Field required``.
    """
    path = Path(path)
    real = Path(os.path.realpath(path))
    if real in _chain:
        names = " -> ".join(str(p) for p in (*_chain, real))
        raise PlaybookError(f"playbook_file: the playbook files refer to each other in a cycle ({names}); remove "
                            "one playbook_file entry.", key="playbook_file")
    data = read_yaml(path, what="Playbook file", error=PlaybookError, kind="playbook", key="playbook_file")
    more: tuple[PlaybookRule, ...] = ()
    if isinstance(data, dict):
        unknown = sorted(str(k) for k in data if k not in ("playbook", "playbook_file"))
        if unknown:
            raise PlaybookError(f"Playbook file {path}: unknown key {shorten(unknown[0])}; a playbook file holds a "
                                "list of rules, or the keys playbook (the rules) and playbook_file (another "
                                "playbook file).", key="playbook_file")
        nested = data.get("playbook_file")
        if nested is not None:
            if not isinstance(nested, str) or not nested.strip():
                raise PlaybookError(f"Playbook file {path}: playbook_file must be the path of a YAML file.",
                                    key="playbook_file")
            more = load_playbook(beside_config(path, nested), _chain=(*_chain, real))
        data = data.get("playbook")
    if data is None:
        return more
    if not isinstance(data, list):
        raise PlaybookError(
            f"Playbook file {path} must hold a list of rules (or a 'playbook:' key with one); found "
            f"{kind_of(data)}, not a YAML list.", key="playbook_file"
        )
    try:
        return TypeAdapter(tuple[PlaybookRule, ...]).validate_python(data) + more
    except ValidationError as err:
        message, key = format_validation_error(
            err, str(path), what="playbook", prefix=("playbook",), model=tuple[PlaybookRule, ...],
            hint="Each rule needs when.driver, when.direction (up/down), action.en and action.zh.")
        raise PlaybookError(message, key=key) from None


def config_rules(config: Config, config_path: Optional[Path]) -> tuple[PlaybookRule, ...]:
    """The config's own rules, then those of ``playbook_file`` (relative to the config file)."""
    rules = tuple(config.playbook)
    if config.playbook_file:
        rules += load_playbook(beside_config(config_path, config.playbook_file))
    return rules


def _as_number(v: float | str) -> Optional[float]:
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return float(v)


def validate_playbook(
    rules: Sequence[PlaybookRule],
    *,
    features: Sequence[str],
    config: Config,
    categorical: Collection[str] = (),
    encoded: Optional[dict[str, str]] = None,
) -> None:
    """Check playbook rules against the model's features and the data dictionary.

    Parameters
    ----------
    rules : sequence of PlaybookRule
    features : sequence of str
        The model's source features.
    config : Config
        Its data dictionary (``features``): when the dictionary is not empty every driver
        needs an entry; protected features cannot drive actions.
    categorical : collection of str
        Features with a non-numeric dtype (conditions on them must be ``==``/``!=`` a text).
    encoded : dict of str to str, optional
        Encoded model column -> its source feature (``FeatureSources``): a rule on an encoded
        column is refused, naming the source (and the protected rule when it is protected).

    Raises
    ------
    PlaybookError
        Listing every problem as ``playbook.<i>.<key> (rule <i+1>): found ..., expected ...``.
    """
    feats = list(map(str, features))
    known = set(feats)
    cats = set(categorical)
    problems = []
    for i, rule in enumerate(rules):
        where = f"playbook.{i}.when"
        d = rule.when.driver
        src = (encoded or {}).get(d)
        if src is not None and src != d:
            spec = config.features.get(src)
            if spec is not None and spec.protected:
                problems.append(
                    f"{where}.driver (rule {i + 1}): column {d!r} encodes the protected feature {src!r} "
                    f"(features.{src}.protected: true); protected features cannot trigger retention actions, "
                    "whichever way they are encoded. Use an actionable driver instead.")
            else:
                problems.append(
                    f"{where}.driver (rule {i + 1}): column {d!r} is an encoded column of feature {src!r}; "
                    f"name the source feature (driver: {src}) and, for one level, add condition "
                    f"{{op: '==', value: '{d[len(src) + 1:] if d.startswith(src) else d}'}}.")
            continue
        if d not in known:
            close = difflib.get_close_matches(d, feats, n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            problems.append(
                f"{where}.driver (rule {i + 1}): unknown feature {d!r}; expected one of the model's features "
                f"({', '.join(feats[:20])}{', ...' if len(feats) > 20 else ''}).{hint}"
            )
            continue
        if config.features and d not in config.features:
            problems.append(
                f"{where}.driver (rule {i + 1}): feature {d!r} has no entry in the data dictionary (features:); "
                f"add features.{d}.label.en/zh so the report can name the driver."
            )
        spec = config.features.get(d)
        if spec is not None and spec.protected:
            problems.append(
                f"{where}.driver (rule {i + 1}): feature {d!r} is marked protected (features.{d}.protected: true); "
                "protected features cannot trigger retention actions. Use an actionable driver instead."
            )
        c = rule.when.condition
        if c is None:
            continue
        if d in cats:
            if c.op not in ("==", "!="):
                problems.append(
                    f"{where}.condition.op (rule {i + 1}): found {c.op!r} on categorical feature {d!r}; "
                    "expected '==' or '!='."
                )
            if not isinstance(c.value, str):
                problems.append(
                    f"{where}.condition.value (rule {i + 1}): found the number {c.value!r} for categorical feature "
                    f"{d!r}; expected a category text (write it in quotes)."
                )
        elif _as_number(c.value) is None:
            problems.append(
                f"{where}.condition.value (rule {i + 1}): found the text {c.value!r} for numeric feature {d!r}; "
                "expected a number."
            )
    if problems:
        raise PlaybookError("Invalid playbook:\n  - " + "\n  - ".join(problems))


# --- matching ---------------------------------------------------------------------------------

def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _condition(rule: PlaybookRule, X: pd.DataFrame, index: int) -> np.ndarray:
    c = rule.when.condition
    n = X.shape[0]
    if c is None:
        return np.ones(n, dtype=bool)
    col = X[rule.when.driver]
    miss = col.isna().to_numpy()
    if _is_numeric(col):
        v = _as_number(c.value)
        if v is None:
            raise PlaybookError(
                f"playbook.{index}.when.condition.value: found the text {c.value!r} for numeric feature "
                f"{rule.when.driver!r}; expected a number."
            )
        x = col.to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            out = _OPS[c.op](x, v)
    else:
        if c.op not in ("==", "!="):
            raise PlaybookError(
                f"playbook.{index}.when.condition.op: found {c.op!r} on categorical feature {rule.when.driver!r}; "
                "expected '==' or '!='."
            )
        x = col.astype(str).to_numpy()
        out = _OPS[c.op](x, c.value if isinstance(c.value, str) else _num_text(c.value))
    return np.asarray(out, dtype=bool) & ~miss


def _num_text(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def condition_masks(rules: Sequence[PlaybookRule], X: pd.DataFrame) -> np.ndarray:
    """Whether each rule's value condition holds per customer, shape (n, R) (True without condition)."""
    missing = sorted({r.when.driver for r in rules if r.when.condition is not None and r.when.driver not in X.columns})
    if missing:
        raise DataError(f"Playbook conditions use column(s) {missing} that are not in the data.")
    if not rules:
        return np.ones((X.shape[0], 0), dtype=bool)
    return np.column_stack([_condition(r, X, i) for i, r in enumerate(rules)])


def _driver_columns(rules: Sequence[PlaybookRule], features: Sequence[str]) -> np.ndarray:
    pos = {f: j for j, f in enumerate(map(str, features))}
    bad = [r.when.driver for r in rules if r.when.driver not in pos]
    if bad:
        raise PlaybookError(f"Playbook drivers {sorted(set(bad))} are not model features; run validate_playbook first.")
    return np.array([pos[r.when.driver] for r in rules], dtype=np.int64)


def match_customer_rules(
    rules: Sequence[PlaybookRule],
    attributions_values: np.ndarray,
    X: pd.DataFrame,
    features: Sequence[str],
) -> np.ndarray:
    """Best matching rule per customer (see "Matching" in the module docstring).

    Parameters
    ----------
    rules : sequence of PlaybookRule, length R
    attributions_values : ndarray, shape (n, f)
        Signed attributions, columns ``features``.
    X : DataFrame, n rows
        Customers' feature values (for value conditions), same row order.
    features : sequence of str, length f

    Returns
    -------
    ndarray of int64, shape (n,)
        Rule index, -1 where no rule matches.
    """
    values = np.asarray(attributions_values)  # float32 as computed: only the rules' columns become float64
    n = values.shape[0]
    if values.ndim != 2 or values.shape[1] != len(features):
        raise DataError(f"Attributions must have shape (customers, {len(features)}); found {values.shape}.")
    if X.shape[0] != n:
        raise DataError(f"Attributions have {n} rows but the feature table has {X.shape[0]}.")
    if not rules:
        return np.full(n, -1, dtype=np.int64)
    a = np.asarray(values[:, _driver_columns(rules, features)], dtype=np.float64)  # (n, R)
    up = np.array([r.when.direction == "up" for r in rules])
    matched = np.where(up, a > 0, a < 0) & condition_masks(rules, X)
    strength = np.where(matched, np.abs(a), -1.0)
    cand = matched & (strength == strength.max(axis=1, keepdims=True))
    priority = np.array([r.priority for r in rules], dtype=np.float64)
    pkey = np.where(cand, priority, np.inf)
    cand &= pkey == pkey.min(axis=1, keepdims=True)
    best = np.argmax(cand, axis=1)  # first True = earliest rule among the remaining ties
    return np.where(matched.any(axis=1), best, -1).astype(np.int64)


def _planned(i: int, rule: PlaybookRule, *, customers: int = 0, segment_level: bool = True) -> PlannedAction:
    return PlannedAction(
        rule_index=i, driver=rule.when.driver, action=rule.action,
        channel=rule.channel, cost=float(rule.cost), uplift=float(rule.uplift), priority=int(rule.priority),
        customers=customers, segment_level=segment_level, conditional=rule.when.condition is not None,
    )


def segment_actions(
    summary: SegmentSummary,
    rules: Sequence[PlaybookRule],
    *,
    condition_share: Optional[np.ndarray] = None,
) -> tuple[PlannedAction, ...]:
    """Segment-level actions: rules whose driver is a signature driver with the same sign.

    Parameters
    ----------
    summary : SegmentSummary
    rules : sequence of PlaybookRule, length R
    condition_share : ndarray, shape (R,), optional
        Share of the segment's members satisfying each rule's value condition; rules with a
        condition need at least 0.5. Without it, rules with a condition never match at
        segment level.

    Returns
    -------
    tuple of PlannedAction, sorted by priority then rule order (``customers`` = 0).
    """
    sign = {s.feature: np.sign(s.mean_attribution) for s in summary.signature}
    out = []
    for i, r in enumerate(rules):
        if r.when.driver not in sign or sign[r.when.driver] != (1.0 if r.when.direction == "up" else -1.0):
            continue
        if r.when.condition is not None and (condition_share is None or condition_share[i] < 0.5):
            continue
        out.append(_planned(i, r))
    return tuple(sorted(out, key=lambda p: (p.priority, p.rule_index)))


def effective_rules(
    customer_rule: np.ndarray,
    segment_keys: np.ndarray,
    plans: Sequence[SegmentPlan],
    *,
    conditions: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Each customer's own best rule, else the first segment-level action of their segment
    whose value condition holds for them, else -1 (module docstring, "Effective action").

    Parameters
    ----------
    customer_rule : ndarray of int, shape (n,)
        From :func:`match_customer_rules`.
    segment_keys : ndarray of str, shape (n,)
        Segment key per customer (``""`` for customers in no segment).
    plans : sequence of SegmentPlan
    conditions : ndarray of bool, shape (n, R), optional
        :func:`condition_masks` of the playbook on the same customers. Without it, segment-level
        rules that carry a value condition are not used as a fallback (only unconditional ones).
    """
    out = np.asarray(customer_rule, dtype=np.int64).copy()
    keys = np.asarray(segment_keys).astype(str)
    cond = None if conditions is None else np.asarray(conditions, dtype=bool)
    if cond is not None and cond.shape[0] != out.shape[0]:
        raise DataError(f"effective_rules: conditions has {cond.shape[0]} rows, expected {out.shape[0]}.")
    for p in plans:
        # segment-level actions by priority, whatever order plans list them in; each customer
        # takes the first one whose condition holds for that customer
        seg_level = sorted((a for a in p.actions if a.segment_level), key=lambda a: (a.priority, a.rule_index))
        free = (out == -1) & (keys == p.segment_key)
        for a in seg_level:
            if not free.any():
                break
            if cond is not None:
                ok = free & cond[:, a.rule_index]
            elif a.conditional:
                continue
            else:
                ok = free
            out[ok] = a.rule_index
            free &= ~ok
    return out


def plan_segments(
    summaries: Sequence[SegmentSummary],
    rules: Sequence[PlaybookRule],
    *,
    segment_keys: np.ndarray,
    X: pd.DataFrame,
    score: np.ndarray,
    value: Optional[np.ndarray],
    targeting: Targeting,
    customer_rule: np.ndarray,
    uplift: Optional[np.ndarray] = None,
) -> tuple[SegmentPlan, ...]:
    """Retention plan per segment.

    Parameters
    ----------
    summaries : sequence of SegmentSummary
        The segments (and the mixed-reasons group), in report order.
    rules : sequence of PlaybookRule, length R
    segment_keys : ndarray of str, shape (n,)
        Segment key of every customer of the book (``""`` for customers in no segment).
    X : DataFrame, n rows
        Feature values (for segment-level value conditions).
    score : ndarray, shape (n,)
    value : ndarray, shape (n,), optional
        Customer value (NaN counts as 0); None when there is no value column.
    targeting : Targeting
        From :func:`select_targets`.
    customer_rule : ndarray of int, shape (n,)
        From :func:`match_customer_rules` (the customer-level best rule).
    uplift : ndarray, shape (n, R), optional
        Uplift per customer and rule (measured last month, :func:`churnlens.actions.budget.uplift_matrix`);
        default: each rule's ``uplift``.

    Returns
    -------
    tuple of SegmentPlan, in the order of ``summaries``:

    * ``actions``: segment-level actions plus every rule that is some listed customer's
      effective action (see :func:`effective_rules`), each with ``customers`` = targets whose
      effective action it is, ``control``, ``value_at_risk``, ``total_cost`` and
      ``expected_retained`` of those customers -- the rows of :func:`retention_plan`, from
      the same assignment as the retention list; sorted by customers descending, then
      priority and rule order (the first is the segment's headline action);
    * ``target_count``: members to contact (listed, not control, not do-not-contact);
      ``control_count``: members in the control group;
    * ``value_at_risk``: sum over all members of score x value;
    * ``expected_retained_value``: sum over targets of score x value x their action's uplift;
    * ``cost``: sum over targets of their action's cost per contact;
    * ``no_rule``: no playbook rule applies to the segment at all;
    * ``unassigned``, ``unassigned_control``, ``unassigned_value_at_risk``: the listed customers
      whose effective action is none (the empty-action row of :func:`retention_plan`).

    ``value_at_risk`` of the actions plus ``unassigned_value_at_risk`` is the segment's value
    at risk on the list (the basis of ``retention_plan.csv``); ``total_cost`` is the rule's
    cost per contact only: a budget's channel cost per contact comes on top
    (:func:`churnlens.actions.budget.action_costs`, as in the list's ``cost`` column).
    """
    keys = np.asarray(segment_keys).astype(str)
    score = np.asarray(score, dtype=np.float64)
    n = score.shape[0]
    for name, arr in (("segment_keys", keys), ("X", X), ("customer_rule", customer_rule), ("targeting", targeting.listed)):
        if len(arr) != n:
            raise DataError(f"plan_segments: {name} has {len(arr)} rows, expected {n} (one per customer).")
    v = np.zeros(n) if value is None else np.nan_to_num(np.asarray(value, dtype=np.float64), nan=0.0)
    cond = condition_masks(rules, X)
    U = _uplift_table(rules, n, uplift)  # (n, R + 1): column -1 -> no action
    cost = np.array([r.cost for r in rules] + [0.0])
    first = []
    for s in summaries:
        member = keys == s.key
        share = cond[member].mean(axis=0) if member.any() else np.zeros(len(rules))
        first.append(segment_actions(s, rules, condition_share=share))
    provisional = tuple(
        SegmentPlan(segment_key=s.key, actions=a, target_count=0, control_count=0, value_at_risk=0.0,
                    expected_retained_value=0.0, cost=0.0, no_rule=not a)
        for s, a in zip(summaries, first)
    )
    eff = effective_rules(customer_rule, keys, provisional, conditions=cond)
    target = targeting.target
    plans = []
    for s, seg_actions in zip(summaries, first):
        member = keys == s.key
        tgt = member & target
        ctl = member & targeting.control
        used = np.bincount(eff[tgt][eff[tgt] >= 0], minlength=len(rules))
        held = np.bincount(eff[ctl][eff[ctl] >= 0], minlength=len(rules))
        seg_idx = {a.rule_index for a in seg_actions}
        evar = score * v
        actions = []
        for i in range(len(rules)):
            if i not in seg_idx and used[i] == 0 and held[i] == 0:
                continue
            t, c = tgt & (eff == i), ctl & (eff == i)
            actions.append(replace(
                _planned(i, rules[i], customers=int(used[i]), segment_level=i in seg_idx),
                control=int(held[i]), value_at_risk=float(evar[t | c].sum()),
                total_cost=float(cost[i] * t.sum()), expected_retained=float((evar[t] * U[t, i]).sum())))
        # the action most of the segment's customers get comes first (the headline), then priority
        actions.sort(key=lambda p: (-p.customers, p.priority, p.rule_index))
        plans.append(
            SegmentPlan(
                segment_key=s.key,
                actions=tuple(actions),
                target_count=int(tgt.sum()),
                control_count=int((member & targeting.control).sum()),
                value_at_risk=float((score[member] * v[member]).sum()),
                expected_retained_value=float((score[tgt] * v[tgt] * U[np.flatnonzero(tgt), eff[tgt]]).sum()),
                cost=float(cost[eff[tgt]].sum()),
                no_rule=not actions,
                unassigned=int((tgt & (eff < 0)).sum()),
                unassigned_control=int((ctl & (eff < 0)).sum()),
                unassigned_value_at_risk=float(evar[(tgt | ctl) & (eff < 0)].sum()),
            )
        )
    return tuple(plans)


def _uplift_table(rules: Sequence[PlaybookRule], n: int, uplift: Optional[np.ndarray]) -> np.ndarray:
    """Uplift per customer and rule plus a zero column for "no action" (index -1), shape (n, R + 1)."""
    if uplift is None:
        return np.tile(np.array([r.uplift for r in rules] + [0.0]), (n, 1))
    u = np.asarray(uplift, dtype=np.float64).reshape(n, len(rules))
    return np.column_stack([u, np.zeros(n)])


# --- control group and list -------------------------------------------------------------------

def _id_text(ids: np.ndarray) -> list[str]:
    return [str(i) for i in np.asarray(ids).tolist()]


def control_group(customer_ids: np.ndarray, *, share: float, seed: int) -> np.ndarray:
    """Seeded control group of exactly ``round(share * n)`` customers (half up).

    Parameters
    ----------
    customer_ids : ndarray, shape (n,)
        Unique ids (compared as text).
    share : float in [0, 1)
    seed : int

    Returns
    -------
    ndarray of bool, shape (n,)
        True for control customers; depends only on the set of ids and the seed.
    """
    if not 0.0 <= share < 1.0:
        raise ValueError(f"control share must be in [0, 1), not {share}")
    ids = _id_text(customer_ids)
    n = len(ids)
    if len(set(ids)) != n:
        raise DataError("Customer ids must be unique to draw a control group; found duplicated ids.")
    k = int(math.floor(share * n + 0.5))
    mask = np.zeros(n, dtype=bool)
    if k == 0:
        return mask
    keys = np.array(
        [int.from_bytes(hashlib.sha256(f"churnlens-control:{seed}:{i}".encode()).digest()[:8], "big") for i in ids],
        dtype=np.uint64,
    )
    order = np.lexsort((np.array(ids), keys))
    mask[order[:k]] = True
    return mask


def select_targets(
    customer_ids: np.ndarray,
    churners: np.ndarray,
    *,
    control_share: float,
    seed: int,
    do_not_contact: Optional[Collection] = None,
    no_personalisation: Optional[Collection] = None,
    generic: bool = False,
) -> Targeting:
    """Remove do-not-contact customers from the churners (and customers who refused
    personalised marketing, unless a generic action is configured), then draw the control group.

    Parameters
    ----------
    customer_ids : ndarray, shape (n,)
    churners : ndarray of bool, shape (n,)
    control_share : float
        Share of the remaining churners held out (``report.control_share``).
    seed : int
    do_not_contact : collection of ids, optional
        Compared as text with ``customer_ids``.
    no_personalisation : collection of ids, optional
        Ids that refused personalised marketing or automated decisions (compared as text):
        flagged in ``Targeting.refused``; left out of the list unless ``generic``.
    generic : bool
        A generic action is configured (``report.generic_action``): refused customers stay
        listed and get it instead of a personalised action (:func:`retention_list`).
    """
    ids = np.asarray(customer_ids)
    churners = np.asarray(churners, dtype=bool)
    if churners.shape != ids.shape:
        raise DataError(f"select_targets: {churners.shape[0]} churner flags for {ids.shape[0]} customers.")
    dnc = set() if do_not_contact is None else {normalise_id(i) for i in do_not_contact}
    blocked = (np.array([t in dnc for t in normalise_ids(_id_text(ids))], dtype=bool) if dnc
               else np.zeros(ids.shape[0], dtype=bool))
    excluded = churners & blocked
    listed = churners & ~blocked
    refused = None
    if no_personalisation is not None:
        said_no = {str(i) for i in no_personalisation}
        refused = listed & np.array([t in said_no for t in _id_text(ids)], dtype=bool)
        if not generic:
            listed = listed & ~refused
    control = np.zeros(ids.shape[0], dtype=bool)
    control[listed] = control_group(ids[listed], share=control_share, seed=seed)
    return Targeting(listed=listed, control=control, excluded=excluded, refused=refused,
                     generic=bool(generic and refused is not None))


def count_refusals(book_ids: np.ndarray, targeting: Targeting, no_personalisation: Optional[Collection]):
    """How the no-personalisation list was honoured (:class:`~churnlens.actions.results.Refusals`);
    None without a list. ``book_ids`` are every customer's id (``Book.ids``)."""
    if no_personalisation is None:
        return None
    said_no = {str(i) for i in no_personalisation}
    known = said_no & set(_id_text(np.asarray(book_ids)))
    refused = np.zeros(len(targeting.listed), dtype=bool) if targeting.refused is None else targeting.refused
    generic = int((refused & targeting.listed).sum()) if targeting.generic else 0
    return Refusals(ids=len(said_no), unknown=len(said_no) - len(known), churners=int(refused.sum()),
                    excluded=int(refused.sum()) - generic, generic=generic)


def read_id_list(path: str | Path, *, id_column: str = "customer_id", what: str = "Do-not-contact file",
                 key: str = "report.do_not_contact") -> frozenset[str]:
    """Read a list of ids (do-not-contact, no-personalisation): a CSV/Parquet with ``id_column``
    (or with a single column), or a text file with one id per line. Ids are returned as text
    (compared as text). ``what`` and ``key`` name the file and its config key in messages.

    Raises
    ------
    InputFileError
        Missing or unreadable file.
    DataError
        A table with several columns but no ``id_column``.
    """


    path = Path(path)
    check_regular_file(path, "do_not_contact", key=key, what=what,
                       hint=f"Give the path of the list ({key}).")
    if path.suffix.lower() == ".txt":
        # streamed line by line (never the whole file in memory), within the do-not-contact size limit
        ids: set[str] = set()
        try:
            for line in iter_text_lines(path, "do_not_contact", csv_encoding(path, what), key=key, what=what,
                                        hint=f"Give the path of the list ({key})."):
                if (i := normalise_id(line)):
                    ids.add(i)
        except OSError as err:
            raise InputFileError(f"{what} {path} could not be read: {err}", key=key) from None
        return frozenset(ids)
    # every column as text: an id 0000017 must match the data's 0000017
    df = read_table(path, what=what, all_text=True, allow_empty=True,
                    suffixes=(".csv", ".parquet", ".pq", ".gz"))
    if id_column in df.columns:
        col = df[id_column]
    elif df.shape[1] == 1:
        col = df.iloc[:, 0]
    else:
        raise DataError(
            f"{what} {path} has no column {id_column!r}; columns are: {', '.join(map(str, df.columns))}. "
            "Name the id column like id_column, or keep a single column."
        )
    return frozenset(i for i in normalise_ids(col.dropna().to_numpy()) if i)


def hash_id(customer_id: object, *, salt: str) -> str:
    """Salted SHA-256 of the id text, first 16 hex characters."""
    return hashlib.sha256(f"{salt}:{customer_id}".encode()).hexdigest()[:16]


def retention_list(
    customer_ids: np.ndarray,
    targeting: Targeting,
    *,
    segment: np.ndarray,
    score: np.ndarray,
    value: Optional[np.ndarray],
    reasons: np.ndarray,
    rule_index: np.ndarray,
    rules: Sequence[PlaybookRule],
    segment_name: Optional[np.ndarray] = None,
    drivers: Optional[np.ndarray] = None,
    protective: Optional[np.ndarray] = None,
    rank_by: str = "value_at_risk",
    hash_ids: bool = False,
    salt: str = "",
    uplift: Optional[np.ndarray] = None,
    extra_cost: Optional[np.ndarray] = None,
    extra: Optional[dict[str, np.ndarray]] = None,
    generic_action=None,
) -> RetentionList:
    """One row per listed customer, riskiest first.

    Parameters
    ----------
    customer_ids : ndarray, shape (n,)
    targeting : Targeting
        From :func:`select_targets`; rows ``targeting.listed`` are listed (control flagged).
    segment : ndarray of str, shape (n,)
        What to show in the ``segment`` column (e.g. "S1 Maturing deposits").
    score : ndarray, shape (n,)
    value : ndarray, shape (n,), optional
        None when there is no value column: ``value``/``expected_value_at_risk`` are empty
        and the list is ranked by score.
    reasons : ndarray of str, shape (n, k)
        Actionable reason texts in machine words (English, whatever the report language: the
        list is a machine-readable output); padded to 3 columns.
    rule_index : ndarray of int, shape (n,)
        Each customer's action (:func:`effective_rules`), -1 for none (empty action/channel).
    rules : sequence of PlaybookRule
        The ``action`` column shows each rule's English text (machine words).
    segment_name : ndarray of str, shape (n,), optional
        The segment's name in machine words (``segment_name`` column; empty without it).
    drivers : ndarray of str, shape (n, k), optional
        Top drivers overall, actionable or not, in machine words: ``driver_1..``.
    protective : ndarray of str, shape (n, p), optional
        Risk-lowering factors in machine words: ``protective_1..``.
    rank_by : {"value_at_risk", "score"}
        Sort key, descending; ties by customer id ascending (the original id, before hashing).
    hash_ids, salt
        Replace ids by :func:`hash_id` (see the module docstring).
    uplift : ndarray, shape (n, R), optional
        Uplift per customer and rule (measured last month); default each rule's ``uplift``.
    extra_cost : ndarray, shape (R,), optional
        Cost per contact added to each rule's ``cost`` (the budget's channel cost).
    extra : dict of str to ndarray of shape (n,), optional
        More columns, appended after ``LIST_COLUMNS`` in the given order (e.g. the ``keep_*``
        columns of :func:`churnlens.reports.lists.keep_columns`).
    generic_action : GenericAction, optional
        ``report.generic_action``: listed customers who refused personalised marketing
        (``targeting.refused`` with ``targeting.generic``) get it instead of their rule (its
        own cost and uplift, no channel cost), and empty ``extra`` cells (nothing personalised).

    Returns
    -------
    RetentionList
        ``frame`` with ``LIST_COLUMNS`` (more reason/driver columns when k > 3). ``cost`` is the
        action's cost per contact and ``expected_retained`` score x value x uplift, both 0 for
        control customers (not contacted): :func:`retention_plan` sums them.
    """
    ids = np.asarray(customer_ids)
    n = ids.shape[0]
    reasons = np.asarray(reasons, dtype=object)
    if reasons.ndim != 2 or reasons.shape[0] != n:
        raise DataError(f"retention_list: reasons must have shape ({n}, k); found {reasons.shape}.")
    for name, arr in (("segment", segment), ("score", score), ("rule_index", rule_index), ("targeting", targeting.listed)):
        if len(arr) != n:
            raise DataError(f"retention_list: {name} has {len(arr)} rows, expected {n}.")
    if rank_by not in ("value_at_risk", "score"):
        raise ValueError(f"rank_by must be 'value_at_risk' or 'score', not {rank_by!r}")
    rows = np.flatnonzero(targeting.listed)
    score = np.asarray(score, dtype=np.float64)
    val = np.full(n, np.nan) if value is None else np.asarray(value, dtype=np.float64)
    evar = score * val
    k = max(3, reasons.shape[1])
    padded = _padded(reasons, n, k)
    drv = _padded(drivers, n, k)
    prot = _padded(protective, n, 1 if protective is None else max(1, np.asarray(protective).shape[1]))
    ridx = np.asarray(rule_index, dtype=np.int64)
    treated = ~targeting.control
    unit = np.array([r.cost for r in rules] + [0.0])
    if extra_cost is not None:
        unit[:-1] += np.asarray(extra_cost, dtype=np.float64)
    generic = np.zeros(n, dtype=bool)
    if targeting.refused is not None and targeting.generic:
        if generic_action is None:
            raise DataError("retention_list: the targeting lists refused customers with a generic action, but no "
                            "generic_action was given (report.generic_action).")
        generic = targeting.refused & targeting.listed
    cost = np.where(treated, np.where(generic, generic_action.cost if generic.any() else 0.0, unit[ridx]), 0.0)
    uplift = _uplift_table(rules, n, uplift)[np.arange(n), ridx]
    if generic.any():
        uplift = np.where(generic, generic_action.uplift, uplift)
    retained_value = np.where(treated, score * np.nan_to_num(val, nan=0.0) * uplift, 0.0)
    names = np.full(n, "", dtype=object) if segment_name is None else np.asarray(segment_name, dtype=object)
    actions = np.array([r.action.en for r in rules] + [""], dtype=object)[ridx]
    channels = np.array([r.channel for r in rules] + [""], dtype=object)[ridx]
    if generic.any():
        actions[generic], channels[generic] = generic_action.action.en, generic_action.channel
    key = evar if (rank_by == "value_at_risk" and value is not None) else score
    sub_key = np.where(np.isnan(key[rows]), -np.inf, key[rows])
    sub_ids = ids[rows]
    id_sort = sub_ids if np.issubdtype(sub_ids.dtype, np.number) else np.array(_id_text(sub_ids))
    order = rows[np.lexsort((id_sort, -sub_key))]
    shown = [hash_id(i, salt=salt) for i in _id_text(ids[order])] if hash_ids else ids[order]
    frame = pd.DataFrame({
        "customer_id": shown,
        "segment": np.asarray(segment, dtype=object)[order],
        "segment_name": names[order],
        "score": score[order],
        "value": val[order],
        "expected_value_at_risk": evar[order],
        **{f"reason_{j + 1}": padded[order, j] for j in range(k)},
        **{f"driver_{j + 1}": drv[order, j] for j in range(k)},
        **{f"protective_{j + 1}": prot[order, j] for j in range(prot.shape[1])},
        "action": actions[order],
        "channel": channels[order],
        "cost": cost[order],
        "expected_retained": retained_value[order],
        "control_group": targeting.control[order],
    })
    for name, col in (extra or {}).items():
        col = np.asarray(col)
        if len(col) != n:
            raise DataError(f"retention_list: column {name} has {len(col)} rows, expected {n}.")
        if generic.any():  # nothing personalised for customers who refused it
            col = col.copy()
            col[generic] = np.nan if col.dtype.kind == "f" else ""
        frame[name] = col[order]
    return RetentionList(frame=frame, excluded_do_not_contact=int(targeting.excluded.sum()),
                         control_count=int(targeting.control.sum()),
                         refused_no_personalisation=0 if targeting.refused is None else int(targeting.refused.sum()))


def _padded(texts: Optional[np.ndarray], n: int, k: int) -> np.ndarray:
    out = np.full((n, k), "", dtype=object)
    if texts is None:
        return out
    texts = np.asarray(texts, dtype=object)
    if texts.ndim != 2 or texts.shape[0] != n:
        raise DataError(f"retention_list: reason texts must have shape ({n}, k); found {texts.shape}.")
    out[:, : texts.shape[1]] = np.where(pd.isna(texts), "", texts)
    return out


def segment_order_key(key: object) -> tuple:
    """S1, S2, ..., S10, then other keys (MIX) by text: the report's segment order."""
    k = str(key)
    return (0, int(k[1:]), "") if k[:1] == "S" and k[1:].isdigit() else (1, 0, k)


def retention_plan(frame: pd.DataFrame) -> pd.DataFrame:
    """The retention plan as the group-by of the retention list: one row per (segment, action).

    Parameters
    ----------
    frame : DataFrame
        ``RetentionList.frame`` (or ``retention_list.csv`` read back).

    Returns
    -------
    DataFrame with ``PLAN_COLUMNS``: ``customers`` listed customers to contact (not control),
    ``control`` control customers, ``value_at_risk`` sum of expected_value_at_risk of both,
    ``cost`` and ``expected_retained`` sums over the contacted customers; ordered by segment
    (:func:`segment_order_key`), then customers descending, then action. An empty action is
    "no rule applies".
    """
    f = frame.assign(action=frame["action"].fillna("").astype(str), channel=frame["channel"].fillna("").astype(str),
                     segment_name=frame["segment_name"].fillna("").astype(str),
                     control=frame["control_group"].astype(bool))
    f = f.assign(customers=~f["control"], value_at_risk=f["expected_value_at_risk"].fillna(0.0))
    keys = ["segment", "segment_name", "action", "channel"]
    plan = f.groupby(keys, sort=False, dropna=False).agg(
        customers=("customers", "sum"), control=("control", "sum"), value_at_risk=("value_at_risk", "sum"),
        cost=("cost", "sum"), expected_retained=("expected_retained", "sum")).reset_index()
    plan = plan.assign(_s=plan["segment"].map(segment_order_key)).sort_values(
        ["_s", "customers", "action"], ascending=[True, False, True], kind="stable").drop(columns="_s")
    plan[["customers", "control"]] = plan[["customers", "control"]].astype(np.int64)
    return plan.loc[:, list(PLAN_COLUMNS)].reset_index(drop=True)


def write_retention_list(path_csv: str | Path, retention: RetentionList) -> Path:
    """Write ``retention_list.csv`` (UTF-8, machine column names and words). The Excel workbook
    for people is written by :func:`churnlens.reports.workbook.write_retention_workbook`.

    Text cells never start a spreadsheet formula (OWASP CSV injection guidance): a cell starting
    with ``= + - @`` gets a leading ``'``."""

    path_csv = Path(path_csv)
    write_csv(retention.frame, path_csv)
    return path_csv
