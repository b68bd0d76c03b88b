"""Uplift pooled across months and segments: a hierarchical Bayesian model on a grid.

``uplift`` is the playbook's quantity: the share of would-be churners an action retains, so a
contacted customer churns with probability ``p0 x (1 - u)`` where ``p0`` is the churn rate of the
same arm without contact (its control customers).

Evidence
--------
One :class:`~churnlens.campaign.results.ArmCounts` per month x segment x action: contacted
customers and their churners, control customers (assigned the same action, not contacted) and
their churners. Each month's report folder keeps its own counts in ``tables/uplift_evidence.csv``
(:func:`read_evidence` also reads the counts of an older folder's ``tables/uplift.csv``), so next
month pools them without re-reading any customer.

Model
-----
* Per month ``m`` and arm: ``control churners ~ Bin(control, p0_m)``,
  ``contacted churners ~ Bin(contacted, p0_m (1 - u_s))``, with a Jeffreys prior Beta(1/2, 1/2)
  on each month's own ``p0_m`` (churn rates move from month to month; the uplift is what is
  pooled). ``p0_m`` is integrated out numerically: the arm-month likelihood of ``u`` is the mean
  of the contacted-churner binomial likelihood over :data:`P0_NODES` quantile nodes of the
  control posterior Beta(c + 1/2, n - c + 1/2) -- so the interval carries the control rate's
  uncertainty (a small control arm gives a wide interval, whatever the contacted arm). An arm-month
  without control (or without contacted) customers carries no evidence about ``u``.
* Months are pooled with a **decay**: the log-likelihood of a month ``a`` months older than this
  one is weighted ``decay ** a`` (``loop.uplift_decay``, default 0.8: a month's evidence halves
  in about three months, so a changed effect is followed).
* Segments are **partially pooled**: ``u_s ~ Normal(mu, tau)`` (truncated to the grid) around the
  action's mean uplift ``mu``, with ``tau`` averaged over :data:`TAUS` (equal weights): a segment
  with little evidence borrows from the action's other segments, a segment with much evidence
  stands on its own (an action working only for high balances is seen in that segment alone).
* **Prior** of every segment x action's uplift ``u``: the playbook's assumed ``uplift`` u0 worth
  ``k = loop.uplift_prior_strength`` **contacted customers** with a perfectly known control
  rate ``p``, added to the cell's evidence: a Beta(a, b) density of the contacted churn rate
  ``p (1 - u)`` with ``a = k p (1 - u0)``, ``b = k - a`` (each at least 1) -- k pseudo contacted
  customers of whom the assumed share churned, prior mean of ``u`` equal to u0 (``mu``
  itself has a flat prior on the grid: the cells' pseudo-data centre it on u0); ``p`` is
  the action's pooled control churn rate (all actions' when it has no control churner yet, 0.2
  without any). The default k = 30 is overtaken by one month of a typical arm: 300 contacted and
  30 control customers at a 30% churn rate weigh about as much as 35 contacted customers with a
  known control rate (the control arm limits what a month teaches).
* Grid: ``u`` and ``mu`` on :data:`GRID` (401 points from -1 to 1: an action may harm, at most
  doubling churn). Everything is exact sums on the grid: the same inputs give the same numbers.

Outputs per segment x action (and ``segment = ""``: the action's mean ``mu``): posterior mean,
central credible interval at ``level``, and two weights: ``data_weight = 1 - var(posterior) /
var(prior)`` (the share of the weight carried by data, this cell's and the other segments') and
``own_weight = 1 - var(posterior) / var(posterior without this cell's own data)``; var(prior) is
the variance of the same model run without any data (the prior's pseudo-data only). Codes:
``assumed`` (data_weight < 0.5: the prior carries most of the weight -- an assumption, not a
measurement), ``measured`` (data carry most of the weight and the cell holds at least
``min_treated`` contacted and ``min_control`` control customers, decayed counts over the months),
``pooled`` (data carry most of the weight, but mostly other segments' evidence: the cell's own
arm is below those minimums).

Joint posterior draws (:func:`posterior_draws`, seeded) sample ``(tau, mu)`` first, then each
segment's ``u`` given them, so the money of a plan summed over segments has the right spread.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from churnlens.campaign.results import ActionPosterior, ArmCounts, PooledUplift, UpliftEstimate
from churnlens.errors import DataError
from churnlens.lazy import lazy

betaincinv = lazy("scipy.special", "betaincinv")

__all__ = ["GRID", "TAUS", "P0_NODES", "EVIDENCE_COLUMNS", "EVIDENCE_FILE", "arm_counts", "evidence_frame",
           "read_evidence", "remap_segments", "pooled_uplift", "posterior_draws", "plan_uplift"]

GRID = np.linspace(-1.0, 1.0, 401)
TAUS = np.array([0.05, 0.1, 0.2, 0.4])
P0_NODES = 48
EVIDENCE_FILE = "uplift_evidence.csv"
EVIDENCE_COLUMNS = ("period", "segment", "action", "treated", "treated_churners", "control", "control_churners")
_NODES = (np.arange(P0_NODES) + 0.5) / P0_NODES
_DEFAULT_P0 = 0.2
_ONE_MINUS_U = 1.0 - GRID
with np.errstate(divide="ignore"):
    _LOG_ONE_MINUS_U = np.log(_ONE_MINUS_U)  # -inf at u = 1


# --- evidence ------------------------------------------------------------------------------------

def arm_counts(churned: np.ndarray, control: np.ndarray, segment: np.ndarray, action: np.ndarray, *,
               period: str) -> tuple[ArmCounts, ...]:
    """One month's counts per segment x action (customers with an empty segment or action are left out)."""
    churned = np.asarray(churned, dtype=np.int64)
    ctl = np.asarray(control, dtype=bool)
    seg = np.asarray(segment).astype(str)
    act = np.asarray(action).astype(str)
    f = pd.DataFrame({"s": seg, "a": act, "t": ~ctl, "y": churned})
    f = f[(f["s"] != "") & (f["a"] != "")]
    out = []
    for (s, a), g in f.groupby(["s", "a"], sort=True):
        t = g["t"].to_numpy()
        y = g["y"].to_numpy()
        out.append(ArmCounts(period=str(period), segment=str(s), action=str(a), treated=int(t.sum()),
                             treated_churners=int(y[t].sum()), control=int((~t).sum()),
                             control_churners=int(y[~t].sum())))
    return tuple(out)


