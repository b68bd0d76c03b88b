"""Encoded model columns belong to their source feature.

A model trained on an already one-hot-encoded table has columns such as ``Gender_Male`` and
``Geo_Germany``. Reported one by one they leak a protected attribute ("Gender_Male: 0") and
split one business feature into pieces. The data dictionary names the source feature of such
columns, explicitly (``features.Gender.columns: [Gender_Male, Gender_Female]``) or by name: a
column ``<declared feature><sep><level>`` with ``sep`` one of ``_ . = :`` belongs to the
declared feature when that feature is not itself a model column (the longest declared name
wins). Attributions of a source's columns are
summed (signed), exactly as scikit-learn pipelines' encoded columns already are
(:func:`churnlens.attribution.explain._source_sum`), and the one-hot columns are decoded back
into one categorical column whose levels are the column suffixes ("other" when no column of a
drop-first encoding is set, or the entry's ``reference_level``).

One dictionary serves every model of the book: a listed column the model lacks is recorded
(:attr:`FeatureSources.absent`), not refused. The level of a listed column is its name without
the entry's prefix: ``<feature><sep>`` when the column starts so, else the prefix the listed
columns share up to a separator (``Geo_Germany``, ``Geo_Spain`` -> ``Germany``, ``Spain``), else
the text after the first separator of a lone column.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np
import pandas as pd

from churnlens.attribution.results import Attributions, FeatureSources
from churnlens.config import Config
from churnlens.errors import ConfigError

SEPARATORS = ("_", ".", "=", ":")
OTHER_LEVEL = "other"  # decoded level when no encoded column of a row is set (drop-first encodings)


def _level(column: str, feature: str) -> str:
    for sep in SEPARATORS:
        if column.startswith(feature + sep) and len(column) > len(feature) + 1:
            return column[len(feature) + 1:]
    return column


def _shared_prefix(columns: Sequence[str]) -> str:
    """The prefix all ``columns`` share, cut after its last separator ("" when none)."""
    if len(columns) < 2:
        return ""
    first, last = min(columns), max(columns)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    prefix = first[:n]
    cut = max(prefix.rfind(sep) for sep in SEPARATORS)
    return prefix[:cut + 1] if cut > 0 else ""


def declared_level(column: str, feature: str, listed: Sequence[str]) -> str:
    """The level ``column`` (listed under ``features.<feature>.columns``) encodes."""
    own = _level(column, feature)
    if own != column:
        return own
    prefix = _shared_prefix(listed)
    if prefix and column.startswith(prefix) and len(column) > len(prefix):
        return column[len(prefix):]
    if len(listed) == 1:
        cut = min((column.find(sep) for sep in SEPARATORS if 0 < column.find(sep) < len(column) - 1), default=-1)
        if cut > 0:
            return column[cut + 1:]
    return column


def feature_sources(columns: Sequence[str], config: Config) -> FeatureSources:
    """Source feature of every model column (see the module docstring).

    Raises
    ------
    ConfigError
        A column is listed under two features, or ``dictionary.require_all`` is true and a
        model feature has no dictionary entry. (A listed column the model does not have is a
        note: :attr:`FeatureSources.absent`.)
    """
    cols = tuple(map(str, columns))
    known = set(cols)
    explicit: dict[str, str] = {}
    absent: list[tuple[str, str]] = []
    for feat, spec in config.features.items():
        for c in spec.columns:
            if c not in known:
                absent.append((feat, c))
                continue
            if c in explicit and explicit[c] != feat:
                raise ConfigError(f"Column {c!r} is listed under features.{explicit[c]}.columns and "
                                  f"features.{feat}.columns; list it under one source feature only.")
            explicit[c] = feat
    # a declared feature that is itself a model column is no source of other columns
    # (``balance`` must not swallow ``balance_change``); longest name first
    declared = sorted((f for f in config.features if f not in known), key=len, reverse=True)
    target, level, mapped = [], [], []
    for c in cols:
        if c in explicit:
            src, how = explicit[c], "declared"
        elif c in config.features:
            src, how = c, ""
        else:
            src = next((f for f in declared if _level(c, f) != c), c)
            how = "name" if src != c else ""
        target.append(src)
        if src == c:
            level.append("")
        elif how == "declared":
            level.append(declared_level(c, src, config.features[src].columns))
        else:
            level.append(_level(c, src))
        if how and src != c:
            mapped.append((c, src, how))
    sources = tuple(dict.fromkeys(target))
    undeclared = tuple(s for s in sources if s not in config.features)
    if config.dictionary.require_all and undeclared:
        raise ConfigError(
            f"dictionary.require_all is true but {len(undeclared)} model feature(s) have no entry under features: "
            f"{', '.join(undeclared[:25])}{', ...' if len(undeclared) > 25 else ''}. Add features.<name>.label.en/zh "
            "(and group, actionable, protected) for each, list encoded columns under features.<name>.columns, "
            "or set dictionary.require_all: false.")
    references = tuple((s, config.features[s].reference_level) for s in sources
                       if s in config.features and config.features[s].reference_level
                       and any(t == s and c != s for t, c in zip(target, cols)))
    return FeatureSources(columns=cols, sources=sources, source_of=tuple(sources.index(t) for t in target),
                          levels=tuple(level), mapped=tuple(mapped), undeclared=undeclared,
                          absent=tuple(absent), reference_levels=references)


def _sum_matrix(fs: FeatureSources) -> np.ndarray:
    G = np.zeros((len(fs.columns), len(fs.sources)))
    G[np.arange(len(fs.columns)), list(fs.source_of)] = 1.0
    return G


def to_sources(attributions: Attributions, fs: FeatureSources) -> Attributions:
    """Attributions of the source features: signed sums of their columns' attributions.

    Additivity is kept exactly (a sum of sums); ``attributions.features`` must be ``fs.columns``.
    """
    if fs.identity:
        return attributions
    if tuple(attributions.features) != fs.columns:
        raise ValueError("attributions do not have the model's columns in model order")
    values = (attributions.values.astype(np.float64) @ _sum_matrix(fs)).astype(attributions.values.dtype)
    return replace(attributions, features=fs.sources, values=values)


def _is_indicator(block: pd.DataFrame) -> bool:
    for c in block.columns:
        s = block[c]
        if not pd.api.types.is_numeric_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
            return False
        v = s.dropna().to_numpy(dtype=np.float64)
        if len(v) and not np.isin(v, (0.0, 1.0)).all():
            return False
    return True


def _decode(block: pd.DataFrame, levels: list[str], other: str = OTHER_LEVEL) -> pd.Series:
    """One categorical column from 0/1 indicator columns: the level of the (first) set column,
    ``other`` (the reference level, or ``OTHER_LEVEL``) when none is set, missing when any
    indicator is missing."""
    M = block.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(M).any(axis=1)
    hit = np.nan_to_num(M, nan=0.0) > 0.5
    codes = np.where(hit.any(axis=1), np.argmax(hit, axis=1), len(levels))
    names = np.array(levels + [other], dtype=object)
    vals = names[codes]
    vals[missing] = None
    cats = levels + ([other] if (codes == len(levels)).any() and other not in levels else [])
    return pd.Series(pd.Categorical(vals, categories=cats), index=block.index)


def source_frame(X: pd.DataFrame, fs: FeatureSources) -> pd.DataFrame:
    """The model's aligned columns as source features, columns ``fs.sources``.

    A source with 0/1 indicator columns becomes one categorical column of levels; a source
    with one column that is not an indicator keeps that column's values.
    """
    if fs.identity:
        return X
    out = {}
    reference = dict(fs.reference_levels)
    for k, src in enumerate(fs.sources):
        idx = [j for j, s in enumerate(fs.source_of) if s == k]
        names = [fs.columns[j] for j in idx]
        if len(names) == 1 and names[0] == src:
            out[src] = X[src]
            continue
        block = X[names]
        if _is_indicator(block):
            out[src] = _decode(block, [fs.levels[j] or fs.columns[j] for j in idx], reference.get(src, OTHER_LEVEL))
        elif len(names) == 1:
            out[src] = X[names[0]]
        else:
            raise ConfigError(f"features.{src}: its columns {names} are not 0/1 indicator columns, so they cannot be "
                              "decoded into one feature; list only one-hot columns under features.<name>.columns.")
    return pd.DataFrame(out, index=X.index)
