"""One mechanism, one driver; protected attributes out of the business story.

* :func:`families`: features that move together -- declared in the dictionary (the same
  ``family:`` name) or measured: |Pearson correlation| >= ``claims.correlation`` (default 0.95)
  between numeric columns on the book (evenly spaced rows beyond ``CORRELATION_ROWS``), joined
  transitively. Each family lists its features in model order; the first is its representative.
* :func:`prepare`: the attributions segmentation and naming read: each family's signed
  attributions summed into its representative (the others 0), protected features 0. Their sum
  no longer reproduces the model output (it is a view for clustering and naming only; reason
  codes, drivers and the dossier use the attributions themselves).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from churnlens.attribution.results import Attributions
from churnlens.config import Config

CORRELATION_ROWS = 50_000


def protected_features(features, config: Config) -> tuple[str, ...]:
    """The features the dictionary marks ``protected: true``, in the given order."""
    return tuple(f for f in features if (spec := config.features.get(f)) is not None and spec.protected)


def families(X: pd.DataFrame, features, config: Config) -> tuple[tuple[str, ...], ...]:
    """Groups of at least two ``features`` that are one mechanism (module docstring); protected
    features are never grouped with others."""
    features = [f for f in features if f in X.columns]
    protected = set(protected_features(features, config))
    parent = {f: f for f in features}

    def root(f: str) -> str:
        while parent[f] != f:
            parent[f] = parent[parent[f]]
            f = parent[f]
        return f

    def join(a: str, b: str) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:
            first, second = sorted((ra, rb), key=features.index)
            parent[second] = first

    declared: dict[str, list[str]] = {}
    for f in features:
        spec = config.features.get(f)
        if spec is not None and spec.family and f not in protected:
            declared.setdefault(spec.family, []).append(f)
    for members in declared.values():
        for b in members[1:]:
            join(members[0], b)
    numeric = [f for f in features if f not in protected and pd.api.types.is_numeric_dtype(X[f])
               and not isinstance(X[f].dtype, pd.CategoricalDtype)]
    if len(numeric) >= 2:
        rows = np.arange(len(X))
        if len(X) > CORRELATION_ROWS:
            rows = np.linspace(0, len(X) - 1, CORRELATION_ROWS).round().astype(np.int64)
        M = X[numeric].iloc[rows].to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = pd.DataFrame(M).corr(min_periods=3).to_numpy()
        hit = np.argwhere(np.triu(np.abs(np.nan_to_num(corr)) >= config.claims.correlation - 1e-12, k=1))
        for i, j in hit:
            join(numeric[i], numeric[j])
    groups: dict[str, list[str]] = {}
    for f in features:
        groups.setdefault(root(f), []).append(f)
    return tuple(tuple(g) for g in groups.values() if len(g) > 1)


def prepare(attributions: Attributions, *, exclude: tuple[str, ...] = (),
            families: tuple[tuple[str, ...], ...] = ()) -> Attributions:
    """The attributions segmentation reads (module docstring); ``attributions`` itself when
    there is nothing to exclude or join."""
    feats = list(attributions.features)
    drop = [feats.index(f) for f in exclude if f in feats]
    fams = [[feats.index(f) for f in fam if f in feats] for fam in families]
    fams = [fam for fam in fams if len(fam) > 1]
    if not drop and not fams:
        return attributions
    V = np.array(attributions.values, dtype=np.float64, copy=True)
    for fam in fams:
        V[:, fam[0]] = V[:, fam].sum(axis=1)
        V[:, fam[1:]] = 0.0
    V[:, drop] = 0.0
    return dataclasses.replace(attributions, values=V.astype(attributions.values.dtype))