def evidence_frame(counts: Sequence[ArmCounts]) -> pd.DataFrame:
    """The ``uplift_evidence`` table (machine words): one row per month x segment x action."""
    return pd.DataFrame([{k: getattr(c, k) for k in EVIDENCE_COLUMNS} for c in counts], columns=list(EVIDENCE_COLUMNS))


def read_evidence(folder, *, period: Optional[str] = None) -> tuple[ArmCounts, ...]:
    """Counts kept by an earlier report folder: ``tables/uplift_evidence.csv``, else the
    per-segment rows of an older folder's ``tables/uplift.csv`` (labelled ``period``); ``()``
    when the folder has neither (no campaign was measured that month).

    Raises
    ------
    DataError
        A table without the count columns.
    """
    from pathlib import Path

    tables = Path(folder) / "tables"
    path = tables / EVIDENCE_FILE
    old = tables / "uplift.csv"
    if path.is_file():
        frame = pd.read_csv(path, dtype={"period": str, "segment": str, "action": str}, keep_default_na=False)
    elif old.is_file():
        frame = pd.read_csv(old, dtype={"segment": str, "action": str}, keep_default_na=False)
        frame = frame[frame["segment"].astype(str) != ""].assign(period=str(period or Path(folder).name))
    else:
        return ()
    lacking = [c for c in EVIDENCE_COLUMNS if c not in frame.columns]
    if lacking:
        raise DataError(f"{path if path.is_file() else old} lacks the column(s) {lacking}; expected "
                        f"{list(EVIDENCE_COLUMNS)}.")
    return tuple(ArmCounts(period=str(r.period) if period is None or path.is_file() else str(period),
                           segment=str(r.segment), action=str(r.action), treated=int(r.treated),
                           treated_churners=int(r.treated_churners), control=int(r.control),
                           control_churners=int(r.control_churners))
                 for r in frame.itertuples(index=False))


def remap_segments(counts: Sequence[ArmCounts], key_map: Mapping[str, Sequence[str]]) -> tuple[ArmCounts, ...]:
    """Earlier months' counts under this month's segment keys (segment lineage,
    :func:`churnlens.segmentation.history.lineage_key_map`): a key mapped to several keys (a split)
    gives its counts to each; a key not in ``key_map`` keeps its key."""
    out = []
    for c in counts:
        for k in key_map.get(c.segment, (c.segment,)):
            out.append(ArmCounts(period=c.period, segment=str(k), action=c.action, treated=c.treated,
                                 treated_churners=c.treated_churners, control=c.control,
                                 control_churners=c.control_churners))
    return tuple(out)


