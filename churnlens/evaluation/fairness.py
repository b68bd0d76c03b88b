"""Is the list fair: rates, ranking, calibration and proxies by group of each protected attribute.

Numbers and codes only; :mod:`churnlens.reports.sections.fairness` words them.

Attributes
----------
Every feature of the data dictionary with ``protected: true``, and age bands of every age-like
feature declared ``actionable: false`` (name ``age`` or ``*_age`` / ``age_*``, or ``unit:
years`` with the English label starting "Age"): bands from ``features.<f>.bands`` when given,
else :data:`AGE_BANDS`. A numeric protected feature with at most :data:`MAX_LEVELS`
distinct values is taken level by level, otherwise in quartile bands of the book; a missing
value is its own group ("missing").

Rates (over the population sample: a uniform sample of the book)
    selection: share of the group's customers selected as churners; contact: share contacted
    (listed, not in the control group, within the budget when one applies); action: share
    contacted with a personalised playbook action. Each rate's *disparity ratio* is the
    group's rate over the rate of the largest group (the reference). The four-fifths
    reference (US EEOC Uniform Guidelines, 29 CFR 1607.4 D) is applied both ways: a group
    with at least :data:`MIN_GROUP` customers is flagged when a ratio is below 4/5 or above
    5/4 (a retention offer is a benefit: under-selection is adverse impact; over-selection
    of a protected group for churner treatment is flagged too, for review).
Value ranking (over the listed customers)
    Mean position of the group's listed customers in the list's order (0 = top, 1 = bottom)
    and the group's share of the list's expected value at risk.
Calibration and AUC (population sample, when labels exist)
    Mean predicted probability against the observed churn rate, and the AUC, per group
    (None where a group lacks one of the two outcomes).
Proxies
    Every other source feature's association with the attribute over the population
    sample: Cramér's V for a categorical feature, the correlation ratio (eta) for a numeric
    one; at least :data:`PROXY_ASSOCIATION` is a proxy, reported with the share of the
    book's mean absolute attribution it carries.
Segment composition
    The group's count and share in each segment (all segmented churners) and its share of
    the book (population sample).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from churnlens.config import Config
from churnlens.errors import DataError
from churnlens.evaluation.results import (  # noqa: F401  (re-exported)
    FOUR_FIFTHS, MIN_GROUP, PROXY_ASSOCIATION, AttributeFairness, Composition, Fairness, GroupRates, ProxyCheck,
)


def segment_order_key(key: object) -> tuple:
    """S1, S2, ..., S10, then other keys (MIX) by text: the report's segment order."""
    k = str(key)
    return (0, int(k[1:]), "") if k[:1] == "S" and k[1:].isdigit() else (1, 0, k)

__all__ = ["AGE_BANDS", "AttributeFairness", "Composition", "Fairness", "FOUR_FIFTHS", "GroupRates", "ProxyCheck",
           "fairness", "protected_groups"]

MAX_LEVELS = 10
AGE_BANDS = (25.0, 35.0, 45.0, 55.0, 65.0)
MISSING = "missing"


# --- groups -------------------------------------------------------------------------------------

def _age_like(name: str, spec) -> bool:
    if re.search(r"(^|_)age($|_)", name.lower()):
        return True
    return spec.unit == "years" and spec.label.en.lower().startswith("age")


