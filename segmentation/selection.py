"""Which customers count as churners: the population that is segmented and targeted."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from churnlens.notes import Note
from churnlens.config import ChurnerSelection
from churnlens.errors import ConfigError, DataError
from churnlens.segmentation.results import ChurnerSet


def _top(key: np.ndarray, fraction: float) -> tuple[np.ndarray, int]:
    """Mask of the ``ceil(fraction * n)`` largest ``key``; ties keep the earlier row."""
    n = key.shape[0]
    k = min(n, math.ceil(fraction * n - 1e-9)) if n else 0
    # Stable sort of -key: equal keys stay in row order, so the cut is deterministic.
    order = np.argsort(-key, kind="stable")
    mask = np.zeros(n, dtype=bool)
    mask[order[:k]] = True
    return mask, k


def select_churners(
    score: np.ndarray,
    *,
    selection: ChurnerSelection,
    label: Optional[np.ndarray] = None,
    value: Optional[np.ndarray] = None,
) -> ChurnerSet:
    """Select the churners to segment and target.

    Rules (``selection.by``):

    ``score`` (default)
        Predicted churn probability >= ``threshold`` (default 0.5). 0.5 is the point where
        the model finds leaving more likely than staying: it needs no knowledge of the
        book's size or the team's capacity, and a calibrated model's churners above it are
        the ones it expects to lose. Banks with a fixed contact budget should use
        ``top_fraction`` or ``value_at_risk`` instead.
    ``top_fraction``
        The riskiest ``ceil(fraction * n)`` customers by score.
    ``label``
        Observed churners (``label == 1``).
    ``value_at_risk``
        The top ``ceil(fraction * n)`` customers by expected value at risk, score x value.

    Ties at a cut are broken by row order (stable sort), so the selection is deterministic.

    Parameters
    ----------
    score : ndarray of float, shape (n,)
        Predicted churn probability.
    selection : ChurnerSelection
    label : ndarray, shape (n,), optional
        Observed outcome (0/1 or bool); needed for ``by="label"``.
    value : ndarray of float, shape (n,), optional
        Money at risk per customer; needed for ``by="value_at_risk"``.

    Returns
    -------
    ChurnerSet
        Mask aligned with ``score`` and the rule in English and Chinese.

    Raises
    ------
    ConfigError
        The rule needs a label or value that was not given.
    DataError
        Lengths differ, or the label/value/score hold invalid entries.
    """
    score = np.asarray(score, dtype=np.float64).reshape(-1)
    n = score.shape[0]
    if np.isnan(score).any():
        raise DataError(f"{int(np.isnan(score).sum())} predicted churn probabilities are NaN; every customer needs a score.")
    by = selection.by

    if by == "score":
        t = selection.threshold
        mask = score >= t
        return ChurnerSet(
            mask=mask,
            by=by,
            rule=Note.of("churners.score_even" if t == 0.5 else "churners.score", threshold=float(t)),
        )

    if by == "top_fraction":
        mask, k = _top(score, selection.fraction)
        return ChurnerSet(
            mask=mask,
            by=by,
            rule=Note.of("churners.top_fraction", percent=selection.fraction * 100, k=int(k), n=n),
        )

    if by == "label":
        if label is None:
            raise ConfigError(
                "churners.by is 'label' but no observed label was given: set label_column in the config "
                "to the 0/1 churn column of the data, or choose churners.by: score."
            )
        lab = np.asarray(label).reshape(-1)
        if lab.shape[0] != n:
            raise DataError(f"The label has {lab.shape[0]} rows but there are {n} scores; they must be aligned.")
        if lab.dtype.kind == "b":
            mask = lab.copy()
        else:
            try:
                num = lab.astype(np.float64)
            except (TypeError, ValueError):
                raise DataError(
                    f"The label column holds non-numeric values (e.g. {lab[:3].tolist()}); expected 0/1."
                ) from None
            bad = ~np.isin(num, (0.0, 1.0))
            if bad.any():
                raise DataError(
                    f"The label column holds {int(bad.sum())} values other than 0/1 "
                    f"(e.g. {np.unique(num[bad])[:5].tolist()}); expected 0 (stayed) or 1 (churned)."
                )
            mask = num == 1.0
        return ChurnerSet(mask=mask, by=by, rule=Note.of("churners.label"))

    if by == "value_at_risk":
        if value is None:
            raise ConfigError(
                "churners.by is 'value_at_risk' but no value was given: set value_column in the config to the "
                "money-at-risk column (e.g. aum_avg_3m), or choose churners.by: score."
            )
        val = np.asarray(value, dtype=np.float64).reshape(-1)
        if val.shape[0] != n:
            raise DataError(f"The value has {val.shape[0]} rows but there are {n} scores; they must be aligned.")
        if np.isnan(val).any():
            raise DataError(
                f"The value column holds {int(np.isnan(val).sum())} missing values; expected a number for every "
                "customer (fill missing balances with 0)."
            )
        mask, k = _top(score * val, selection.fraction)
        return ChurnerSet(
            mask=mask,
            by=by,
            rule=Note.of("churners.value_at_risk", percent=selection.fraction * 100, k=int(k), n=n),
        )

    raise ConfigError(f"churners.by is {by!r}; expected one of score, top_fraction, label, value_at_risk.")
