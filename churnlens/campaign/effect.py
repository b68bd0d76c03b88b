"""Measured effect of last month's retention campaign: treatment vs control churn.

Input: a campaign outcome file (CSV or Parquet) with one row per customer of last month's
retention list: the id column, ``arm`` (``treatment`` or ``control``, any case) and the
observed outcome ``churned`` (0/1; ``churn`` is accepted as an alias).

Statistics (per population: all customers, then each segment)
-------------------------------------------------------------
* ``absolute_reduction = control churn rate - treated churn rate``;
  ``relative_reduction = absolute_reduction / control churn rate`` (None when the control
  rate is 0).
* 95% CI of the absolute reduction: **Newcombe's hybrid score interval** (Newcombe 1998,
  method 10) built from the two arms' Wilson score intervals
  (``scipy.stats.binomtest(...).proportion_ci(method="wilson")``). Unlike the Wald interval
  it stays inside [-1, 1] and keeps its coverage for small arms and rates near 0.
* p-value (two-sided): the pooled two-proportion z-test (computed as
  ``scipy.stats.chi2_contingency(..., correction=False)``, whose statistic is z squared) when
  every expected cell count is at least 5, otherwise Fisher's exact test
  (``scipy.stats.fisher_exact``). ``ArmEffect.test`` names the test used.
* ``retained_value = absolute_reduction x (sum of treated customers' value)``, i.e. the
  absolute reduction x the number treated x their mean value: the money kept by the
  campaign versus no contact. 0 when no value is known.

Populations whose treatment or control arm is empty have no measurable effect and are left
out of ``by_segment``; the overall comparison needs both arms.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.notes import Note
from churnlens.errors import DataError, InputFileError
from churnlens.campaign.results import ArmEffect, CampaignEffect
from churnlens.io.tables import read_table
from churnlens.io.files import check_regular_file
from churnlens.io.tables import did_you_mean
from churnlens.lazy import lazy

binomtest = lazy("scipy.stats", "binomtest")
chi2_contingency = lazy("scipy.stats", "chi2_contingency")
fisher_exact = lazy("scipy.stats", "fisher_exact")

__all__ = ["read_campaign", "campaign_effect", "arm_effect", "stratified_effect", "METHOD"]

ARMS = ("treatment", "control")
_OUTCOME = ("churned", "churn")
# How the effect is estimated (a code: the reports word it, ``note.campaign.method``).
METHOD = Note.of("campaign.method")


def _read_table(path: Path, id_column: str) -> pd.DataFrame:


    check_regular_file(path, "campaign", argument="campaign", what="campaign: file",
                       hint="Give last month's campaign outcome file.")
    # ids as text and normalised, as in the customer table (leading zeros kept)
    return read_table(path, id_column=id_column, what="Campaign file", text_columns=("arm",),
                      suffixes=(".csv", ".txt", ".gz", ".parquet", ".pq"))


def read_campaign(path: Path, *, id_column: str = "customer_id") -> pd.DataFrame:
    """Read and check a campaign outcome file.

    Returns
    -------
    DataFrame with columns ``customer_id`` (ids as in the file), ``arm`` (``"treatment"`` /
    ``"control"``) and ``churned`` (int 0/1), one row per customer.

    Raises
    ------
    InputFileError
        Missing or unreadable file.
    DataError
        Missing columns, unknown arm labels, outcomes other than 0/1, missing or duplicated ids.
    """
    path = Path(path)

    df = _read_table(path, id_column)
    cols = list(map(str, df.columns))
    outcome = next((c for c in _OUTCOME if c in cols), None)
    missing = [c for c in (id_column, "arm") if c not in cols] + ([] if outcome else ["churned"])
    if missing:
        raise DataError(
            f"Campaign file {path} lacks the column(s) {missing};{did_you_mean(missing[0], cols)} "
            f"columns are: {', '.join(cols)}. "
            f"It needs {id_column!r} (customer id; set id_column in the config), 'arm' (treatment/control) "
            "and 'churned' (observed churn 0/1)."
        )
    ids = df[id_column]
    if ids.isna().any():
        raise DataError(f"Campaign file {path}: {int(ids.isna().sum())} row(s) have no {id_column!r}.")
    dup = ids[ids.duplicated()]
    if len(dup):
        raise DataError(
            f"Campaign file {path}: {len(dup)} duplicated {id_column!r} value(s), e.g. {dup.astype(str).head(3).tolist()}; "
            "each customer must appear once."
        )
    arm = df["arm"].astype(str).str.strip().str.lower()
    bad = sorted(set(df["arm"][~arm.isin(ARMS) | df["arm"].isna()].astype(str)))
    if bad:
        raise DataError(
            f"Campaign file {path}: column 'arm' has unknown label(s) {bad[:10]}; accepted are "
            f"'treatment' and 'control' (any letter case)."
        )
    y = df[outcome]
    yn = pd.to_numeric(y.astype("object").replace({True: 1, False: 0}), errors="coerce")
    ok = yn.isin([0, 1])
    if not ok.all():
        raise DataError(
            f"Campaign file {path}: column {outcome!r} must hold 0 (stayed) or 1 (churned); found "
            f"{sorted(set(y[~ok].astype(str)))[:5]} in {int((~ok).sum())} row(s)."
        )
    return pd.DataFrame({"customer_id": ids.to_numpy(), "arm": arm.to_numpy(), "churned": yn.to_numpy().astype(np.int64)})


def _newcombe(x1: int, n1: int, x0: int, n0: int) -> tuple[float, float]:
    """95% CI of p0 - p1 (control minus treated), Newcombe's hybrid score method."""
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = binomtest(x1, n1).proportion_ci(confidence_level=0.95, method="wilson")
    l0, u0 = binomtest(x0, n0).proportion_ci(confidence_level=0.95, method="wilson")
    d = p0 - p1
    return d - math.hypot(p0 - l0, u1 - p1), d + math.hypot(u0 - p0, p1 - l1)


