"""Segments as rules a CRM can run without the model: shallow surrogate trees on feature values.

For each segment, a scikit-learn ``DecisionTreeClassifier`` (depth <= 3, one segment vs the
other churners, balanced class weights, ``random_state = seed``) is fitted on the churners'
feature values: numeric and boolean columns as numbers (missing values handled by the
tree), categorical and text columns with at most 20 levels as one 0/1 column per level.
Every leaf where most churners (unweighted) belong to the segment becomes a rule: the
conditions on its path, thresholds rounded to 6 significant digits, conditions on the
same feature merged. When no leaf has a majority, the leaf with the highest precision is
kept. Precision = share of the churners matching the rule that are in the segment;
coverage = share of the segment's churners that match it (both recomputed with the
rounded rule, not read from the tree).

The rules are applied in one order (precision descending; ties: segment id, then rule
number): a customer takes the segment of the first rule it matches, else ``MIX``. The same
order is the SQL ``CASE WHEN`` text (:func:`to_sql`), on the raw column names as quoted
identifiers.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from churnlens.segmentation.results import (
    MIXED,
    Condition,
    Segmentation,
    SegmentQuality,
    SegmentRule,
    SegmentRules,
    SegmentSummary,
)
from churnlens.io.csv_safety import write_csv

MAX_DEPTH = 3
MAX_LEVELS = 20  # categorical columns with more levels are not used in rules
MIN_LEAF_SHARE = 0.01  # smallest leaf, as a share of the churners (never below 5)
DEFAULT_KEY = "MIX"


def design(X: pd.DataFrame) -> tuple[np.ndarray, list[tuple[str, Optional[str]]]]:
    """Numeric matrix for the trees: (column, None) for numeric, (column, level) for a level dummy."""
    cols, spec = [], []
    for col in X.columns:
        s = X[col]
        if not isinstance(s.dtype, pd.CategoricalDtype) and (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            cols.append(pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
            spec.append((str(col), None))
            continue
        text = s.astype("str").where(s.notna())
        levels = sorted(text.dropna().unique().tolist())
        if len(levels) > MAX_LEVELS:
            continue
        for lv in levels:
            cols.append((text == lv).to_numpy(dtype=bool, na_value=False).astype(np.float64))
            spec.append((str(col), str(lv)))
    return (np.column_stack(cols) if cols else np.zeros((len(X), 0))), spec


def _round(t: float) -> float:
    return float(f"{t:.6g}")


def _merge(conds: list[Condition]) -> tuple[Condition, ...]:
    """Conditions on the same feature and op combined (tightest bound; union of excluded levels)."""
    out: dict[tuple[str, str], Condition] = {}
    for c in conds:
        key = (c.feature, c.op)
        prev = out.get(key)
        if prev is None:
            out[key] = c
        elif c.op == "<=":
            out[key] = Condition(c.feature, "<=", min(prev.threshold, c.threshold), missing=prev.missing and c.missing)
        elif c.op == ">":
            out[key] = Condition(c.feature, ">", max(prev.threshold, c.threshold), missing=prev.missing and c.missing)
        elif c.op == "not_in":
            out[key] = Condition(c.feature, "not_in", levels=tuple(sorted(set(prev.levels) | set(c.levels))),
                                 missing=prev.missing and c.missing)
        else:  # two "in" on one feature: only their common levels
            out[key] = Condition(c.feature, "in", levels=tuple(sorted(set(prev.levels) & set(c.levels))))
    return tuple(out.values())


def _leaf_paths(tree, spec, nan_cols: set[str]) -> dict[int, tuple[Condition, ...]]:
    """Each leaf's path as conditions; "or missing" only on columns that have missing values."""
    t = tree.tree_
    paths: dict[int, tuple[Condition, ...]] = {}
    stack = [(0, [])]
    while stack:
        node, conds = stack.pop()
        if t.children_left[node] < 0:
            paths[node] = _merge(conds)
            continue
        col, level = spec[t.feature[node]]
        left_missing = bool(t.missing_go_to_left[node]) if col in nan_cols else None
        if level is None and left_missing is None:
            thr = _round(float(t.threshold[node]))
            left, right = Condition(col, "<=", thr), Condition(col, ">", thr)
        elif level is None:
            thr = _round(float(t.threshold[node]))
            left = Condition(col, "<=", thr, missing=left_missing)
            right = Condition(col, ">", thr, missing=not left_missing)
        else:  # dummy <= 0.5: not this level (missing included); > 0.5: this level
            left = Condition(col, "not_in", levels=(level,), missing=col in nan_cols)
            right = Condition(col, "in", levels=(level,))
        stack.append((int(t.children_right[node]), conds + [right]))
        stack.append((int(t.children_left[node]), conds + [left]))
    return paths