# --- the model -----------------------------------------------------------------------------------

def _arm_loglik(n1: int, x1: int, n0: int, x0: int) -> np.ndarray:
    """log of the mean over p0 nodes of p1^x1 (1 - p1)^(n1 - x1), p1 = p0 (1 - u), shape (G,)."""
    if n1 == 0 or n0 == 0:  # without a control customer an arm says nothing about the uplift
        return np.zeros(GRID.size)
    p0 = betaincinv(x0 + 0.5, n0 - x0 + 0.5, _NODES)  # (K,) quantile nodes of the control posterior
    p1 = p0[:, None] * _ONE_MINUS_U[None, :]  # (K, G)
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = (x1 * (np.log(p0)[:, None] + _LOG_ONE_MINUS_U[None, :]) if x1 else 0.0) + \
            (n1 - x1) * np.log1p(-np.minimum(p1, 1.0))
    ll = np.where((p1 <= 1.0) & ~np.isnan(ll), ll, -np.inf)
    top = ll.max(axis=0)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(ll - top).sum(axis=0)) + top - math.log(P0_NODES)


def _kernels() -> np.ndarray:
    """K[t, i, j] = Normal(u_i; mu_j, tau_t), each column normalised over the grid, shape (T, G, G)."""
    d = GRID[:, None] - GRID[None, :]
    K = np.exp(-0.5 * (d[None] / TAUS[:, None, None]) ** 2)
    return K / K.sum(axis=1, keepdims=True)


_K = _kernels()


def _prior(u0: float, k: float, p: float) -> np.ndarray:
    """log prior of u: Beta(a, b) on the contacted churn rate p (1 - u) with a + b = k pseudo
    contacted customers and mean p (1 - u0), so the prior mean of u is u0 (module docstring)."""
    if k <= 0:
        return np.zeros(GRID.size)
    a = max(k * p * (1.0 - u0), 1.0)
    b = max(k - k * p * (1.0 - u0), 1.0)
    p1 = np.clip(p * (1.0 - GRID), 1e-12, 1 - 1e-12)
    return (a - 1.0) * np.log(p1) + (b - 1.0) * np.log1p(-p1)


def _norm(logw: np.ndarray, axis=None) -> np.ndarray:
    w = np.exp(logw - np.max(logw, axis=axis, keepdims=True))
    return w / w.sum(axis=axis, keepdims=True)


def _moments(w: np.ndarray) -> tuple[float, float]:
    m = float(w @ GRID)
    return m, float(w @ (GRID - m) ** 2)


def _interval(w: np.ndarray, level: float) -> tuple[float, float]:
    return _quantile(w, (1 - level) / 2), _quantile(w, (1 + level) / 2)


def _quantile(w: np.ndarray, q: float) -> float:
    """Quantile of a grid density (piecewise-linear CDF through the grid points' mid-cells)."""
    cdf = np.cumsum(w)
    step = GRID[1] - GRID[0]
    x = np.r_[GRID[0] - step / 2, GRID + step / 2]
    c = np.r_[0.0, cdf]
    return float(np.clip(np.interp(q, c, x), GRID[0], GRID[-1]))


def _action_posterior(loglik: dict[str, np.ndarray], log_prior: np.ndarray):
    """Posterior pieces of one action (module docstring): each segment's log-likelihood plus the
    prior's pseudo-evidence, log joint of (tau, mu) (flat in mu), each segment's posterior density
    and its density without its own data."""
    segs = sorted(loglik)
    L = np.array([loglik[s] + log_prior for s in segs]).reshape(len(segs), GRID.size)  # (S, G)
    Lw = np.exp(L - L.max(axis=1, keepdims=True)) if len(segs) else L
    # M[t, s, j] = sum_i exp(L_s(u_i)) K_t[i, j]
    M = np.matmul(Lw[None], _K) if len(segs) else np.zeros((TAUS.size, 0, GRID.size))  # (T, S, G)
    logM = np.log(np.maximum(M, 1e-300))
    log_joint = -math.log(TAUS.size) + logM.sum(axis=1)  # (T, G)
    joint = _norm(log_joint)
    post, without = {}, {}
    prior_w = np.exp(log_prior - log_prior.max())
    for si, s in enumerate(segs):
        q = _norm(log_joint - logM[:, si, :])  # (T, G) (tau, mu) without segment s's data
        w0 = np.matmul(_K, q[:, :, None]).sum(axis=(0, 2))
        w0 = w0 * prior_w  # the cell's own prior pseudo-evidence stays
        without[s] = w0 / w0.sum()
        w = w0 * np.exp(L[si] - log_prior - (L[si] - log_prior).max())
        post[s] = w / w.sum()
    return segs, L, log_joint, joint, post, without