def _p_value(x1: int, n1: int, x0: int, n0: int) -> tuple[Optional[float], str]:
    table = np.array([[x1, n1 - x1], [x0, n0 - x0]])
    if table[:, 0].sum() == 0 or table[:, 1].sum() == 0:
        # Nobody (or everybody) churned in both arms: no evidence of any difference.
        return 1.0, "none (no variation in outcome)"
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    if (expected >= 5).all():
        return float(chi2_contingency(table, correction=False).pvalue), "two-proportion z-test"
    return float(fisher_exact(table).pvalue), "Fisher exact"


def arm_effect(population: str, churned: np.ndarray, treated: np.ndarray, value: Optional[np.ndarray] = None) -> ArmEffect:
    """Treatment-vs-control effect in one population.

    Parameters
    ----------
    population : str
        ``"all"`` or a segment key.
    churned : ndarray of 0/1, shape (m,)
    treated : ndarray of bool, shape (m,)
        True for treatment, False for control.
    value : ndarray of float, shape (m,), optional
        Customer value (NaN counts as 0).
    """
    churned = np.asarray(churned, dtype=np.int64)
    treated = np.asarray(treated, dtype=bool)
    n1, n0 = int(treated.sum()), int((~treated).sum())
    if n1 == 0 or n0 == 0:
        raise DataError(
            f"Campaign population {population!r} has {n1} treated and {n0} control customers; "
            "both arms need at least one customer to measure an effect."
        )
    x1, x0 = int(churned[treated].sum()), int(churned[~treated].sum())
    p1, p0 = x1 / n1, x0 / n0
    d = p0 - p1
    lo, hi = _newcombe(x1, n1, x0, n0)
    p, test = _p_value(x1, n1, x0, n0)
    retained = 0.0
    if value is not None:
        retained = float(d * np.nansum(np.asarray(value, dtype=np.float64)[treated]))
    return ArmEffect(
        population=population, treated=n1, control=n0, treated_churn_rate=p1, control_churn_rate=p0,
        absolute_reduction=d, relative_reduction=(d / p0 if p0 > 0 else None),
        ci_low=float(lo), ci_high=float(hi), p_value=p, retained_value=retained, test=test,
    )


def stratified_effect(population: str, churned: np.ndarray, treated: np.ndarray, strata: np.ndarray,
                      value: Optional[np.ndarray] = None) -> ArmEffect:
    """Treatment-vs-control effect of a population whose control share differs by stratum (the
    list raises an action's control share so that it gets measured: a raw comparison of all
    contacted with all control customers would then weigh the raised actions' churn rates more in
    the control arm).

    Post-stratified by ``strata`` (the action): each stratum with both arms compares its own
    contacted and control customers; the strata are weighted by their contacted customers,
    ``w_s = n1_s / sum n1``, so the control churn rate is standardised to the contacted customers'
    mix: ``reduction = sum w_s (p0_s - p1_s)``. Standard error ``sqrt(sum w_s^2 (q0_s (1 - q0_s) /
    n0_s + q1_s (1 - q1_s) / n1_s))`` with ``q = (x + 1) / (n + 2)`` (never zero), 95% interval
    ``reduction +- 1.96 se``, two-sided z-test p-value. A population with a single stratum is
    :func:`arm_effect` (Newcombe interval). Strata with only one arm add to the counts, not to
    the comparison."""
    churned = np.asarray(churned, dtype=np.int64)
    treated = np.asarray(treated, dtype=bool)
    st = np.asarray(strata).astype(str)
    both = [k for k in sorted(set(st.tolist())) if treated[st == k].any() and (~treated[st == k]).any()]
    if len(both) <= 1 and (len(both) == 0 or (st == both[0]).all()):
        return arm_effect(population, churned, treated, value)
    if not both:
        return arm_effect(population, churned, treated, value)
    n1s, p1s, p0s, var = [], [], [], 0.0
    for k in both:
        m = st == k
        t, c = m & treated, m & ~treated
        n1, n0, x1, x0 = int(t.sum()), int(c.sum()), int(churned[t].sum()), int(churned[c].sum())
        n1s.append(n1)
        p1s.append(x1 / n1)
        p0s.append(x0 / n0)
        q1, q0 = (x1 + 1) / (n1 + 2), (x0 + 1) / (n0 + 2)
        var += n1 * n1 * (q0 * (1 - q0) / n0 + q1 * (1 - q1) / n1)
    total = float(sum(n1s))
    w = np.array(n1s) / total
    p1 = float(w @ np.array(p1s))
    p0 = float(w @ np.array(p0s))
    d = p0 - p1
    se = math.sqrt(var) / total
    z = 1.959963984540054
    pval = float(2 * norm_sf(abs(d) / se)) if se > 0 else None
    retained = 0.0
    if value is not None:
        retained = float(d * np.nansum(np.asarray(value, dtype=np.float64)[treated]))
    return ArmEffect(
        population=population, treated=int(treated.sum()), control=int((~treated).sum()), treated_churn_rate=p1,
        control_churn_rate=p0, absolute_reduction=d, relative_reduction=(d / p0 if p0 > 0 else None),
        ci_low=float(max(d - z * se, -1.0)), ci_high=float(min(d + z * se, 1.0)), p_value=pval,
        retained_value=retained, test="post-stratified z-test")