def matches(conditions: tuple[Condition, ...], X: pd.DataFrame) -> np.ndarray:
    """Rows of ``X`` satisfying every condition (the SQL semantics of :func:`to_sql`)."""
    ok = np.ones(len(X), dtype=bool)
    for c in conditions:
        s = X[c.feature]
        if c.op in ("<=", ">"):
            v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            miss = np.isnan(v)
            with np.errstate(invalid="ignore"):
                hit = v <= c.threshold if c.op == "<=" else v > c.threshold
        else:
            text = s.astype("str").where(s.notna())
            miss = text.isna().to_numpy()
            isin = text.isin(list(c.levels)).to_numpy(dtype=bool, na_value=False)
            hit = isin if c.op == "in" else ~isin
        ok &= np.where(miss, c.missing, hit & ~miss)
    return ok


def assign(rules: tuple[SegmentRule, ...], X: pd.DataFrame, default: str = DEFAULT_KEY) -> np.ndarray:
    """Key of the first matching rule per row (``default`` when none), shape (len(X),)."""
    out = np.full(len(X), default, dtype=object)
    free = np.ones(len(X), dtype=bool)
    for r in rules:
        hit = free & matches(r.conditions, X)
        out[hit] = r.key
        free &= ~hit
    return out


def _segment_rules(tree, spec, Xc: pd.DataFrame, inseg: np.ndarray, key: str, sid: int) -> list[SegmentRule]:
    paths = _leaf_paths(tree, spec, {str(c) for c in Xc.columns if Xc[c].isna().any()})
    drafts = []
    for leaf in sorted(paths):
        hit = matches(paths[leaf], Xc)
        n = int(hit.sum())
        if n == 0:
            continue
        prec = float(inseg[hit].mean())
        drafts.append((paths[leaf], prec, float(hit[inseg].mean()) if inseg.any() else 0.0, n))
    keep = [d for d in drafts if d[1] >= 0.5] or sorted(drafts, key=lambda d: (-d[1], -d[3]))[:1]
    keep.sort(key=lambda d: (-d[1], -d[3]))
    return [SegmentRule(key=key, segment_id=sid, rule_id=f"{key}.{i + 1}", conditions=c, precision=p, coverage=cov, n=n)
            for i, (c, p, cov, n) in enumerate(keep)]


def _auc(y: Optional[np.ndarray], score: Optional[np.ndarray]) -> Optional[float]:
    if y is None or score is None or y.size == 0 or np.unique(y).size < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def fit_rules(
    segmentation: Segmentation,
    summaries: tuple[SegmentSummary, ...],
    X: pd.DataFrame,
    *,
    seed: int = 0,
    label: Optional[np.ndarray] = None,
    score: Optional[np.ndarray] = None,
    population: Optional[np.ndarray] = None,
    exclude: tuple[str, ...] = (),
    max_depth: int = MAX_DEPTH,
) -> SegmentRules:
    """Surrogate-tree rules for every segment, and per-segment quality numbers.

    Parameters
    ----------
    segmentation : Segmentation
        ``rows`` index the rows of ``X``.
    summaries : tuple of SegmentSummary
        Give each segment id its key.
    X : DataFrame, shape (n, c)
        Raw feature values of the attributed rows (the rules' columns).
    label : ndarray of 0/1, shape (n,), optional
        Observed churn; enables churn rates and AUCs.
    score : ndarray of float, shape (n,), optional
        Predicted churn probability (for the AUCs).
    population : ndarray of bool, shape (n,), optional
        Rows that stand for the whole book (the population sample) over which the rules'
        ``population_*`` numbers are counted; default every row.
    exclude : tuple of str
        Columns never used in a rule (protected features).

    Returns
    -------
    SegmentRules
        Rules in application order; quality per segment in id order.
    """
    from sklearn.tree import DecisionTreeClassifier

    rows = np.asarray(segmentation.rows, dtype=np.int64)
    labels = np.asarray(segmentation.labels)
    keys = {s.segment_id: s.key for s in summaries if s.segment_id != MIXED}
    usable = X.loc[:, [c for c in X.columns if str(c) not in set(exclude)]]
    Xc = usable.iloc[rows].reset_index(drop=True)
    D, spec = design(Xc)
    rules: list[SegmentRule] = []
    min_leaf = max(5, int(np.ceil(MIN_LEAF_SHARE * rows.size)))
    for sid in sorted(keys):
        inseg = labels == sid
        if D.shape[1] == 0 or inseg.all() or not inseg.any():
            rules.append(SegmentRule(keys[sid], sid, f"{keys[sid]}.1", (), float(inseg.mean()) if inseg.size else 0.0,
                                     1.0, int(rows.size)))
            continue
        tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=min_leaf, class_weight="balanced",
                                      random_state=seed).fit(D, inseg.astype(int))
        rules.extend(_segment_rules(tree, spec, Xc, inseg, keys[sid], sid))
    rules.sort(key=lambda r: (-r.precision, r.segment_id, int(r.rule_id.rsplit(".", 1)[1])))
    rules_t = tuple(rules)
    pop = np.ones(len(X), dtype=bool) if population is None else np.asarray(population, dtype=bool).reshape(-1)
    return SegmentRules(rules=rules_t, quality=_quality(rules_t, segmentation, keys, Xc, usable, label, score, pop),
                        max_depth=max_depth)


