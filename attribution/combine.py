"""Selecting and joining :class:`Attributions` row blocks (chunks computed separately,
possibly on other machines, are joined into the one object the later stages use)."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Sequence

import numpy as np

from churnlens.attribution.results import Attributions, ReasonCodes


def take(attributions: Attributions, rows: np.ndarray) -> Attributions:
    """The attributions of ``rows`` (integer positions or a boolean mask), same metadata."""
    a = attributions
    return replace(a, customer_ids=a.customer_ids[rows], values=a.values[rows], raw_score=a.raw_score[rows],
                   score=a.score[rows], weight=None if a.weight is None else a.weight[rows])


def concat(parts: Sequence[Attributions]) -> Attributions:
    """Join row blocks of one model's attributions, in order.

    Raises
    ------
    ValueError
        Blocks of different features, output spaces or base values (not from one model).
    """
    if not parts:
        raise ValueError("concat needs at least one block of attributions")
    first = parts[0]
    for p in parts[1:]:
        if p.features != first.features or p.output_space != first.output_space or p.method != first.method:
            raise ValueError("attribution blocks come from different models or settings")
        if abs(p.base_value - first.base_value) > 1e-9:
            raise ValueError(f"attribution blocks have different base values ({first.base_value} vs {p.base_value})")
    if len(parts) == 1:
        return first
    return replace(
        first,
        customer_ids=np.concatenate([p.customer_ids for p in parts]),
        values=np.concatenate([p.values for p in parts]),
        raw_score=np.concatenate([p.raw_score for p in parts]),
        score=np.concatenate([p.score for p in parts]),
        weight=None if any(p.weight is None for p in parts) else np.concatenate([p.weight for p in parts]),
        additivity_max_error=max(p.additivity_max_error for p in parts),
    )


def concat_reasons(parts: Sequence[ReasonCodes]) -> ReasonCodes:
    """Join row blocks of reason codes, in order."""
    if not parts:
        raise ValueError("concat_reasons needs at least one block")
    if len(parts) == 1:
        return parts[0]
    def cat(name):
        arrays = [getattr(p, name) for p in parts]
        return None if any(a is None for a in arrays) else np.concatenate(arrays)

    return ReasonCodes(**{f.name: cat(f.name) for f in dataclasses.fields(ReasonCodes)})
