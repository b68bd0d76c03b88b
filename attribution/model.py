"""Loading a trained churn model from disk, safely, into one uniform :class:`LoadedModel`.

Formats: LightGBM text model and JSON dump, XGBoost JSON/UBJ, skops (scikit-learn
estimators and pipelines, ``LGBMClassifier``, ``XGBClassifier``) and — only when the user
says the file is trusted — joblib/pickle. Family differences live in
:mod:`attribution._families`; pipeline preprocessing (ColumnTransformer + encoders) and the
map from encoded columns back to source columns live here.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from churnlens.attribution.align import ensure_aligned
from churnlens.attribution._families import (
    FAMILIES, LEVELS_UNKNOWN, SUPPORTED_ESTIMATORS, Facts, _binary_only, _Family, family_of,
)
from churnlens.attribution._lgb_json import tree_problem
from churnlens.attribution.results import ModelInfo
from churnlens.errors import InputFileError, ModelError
from churnlens.attribution._lgb_json import dump_to_model_string

MODEL_FORMATS = ("lightgbm", "xgboost", "skops", "pickle")

# Types a skops file may contain beyond skops' own default-trusted scikit-learn/numpy types.
# Reviewed: each is restored from plain data (arrays, model strings/bytes) by skops'
# object loader; none executes code from the file.
SKOPS_TRUSTED_TYPES = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn.dummy.DummyClassifier",
    "collections.OrderedDict",
    "numpy.dtype",  # encoders' dtype= parameter; rebuilt from its name
    "numpy.float64",
    "numpy.float32",
    "numpy.int64",
    "numpy.int32",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    # HistGradientBoosting with categorical_features keeps a FunctionTransformer of
    # partial(check_array, dtype=...); skops checks the wrapped function as its own type, so
    # partial can only wrap functions that are themselves on this list.
    "functools.partial",
    "sklearn.utils.validation.check_array",
)


@dataclass(frozen=True)
class _Column:
    """How one source column is fed to the model."""

    name: str
    categories: Optional[tuple] = None  # training categories; None for numeric columns
    unknown_ok: bool = False  # the model itself handles unseen categories (encoder setting)
    unknown_missing: bool = False  # unseen categories become missing values (XGBoost / HGB native categoricals)
    levels_unknown: bool = False  # categorical in the model, levels not stored: codes expected (or dictionary values)

    @property
    def categorical(self) -> bool:
        return self.categories is not None


@dataclass(frozen=True, eq=False)
class _Backend:
    """Everything needed to compute; private to ``attribution/``."""

    family: _Family
    estimator: Any  # the final estimator, unwrapped (Booster for LightGBM/XGBoost)
    preprocess: Any  # fitted transformer chain (sklearn Pipeline slice) or None
    columns: tuple[_Column, ...]  # per source feature, model order
    source_of: np.ndarray  # (f_encoded,) index of each encoded column's source feature
    encoded_names: tuple[str, ...]
    raw_scale: float
    owner: Any = None  # the estimator as stored (before trees beyond the best iteration were dropped)


@dataclass(frozen=True)
class LoadedModel:
    """A loaded binary churn classifier with a uniform interface.

    Attributes
    ----------
    info : ModelInfo
        Model card facts (family, format, sha256, trees, depth, objective, raw output space).
    feature_names : tuple of str
        Source features in model order (before any pipeline encoding).
    """

    info: ModelInfo
    _backend: _Backend = field(repr=False, compare=False)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.info.feature_names

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        """Aligned source frame -> float64 matrix in the estimator's input column order."""
        return encode(self, X)

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """Raw model output, shape (n,): log-odds (boosted models) or probability (forests)."""
        return raw_output(self, encode(self, ensure_aligned(self, X)))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted churn probability, shape (n,)."""
        return to_probability(self, self.predict_raw(X))


# --- computations on the encoded matrix (used by explain / cross_check) --------------------------

def encode(model: LoadedModel, X: pd.DataFrame) -> np.ndarray:
    """Aligned source frame -> float64 matrix in the estimator's input column order."""
    b = model._backend
    names = [c.name for c in b.columns]
    if b.preprocess is None and not any(c.categorical for c in b.columns):
        if list(X.columns) == names and all(_is_f64(dt) for dt in X.dtypes.to_numpy()):
            return np.ascontiguousarray(X.to_numpy(dtype=np.float64))  # aligned already: no column selection
        if all(_is_f64(X[n].dtype) for n in names):
            return np.ascontiguousarray(X[names].to_numpy(dtype=np.float64))
    if b.preprocess is None:
        M = np.empty((len(X), len(b.columns)), dtype=np.float64)
        for j, col in enumerate(b.columns):
            s = X[col.name]
            if col.categorical and isinstance(s.dtype, pd.CategoricalDtype):
                codes = s.cat.codes.to_numpy()
                M[:, j] = np.where(codes < 0, np.nan, codes)  # LightGBM reads NaN as missing
            else:
                M[:, j] = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return M
    frame = {}
    for col in b.columns:
        s = X[col.name]
        if col.categorical:
            # encoders were fitted on plain values: hand them objects with NaN for missing
            frame[col.name] = s.astype(object).where(s.notna(), np.nan).to_numpy(dtype=object)
        else:
            frame[col.name] = s.to_numpy(dtype=np.float64, na_value=np.nan)
    df = pd.DataFrame(frame, index=X.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = b.preprocess.transform(df)
    if hasattr(out, "toarray"):
        out = out.toarray()
    return np.ascontiguousarray(np.asarray(out, dtype=np.float64))


def _is_f64(dtype) -> bool:
    return isinstance(dtype, np.dtype) and dtype == np.float64


def raw_output(model: LoadedModel, M: np.ndarray) -> np.ndarray:
    b = model._backend
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "X does not have valid feature names"
        return b.family.raw(b.estimator, M) * b.raw_scale


def to_probability(model: LoadedModel, raw: np.ndarray) -> np.ndarray:
    if model.info.raw_output == "probability":
        return np.asarray(raw, dtype=np.float64)
    from scipy.special import expit

    return expit(np.asarray(raw, dtype=np.float64))


# --- loading ----------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sniff(path: Path) -> str:
    """Detailed format ("lightgbm_text", "lightgbm_json", "xgboost_json", "xgboost_ubj", "skops", "pickle")."""
    with path.open("rb") as fh:
        head = fh.read(64)
    ext = path.suffix.lower()
    if head.startswith(b"PK\x03\x04"):
        return "skops"
    if head[:1] == b"\x80" or ext in (".pkl", ".pickle", ".joblib"):
        return "pickle"
    if head.startswith(b"tree\n") or head.startswith(b"tree\r\n"):
        return "lightgbm_text"
    stripped = head.lstrip()
    if stripped.startswith(b"{"):
        try:
            with path.open("rb") as fh:
                # only the first keys are needed, but a JSON document must be parsed whole
                doc = json.loads(fh.read().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return "xgboost_ubj"
        if isinstance(doc, dict) and "tree_info" in doc:
            return "lightgbm_json"
        if isinstance(doc, dict) and "learner" in doc:
            return "xgboost_json"
        return "unknown_json"
    if ext == ".ubj":
        return "xgboost_ubj"
    return "unknown"


def _unsupported_format(path: Path, found: str) -> ModelError:
    return ModelError(
        f"Model file {path} is not in a supported format (found: {found}). Supported: LightGBM text model "
        "(.txt) or JSON dump (.json), XGBoost model (.json/.ubj), skops (.skops), or joblib/pickle "
        "(.joblib/.pkl, only with trust_model). Set model_format to override detection.",
        argument="model",
    )


def _pickle_refused(path: Path) -> ModelError:
    return ModelError(
        f"Model file {path} is a joblib/pickle file. Loading a pickle runs arbitrary code stored in the file, "
        "so churnlens refuses it by default. Safer alternatives: save LightGBM models as text "
        "(booster.save_model('model.txt')), XGBoost models as JSON (model.save_model('model.json')), or "
        "scikit-learn models with skops (skops.io.dump(model, 'model.skops')). If this file comes from a "
        "source you trust, set trust_model to load it anyway.",
        argument="model",
    )


def _load_object(path: Path, fmt: str, trust_model: bool) -> tuple[Any, str]:
    if fmt == "lightgbm_text":
        return _load_lightgbm_text(path), fmt
    if fmt == "lightgbm_json":
        import lightgbm as lgb


        try:
            dump = json.loads(path.read_text(encoding="utf-8"))
            text = dump_to_model_string(dump)
            problem = tree_problem(text.split("\n"))
            if problem:
                raise ValueError(problem)
            return lgb.Booster(model_str=text), fmt
        except (ValueError, KeyError, TypeError) as err:
            raise ModelError(f"Model file {path} is a LightGBM JSON dump churnlens cannot rebuild ({err}). "
                             "Save the model as text instead: booster.save_model('model.txt').") from None
        except Exception as err:  # LightGBMError
            raise ModelError(f"Model file {path}: LightGBM rejected the rebuilt JSON dump: {err}") from None
    if fmt in ("xgboost_json", "xgboost_ubj"):
        try:
            import xgboost as xgb
        except ImportError:
            raise ModelError(f"Model file {path} is an XGBoost model but xgboost is not installed "
                             "(pip install 'churnlens[xgboost]').") from None
        bst = xgb.Booster()
        try:
            bst.load_model(str(path))
        except Exception as err:  # XGBoostError
            raise ModelError(f"Model file {path} is not a readable XGBoost model (or, for a .json file, not valid "
                             f"JSON: it may be truncated): {_first_line(err)}") from None
        return bst, fmt
    if fmt == "skops":
        return _load_skops(path, trust_model), fmt
    if fmt == "pickle":
        if not trust_model:
            raise _pickle_refused(path)
        import joblib

        try:
            return joblib.load(path), fmt
        except Exception as err:
            raise ModelError(f"Model file {path} could not be unpickled: {type(err).__name__}: {err}") from None
    raise _unsupported_format(path, fmt)


def _load_lightgbm_text(path: Path) -> Any:
    """A LightGBM text model, checked for truncation before LightGBM parses it.

    LightGBM parses the trees of a file with a ``tree_sizes`` header line in parallel, and
    a format error inside that parallel region aborts the whole process (C++ ``terminate``)
    instead of raising. So the text is read here, checked for completeness ("end of
    trees", as many trees as ``tree_sizes`` announces), and handed to LightGBM without
    that line: its sequential parser raises a normal error on anything malformed.
    """
    import lightgbm as lgb

    def unreadable(why: str) -> ModelError:
        return ModelError(f"Model file {path} looks like a LightGBM text model but cannot be read: {why}. "
                          "The file may be truncated or edited; save the model again with booster.save_model().")

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise unreadable(f"it is not UTF-8 text ({err.reason} at byte {err.start})") from None
    lines = text.split("\n")
    announced = None
    kept = []
    for line in lines:
        if line.startswith("tree_sizes="):
            announced = len(line[len("tree_sizes="):].split())
            continue
        kept.append(line)
    n_trees = sum(1 for line in lines if line.startswith("Tree="))
    if not any(line.strip() == "end of trees" for line in lines):
        raise unreadable(f"the line 'end of trees' is missing ({n_trees} complete or partial tree(s) found)")
    if announced is not None and announced != n_trees:
        raise unreadable(f"its header announces {announced} trees but the file holds {n_trees}")
    problem = tree_problem(lines)
    if problem:
        raise unreadable(problem)
    try:
        booster = lgb.Booster(model_str="\n".join(kept))
    except Exception as err:  # LightGBMError
        raise unreadable(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__) from None
    if booster.num_trees() != n_trees:
        raise unreadable(f"LightGBM read {booster.num_trees()} trees but the file holds {n_trees}")
    return booster


def _first_line(err: Exception) -> str:
    """An error's first line (XGBoost appends a C++ stack trace to its messages)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _load_skops(path: Path, trust_model: bool) -> Any:
    try:
        import skops.io as sio
    except ImportError:
        raise ModelError(f"Model file {path} is a skops file but skops is not installed (pip install skops).") from None
    try:
        untrusted = sio.get_untrusted_types(file=str(path))
    except Exception as err:
        raise ModelError(f"Model file {path} is not a readable skops file: {err}") from None
    unexpected = sorted(t for t in untrusted if t not in SKOPS_TRUSTED_TYPES)
    if unexpected and not trust_model:
        raise ModelError(
            f"Model file {path} (skops) contains types churnlens has not reviewed as safe: {', '.join(unexpected)}. "
            "Loading them could run code from the file. If the file comes from a source you trust, set "
            "trust_model to allow exactly these types.", argument="model",
        )
    # Trust only the reviewed types actually present, plus (with --trust-model) the listed extras.
    trusted = [t for t in untrusted if t in SKOPS_TRUSTED_TYPES] + (unexpected if trust_model else [])
    try:
        return sio.load(str(path), trusted=trusted)
    except Exception as err:
        raise ModelError(f"Model file {path} could not be loaded by skops: {type(err).__name__}: {err}") from None


# --- pipelines: encoded column -> source column ------------------------------------------------

def _block_map(trans: Any, in_names: list[str], where: str) -> list[int]:
    """For each output column of a fitted transformer, the index of its input column."""
    if trans == "passthrough":
        return list(range(len(in_names)))
    try:
        out_names = [str(n) for n in trans.get_feature_names_out(np.asarray(in_names, dtype=object))]
    except Exception as err:
        raise ModelError(f"{where}: cannot tell which input column each output of {type(trans).__name__} "
                         f"comes from ({err}).") from None
    if len(out_names) == len(in_names):
        return list(range(len(in_names)))
    by_len = sorted(range(len(in_names)), key=lambda i: -len(in_names[i]))
    mapping = []
    for name in out_names:
        hit = next((i for i in by_len if name == in_names[i] or name.startswith(in_names[i] + "_")
                    or name == "missingindicator_" + in_names[i]), None)
        if hit is None:
            raise ModelError(f"{where}: output column '{name}' of {type(trans).__name__} cannot be traced back "
                             f"to one of its input columns {in_names}; churnlens supports one-hot, ordinal, "
                             "imputer, scaler and passthrough steps.")
        mapping.append(hit)
    return mapping


def _encoder_columns(trans: Any, in_names: list[str]) -> dict[str, _Column]:
    """Categorical source columns of a ColumnTransformer block (found via its encoder)."""
    steps = [s for _, s in trans.steps] if hasattr(trans, "steps") else [trans]
    out: dict[str, _Column] = {}
    for step in steps:
        cats = getattr(step, "categories_", None)
        if cats is None or len(cats) != len(in_names):
            continue
        unknown_ok = getattr(step, "handle_unknown", "error") != "error"
        for name, c in zip(in_names, cats):
            known = tuple(v for v in c.tolist() if not (isinstance(v, float) and np.isnan(v)) and v is not None)
            out[name] = _Column(name, known, unknown_ok)
        break
    return out


def _input_indices(ct: Any, tname: str, cols: Any, names: list[str]) -> list[int]:
    """Positions of a ColumnTransformer block's input columns."""
    known = getattr(ct, "_transformer_to_input_indices", None)  # sklearn >= 1.2
    if known is not None and tname in known:
        return [int(i) for i in known[tname]]
    cols = [cols] if isinstance(cols, (str, int)) else list(cols)
    if cols and all(isinstance(c, (bool, np.bool_)) for c in cols):
        return [i for i, c in enumerate(cols) if c]
    return [names.index(c) if isinstance(c, str) else int(c) for c in cols]


def _pipeline(pipe: Any, path: Path) -> tuple[Any, Any, tuple[_Column, ...], np.ndarray, tuple[str, ...]]:
    from sklearn.compose import ColumnTransformer

    where = f"Model file {path}"
    steps = [s for _, s in pipe.steps if s not in (None, "passthrough")]
    final, transformers = steps[-1], steps[:-1]
    first = transformers[0] if transformers else final
    src = [str(c) for c in getattr(first, "feature_names_in_", [])] or [f"x{i}" for i in range(first.n_features_in_)]
    columns = {name: _Column(name) for name in src}
    mapping = np.arange(len(src))  # current column -> source index
    names = list(src)
    for pos, step in enumerate(transformers):
        if isinstance(step, ColumnTransformer):
            n_out = sum(sl.stop - sl.start for sl in step.output_indices_.values())
            new_map = np.full(n_out, -1)
            new_names = [""] * n_out
            try:
                out_names = [str(n) for n in step.get_feature_names_out()]
            except Exception:
                out_names = [f"x{k}" for k in range(n_out)]
            for tname, trans, cols in step.transformers_:
                sl = step.output_indices_[tname]
                if trans == "drop" or sl.stop == sl.start:
                    continue
                in_idx = _input_indices(step, tname, cols, names)
                block_in = [names[i] for i in in_idx]
                for k, li in enumerate(_block_map(trans, block_in, where)):
                    new_map[sl.start + k] = mapping[in_idx[li]]
                new_names[sl] = out_names[sl]
                if pos == 0 and trans != "passthrough":  # encoders of source columns know their categories
                    columns.update(_encoder_columns(trans, block_in))
            mapping, names = new_map, new_names
        else:
            local = _block_map(step, names, where)
            mapping = mapping[np.asarray(local, dtype=int)]
            try:
                names = [str(n) for n in step.get_feature_names_out(np.asarray(names, dtype=object))]
            except Exception:
                names = [names[i] for i in local]
    if (mapping < 0).any():
        raise ModelError(f"{where}: some pipeline outputs cannot be traced back to a source column.")
    preprocess = pipe[:-1] if transformers else None  # the fitted steps before the estimator
    return final, preprocess, tuple(columns[n] for n in src), mapping, tuple(names)


def load_model_file(path: str | Path, *, model_format: str | None = None, trust_model: bool = False,
               levels: Optional[dict] = None) -> LoadedModel:
    """Load a binary churn classifier.

    Parameters
    ----------
    path : str or Path
        Model file: LightGBM text (.txt) or JSON dump (.json), XGBoost JSON/UBJ, skops, or
        joblib/pickle (only with ``trust_model=True``); or an MLflow model URI
        (``models:/NAME/STAGE``, ``models:/NAME/VERSION``, ``runs:/RUN_ID/PATH``, see
        :mod:`attribution.registry`).
    model_format : {"lightgbm", "xgboost", "skops", "pickle"}, optional
        Overrides detection from the extension and content.
    trust_model : bool
        Allow pickle/joblib (unpickling runs code from the file) and skops types outside the
        reviewed list. Only for files from a trusted source.
    levels : dict of str to sequence, optional
        Category levels (in training order) of native categorical features whose levels the
        model file does not store, e.g. from the data dictionary's ``values``
        (:meth:`churnlens.config.Config.levels`). Levels the model stores always win.

    Raises
    ------
    InputFileError
        The file does not exist.
    ModelError
        Unsupported format or estimator, not a binary classifier, or untrusted content.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"model: file {path} does not exist. Give the path of a trained model file.",
                             argument="model")
    if model_format is not None and model_format not in MODEL_FORMATS:
        raise ModelError(f"model_format: unknown format '{model_format}' for {path}; expected one of "
                         f"{', '.join(MODEL_FORMATS)}.", argument="model_format")
    fmt = _sniff(path)
    if model_format == "skops":
        fmt = "skops"
    elif model_format == "pickle":
        fmt = "pickle"
    elif model_format == "lightgbm" and not fmt.startswith("lightgbm"):
        fmt = "lightgbm_text"
    elif model_format == "xgboost" and not fmt.startswith("xgboost"):
        fmt = "xgboost_ubj" if path.suffix.lower() == ".ubj" else "xgboost_json"
    obj, fmt = _load_object(path, fmt, trust_model)
    return with_levels(_from_object(obj, path=path, fmt=fmt), levels)


def with_levels(model: LoadedModel, levels: Optional[dict]) -> LoadedModel:
    """``model`` with the given levels for categorical columns whose levels it does not store.

    A dictionary whose ``values`` keys are numbers describes integer codes: the codes are fed
    as they are, so only text levels are taken as categories (code = position in the list).
    """
    if not levels:
        return model
    b = model._backend
    cols = []
    for col in b.columns:
        given = levels.get(col.name)
        if col.levels_unknown and given and all(isinstance(v, str) for v in given):
            col = _Column(col.name, tuple(given), unknown_missing=col.unknown_missing)
        cols.append(col)
    from dataclasses import replace as _replace

    return _replace(model, _backend=_replace(b, columns=tuple(cols)))


def _is_regressor(est: Any) -> bool:
    try:
        from sklearn.base import is_regressor

        return bool(is_regressor(est))
    except Exception:  # not a scikit-learn-style estimator at all
        return False


def from_estimator(obj: Any, *, path: str | Path = "<memory>", fmt: str = "memory", sha256: str = "") -> LoadedModel:
    """Wrap an in-memory fitted estimator (used by the demo and tests)."""
    return _from_object(obj, path=Path(path), fmt=fmt, sha256=sha256)


def _from_object(obj: Any, *, path: Path, fmt: str, sha256: Optional[str] = None) -> LoadedModel:
    steps: tuple[str, ...] = ()
    preprocess = None
    if hasattr(obj, "steps") and hasattr(obj, "named_steps"):  # sklearn Pipeline
        steps = tuple(type(s).__name__ for _, s in obj.steps if s not in (None, "passthrough"))
        final, preprocess, columns, source_of, enc_names = _pipeline(obj, path)
    else:
        final = obj
    fam_name = family_of(final)
    if fam_name is None and _is_regressor(final):
        raise _binary_only(str(path), f"a {type(final).__name__}, a regression model")
    if fam_name is None:
        raise ModelError(
            f"Model file {path} holds a {type(final).__module__}.{type(final).__name__}, which churnlens cannot "
            f"explain exactly. Supported: {SUPPORTED_ESTIMATORS}."
        )
    family = FAMILIES[fam_name]
    owner = family.unwrap(final)
    family.check(owner, str(path))
    # trees beyond the model's best iteration are dropped here: scoring, TreeSHAP and the
    # cross-check all read the trees the owner's predict_proba reads
    est, best_iteration, trees_in_file = family.select_trees(owner)
    facts: Facts = family.facts(est)
    if facts.n_trees == 0:  # nothing to explain; the TreeSHAP plan of an empty forest is undefined
        raise ModelError(f"Model file {path} holds no trees (0 boosting rounds): it predicts one constant score "
                         "for every customer and has nothing to explain. Train the model with at least one "
                         "boosting round (check num_boost_round / n_estimators and early stopping).")
    if preprocess is None:
        cats = family.categories(est)
        missing = family.unknown_levels == "missing"
        columns = tuple(
            _Column(n, None if c is None or c == () or c == LEVELS_UNKNOWN else c, unknown_missing=missing,
                    levels_unknown=c == LEVELS_UNKNOWN)
            for n, c in zip(facts.feature_names, cats)
        )
        source_of = np.arange(facts.n_features)
        enc_names = facts.feature_names
    elif len(enc_names) != facts.n_features:
        raise ModelError(f"Model file {path}: the pipeline produces {len(enc_names)} columns but its "
                         f"{type(final).__name__} expects {facts.n_features}.")
    names = tuple(c.name for c in columns)
    if len(set(names)) != len(names):
        raise ModelError(f"Model file {path} has duplicate feature names; each feature needs a unique name.")
    info = ModelInfo(
        family=fam_name,
        format=fmt,
        path=str(path),
        sha256=sha256 if sha256 is not None else _sha256(path),
        n_trees=facts.n_trees,
        max_depth=facts.max_depth,
        n_features=len(names),
        feature_names=names,
        objective=facts.objective,
        raw_output=family.raw_output,
        pipeline_steps=steps,
        trees_in_file=trees_in_file or facts.n_trees,
        best_iteration=best_iteration,
    )
    backend = _Backend(family, est, preprocess, columns, np.asarray(source_of, dtype=np.int64),
                       tuple(enc_names), facts.raw_scale, owner=owner)
    return LoadedModel(info, backend)
