"""Score parity: churnlens' scores against the model library's own ``predict_proba``.

The trees churnlens scores and explains are the ones the model's owner scores with
(:meth:`attribution._families._Family.select_trees` drops the rounds after the best
iteration at load). This check proves it at every run: on a deterministic sample of the
customer table, the probability churnlens computes is compared with the library's own
prediction on the estimator *as stored* (XGBoost: ``iteration_range=(0, best_iteration + 1)``
as ``XGBClassifier.predict_proba`` uses it; LightGBM: ``Booster.predict`` with its best
iteration; scikit-learn: ``predict_proba``).

Usage::

    parity = score_parity(model, aligned.X)      # ScoreParity (numbers and codes)
    require_parity(parity)                       # raises ModelError (exit 2) on a mismatch
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.attribution.results import ScoreParity  # noqa: F401  (re-exported)
from churnlens.errors import ModelError
from churnlens.attribution.align import ensure_aligned
from churnlens.attribution.model import encode, raw_output, to_probability

PARITY_ROWS = 1_000
TOLERANCES = {"float64": 1e-9, "float32": 1e-6}


def sample_rows(n: int, rows: int = PARITY_ROWS) -> np.ndarray:
    """Deterministic positions: all of ``range(n)`` when ``n <= rows``, else ``rows`` evenly spaced."""
    if n <= rows:
        return np.arange(n, dtype=np.int64)
    return np.round(np.linspace(0, n - 1, rows)).astype(np.int64)


def score_parity(model, X: pd.DataFrame, *, rows: int = PARITY_ROWS) -> ScoreParity:
    """Compare churnlens' scores with the library's own prediction on a sample of ``X``.

    Parameters
    ----------
    model : LoadedModel
    X : DataFrame
        Source features (aligned or not; :func:`attribution.align` is applied when needed).
    rows : int
        Sample size (at least 1,000 in a run; every row when ``X`` has fewer).
    """

    if rows < 1:
        raise ValueError("rows must be positive")
    b = model._backend
    info = model.info
    pos = sample_rows(len(X), rows)
    tolerance = TOLERANCES[b.family.precision]
    common = dict(family=info.family, n_rows=int(len(pos)), tolerance=tolerance, precision=b.family.precision,
                  trees_used=int(info.n_trees), trees_in_file=int(info.trees_in_file or info.n_trees),
                  best_iteration=info.best_iteration)
    if len(pos) == 0:
        return ScoreParity(max_abs_diff=0.0, worst_row=-1, **common)
    sample = ensure_aligned(model, X.iloc[pos])
    M = encode(model, sample)
    ours = to_probability(model, raw_output(model, M))
    owner = np.asarray(b.family.owner_proba(b.owner if b.owner is not None else b.estimator, M), dtype=np.float64)
    diff = np.abs(ours - owner)
    diff = np.where(np.isnan(ours) != np.isnan(owner), np.inf, np.nan_to_num(diff, nan=0.0))
    k = int(np.argmax(diff))
    return ScoreParity(max_abs_diff=float(diff[k]), worst_row=int(pos[k]), **common)


def require_parity(parity: ScoreParity) -> ScoreParity:
    """``parity`` when it passed; otherwise a :class:`~churnlens.errors.ModelError` (exit 2) with the reason."""
    if parity.passed:
        return parity
    trees = (f"{parity.trees_used} of {parity.trees_in_file} stored trees"
             + (f", best_iteration {parity.best_iteration}" if parity.best_iteration is not None else ""))
    raise ModelError(
        f"model: churnlens' churn scores differ from the model library's own predict_proba by up to "
        f"{parity.max_abs_diff:.3g} (row {parity.worst_row} of the data; {parity.n_rows} rows compared; "
        f"tolerance {parity.tolerance:g} for {parity.precision} {parity.family} models; {trees}). The "
        "explanations would not describe the scores the model's owner sees. Check that the model file is "
        "the one the scores come from and that the data columns have the types the model was trained on.",
        argument="model",
    )
