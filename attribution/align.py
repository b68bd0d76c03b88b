"""Match a customer table to the model's features: names, order, dtypes and categories."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from churnlens.errors import DataError
from churnlens.redact import shorten
from churnlens.io.tables import did_you_mean

if TYPE_CHECKING:  # annotations only: the model module itself aligns its input with this one
    from churnlens.attribution.model import LoadedModel, _Column

_MAX_LISTED = 25


@dataclass(frozen=True, eq=False)
class AlignedData:
    """The customer table in model form.

    Attributes
    ----------
    X : DataFrame, shape (n, f)
        Model features in model order; numeric columns float64, categorical columns
        ``category`` dtype with exactly the training categories.
    ignored_columns : tuple of str
        Columns of the input the model does not use.
    warnings : tuple of str
        Messages for the user (at most one about ignored columns).
    """

    X: pd.DataFrame
    ignored_columns: tuple[str, ...]
    warnings: tuple[str, ...]

    def __eq__(self, other):
        if not isinstance(other, AlignedData):
            return NotImplemented
        return (self.X.equals(other.X) and list(self.X.dtypes) == list(other.X.dtypes)
                and self.ignored_columns == other.ignored_columns and self.warnings == other.warnings)

    __hash__ = None


def _listing(values, limit: int = _MAX_LISTED) -> str:
    values = [str(v) for v in values]
    more = f", ... ({len(values) - limit} more)" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more


def _quoted(values, limit: int = 5) -> str:
    """Values for a message, each shortened (a 1 MB cell shows as a few dozen characters + "…")."""

    return _listing([shorten(v.item() if isinstance(v, np.generic) else v, 40) for v in values], limit)


def _as_category_values(s: pd.Series, cats: tuple) -> pd.Series:
    """Values of ``s`` in the type of the training categories (text or numbers)."""
    text_cats = all(isinstance(c, str) for c in cats)
    if text_cats:
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            nn = s.dropna()
            if len(nn) and np.all(np.mod(nn.to_numpy(dtype=np.float64), 1) == 0):
                # CSV read "01"-less codes as numbers: 3.0 -> "3" to match training text
                return s.map(lambda v: v if pd.isna(v) else str(int(v)), na_action="ignore").astype(object)
        obj = s.astype(object).where(s.notna(), np.nan)
        if pd.api.types.is_string_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype):
            return obj  # the str dtype holds text only: no per-value conversion needed
        if isinstance(s.dtype, pd.CategoricalDtype) and all(isinstance(c, str) for c in s.cat.categories):
            return obj
        return obj.map(lambda v: v if pd.isna(v) else str(v))
    return pd.to_numeric(s.astype(object).where(s.notna(), np.nan), errors="coerce")


def _align_categorical(s: pd.Series, col: _Column, problems: list[str], notes: list[str]) -> pd.Series:
    cats = col.categories
    vals = _as_category_values(s, cats)
    bad_type = s.notna() & vals.isna()
    if bad_type.any():
        problems.append(f"column '{col.name}': expected category codes like {_quoted(cats, 3)}, found "
                        f"{_quoted(pd.unique(s[bad_type]))} in {int(bad_type.sum())} row(s)")
        return s
    known = pd.Index(cats)
    present = pd.unique(vals.dropna())
    unseen = [v for v in present if v not in known]
    if unseen and col.unknown_missing:
        # XGBoost / HistGradientBoosting send a category outside the training set down the
        # missing-value branch: the same here, counted so the user sees it
        n_rows = int(vals.isin(unseen).sum())
        notes.append(f"column '{col.name}': {n_rows} row(s) with {len(unseen)} categor"
                     f"{'y' if len(unseen) == 1 else 'ies'} not seen in training ({_quoted(sorted(unseen, key=str))}) "
                     "are treated as missing values, as the model itself does")
        vals = vals.where(~vals.isin(unseen), np.nan)
        return pd.Series(pd.Categorical(vals, categories=list(cats)), index=s.index, name=col.name)
    if unseen and not col.unknown_ok:
        problems.append(f"column '{col.name}': {len(unseen)} categor{'y' if len(unseen) == 1 else 'ies'} not seen "
                        f"in training: {_quoted(sorted(unseen, key=str))} ({int(vals.isin(unseen).sum())} row(s)); "
                        f"the model knows {_quoted(cats, 10)}")
        return s
    if unseen:
        notes.append(f"column '{col.name}': {len(unseen)} categor{'y' if len(unseen) == 1 else 'ies'} not seen in "
                     f"training ({_quoted(sorted(unseen, key=str))}); the model's encoder treats them as unknown")
        cats = tuple(cats) + tuple(sorted(unseen, key=str))
    return pd.Series(pd.Categorical(vals, categories=list(cats)), index=s.index, name=col.name)


def _rows(index: pd.Index, mask: np.ndarray, limit: int = 3) -> str:
    """First rows of ``mask`` numbered from 1 (the first data row), e.g. "rows 3, 17 and 2 more"."""
    pos = np.flatnonzero(mask)
    nums = [int(index[p]) + 1 if pd.api.types.is_integer_dtype(index) else int(p) + 1 for p in pos[:limit]]
    more = f" and {len(pos) - limit:,} more" if len(pos) > limit else ""
    return ("row " if len(pos) == 1 else "rows ") + ", ".join(f"{n:,}" for n in nums) + more


def _finite(num: pd.Series, col: _Column, problems: list[str]) -> pd.Series:
    inf = np.isinf(num.to_numpy(dtype=np.float64, na_value=np.nan))
    if inf.any():
        problems.append(f"column '{col.name}': infinite values (inf/-inf) in {int(inf.sum()):,} row(s), "
                        f"{_rows(num.index, inf)}; replace them by numbers, or leave the cells empty (missing)")
    return num


def _plain_number(dtype) -> bool:
    """A numpy int, float or bool column (not an extension dtype with its own missing marker)."""
    return isinstance(dtype, np.dtype) and dtype.kind in "biuf"


def _align_numeric(s: pd.Series, col: _Column, problems: list[str]) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return _finite(s.astype(np.float64), col, problems)
    if isinstance(s.dtype, pd.CategoricalDtype) and pd.api.types.is_numeric_dtype(s.cat.categories):
        return _finite(s.astype(np.float64), col, problems)  # integer-coded categorical read as pandas category
    raw = s.astype(object).where(s.notna(), np.nan)
    num = pd.to_numeric(raw, errors="coerce")
    blank = raw.map(lambda v: isinstance(v, str) and v.strip() == "", na_action="ignore").fillna(False).astype(bool)
    bad = raw.notna() & num.isna() & ~blank
    if bad.any() and col.levels_unknown:
        problems.append(f"column '{col.name}' is categorical in the model, but the model file does not store its "
                        f"categories (the data is not at fault: found text such as {_quoted(pd.unique(raw[bad]))}); list its levels in "
                        f"training order under features.{col.name}.values in the config, or pass integer codes")
        return s
    if bad.any():
        problems.append(f"column '{col.name}': expected numbers, found text such as "
                        f"{_quoted(pd.unique(raw[bad]))} in {int(bad.sum())} row(s), "
                        f"{_rows(raw.index, bad.to_numpy())}")
        return s
    return _finite(num.astype(np.float64), col, problems)


def _check_missing_allowed(model: LoadedModel, X: pd.DataFrame, source: str) -> None:
    """Refuse missing values the model cannot take (e.g. scikit-learn's GradientBoostingClassifier),
    naming the columns, instead of the library's traceback in the middle of scoring."""
    b = model._backend
    if b.family.accepts_missing(b.estimator):
        return
    rows = X.isna().any(axis=1).to_numpy()
    if not rows.any():
        return
    M = model.encode(X[rows])  # a pipeline's own imputer may fill them: check what the estimator gets
    bad_cols = np.isnan(M).any(axis=0)
    if not bad_cols.any():
        return
    names = [model.feature_names[j] for j in sorted(set(b.source_of[bad_cols].tolist()))]
    counts = [f"'{n}' ({int(X[n].isna().sum()):,} row(s), {_rows(X.index, X[n].isna().to_numpy())})" for n in names]
    raise DataError(
        f"{source} has missing values in {len(names)} column(s) the model needs: {_listing(counts, 10)}. "
        f"This model ({type(b.estimator).__name__}) cannot take missing values. Fill them before scoring "
        "(impute, e.g. with the value used in training), or use a model that accepts missing values "
        "(LightGBM, XGBoost, HistGradientBoostingClassifier, or a Pipeline with a SimpleImputer)."
    )


def align(model: LoadedModel, data: pd.DataFrame, *, source: str = "data", known: Sequence[str] = ()) -> AlignedData:
    """Select, order and convert the model's features from a customer table.

    Parameters
    ----------
    model : LoadedModel
    data : DataFrame, shape (n, any)
        Columns matched by name; order does not matter; extra columns are ignored.
    source : str
        Name of the file the table came from, used in messages.
    known : sequence of str
        Columns the caller uses for something else (id, label, value): not warned about.

    Returns
    -------
    AlignedData

    Raises
    ------
    DataError
        Model features missing from the table; or, collected over all columns in one
        message, text in numeric columns and categories the model never saw.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"{source}: expected a table (pandas DataFrame), got {type(data).__name__}.")
    present = [str(c) for c in data.columns]
    features = model.feature_names
    missing = [f for f in features if f not in present]
    if missing:

        hints = "".join(did_you_mean(m, [c for c in present if c not in features], say_for=len(missing) > 1)
                        for m in missing[:3])
        raise DataError(
            f"{source} is missing {len(missing)} column(s) the model needs: {_listing(missing)}.{hints} "
            f"Columns present: {_listing(present)}. Add the missing columns with the names used in training "
            "(matching is by name and case-sensitive), or pass the right file."
        )
    if data.columns.duplicated().any():
        dup = sorted({str(c) for c in data.columns[data.columns.duplicated()]})
        raise DataError(f"{source} has duplicate column names: {_listing(dup)}. Rename them so each is unique.")
    ignored = tuple(c for c in present if c not in set(features))
    warns: list[str] = []
    unexpected = tuple(c for c in ignored if c not in set(known))
    if unexpected:
        warns.append(f"{source}: {len(unexpected)} column(s) not used by the model were ignored: {_listing(unexpected)}")
    problems: list[str] = []
    columns = model._backend.columns
    dtypes = data.dtypes
    if all(not c.categorical and _plain_number(dtypes[c.name]) for c in columns):
        # the usual book: every feature a plain number column, converted in one pass
        block = data[[c.name for c in columns]].to_numpy(dtype=np.float64)
        inf = np.isinf(block)
        for j in np.flatnonzero(inf.any(axis=0)):
            _finite(pd.Series(block[:, j], index=data.index), columns[j], problems)
        X = None if problems else pd.DataFrame(block, columns=[c.name for c in columns], index=data.index, copy=False)
    else:
        out = {}
        for col in columns:
            s = data[col.name]
            out[col.name] = (_align_categorical(s, col, problems, warns) if col.categorical
                             else _align_numeric(s, col, problems))
        X = None if problems else pd.DataFrame(out, index=data.index)
    if problems:
        raise DataError(f"{source} does not fit the model ({len(problems)} column(s)):\n  - " + "\n  - ".join(problems)
                        + "\nFix these values (or retrain the model on them) and run again.")
    _check_missing_allowed(model, X, source)
    return AlignedData(X, ignored, tuple(warns))


def is_aligned(model: LoadedModel, X: pd.DataFrame) -> bool:
    """True when ``X`` already has the model's columns, order, dtypes and categories."""
    if list(X.columns) != list(model.feature_names):
        return False
    dtypes = X.dtypes.to_numpy()  # one lookup for all columns, not a Series per column (names are unique here)
    for col, dt in zip(model._backend.columns, dtypes):
        if col.categorical:
            if not isinstance(dt, pd.CategoricalDtype):
                return False
            if tuple(dt.categories[: len(col.categories)]) != tuple(col.categories):
                return False
        elif dt != np.float64:
            return False
    return True


def ensure_aligned(model: LoadedModel, X: pd.DataFrame, *, source: str = "data") -> pd.DataFrame:
    return X if is_aligned(model, X) else align(model, X, source=source).X