def _band_codes(x: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    e = list(edges)
    names = [f"<{_n(e[0])}"] + [f"{_n(a)}-{_n(b)}" for a, b in zip(e, e[1:])] + [f">={_n(e[-1])}"]
    idx = np.searchsorted(np.asarray(e, dtype=np.float64), x, side="right")
    out = np.array(names, dtype=object)[np.minimum(idx, len(names) - 1)]
    out[np.isnan(x)] = MISSING
    return out


def _n(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def protected_groups(config: Config, frame: pd.DataFrame, population: Optional[np.ndarray] = None
                     ) -> dict[str, tuple[str, np.ndarray]]:
    """{attribute: (kind, group code per row)} for the protected attributes present in ``frame``
    (the source features), see the module docstring. Quartile bands come from the
    ``population`` rows (all rows when None)."""
    out: dict[str, tuple[str, np.ndarray]] = {}
    pop = np.ones(len(frame), dtype=bool) if population is None else np.asarray(population, dtype=bool)
    for f, spec in config.features.items():
        if f not in frame.columns:
            continue
        s = frame[f]
        numeric = pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
        if spec.protected:
            if numeric:
                x = s.to_numpy(dtype=np.float64, na_value=np.nan)
                levels = np.unique(x[~np.isnan(x)])
                if spec.bands:
                    codes = _band_codes(x, spec.bands)
                elif len(levels) <= MAX_LEVELS:
                    codes = np.array([MISSING if np.isnan(v) else _n(v) for v in x], dtype=object)
                else:
                    q = np.unique(np.nanquantile(x[pop], (0.25, 0.5, 0.75)))
                    codes = _band_codes(x, q)
            else:
                codes = s.astype(object).where(s.notna(), MISSING).astype(str).to_numpy(dtype=object)
            out[f] = ("protected", codes)
        elif not spec.actionable and numeric and _age_like(f, spec):
            out[f] = ("age_band", _band_codes(s.to_numpy(dtype=np.float64, na_value=np.nan), spec.bands or AGE_BANDS))
    return out


# --- measures -----------------------------------------------------------------------------------

def _rate(flag: np.ndarray, hit: np.ndarray) -> float:
    return float(flag[hit].mean()) if hit.any() else float("nan")


def _auc(y: np.ndarray, s: np.ndarray) -> Optional[float]:
    if len(np.unique(y)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramér's V of two categorical arrays (no bias correction); 0 when either has one level."""
    ta = pd.factorize(pd.Series(a, dtype=object))[0]
    tb = pd.factorize(pd.Series(b, dtype=object))[0]
    ka, kb = ta.max() + 1, tb.max() + 1
    if ka < 2 or kb < 2:
        return 0.0
    table = np.zeros((ka, kb))
    np.add.at(table, (ta, tb), 1.0)
    n = table.sum()
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = ((table - expected) ** 2 / expected).sum()
    return float(np.sqrt(chi2 / (n * (min(ka, kb) - 1))))


def correlation_ratio(groups: np.ndarray, x: np.ndarray) -> float:
    """Correlation ratio eta of a numeric ``x`` by categorical ``groups`` (missing x left out)."""
    ok = ~np.isnan(x)
    g, x = pd.factorize(pd.Series(groups[ok], dtype=object))[0], x[ok]
    if len(x) < 2 or x.var() == 0:
        return 0.0
    counts = np.bincount(g)
    means = np.bincount(g, weights=x) / np.maximum(counts, 1)
    between = (counts * (means - x.mean()) ** 2).sum()
    return float(np.sqrt(between / ((x - x.mean()) ** 2).sum()))


def _flags(ratios: Mapping[str, float], n: int, lo: float) -> tuple[str, ...]:
    if n < MIN_GROUP:
        return ()
    out = []
    for name, r in ratios.items():
        if np.isfinite(r) and r < lo:
            out.append(f"{name}_low")
        elif np.isfinite(r) and r > 1.0 / lo:
            out.append(f"{name}_high")
    return tuple(out)


def fairness(
    config: Config,
    frame: pd.DataFrame,
    *,
    population: np.ndarray,
    selected: np.ndarray,
    listed: np.ndarray,
    contacted: np.ndarray,
    personalised: np.ndarray,
    list_key: np.ndarray,
    value_at_risk: Optional[np.ndarray] = None,
    score: Optional[np.ndarray] = None,
    label: Optional[np.ndarray] = None,
    segments: Optional[np.ndarray] = None,
    attributions: Optional[np.ndarray] = None,
    attribution_features: Sequence[str] = (),
) -> Fairness:
    """Fairness of this month's list by protected attribute (see the module docstring).

    Parameters
    ----------
    config : Config
        Its data dictionary names the protected and age-like features.
    frame : DataFrame, m rows
        Source features of the attributed customers (``SourceFeatures.frame``).
    population : bool (m,)
        The population sample (``AlignedFeatures.in_population``): the rates' base.
    selected, listed, contacted, personalised : bool (m,)
        Selected churners; on the list (control included); contacted; contacted with a
        personalised playbook action.
    list_key : float (m,)
        The list's sort key (expected value at risk, else score), larger first.
    value_at_risk : float (m,), optional
        Score x value (the value shares).
    score, label : (m,), optional
        Predicted probability and observed churn (calibration and AUC when both).
    segments : str (m,), optional
        Segment key per row ("" for none).
    attributions : (m, f), optional
        Source-feature attributions (columns ``attribution_features``): the proxies' share.
    """
    m = len(frame)
    arrays = dict(population=population, selected=selected, listed=listed, contacted=contacted,
                  personalised=personalised, list_key=list_key)
    for name, a in arrays.items():
        if len(a) != m:
            raise DataError(f"fairness: {name} has {len(a)} rows, expected {m} (the rows of frame).", argument=name)
    pop, sel, lst = (np.asarray(a, dtype=bool) for a in (population, selected, listed))
    con, act = np.asarray(contacted, dtype=bool), np.asarray(personalised, dtype=bool)
    key = np.asarray(list_key, dtype=np.float64)
    rows = np.flatnonzero(lst)
    order = rows[np.lexsort((rows, -np.where(np.isnan(key[rows]), -np.inf, key[rows])))]
    position = np.full(m, np.nan)
    position[order] = np.arange(len(order)) / max(len(order) - 1, 1)
    evar = None if value_at_risk is None else np.nan_to_num(np.asarray(value_at_risk, dtype=np.float64))
    total_evar = float(evar[lst].sum()) if evar is not None else 0.0
    labelled = label is not None and score is not None
    share = None
    if attributions is not None:
        a = np.abs(np.asarray(attributions, dtype=np.float64)[pop])
        mean_abs = a.mean(axis=0) if len(a) else np.zeros(a.shape[1])
        tot = mean_abs.sum()
        share = {f: (float(v / tot) if tot > 0 else 0.0) for f, v in zip(map(str, attribution_features), mean_abs)}

    out = []
    for attr, (kind, codes) in protected_groups(config, frame, pop).items():
        levels, counts = np.unique(codes[pop].astype(str), return_counts=True)
        if len(levels) == 0:
            continue
        ref = str(levels[np.lexsort((levels, -counts))[0]])  # largest group, ties by name
        ref_hit = pop & (codes == ref)
        ref_rates = {"selection": _rate(sel, ref_hit), "contact": _rate(con, ref_hit), "action": _rate(act, ref_hit)}
        groups = []
        for g in sorted(set(levels.tolist()) | set(codes[lst].astype(str).tolist()), key=_group_order):
            hit = pop & (codes == g)
            rates = {"selection": _rate(sel, hit), "contact": _rate(con, hit), "action": _rate(act, hit)}
            ratios = {k: (rates[k] / ref_rates[k] if ref_rates[k] > 0 else float("nan")) for k in rates}
            in_list = lst & (codes == g)
            obs = mean_s = auc = None
            if labelled and hit.any():
                y, s = np.asarray(label)[hit].astype(int), np.asarray(score, dtype=np.float64)[hit]
                obs, mean_s, auc = float(y.mean()), float(s.mean()), _auc(y, s)
            groups.append(GroupRates(
                group=g, n=int(hit.sum()), selection_rate=rates["selection"], contact_rate=rates["contact"],
                action_rate=rates["action"], selection_ratio=ratios["selection"], contact_ratio=ratios["contact"],
                action_ratio=ratios["action"], listed=int(in_list.sum()),
                mean_list_position=float(position[in_list].mean()) if in_list.any() else float("nan"),
                value_share=(float(evar[in_list].sum() / total_evar) if evar is not None and total_evar > 0
                             else float("nan")),
                observed_rate=obs, mean_score=mean_s, auc=auc, flags=_flags(ratios, int(hit.sum()), FOUR_FIFTHS)))
        out.append(AttributeFairness(attr, kind, ref, tuple(groups), _proxies(frame, attr, codes, pop, share),
                                     _composition(codes, pop, segments)))
    return Fairness(tuple(out), n_population=int(pop.sum()), has_labels=labelled)


def _group_order(g: str) -> tuple:
    if g == MISSING:
        return (2, 0.0, g)
    m = re.match(r"^(<|>=)?(-?[\d.]+)", g)
    if m:
        return (0, float(m.group(2)) - (0.5 if m.group(1) == "<" else 0.0), g)
    return (1, 0.0, g)


def _proxies(frame: pd.DataFrame, attr: str, codes: np.ndarray, pop: np.ndarray,
             share: Optional[dict]) -> tuple[ProxyCheck, ...]:
    out = []
    g = codes[pop]
    for f in frame.columns:
        if f == attr:
            continue
        s = frame[f][pop]
        if pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype):
            measure, v = "correlation_ratio", correlation_ratio(g, s.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            measure, v = "cramers_v", cramers_v(g, s.astype(object).where(s.notna(), MISSING).to_numpy())
        if v >= PROXY_ASSOCIATION:
            out.append(ProxyCheck(str(f), measure, round(v, 6), (share or {}).get(str(f), float("nan"))))
    return tuple(sorted(out, key=lambda p: (-p.association, p.feature)))


def _composition(codes: np.ndarray, pop: np.ndarray, segments: Optional[np.ndarray]) -> tuple[Composition, ...]:
    if segments is None:
        return ()
    seg = np.asarray(segments, dtype=object)
    book = {g: float(c) / max(pop.sum(), 1) for g, c in zip(*np.unique(codes[pop].astype(str), return_counts=True))}
    out = []
    for key in sorted({s for s in seg.tolist() if s}, key=segment_order_key):
        hit = seg == key
        total = int(hit.sum())
        groups, counts = np.unique(codes[hit].astype(str), return_counts=True)
        for g in sorted(set(book) | set(groups.tolist()), key=_group_order):
            c = int(counts[groups == g].sum())
            out.append(Composition(str(key), g, c, c / total if total else float("nan"), book.get(g, 0.0)))
    return tuple(out)


def fairness_of_run(config: Config, frame: pd.DataFrame, *, aligned, churners, plan, attributions,
                    segments, rules) -> Fairness:
    """:func:`fairness` from a run's results: ``aligned`` (AlignedFeatures), ``churners``
    (ChurnerSet over the attributed rows), ``plan`` (FinalPlan), ``attributions``
    (Attributions), ``segments`` (Segments), ``rules`` (the playbook rules)."""
    t = plan.targeting
    if plan.budget is not None:
        contacted = np.asarray(plan.budget.treated, dtype=bool)
        action = np.asarray(plan.budget.action)
    else:
        contacted = t.target
        action = plan.rule_index
    score = np.asarray(attributions.score, dtype=np.float64)
    evar = None if aligned.value is None else score * np.nan_to_num(np.asarray(aligned.value, dtype=np.float64))
    key = evar if (config.report.rank_by == "value_at_risk" and evar is not None) else score
    personalised = contacted & (np.asarray(action) >= 0)
    if t.refused is not None:  # refused customers get the generic action at most: nothing personalised
        personalised &= ~t.refused
    return fairness(config, frame, population=aligned.in_population, selected=churners.mask, listed=t.listed,
                    contacted=contacted, personalised=personalised, list_key=key,
                    value_at_risk=evar, score=score, label=aligned.label, segments=segments.keys,
                    attributions=attributions.values, attribution_features=attributions.features)