def _weight(var_post: float, var_ref: float) -> float:
    return float(np.clip(1.0 - var_post / var_ref, 0.0, 1.0)) if var_ref > 0 else 0.0


def pooled_uplift(evidence: Sequence[ArmCounts], *, current: str, assumed: Mapping[str, float],
                  prior_strength: float = 30.0, decay: float = 0.8, min_treated: int = 30, min_control: int = 30,
                  level: float = 0.95, criterion: str = "mean", quantile: float = 0.2) -> PooledUplift:
    """Pooled uplift per segment x action and per action (module docstring).

    Parameters
    ----------
    evidence : sequence of ArmCounts
        This month's counts (period ``current``) and earlier months' (already under this month's
        segment keys: :func:`remap_segments`). Months are aged by their order: ``current`` is age 0,
        the latest earlier period age 1, and so on; periods after ``current`` are ignored.
    assumed : mapping of action -> float
        The playbook's uplift (the prior mean); 0 for an action no longer in the playbook.
    criterion : {"mean", "quantile"}
        What the plan uses (``plan_value``): the posterior mean or its ``quantile``.

    Returns
    -------
    PooledUplift
    """
    if criterion not in ("mean", "quantile"):
        raise ValueError(f"criterion must be 'mean' or 'quantile', not {criterion!r}")
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"decay must be in (0, 1], not {decay}")
    periods = sorted({c.period for c in evidence if c.period <= current}, reverse=True)
    if current not in periods:
        periods.insert(0, current)
    age = {p: i for i, p in enumerate(periods)}
    rows = [c for c in evidence if c.period in age]
    actions = sorted({c.action for c in rows})
    # control churn rates for the prior's p
    tot0 = sum(decay ** age[c.period] * c.control for c in rows)
    tot0c = sum(decay ** age[c.period] * c.control_churners for c in rows)
    p_all = tot0c / tot0 if tot0c > 0 else _DEFAULT_P0
    estimates, posts = [], []
    for a in actions:
        mine = [c for c in rows if c.action == a]
        u0 = float(assumed.get(a, 0.0))
        n0a = sum(decay ** age[c.period] * c.control for c in mine)
        x0a = sum(decay ** age[c.period] * c.control_churners for c in mine)
        p = min(max(x0a / n0a, 0.01), 0.99) if x0a > 0 else p_all
        loglik: dict[str, np.ndarray] = {}
        counts: dict[str, list[float]] = {}
        for c in mine:
            w = decay ** age[c.period]
            loglik[c.segment] = loglik.get(c.segment, 0.0) + w * _arm_loglik(
                c.treated, c.treated_churners, c.control, c.control_churners)
            acc = counts.setdefault(c.segment, [0.0, 0.0, 0.0, 0.0, 0])
            acc[0] += w * c.treated
            acc[1] += w * c.treated_churners
            acc[2] += w * c.control
            acc[3] += w * c.control_churners
            acc[4] += 1
        log_prior = _prior(u0, prior_strength, p)
        segs, L, log_joint, joint, post, without = _action_posterior(loglik, log_prior)
        # the same model without any data: the reference of the data weights
        _, _, _, joint0, post0, _ = _action_posterior({s: np.zeros(GRID.size) for s in loglik}, log_prior)
        for s in segs:
            w = post[s]
            mean, var = _moments(w)
            lo, hi = _interval(w, level)
            n1, x1, n0, x0, months = counts[s]
            own = _weight(var, _moments(without[s])[1])
            data = _weight(var, _moments(post0[s])[1])
            code = ("assumed" if data < 0.5 else
                    "measured" if n1 >= min_treated and n0 >= min_control else "pooled")
            estimates.append(_estimate(s, a, n1, x1, n0, x0, u0, prior_strength, mean, lo, hi, code, own, data,
                                       int(months), mean if criterion == "mean" else _quantile(w, quantile)))
        # the action's mean uplift mu; the plan value for a segment without evidence: the predictive
        mu = joint.sum(axis=0)
        mean, var = _moments(mu)
        lo, hi = _interval(mu, level)
        pred = np.matmul(_K, joint[:, :, None]).sum(axis=(0, 2)) * np.exp(log_prior - log_prior.max())
        pred /= pred.sum()
        tot = [sum(counts[s][i] for s in segs) for i in range(4)]
        data = _weight(var, _moments(joint0.sum(axis=0))[1])
        code = ("assumed" if data < 0.5 else
                "measured" if tot[0] >= min_treated and tot[2] >= min_control else "pooled")
        estimates.append(_estimate("", a, *tot, u0, prior_strength, mean, lo, hi, code, data, data,
                                   len({c.period for c in mine}),
                                   float(pred @ GRID) if criterion == "mean" else _quantile(pred, quantile)))
        posts.append(ActionPosterior(action=a, segments=tuple(segs), loglik=L, log_joint=log_joint,
                                     log_prior=log_prior))
    return PooledUplift(estimates=tuple(estimates), posteriors=tuple(posts), periods=tuple(periods), decay=decay,
                        prior_strength=prior_strength, level=level, criterion=criterion, quantile=quantile)


