"""Exact pairwise SHAP interaction values among a few drivers, summarised as top pairs."""

from __future__ import annotations

import warnings
from itertools import combinations
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from churnlens.attribution.align import ensure_aligned
from churnlens.attribution.model import LoadedModel, encode
from churnlens.attribution.results import InteractionPair


def interaction_matrix(model: LoadedModel, X: pd.DataFrame, features: Sequence[str], *,
                       columns: Optional[Mapping[str, Sequence[str]]] = None) -> np.ndarray:
    """Exact path-dependent SHAP interaction values (shap's definition) among ``features``.

    Parameters
    ----------
    model : LoadedModel
    X : DataFrame, shape (n, f)
        Customer features (aligned to the model here if needed).
    features : sequence of m names
        Model features, or names mapped to several model features by ``columns`` (e.g. a
        source feature of several encoded columns): their interaction values are summed.
    columns : mapping name -> model feature names, optional

    Returns
    -------
    ndarray of float64, shape (n, m, m)
        ``out[:, a, b]`` (a != b) is half the joint effect of the pair, in log-odds (or
        probability for forests) units, as shap's ``shap_interaction_values``; the
        diagonal is the main effect against all the model's features.
    """
    X = ensure_aligned(model, X, source="interaction sample")
    b = model._backend
    names = list(model.feature_names)
    group = np.full(len(b.source_of), -1, np.int64)  # encoded column -> index in ``features``
    for a, name in enumerate(features):
        for col in (columns or {}).get(name, (name,)):
            if col not in names:
                raise ValueError(f"{col!r} is not a feature of the model")
            group[np.flatnonzero(np.asarray(b.source_of) == names.index(col))] = a
    enc = np.flatnonzero(group >= 0)
    M = encode(model, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        Phi = b.family.interactions(b.estimator, M, enc) * b.raw_scale
    G = np.zeros((len(enc), len(features)))
    G[np.arange(len(enc)), group[enc]] = 1.0
    return np.einsum("nij,ia,jb->nab", Phi, G, G)


def top_pairs(model: LoadedModel, X: pd.DataFrame, features: Sequence[str], *, k: int = 3,
              columns: Optional[Mapping[str, Sequence[str]]] = None) -> tuple[InteractionPair, ...]:
    """The ``k`` pairs of ``features`` with the largest mean |joint interaction| over the rows.

    A pair's joint interaction for a customer is ``Phi_ab + Phi_ba`` (the part of the two
    features' attributions that comes from their combination); ties keep ``features`` order.
    """
    if len(X) == 0 or len(features) < 2:
        return ()
    Phi = interaction_matrix(model, X, features, columns=columns)
    pairs = []
    for a, b_ in combinations(range(len(features)), 2):
        joint = Phi[:, a, b_] + Phi[:, b_, a]
        pairs.append(InteractionPair(features[a], features[b_], float(np.mean(np.abs(joint))), float(np.mean(joint)),
                                     len(X)))
    pairs.sort(key=lambda p: -p.mean_abs)
    return tuple(pairs[:k])