def norm_sf(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def _lookup(series: pd.Series, ids: np.ndarray) -> np.ndarray:
    s = series.copy()
    s.index = s.index.astype(str)
    if s.index.has_duplicates:
        raise DataError("The per-customer series given to campaign_effect has duplicated customer ids.")
    return s.reindex(pd.Index(ids.astype(str))).to_numpy()


def campaign_effect(
    campaign: pd.DataFrame,
    *,
    known_ids: np.ndarray,
    published_ids: Optional[np.ndarray] = None,
    value: Optional[pd.Series] = None,
    published_value: Optional[pd.Series] = None,
    segments: Optional[pd.Series] = None,
) -> CampaignEffect:
    """Churn reduction of treated vs control customers, overall and per segment.

    Parameters
    ----------
    campaign : DataFrame
        Output of :func:`read_campaign` (``customer_id``, ``arm``, ``churned``).
    known_ids : ndarray, shape (n,)
        Customer ids of the current data (ids are compared as text, so 42 and "42" match).
    published_ids : ndarray, optional
        Customer ids of last month's published scores (``scores.parquet`` of the previous
        report folder, :func:`churnlens.evaluation.backtest.read_published`). A campaign ran on
        last month's list, and the customers who churned have left this month's table: each
        campaign id must be in this month's data or in these; only ids in neither are refused.
    value : Series, optional
        Customer value indexed by customer id (e.g. the value column of the current data).
    published_value : Series, optional
        Last month's published value by customer id: the value of customers no longer in the
        data (``value`` wins for customers in both).
    segments : Series, optional
        Segment key indexed by customer id (the run gives last month's segments under this month's
        keys, along the segments' lineage); customers without a key are only counted overall.

    Raises
    ------
    DataError
        Campaign ids not in the data (count and examples), or an empty arm overall.
    """
    ids = campaign["customer_id"].to_numpy()
    ids_txt = ids.astype(str)
    in_data = pd.Index(np.asarray(known_ids).astype(str)).get_indexer(ids_txt) >= 0
    in_published = (np.zeros(len(ids), dtype=bool) if published_ids is None
                    else pd.Index(np.asarray(published_ids).astype(str)).get_indexer(ids_txt) >= 0)
    unknown = ~(in_data | in_published)
    if unknown.any():
        examples = ids_txt[unknown][:5].tolist()
        where = ("this month's data nor last month's published scores (scores.parquet of previous)"
                 if published_ids is not None else "the data")
        fix = ("The campaign file must list customers of last month's list or this month's data (same id_column "
               "and id format)." if published_ids is not None else
               "The campaign file must list customers of this data set (same id_column and id format); customers "
               "who have left since the campaign count when last month's report folder is given as previous.")
        raise DataError(f"{int(unknown.sum())} of {len(ids)} campaign customer id(s) are not in {where}, e.g. "
                        f"{examples}. {fix}", argument="campaign")
    churned = campaign["churned"].to_numpy()
    treated = (campaign["arm"] == "treatment").to_numpy()
    vals = None
    if value is not None or published_value is not None:
        vals = np.full(len(ids), np.nan)
        for series in (published_value, value):  # this month's value wins where both exist
            if series is not None:
                got = _lookup(series, ids).astype(np.float64)
                vals = np.where(np.isnan(got), vals, got)
    overall = arm_effect("all", churned, treated, vals)
    by_segment = []
    if segments is not None:
        seg = _lookup(segments, ids)
        known_seg = pd.notna(seg)
        for key in sorted({str(k) for k in seg[known_seg]}):
            m = known_seg & (seg.astype(str) == key)
            if treated[m].any() and (~treated[m]).any():
                by_segment.append(arm_effect(key, churned[m], treated[m], None if vals is None else vals[m]))
    return CampaignEffect(overall=overall, by_segment=tuple(by_segment), method=METHOD,
                          n_in_data=int(in_data.sum()), n_previous_only=int((in_published & ~in_data).sum()))