def _estimate(s, a, n1, x1, n0, x0, u0, k, mean, lo, hi, code, own, data, months, plan) -> UpliftEstimate:
    p0 = x0 / n0 if n0 else 0.0
    trials = n1 * p0
    return UpliftEstimate(
        segment=s, action=a, treated=int(round(n1)), control=int(round(n0)), treated_churners=int(round(x1)),
        control_churners=int(round(x0)), would_be_churners=float(trials),
        retained=float(min(max(trials - x1, 0.0), trials)),
        measured_uplift=(1.0 - (x1 / n1) / p0) if (p0 > 0 and n1) else None,
        assumed_uplift=float(u0), prior_strength=float(k), posterior_mean=float(mean), posterior_low=float(lo),
        posterior_high=float(hi), code=code, own_weight=float(own), data_weight=float(data), months=int(months),
        plan_value=float(plan))


def plan_uplift(pooled: Optional[PooledUplift]) -> dict[tuple[str, str], float]:
    """Uplift the plan uses per (segment key, action key), ``("", action)`` for segments without
    evidence: each estimate's ``plan_value`` (posterior mean or the configured quantile). Every
    estimate is used -- ``assumed`` ones sit at the prior, which is the best knowledge there is."""
    if pooled is None:
        return {}
    return {(u.segment, u.action): u.plan_value for u in pooled.estimates}


def posterior_draws(pooled: PooledUplift, keys: Sequence[tuple[str, str]], *, n_draws: int = 1000,
                    seed: int = 0) -> np.ndarray:
    """Joint posterior draws of the uplift of each (segment, action) in ``keys``, shape
    (n_draws, len(keys)): per action, (tau, mu) drawn from their joint posterior, then each
    segment's uplift given them (a segment without evidence -- or ``segment = ""`` -- draws from
    Normal(mu, tau)). An action without a posterior (not measured at all) gets NaN."""
    rng = np.random.default_rng(seed)
    out = np.full((n_draws, len(keys)), np.nan)
    by_action = {p.action: p for p in pooled.posteriors}
    G = GRID.size
    for a in sorted({k[1] for k in keys}):
        post = by_action.get(a)
        if post is None:
            continue
        joint = _norm(post.log_joint).ravel()
        flat = np.minimum(np.searchsorted(np.cumsum(joint), rng.random(n_draws) * joint.sum()), joint.size - 1)
        t, j = np.divmod(flat, G)
        cond = _K[t, :, j]  # (n_draws, G): Normal(u; mu_d, tau_d)
        segs = {s: i for i, s in enumerate(post.segments)}
        L = post.loglik
        Lw = np.exp(L - L.max(axis=1, keepdims=True)) if L.size else L
        prior_w = np.exp(post.log_prior - post.log_prior.max())
        for col, (s, aa) in enumerate(keys):
            if aa != a:
                continue
            w = cond * (Lw[segs[s]] if s in segs else prior_w)[None, :]
            cdf = np.cumsum(w, axis=1)
            r = rng.random(n_draws)[:, None] * cdf[:, -1:]
            idx = np.minimum((cdf < r).sum(axis=1), G - 1)
            out[:, col] = GRID[idx]
    return out
