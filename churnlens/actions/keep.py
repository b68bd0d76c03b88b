"""What would keep this customer: the smallest permitted change that brings the predicted churn
probability below the churner threshold (or, when none does, the largest reduction possible).

Numbers and codes only; :func:`churnlens.reports.lists.keep_columns` words them.

The search
----------
Permitted features
    Source features the data dictionary allows as actionable reasons (not protected, not
    ``actionable: false``: :meth:`churnlens.config.Config.excluded_cause` is empty). With attributions, each customer's
    ``max_features`` (4) permitted features with the largest *positive* attribution (their
    actionable reasons) are tried; without, every permitted feature.
Plausible values (candidates)
    Only values observed in the book for similar customers: the ``neighbours`` (200) nearest
    customers of the reference (the population sample) on the *similarity features*
    (declared non-actionable, not protected, numeric: e.g. age, tenure, city tier; each
    standardised by the reference's own spread, a missing value taken as the reference
    median). A numeric feature's candidates are the neighbours' observed values at the
    quantiles :data:`QUANTILES` (10/25/50/75/90%, "inverted CDF": always an observed value);
    a categorical feature's candidates are the neighbours' ``len(QUANTILES)`` most frequent
    levels. Without similarity features the whole reference gives every customer the same
    candidates. A candidate equal to the customer's own value is dropped.
Size of a change
    Numeric: the distance in the book's ranks, ``|F(to) - F(from)|`` with ``F`` the
    reference's mid-rank empirical distribution (a missing ``from`` counts as the median,
    0.5). Categorical: 1 (a change of level counts as the largest numeric change).
One feature, then two
    Every candidate of every tried feature is scored, by re-scoring the model on the
    customer's own row with that one value changed (``LoadedModel.predict_proba``: exact,
    interactions included). Customers whom no single change keeps get every pair of their
    ``pair_features`` (3) most effective tried features (by the lowest probability each
    reaches alone, even when it does not lower it: two changes may only work together), on
    the grid of both features' candidates. Never more than two features.
The action producing a change
    For a changed feature, the playbook rule whose driver is that feature and whose value
    condition holds on the customer's *current* value (lowest ``priority`` number, then
    lowest cost, then rule order); -1 when the playbook has none ("uncovered").
Choice (deterministic)
    Among options that keep the customer (``after < threshold``): fewest uncovered
    features, then fewest features, then the smallest total action cost, then the smallest
    size, then the lowest probability, then the feature order and the candidate order.
    When none keeps the customer: the lowest probability, then the same keys. An option
    that does not lower the probability is never given (``after`` NaN).

Limits
------
Features are changed one (or two) at a time with everything else held, as the model sees
them: a change that real customers could only make together with others (logins and their
change rate) is not propagated. Encoded models: a numeric or raw-category model column, and a
one-hot block decoded by :class:`~churnlens.attribution.results.FeatureSources` (a level
sets its own column to 1, the block's others to 0; the drop-first ``other`` level sets all to
0) are changed; a source with several non-indicator columns is not tried. Inside a
scikit-learn pipeline the model's columns are the source columns, so encoders are applied to
the changed value by the pipeline itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from churnlens.actions import playbook
from churnlens.attribution.results import FeatureSources
from churnlens.attribution.sources import source_frame
from churnlens.config import Config, PlaybookRule
from churnlens.errors import DataError
from churnlens.frozen import array_eq

__all__ = ["KeepOptions", "QUANTILES", "keep_for_list", "keep_threshold", "permitted_features",
           "similarity_features", "what_would_keep"]

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
NEIGHBOURS = 200
MAX_FEATURES = 4
PAIR_FEATURES = 3
SCORE_ROWS = 250_000  # rows re-scored per model call: bounds the candidate frames' memory


@array_eq
@dataclass(frozen=True, eq=False)
class KeepOptions:
    """What would keep each customer (rows as given; only rows with ``computed`` searched).

    Attributes
    ----------
    features : ndarray of object, shape (n, 2)
        Source features changed ("" in an unused slot; both "" without an option).
    from_values, to_values : ndarray of object, shape (n, 2)
        The customer's value and the proposed one (None in an unused slot).
    rules : ndarray of int64, shape (n, 2)
        Playbook rule producing each change, -1 for none.
    before : ndarray of float64, shape (n,)
        Predicted churn probability now (re-scored: the model's own score).
    after : ndarray of float64, shape (n,)
        Probability with the change, re-scored; NaN without an option.
    size : ndarray of float64, shape (n,)
        Size of the change (sum over the changed features, see the module docstring).
    cost : ndarray of float64, shape (n,)
        Cost per contact of the rules producing the change (0 when uncovered).
    computed : ndarray of bool, shape (n,)
    threshold : float
        The churner threshold the option must go below.
    similar_on : tuple of str
        Features defining similar customers (empty: the whole reference).
    n_scored : int
        Candidate rows re-scored.
    """

    features: np.ndarray
    from_values: np.ndarray
    to_values: np.ndarray
    rules: np.ndarray
    before: np.ndarray
    after: np.ndarray
    size: np.ndarray
    cost: np.ndarray
    computed: np.ndarray
    threshold: float
    similar_on: tuple[str, ...] = ()
    n_scored: int = 0

    @property
    def n(self) -> int:
        return int(self.before.shape[0])

    @property
    def kept(self) -> np.ndarray:
        """Customers whose option brings the probability below the threshold, shape (n,)."""
        with np.errstate(invalid="ignore"):
            return self.after < self.threshold

    @property
    def found(self) -> np.ndarray:
        """Customers with an option (kept or at least a reduction), shape (n,)."""
        return ~np.isnan(self.after)

    @property
    def n_features(self) -> np.ndarray:
        return (self.features != "").sum(axis=1).astype(np.int64)

    @property
    def rule(self) -> np.ndarray:
        """The action of the option: the first changed feature's rule, else the second's (-1 none)."""
        return np.where(self.rules[:, 0] >= 0, self.rules[:, 0], self.rules[:, 1])


# --- what the config permits ------------------------------------------------------------------

def _identity(columns: Sequence[str]) -> FeatureSources:
    cols = tuple(map(str, columns))
    return FeatureSources(columns=cols, sources=cols, source_of=tuple(range(len(cols))), levels=("",) * len(cols))


def permitted_features(config: Config, sources: FeatureSources) -> tuple[str, ...]:
    """Source features a change may touch: actionable and not protected (undeclared features
    count as actionable, as for reason codes), never the id or label column."""
    skip = {config.id_column, config.label_column}
    return tuple(f for f in sources.sources if not config.excluded_cause(f) and f not in skip)


def similarity_features(config: Config, frame: pd.DataFrame) -> tuple[str, ...]:
    """Features defining similar customers: declared ``actionable: false``, not protected,
    numeric in ``frame`` (the source features)."""
    out = []
    for f, spec in config.features.items():
        if spec.protected or spec.actionable or f not in frame.columns:
            continue
        s = frame[f]
        if pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype):
            out.append(f)
    return tuple(out)


def keep_threshold(config: Config, score: np.ndarray, churners: np.ndarray) -> float:
    """The probability an option must go below: ``churners.threshold`` when churners are
    selected by score or by label; otherwise the lowest score among the selected churners
    (the cut that selected them; the threshold when nobody is selected)."""
    churners = np.asarray(churners, dtype=bool)
    if config.churners.by in ("score", "label") or not churners.any():
        return float(config.churners.threshold)
    return float(np.min(np.asarray(score, dtype=np.float64)[churners]))


# --- candidates ---------------------------------------------------------------------------------

def _is_numeric(s: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
            and not pd.api.types.is_bool_dtype(s))


def _neighbours(S: pd.DataFrame, R: pd.DataFrame, on: tuple[str, ...], k: int) -> Optional[np.ndarray]:
    """Indices (n, k) of each customer's nearest reference customers on ``on`` (None: no features)."""
    if not on:
        return None
    from sklearn.neighbors import NearestNeighbors

    ref = R.loc[:, list(on)].to_numpy(dtype=np.float64, na_value=np.nan)
    qry = S.loc[:, list(on)].to_numpy(dtype=np.float64, na_value=np.nan)
    med = np.nanmedian(ref, axis=0)
    med = np.where(np.isnan(med), 0.0, med)
    spread = np.nanstd(ref, axis=0)
    spread = np.where(~np.isfinite(spread) | (spread == 0), 1.0, spread)
    ref = (np.where(np.isnan(ref), med, ref) - med) / spread
    qry = (np.where(np.isnan(qry), med, qry) - med) / spread
    nn = NearestNeighbors(n_neighbors=min(k, len(ref)), algorithm="kd_tree").fit(ref)
    return nn.kneighbors(qry, return_distance=False)


def _numeric_candidates(values: np.ndarray, nbr: Optional[np.ndarray], n: int, qs: Sequence[float]) -> np.ndarray:
    """(n, K) candidate values at the quantiles (inverted CDF, NaN where none)."""
    if nbr is None:
        v = np.sort(values[~np.isnan(values)])
        if len(v) == 0:
            return np.full((n, len(qs)), np.nan)
        idx = np.clip(np.ceil(np.asarray(qs) * len(v)).astype(np.int64) - 1, 0, len(v) - 1)
        return np.tile(v[idx], (n, 1))
    G = np.sort(values[nbr], axis=1)  # NaN last
    cnt = (~np.isnan(G)).sum(axis=1)
    idx = np.clip(np.ceil(np.outer(cnt, qs)).astype(np.int64) - 1, 0, None)
    out = np.take_along_axis(G, np.minimum(idx, G.shape[1] - 1), axis=1)
    out[cnt == 0] = np.nan
    return out


def _level_candidates(codes: np.ndarray, n_levels: int, nbr: Optional[np.ndarray], n: int, K: int) -> np.ndarray:
    """(n, K) level codes, most frequent among the neighbours first (-1 where none)."""
    if nbr is None:
        counts = np.bincount(codes[codes >= 0], minlength=n_levels)[None, :].repeat(n, axis=0)
    else:
        G = codes[nbr]
        counts = np.stack([(G == lv).sum(axis=1) for lv in range(n_levels)], axis=1)
    order = np.argsort(-counts, axis=1, kind="stable")[:, :K]
    got = np.take_along_axis(counts, order, axis=1)
    return np.where(got > 0, order, -1)


@dataclass
class _Feature:
    name: str
    numeric: bool
    cand: np.ndarray  # (n, K) float (numeric) or object (levels), invalid = NaN / None
    valid: np.ndarray  # (n, K) bool
    size: np.ndarray  # (n, K)
    rule: np.ndarray  # (n,) int64
    cost: np.ndarray  # (n,) float64


def _rank_fn(values: np.ndarray):
    v = np.sort(values[~np.isnan(values)])

    def F(x: np.ndarray) -> np.ndarray:
        if len(v) == 0:
            return np.full(x.shape, 0.5)
        r = (np.searchsorted(v, x, side="left") + np.searchsorted(v, x, side="right")) / (2.0 * len(v))
        return np.where(np.isnan(x), 0.5, r)

    return F


def _rules_of(rules: Sequence[PlaybookRule], S: pd.DataFrame, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per customer and permitted feature: the rule producing a change (see the module
    docstring) and its cost; shapes (n, P)."""
    n = len(S)
    rule = np.full((n, len(names)), -1, dtype=np.int64)
    cost = np.zeros((n, len(names)))
    usable = [(i, r) for i, r in enumerate(rules) if r.when.driver in S.columns]
    if not usable:
        return rule, cost
    holds = playbook.condition_masks([r for _, r in usable], S)
    pos = {f: j for j, f in enumerate(names)}
    # best first: lowest priority number, then lowest cost, then rule order; fill from the worst
    ranked = sorted(range(len(usable)), key=lambda u: (usable[u][1].priority, usable[u][1].cost, usable[u][0]))
    for u in reversed(ranked):
        i, r = usable[u]
        j = pos.get(r.when.driver)
        if j is None:
            continue
        rule[holds[:, u], j] = i
        cost[holds[:, u], j] = float(r.cost)
    return rule, cost


def _assign(frame: pd.DataFrame, feature: str, values: np.ndarray, fs: FeatureSources, R: pd.DataFrame) -> None:
    """Set the model columns of source ``feature`` to ``values`` (source values) in ``frame``."""
    cols = fs.columns_of(feature)
    if cols == (feature,):
        s = frame[feature]
        if isinstance(s.dtype, pd.CategoricalDtype):
            frame[feature] = pd.Categorical(values, categories=s.cat.categories)
        elif _is_numeric(s):
            frame[feature] = np.asarray(values, dtype=np.float64)
        else:
            frame[feature] = pd.Series(values, index=frame.index, dtype=object).astype(s.dtype)
        return
    if isinstance(R[feature].dtype, pd.CategoricalDtype):  # a decoded one-hot block
        k = fs.sources.index(feature)
        v = np.asarray(values, dtype=object)
        for j, (c, s_of) in enumerate(zip(fs.columns, fs.source_of)):
            if s_of == k:
                frame[c] = (v == (fs.levels[j] or c)).astype(np.float64)
        return
    frame[cols[0]] = np.asarray(values, dtype=np.float64)


def _changeable(feature: str, fs: FeatureSources, R: pd.DataFrame) -> bool:
    cols = fs.columns_of(feature)
    return cols == (feature,) or len(cols) == 1 or isinstance(R[feature].dtype, pd.CategoricalDtype)


def _candidates(S, R, names, nbr, qs, rule, cost) -> list[_Feature]:
    n, K = len(S), len(qs)
    out = []
    for j, f in enumerate(names):
        s, r = S[f], R[f]
        if _is_numeric(r) and _is_numeric(s):
            ref = r.to_numpy(dtype=np.float64, na_value=np.nan)
            cand = _numeric_candidates(ref, nbr, n, qs)
            cur = s.to_numpy(dtype=np.float64, na_value=np.nan)
            dup = np.zeros_like(cand, dtype=bool)
            dup[:, 1:] = cand[:, 1:] == cand[:, :-1]  # sorted: equal candidates are adjacent
            valid = ~np.isnan(cand) & ~dup & (cand != cur[:, None])
            F = _rank_fn(ref)
            size = np.abs(F(cand) - F(cur)[:, None])
            out.append(_Feature(f, True, cand, valid, size, rule[:, j], cost[:, j]))
            continue
        levels = pd.unique(r.dropna().astype(object).to_numpy())
        levels = np.array(sorted(levels, key=str), dtype=object)
        lookup = {v: i for i, v in enumerate(levels.tolist())}
        codes = np.array([lookup.get(v, -1) for v in r.astype(object).to_numpy()], dtype=np.int64)
        idx = _level_candidates(codes, len(levels), nbr, n, K)
        cand = np.where(idx >= 0, levels[np.maximum(idx, 0)] if len(levels) else None, None).astype(object)
        cur = s.astype(object).to_numpy()
        valid = (idx >= 0) & (cand != cur[:, None])
        out.append(_Feature(f, False, cand, valid, np.ones(idx.shape), rule[:, j], cost[:, j]))
    return out


# --- scoring ------------------------------------------------------------------------------------

def _score(model, X: pd.DataFrame, cust: np.ndarray, changes: list[tuple[str, np.ndarray]], fs, R) -> np.ndarray:
    """Probabilities of customers ``cust`` (positions in X) with ``changes`` [(feature, values)]."""
    out = np.empty(len(cust))
    for start in range(0, len(cust), SCORE_ROWS):
        part = slice(start, start + SCORE_ROWS)
        frame = X.take(cust[part])
        frame.index = pd.RangeIndex(len(frame))
        for f, values in changes:
            _assign(frame, f, values[part], fs, R)
        out[part] = model.predict_proba(frame)
    return out


def what_would_keep(
    model,
    X: pd.DataFrame,
    *,
    reference: pd.DataFrame,
    threshold: float,
    permitted: Sequence[str],
    sources: Optional[FeatureSources] = None,
    rules: Sequence[PlaybookRule] = (),
    attributions: Optional[np.ndarray] = None,
    attribution_features: Optional[Sequence[str]] = None,
    similar_on: Sequence[str] = (),
    neighbours: int = NEIGHBOURS,
    quantiles: Sequence[float] = QUANTILES,
    max_features: int = MAX_FEATURES,
    pair_features: int = PAIR_FEATURES,
) -> KeepOptions:
    """What would keep each customer of ``X`` (see the module docstring).

    Parameters
    ----------
    model : LoadedModel
    X : DataFrame, n rows
        The customers' aligned model columns (``AlignedFeatures.frame`` rows).
    reference : DataFrame
        Aligned model columns of the book's reference customers (the population sample): the
        only source of candidate values.
    threshold : float
        Churner threshold (:func:`keep_threshold`).
    permitted : sequence of str
        Source features a change may touch (:func:`permitted_features`).
    sources : FeatureSources, optional
        Model columns -> source features (identity when None).
    rules : sequence of PlaybookRule
        The playbook, for the action producing a change.
    attributions : ndarray, shape (n, f), optional
        Source-feature attributions of the customers (columns ``attribution_features``): the
        ``max_features`` permitted features with the largest positive attribution are tried.
    similar_on : sequence of str
        Source features defining similar customers (:func:`similarity_features`).

    Raises
    ------
    DataError
        A permitted or similarity feature that is not a source feature, or attributions whose
        shape does not fit.
    """
    fs = sources or _identity(X.columns)
    n = len(X)
    S = source_frame(X, fs)
    R = source_frame(reference, fs)
    unknown = [f for f in (*permitted, *similar_on) if f not in S.columns]
    if unknown:
        raise DataError(f"what_would_keep: feature(s) {unknown} are not source features of the model "
                        f"({', '.join(fs.sources[:20])}).", argument="permitted")
    names = tuple(f for f in permitted if _changeable(f, fs, R))
    before = model.predict_proba(X) if n else np.zeros(0)
    P, K = len(names), len(quantiles)
    # features tried per customer
    tried = np.ones((n, P), dtype=bool)
    if attributions is not None and P:
        a = np.asarray(attributions, dtype=np.float64)
        feats = list(map(str, attribution_features or ()))
        if a.shape != (n, len(feats)):
            raise DataError(f"what_would_keep: attributions have shape {a.shape}, expected ({n}, {len(feats)}) "
                            "(one column per attribution feature).", argument="attributions")
        A = np.column_stack([a[:, feats.index(f)] if f in feats else np.zeros(n) for f in names])
        A = np.where(A > 0, A, -np.inf)
        top = np.argsort(-A, axis=1, kind="stable")[:, :max_features]
        tried = np.zeros((n, P), dtype=bool)
        np.put_along_axis(tried, top, True, axis=1)
        tried &= np.isfinite(A)
    nbr = _neighbours(S, R, tuple(similar_on), neighbours) if n else None
    rule, cost = _rules_of(rules, S, names)
    cands = _candidates(S, R, names, nbr, quantiles, rule, cost)

    # one feature: every valid candidate of every tried feature
    opt_cust, opt_f1, opt_c1, opt_p = [], [], [], []
    best_single = np.full((n, P), np.inf)
    for j, c in enumerate(cands):
        ok = c.valid & tried[:, [j]]
        cust, slot = np.nonzero(ok)
        if len(cust) == 0:
            continue
        p = _score(model, X, cust, [(c.name, c.cand[cust, slot])], fs, R)
        opt_cust.append(cust), opt_f1.append(np.full(len(cust), j)), opt_c1.append(slot), opt_p.append(p)
        np.minimum.at(best_single[:, j], cust, p)
    n_scored = int(sum(len(c) for c in opt_cust))
    cat = lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt)  # noqa: E731
    cust1, f1, c1, p1 = cat(opt_cust, np.int64), cat(opt_f1, np.int64), cat(opt_c1, np.int64), cat(opt_p, np.float64)
    kept1 = np.zeros(n, dtype=bool)
    kept1[cust1[p1 < threshold]] = True

    # two features: customers no single change keeps, their most effective features' pairs
    parts2 = ([], [], [], [], [], [])
    need = np.flatnonzero(~kept1 & np.isfinite(best_single).any(axis=1)) if P > 1 else np.zeros(0, np.int64)
    if len(need):
        gain = best_single[need]  # the lowest probability each feature reaches alone (inf: not tried)
        top = np.argsort(gain, axis=1, kind="stable")[:, :pair_features]
        ok_top = np.take_along_axis(np.isfinite(gain), top, axis=1)
        pairs: dict[tuple[int, int], list[int]] = {}
        for row, (feat_row, ok_row) in enumerate(zip(top, ok_top)):
            fsel = sorted(int(f) for f, o in zip(feat_row, ok_row) if o)
            for x in range(len(fsel)):
                for y in range(x + 1, len(fsel)):
                    pairs.setdefault((fsel[x], fsel[y]), []).append(int(need[row]))
        for (ja, jb), members in sorted(pairs.items()):
            m = np.asarray(members, dtype=np.int64)
            ca, cb = cands[ja], cands[jb]
            grid = ca.valid[m][:, :, None] & cb.valid[m][:, None, :]  # (len(m), K, K)
            r, sa, sb = np.nonzero(grid)
            cust = m[r]
            p = _score(model, X, cust, [(ca.name, ca.cand[cust, sa]), (cb.name, cb.cand[cust, sb])], fs, R)
            for lst, v in zip(parts2, (cust, np.full(len(cust), ja), sa, np.full(len(cust), jb), sb, p)):
                lst.append(v)
        n_scored += int(sum(len(c) for c in parts2[0]))
    cust2, fa, ca_, fb, cb_, p2 = (cat(parts2[i], dt) for i, dt in
                                   enumerate((np.int64, np.int64, np.int64, np.int64, np.int64, np.float64)))

    # every option, then the best per customer
    cust = np.concatenate([cust1, cust2])
    F1, C1 = np.concatenate([f1, fa]), np.concatenate([c1, ca_])
    F2, C2 = np.concatenate([np.full(len(cust1), -1), fb]), np.concatenate([np.full(len(cust1), -1), cb_])
    prob = np.concatenate([p1, p2])
    two = F2 >= 0

    def per(attr: str, F: np.ndarray, C: np.ndarray, dflt: float) -> np.ndarray:
        out = np.full(len(cust), dflt, dtype=np.float64)
        for j, c in enumerate(cands):
            hit = F == j
            if hit.any():
                a = getattr(c, attr)
                out[hit] = a[cust[hit], C[hit]] if a.ndim == 2 else a[cust[hit]]
        return out

    size = per("size", F1, C1, 0.0) + np.where(two, per("size", F2, C2, 0.0), 0.0)
    r1, r2 = per("rule", F1, C1, -1.0), np.where(two, per("rule", F2, C2, -1.0), -1.0)
    total_cost = per("cost", F1, C1, 0.0) + np.where(two, per("cost", F2, C2, 0.0), 0.0)
    uncovered = (r1 < 0).astype(np.int64) + (two & (r2 < 0)).astype(np.int64)
    crosses = prob < threshold
    nfeat = 1 + two.astype(np.int64)
    k1 = np.where(crosses, 0, 1)
    k2 = np.where(crosses, uncovered, prob)
    k3 = np.where(crosses, nfeat, uncovered)
    k4 = np.where(crosses, total_cost, nfeat)
    k5 = np.where(crosses, size, total_cost)
    k6 = np.where(crosses, prob, size)
    tie = np.arange(len(cust))  # option order: feature order, then candidate order
    useful = prob < before[cust]
    sel = np.flatnonzero(useful)
    order = sel[np.lexsort((tie[sel], k6[sel], k5[sel], k4[sel], k3[sel], k2[sel], k1[sel], cust[sel]))]
    firsts = order[np.unique(cust[order], return_index=True)[1]]

    features = np.full((n, 2), "", dtype=object)
    from_v = np.full((n, 2), None, dtype=object)
    to_v = np.full((n, 2), None, dtype=object)
    rules_out = np.full((n, 2), -1, dtype=np.int64)
    after = np.full(n, np.nan)
    size_out = np.full(n, np.nan)
    cost_out = np.zeros(n)
    who = cust[firsts]
    after[who] = prob[firsts]
    size_out[who] = size[firsts]
    cost_out[who] = total_cost[firsts]
    rules_out[who, 0] = r1[firsts].astype(np.int64)
    rules_out[who, 1] = r2[firsts].astype(np.int64)
    for slot, (F, C) in enumerate(((F1, C1), (F2, C2))):
        for j, c in enumerate(cands):
            hit = firsts[F[firsts] == j]
            if len(hit) == 0:
                continue
            w = cust[hit]
            features[w, slot] = c.name
            cur = S[c.name].to_numpy(dtype=np.float64, na_value=np.nan) if c.numeric else S[c.name].astype(object).to_numpy()
            from_v[w, slot] = [_plain(v) for v in cur[w]]
            to_v[w, slot] = [_plain(v) for v in c.cand[w, C[hit]]]
    return KeepOptions(features=features, from_values=from_v, to_values=to_v, rules=rules_out,
                       before=np.asarray(before, dtype=np.float64), after=after, size=size_out, cost=cost_out,
                       computed=np.ones(n, dtype=bool), threshold=float(threshold),
                       similar_on=tuple(similar_on), n_scored=n_scored)


def _plain(v: object) -> object:
    """Python scalars (no numpy types, missing as None): what the words and files expect."""
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return v
    return v


def keep_for_list(model, config: Config, sources: FeatureSources, rules: Sequence[PlaybookRule], *,
                  frame: pd.DataFrame, source: pd.DataFrame, attributions, listed: np.ndarray,
                  population: np.ndarray, churners: np.ndarray) -> KeepOptions:
    """What would keep each listed customer of a run, rows as the attributed customers.

    Parameters
    ----------
    frame, source : DataFrame, m rows
        ``AlignedFeatures.frame`` and ``SourceFeatures.frame``.
    attributions : Attributions
        The source-feature attributions of the same rows.
    listed : ndarray of bool, shape (m,)
        ``ActionPlan.targeting.listed`` (the search runs for these rows only).
    population : ndarray of bool, shape (m,)
        ``AlignedFeatures.in_population``: the reference customers.
    churners : ndarray of bool, shape (m,)
        The selected churners (for the threshold of selections other than by score).
    """
    listed = np.asarray(listed, dtype=bool)
    m = len(frame)
    rows = np.flatnonzero(listed)
    threshold = keep_threshold(config, attributions.score, churners)
    part = what_would_keep(
        model, frame.iloc[rows], reference=frame[np.asarray(population, dtype=bool)], threshold=threshold,
        permitted=permitted_features(config, sources), sources=sources, rules=rules,
        attributions=attributions.values[rows], attribution_features=attributions.features,
        similar_on=similarity_features(config, source))
    return _spread(part, rows, m)


def _spread(part: KeepOptions, rows: np.ndarray, m: int) -> KeepOptions:
    """``part`` (rows ``rows``) placed into m rows (the others not computed)."""
    def put(a: np.ndarray, fill) -> np.ndarray:
        out = np.full((m, *a.shape[1:]), fill, dtype=a.dtype)
        out[rows] = a
        return out

    return KeepOptions(features=put(part.features, ""), from_values=put(part.from_values, None),
                       to_values=put(part.to_values, None), rules=put(part.rules, -1),
                       before=put(part.before, np.nan), after=put(part.after, np.nan), size=put(part.size, np.nan),
                       cost=put(part.cost, 0.0), computed=put(part.computed, False), threshold=part.threshold,
                       similar_on=part.similar_on, n_scored=part.n_scored)