def _quality(rules, segmentation, keys, Xc, X, label, score, population) -> tuple[SegmentQuality, ...]:
    rows = np.asarray(segmentation.rows, dtype=np.int64)
    labels = np.asarray(segmentation.labels)
    lab = None if label is None else np.asarray(label, dtype=np.float64).reshape(-1)
    sc = None if score is None else np.asarray(score, dtype=np.float64).reshape(-1)
    on_churners = assign(rules, Xc)
    on_all = np.where(population, assign(rules, X), "")
    out = []
    for sid in sorted(keys):
        key = keys[sid]
        inseg = labels == sid
        hit = on_churners == key
        pop = on_all == key
        mem = rows[inseg]
        out.append(SegmentQuality(
            key=key, segment_id=sid, size=int(inseg.sum()),
            precision=float(inseg[hit].mean()) if hit.any() else 0.0,
            coverage=float(hit[inseg].mean()) if inseg.any() else 0.0,
            member_churn_rate=None if lab is None or mem.size == 0 else float(lab[mem].mean()),
            member_auc=_auc(None if lab is None else lab[mem], None if sc is None else sc[mem]),
            population_n=int(pop.sum()),
            population_churn_rate=None if lab is None or not pop.any() else float(lab[pop].mean()),
            population_auc=_auc(None if lab is None else lab[pop], None if sc is None else sc[pop]),
        ))
    return tuple(out)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_condition(c: Condition) -> str:
    col = _ident(c.feature)
    if c.op in ("<=", ">"):
        core = f"{col} {c.op} {c.threshold!r}"
    else:
        core = f"{col} {'IN' if c.op == 'in' else 'NOT IN'} ({', '.join(_lit(v) for v in c.levels)})"
    return f"({core} OR {col} IS NULL)" if c.missing else core


def to_sql(rules: SegmentRules) -> str:
    """``CASE WHEN ... THEN 'S1' ... ELSE 'MIX' END`` in the rules' application order."""
    lines = ["CASE"]
    for r in rules.rules:
        cond = " AND ".join(_sql_condition(c) for c in r.conditions) or "1 = 1"
        lines.append(f"  WHEN {cond} THEN {_lit(r.key)}  -- {r.rule_id}")
    lines.append(f"  ELSE {_lit(rules.default_key)}")
    lines.append("END")
    return "\n".join(lines)


def condition_expr(c: Condition) -> str:
    """One condition as a formula on the raw column: ``m0_level > 1.25``, ``region in [N, S]``,
    ``(... or missing)`` (the business wording is ``churnlens.reports.words.rule_text``)."""
    if c.op in ("<=", ">"):
        core = f"{c.feature} {c.op} {c.threshold!r}"
    else:
        core = f"{c.feature} {'in' if c.op == 'in' else 'not in'} [{', '.join(c.levels)}]"
    return f"({core} or missing)" if c.missing else core


RULES_COLUMNS = ("segment", "rule_id", "conditions", "definition", "precision", "coverage", "n")
QUALITY_COLUMNS = ("segment", "churners", "rule_precision", "rule_coverage", "member_churn_rate", "member_auc",
                   "population_n", "population_churn_rate", "population_auc")


def rules_frame(rules: SegmentRules, definitions: Optional[dict] = None) -> pd.DataFrame:
    """One row per rule, application order: segment, rule_id, conditions (formulas joined by
    " and "), definition (``definitions[rule_id]``: the rule in business words, "" when not
    given), precision, coverage, n."""
    definitions = definitions or {}
    return pd.DataFrame(
        [(r.key, r.rule_id, " and ".join(condition_expr(c) for c in r.conditions), definitions.get(r.rule_id, ""),
          round(r.precision, 6), round(r.coverage, 6), r.n) for r in rules.rules],
        columns=list(RULES_COLUMNS),
    )


def quality_frame(rules: SegmentRules) -> pd.DataFrame:
    """One row per segment: how well its rules describe it and the model's quality within it
    (empty cells where labels are missing or one class only)."""
    return pd.DataFrame(
        [(q.key, q.size, round(q.precision, 6), round(q.coverage, 6), _r(q.member_churn_rate), _r(q.member_auc),
          q.population_n, _r(q.population_churn_rate), _r(q.population_auc)) for q in rules.quality],
        columns=list(QUALITY_COLUMNS),
    )


def _r(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(float(x), 6)


def write_segment_rules(directory, rules: SegmentRules, definitions: Optional[dict] = None) -> None:
    """Write ``segment_rules.csv``, ``segment_rules.sql`` and ``segment_quality.csv`` into
    ``directory`` (created if needed)."""
    from pathlib import Path


    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    write_csv(rules_frame(rules, definitions), d / "segment_rules.csv")
    write_csv(quality_frame(rules), d / "segment_quality.csv")
    (d / "segment_rules.sql").write_text(
        "-- churnlens segment rules: first matching rule wins; columns are the raw table's.\n" + to_sql(rules) + "\n",
        encoding="utf-8")
