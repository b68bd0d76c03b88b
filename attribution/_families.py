"""Model families: the ONE place where LightGBM, XGBoost and scikit-learn differ.

Each family is a small adapter object registered in :data:`FAMILIES`; everything else in
``attribution/`` talks to the adapter interface only. An adapter receives the *encoded*
model input (a float64 matrix in the estimator's own column order) and returns plain
float64 numpy arrays with fixed shapes:

- ``raw(est, M) -> (n,)`` the model's raw output (log-odds, or probability for forests);
- ``contribs(est, M) -> (phi (n, f), base float)`` exact path-dependent TreeSHAP by
  churnlens' own implementation (:mod:`churnlens.attribution.treeshap`) over the forest
  built once per estimator by :meth:`_Family.build_forest`;
- ``interactions(est, M, features) -> (n, m, m)`` exact SHAP interaction values (same forest);
- ``reference(est, M) -> (phi (n, f), base float)`` shap's TreeExplainer (used by tests);
- ``cross_reference(est, M, categorical) -> (phi, base, Note)`` an implementation other than
  churnlens' own (the library's ``pred_contrib`` for LightGBM/XGBoost, shap's C++ TreeSHAP
  for scikit-learn) and a note naming it, for the auditors' cross-check. shap's output
  shapes (list of arrays, ``(n, f, 2)``, length-1 ``expected_value``) are normalised here only.
"""

from __future__ import annotations

import json
import warnings
import weakref
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from churnlens.errors import ModelError
from churnlens.notes import Note
from churnlens.attribution._lgb_json import tree_problem

OWN_METHOD = "TreeSHAP (path-dependent), churnlens' own exact implementation (numba)"
_FORESTS: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Facts:
    n_trees: int
    max_depth: int
    objective: str
    n_features: int
    feature_names: tuple[str, ...]  # the estimator's own input names
    raw_scale: float = 1.0  # raw output x raw_scale = log-odds (LightGBM's sigmoid parameter)


_EXPLAINERS: "weakref.WeakKeyDictionary[Any, dict[bool, Any]]" = weakref.WeakKeyDictionary()
# LightGBM boosters whose model text passed :meth:`_LightGBM.check`, with their tree count then:
# the same object is not re-serialised and re-parsed on every call of the public API
_CHECKED: "weakref.WeakKeyDictionary[Any, int]" = weakref.WeakKeyDictionary()
# LightGBM boosters' (tree count, dump header): see :meth:`_LightGBM._header`
_HEADERS: "weakref.WeakKeyDictionary[Any, tuple[int, dict]]" = weakref.WeakKeyDictionary()

# ``categories()`` entry of a categorical column whose levels the model file does not store (or
# stores unreadably): the data dictionary's ``values`` must name them, in training order.
LEVELS_UNKNOWN = ("<levels not stored in the model>",)


def _explainer(est: Any, own_cpp: bool) -> Any:
    """shap TreeExplainer for ``est``, cached: parsing a large forest once, not per chunk."""
    import shap

    try:
        per_est = _EXPLAINERS.setdefault(est, {})
    except TypeError:  # not weak-referenceable: no cache
        per_est = {}
    if own_cpp not in per_est:
        explainer = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")
        if own_cpp:
            explainer.model.model_type = "internal"
        per_est[own_cpp] = explainer
    return per_est[own_cpp]


def _shap_reference(est: Any, M: np.ndarray, *, positive_class: bool, own_cpp: bool = False) -> tuple[np.ndarray, float]:
    """shap TreeExplainer (tree_path_dependent), normalised to ``(n, f)`` and a scalar base.

    ``own_cpp`` makes shap run its own C++ TreeSHAP on the trees it parsed instead of
    delegating to the library's ``pred_contrib`` (an independent check for LightGBM/XGBoost).
    """
    explainer = _explainer(est, own_cpp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phi = explainer.shap_values(M, check_additivity=False)
    base = explainer.expected_value
    if isinstance(phi, list):  # shap < 0.45: one array per class
        phi = np.stack(phi, axis=-1)
    phi = np.asarray(phi, dtype=np.float64)
    base = np.atleast_1d(np.asarray(base, dtype=np.float64))
    if phi.ndim == 3:  # (n, f, n_outputs): keep the churn (positive) class
        k = 1 if positive_class and phi.shape[2] > 1 else 0
        phi = phi[:, :, k]
        base = base[k:] if base.size > 1 else base
    return phi, float(base[0])


class _Family:
    """Adapter interface; see the module docstring."""

    name: str = ""
    raw_output: str = "log_odds"
    method: str = OWN_METHOD

    def unwrap(self, est: Any) -> Any:  # e.g. LGBMClassifier -> Booster
        return est

    def check(self, est: Any, path: str) -> None:
        pass

    def facts(self, est: Any) -> Facts:
        raise NotImplementedError

    def select_trees(self, est: Any) -> tuple[Any, Optional[int], int]:
        """``(estimator holding only the trees that count, best_iteration or None, trees in the file)``.

        Trees beyond the model's best iteration are dropped here, at load, so scoring, TreeSHAP
        and the cross-check all read the same trees as the owner's ``predict_proba``.
        """
        return est, None, 0  # 0: as many as used

    def owner_proba(self, est: Any, M: np.ndarray) -> np.ndarray:
        """Churn probability as the library's own ``predict_proba`` gives it, on the estimator
        *as stored* (before :meth:`select_trees`), for the score-parity check."""
        raise NotImplementedError

    # precision of the library's own prediction: "float64" or "float32" (XGBoost)
    precision: str = "float64"

    def categories(self, est: Any) -> tuple[Optional[tuple], ...]:
        """Per input column the training categories: None for numeric columns, ``()`` for
        integer-coded categoricals (codes fed as numbers), :data:`LEVELS_UNKNOWN` when the file
        does not store the levels of a categorical column."""
        return (None,) * self.facts(est).n_features

    # unseen levels of native categorical columns: "error" (refused) or "missing" (the library
    # itself sends unknown categories down the missing-value branch)
    unknown_levels: str = "error"

    def raw(self, est: Any, M: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def build_forest(self, est: Any):
        """The estimator's trees as one :class:`~churnlens.attribution.treeshap.Forest`."""
        raise NotImplementedError

    def forest_input(self, est: Any, M: np.ndarray) -> np.ndarray:
        """The matrix the trees read (identity except where the estimator recodes its input)."""
        return M

    def forest_columns(self, est: Any) -> Optional[np.ndarray]:
        """Input column of each forest column when :meth:`forest_input` reorders them, else None."""
        return None

    def trees_version(self, est: Any) -> Any:
        """What changes when the estimator object's trees change in place (a refit, another
        boosting round): the cached forest of an object is rebuilt when this differs."""
        return None

    def forest(self, est: Any):
        """:meth:`build_forest`, cached per estimator object and :meth:`trees_version` (built once
        per model, not per chunk or per call; rebuilt after the object is refitted in place)."""
        version = self.trees_version(est)
        try:
            hit = _FORESTS.get(est)
        except TypeError:  # not weak-referenceable
            return self.build_forest(est)
        if hit is not None and hit[0] == version:
            return hit[1]
        fr = self.build_forest(est)
        _FORESTS[est] = (version, fr)
        return fr

    def contribs(self, est: Any, M: np.ndarray) -> tuple[np.ndarray, float]:
        from churnlens.attribution import treeshap

        phi, base = treeshap.shap_values(self.forest(est), self.forest_input(est, M))
        cols = self.forest_columns(est)
        if cols is not None:
            out = np.empty_like(phi)
            out[:, cols] = phi
            phi = out
        return phi, base

    def interactions(self, est: Any, M: np.ndarray, features) -> np.ndarray:
        """Exact interaction values among the input columns ``features``: (n, m, m)."""
        from churnlens.attribution import treeshap

        features = np.asarray(list(features), dtype=np.int64)
        cols = self.forest_columns(est)
        if cols is not None:
            inv = np.empty_like(cols)
            inv[cols] = np.arange(len(cols))
            features = inv[features]
        return treeshap.interaction_values(self.forest(est), self.forest_input(est, M), features=features)

    def reference(self, est: Any, M: np.ndarray) -> tuple[np.ndarray, float]:
        return _shap_reference(est, M, positive_class=True)

    def cross_reference(self, est: Any, M: np.ndarray, *, categorical: bool) -> tuple[np.ndarray, float, Note]:
        """An implementation other than churnlens' own: ``(phi, base, note naming it)``."""
        import shap

        phi, base = self.reference(est, M)
        return phi, base, Note.of("crosscheck.shap", version=shap.__version__)

    def accepts_missing(self, est: Any) -> bool:
        """Whether the estimator takes NaN in its (encoded) input; LightGBM and XGBoost do."""
        return True


def _sklearn_feature_names(est: Any) -> tuple[str, ...]:
    """Training column names of a scikit-learn estimator; x0, x1, ... when fitted on an array."""
    return tuple(str(c) for c in getattr(est, "feature_names_in_", ())) or tuple(
        f"x{i}" for i in range(est.n_features_in_))


def _binary_only(path: str, what: str) -> ModelError:
    return ModelError(
        f"Model {path} is {what}; churnlens explains binary churn classifiers (one output: "
        "the probability of churn). Retrain as a binary classifier (LightGBM objective 'binary', "
        "XGBoost 'binary:logistic', or a scikit-learn classifier fitted on a 0/1 label)."
    )


# --- LightGBM ---------------------------------------------------------------------------------

class _LightGBM(_Family):
    name = "lightgbm"

    def unwrap(self, est):
        import lightgbm as lgb

        return est if isinstance(est, lgb.Booster) else est.booster_

    @staticmethod
    def _header(est) -> dict:
        """The booster's dump without its trees (objective, feature infos), cached per booster
        object and tree count: the public API reads it on every call."""
        try:
            hit = _HEADERS.get(est)
        except TypeError:  # not weak-referenceable
            hit = None
        n = est.num_trees()
        if hit is not None and hit[0] == n:
            return hit[1]
        dump = est.dump_model(num_iteration=1)
        header = {k: dump.get(k) for k in ("objective", "feature_infos")}
        try:
            _HEADERS[est] = (n, header)
        except TypeError:
            pass
        return header

    def _objective(self, est) -> tuple[str, float]:
        obj = str(self._header(est).get("objective") or "")
        sigmoid = 1.0
        for tok in obj.split()[1:]:
            if tok.startswith("sigmoid:"):
                sigmoid = float(tok.split(":", 1)[1])
        return obj, sigmoid

    def check(self, est, path):
        try:
            if _CHECKED.get(est) == est.num_trees():  # this booster object passed already (trees unchanged)
                return
        except TypeError:  # not weak-referenceable
            pass
        obj, _ = self._objective(est)
        if est.num_model_per_iteration() != 1 or not obj.startswith("binary"):
            raise _binary_only(path, f"a LightGBM model with objective '{obj or 'unknown'}' and "
                               f"{est.num_model_per_iteration()} output(s)")
        if "is_linear=1" in est.model_to_string(num_iteration=1):
            raise ModelError(f"Model {path} uses LightGBM linear trees, which TreeSHAP does not explain exactly. "
                             "Retrain with linear_tree=false.")

        # boosters restored from skops/pickle bypass the text-file check; a bad index would
        # crash the process inside LightGBM's prediction code
        problem = tree_problem(est.model_to_string().split("\n"))
        if problem:
            raise ModelError(f"Model {path} holds a malformed LightGBM model: {problem}.")
        try:
            _CHECKED[est] = est.num_trees()
        except TypeError:
            pass

    def trees_version(self, est):
        return int(est.num_trees()), int(est.current_iteration())

    def facts(self, est):
        fr = self.forest(est)  # parsed once per model: the attributions read it too
        objective, sigmoid = self._objective(est)
        return Facts(
            n_trees=fr.n_trees,
            max_depth=fr.max_depth(),
            objective=objective,
            n_features=est.num_feature(),
            feature_names=tuple(est.feature_name()),
            # LightGBM's probability is sigmoid(k * margin): k * margin is the log-odds.
            raw_scale=sigmoid,
        )

    def categories(self, est):
        names = est.feature_name()
        # categorical features list their category codes in feature_infos (numeric: min/max);
        # params["categorical_feature"] is absent on boosters trained in memory with "auto".
        infos = self._header(est).get("feature_infos") or {}
        cat_idx = [i for i, n in enumerate(names) if infos.get(n, {}).get("values")]
        pandas_cats = est.pandas_categorical or []
        out: list[Optional[tuple]] = [None] * len(names)
        if pandas_cats and len(pandas_cats) == len(cat_idx):
            for i, cats in zip(cat_idx, pandas_cats):
                out[i] = tuple(cats)
        elif cat_idx:
            # integer-coded categorical features (no pandas categories stored): numeric codes
            for i in cat_idx:
                out[i] = ()
        return tuple(out)

    def raw(self, est, M):
        return np.asarray(est.predict(M, raw_score=True, num_iteration=-1), dtype=np.float64)

    def select_trees(self, est):
        import lightgbm as lgb

        total = int(est.current_iteration())
        best = int(getattr(est, "best_iteration", -1) or -1)
        stored = int(est.num_trees())
        if 0 < best < total:  # Booster.predict (and LGBMClassifier.predict_proba) use best_iteration
            kept = lgb.Booster(model_str=est.model_to_string(num_iteration=best))
            return kept, best, stored
        return est, (best if best > 0 else None), stored

    def owner_proba(self, est, M):
        # num_iteration=None: the booster's best_iteration when it has one, as predict_proba does
        return np.asarray(est.predict(M), dtype=np.float64)

    def build_forest(self, est):
        from churnlens.attribution.treeshap import from_lightgbm_dump

        return from_lightgbm_dump(est.dump_model())

    def library_contribs(self, est, M):
        """LightGBM's own TreeSHAP (``pred_contrib``)."""
        out = np.asarray(est.predict(M, pred_contrib=True, num_iteration=-1), dtype=np.float64)
        return out[:, :-1], float(out[0, -1])

    def cross_reference(self, est, M, *, categorical):
        import lightgbm as lgb

        phi, base = self.library_contribs(est, M)
        return phi, base, Note.of("crosscheck.lightgbm", version=lgb.__version__)


# --- XGBoost ----------------------------------------------------------------------------------

def _xgb_ascii_levels(est: Any, names: list) -> dict:
    """Per feature, the levels in the model JSON's ``cats`` block that are safe to read back.

    XGBoost 3.2 stores text categories with character counts as byte offsets, so non-ASCII
    text is truncated; only features whose stored bytes are all ASCII are decoded.
    """
    try:
        model = json.loads(est.save_raw("json"))["learner"]["gradient_booster"]["model"]
        enc = model["cats"]["enc"]
    except (KeyError, TypeError, ValueError):
        return {}
    out = {}
    for name, e in zip(names, enc):
        values = e.get("values") or []
        if "offsets" not in e:  # numeric categories
            out[name] = tuple(values) or None
            continue
        raw = [v & 0xFF for v in values]
        if any(b >= 0x80 for b in raw):
            continue  # non-ASCII text: the stored bytes may be cut short
        data, offs = bytes(raw), e["offsets"]
        out[name] = tuple(data[offs[i]:offs[i + 1]].decode("ascii") for i in range(len(offs) - 1)) or None
    return out


class _XGBoost(_Family):
    name = "xgboost"

    def unwrap(self, est):
        import xgboost as xgb

        return est if isinstance(est, xgb.Booster) else est.get_booster()

    def _config(self, est) -> dict:
        return json.loads(est.save_config())["learner"]

    def check(self, est, path):
        cfg = self._config(est)
        obj = cfg["objective"]["name"]
        n_class = int(cfg["learner_model_param"].get("num_class", "0"))
        n_target = int(cfg["learner_model_param"].get("num_target", "1"))
        if obj not in ("binary:logistic", "binary:logitraw") or n_class > 1 or n_target > 1:
            raise _binary_only(path, f"an XGBoost model with objective '{obj}'")
        booster = cfg.get("gradient_booster", {}).get("name", "gbtree")
        if booster not in ("gbtree", "dart"):
            raise ModelError(f"Model {path} is an XGBoost '{booster}' model; only tree boosters can be explained exactly.")

    def trees_version(self, est):
        return int(est.num_boosted_rounds())

    def facts(self, est):
        fr = self.forest(est)  # parsed once per model: the attributions read it too
        names = tuple(est.feature_names) if est.feature_names else tuple(f"f{i}" for i in range(est.num_features()))
        return Facts(
            n_trees=fr.n_trees,
            max_depth=fr.max_depth(),
            objective=self._config(est)["objective"]["name"],
            n_features=est.num_features(),
            feature_names=names,
        )

    unknown_levels = "missing"  # XGBoost treats a category outside the training set as missing

    def _categorical(self, est) -> bool:
        return bool(est.feature_types) and any(t == "c" for t in est.feature_types)

    def categories(self, est):
        """Levels XGBoost (>= 3.1) stores for columns trained from pandas categories, in code order."""
        types = list(est.feature_types or ["q"] * est.num_features())
        if "c" not in types:
            return (None,) * len(types)
        names = est.feature_names or [str(i) for i in range(len(types))]
        stored: dict = {}
        try:
            arrays = est.get_categories(export_to_arrow=True).to_arrow()
            stored = {name: (None if arr is None else tuple(arr.to_pylist())) for name, arr in arrays}
            codes_only = not any(v for v in stored.values())  # trained on integer codes (numpy input)
        except (AttributeError, TypeError):  # xgboost < 3.1: categories are not kept in the model
            codes_only = False
        except Exception:  # XGBoost 3.2 truncates non-ASCII category text and cannot read it back
            stored, codes_only = _xgb_ascii_levels(est, names), False
        out: list[Optional[tuple]] = []
        for name, t in zip(names, types):
            if t != "c":
                out.append(None)
            elif stored.get(name):
                out.append(stored[name])
            else:
                out.append(() if codes_only else LEVELS_UNKNOWN)
        return tuple(out)

    def _dmatrix(self, est, M):
        import xgboost as xgb

        if self._categorical(est):  # category codes, in the order of the training categories
            return xgb.DMatrix(M, feature_names=est.feature_names, feature_types=est.feature_types,
                               missing=np.nan, enable_categorical=True)
        return xgb.DMatrix(M, feature_names=est.feature_names, missing=np.nan)

    def _inplace(self, est) -> bool:
        """Whether XGBoost's ``inplace_predict`` gives the same margins as ``predict`` on a DMatrix:
        gbtree boosters on numeric input (measured identical, NaN included; not for dart, whose
        in-place prediction weighs the trees differently, nor for categorical columns, which need
        the DMatrix's feature types)."""
        if self._categorical(est):
            return False
        return self._config(est).get("gradient_booster", {}).get("name", "gbtree") == "gbtree"

    def raw(self, est, M):
        # XGBoost's own prediction; in place on the float64 matrix when that is the same numbers
        # (no DMatrix copy: half the cost at 2,000 rows)
        if self._inplace(est):
            return np.asarray(est.inplace_predict(np.ascontiguousarray(M, dtype=np.float64), predict_type="margin",
                                                  missing=np.nan), dtype=np.float64)
        return np.asarray(est.predict(self._dmatrix(est, M), output_margin=True), dtype=np.float64)

    precision = "float32"  # XGBoost predicts in float32

    def _stored_trees(self, est) -> int:
        """Trees the booster holds (all rounds x parallel trees), from its configuration: the
        text dump of every tree (``get_dump``) costs ~0.05 s on 300 trees, on every call of the
        public API."""
        gb = self._config(est).get("gradient_booster", {})
        param = gb.get("gbtree_model_param") or gb.get("gbtree", {}).get("gbtree_model_param") or {}
        try:
            return int(param["num_trees"])
        except (KeyError, TypeError, ValueError):  # an XGBoost without it in the configuration
            return len(est.get_dump())

    @staticmethod
    def _best_iteration(est) -> Optional[int]:
        best = est.attr("best_iteration")
        return None if best is None else int(best)

    def select_trees(self, est):
        best = self._best_iteration(est)
        rounds = int(est.num_boosted_rounds())
        stored = self._stored_trees(est)
        if best is not None and best + 1 < rounds:
            # XGBClassifier.predict_proba of the loaded model: iteration_range=(0, best_iteration + 1)
            kept = est[: best + 1]
            if est.feature_names and not kept.feature_names:
                kept.feature_names = est.feature_names
            if est.feature_types and not kept.feature_types:
                kept.feature_types = est.feature_types
            return kept, best, stored
        return est, best, stored

    def owner_proba(self, est, M):
        best = self._best_iteration(est)
        rng = (0, best + 1) if best is not None else (0, 0)
        margin = np.asarray(est.predict(self._dmatrix(est, M), output_margin=True, iteration_range=rng),
                            dtype=np.float64)
        if self._config(est)["objective"]["name"] == "binary:logitraw":
            from scipy.special import expit

            return expit(margin)
        return np.asarray(est.predict(self._dmatrix(est, M), iteration_range=rng), dtype=np.float64)

    def build_forest(self, est):
        from churnlens.attribution.treeshap import from_xgboost_json

        return from_xgboost_json(json.loads(bytes(est.save_raw("json"))))

    def library_contribs(self, est, M):
        """XGBoost's own TreeSHAP (``pred_contribs``)."""
        out = np.asarray(est.predict(self._dmatrix(est, M), pred_contribs=True), dtype=np.float64)
        return out[:, :-1], float(out[0, -1])

    def reference(self, est, M):
        import pandas as pd

        names = est.feature_names
        data = pd.DataFrame(M, columns=names) if names else M
        return _shap_reference(est, data, positive_class=True)

    def cross_reference(self, est, M, *, categorical):
        import xgboost as xgb

        phi, base = self.library_contribs(est, M)
        return phi, base, Note.of("crosscheck.xgboost", version=xgb.__version__)


# --- scikit-learn -----------------------------------------------------------------------------

class _SklearnTrees(_Family):
    """scikit-learn tree ensembles (DecisionTree-based; HistGradientBoosting overrides)."""

    def check(self, est, path):
        classes = getattr(est, "classes_", None)
        if classes is None or len(classes) != 2:
            n = 0 if classes is None else len(classes)
            raise _binary_only(path, f"a {type(est).__name__} with {n} classes")

    def _trees(self, est) -> list:
        return [t for t in np.ravel(est.estimators_)]

    def trees_version(self, est):
        # the tree objects themselves (compared by identity): a refit replaces them, warm start adds some
        return tuple(self._trees(est))

    def facts(self, est):
        trees = self._trees(est)
        names = _sklearn_feature_names(est)
        return Facts(
            n_trees=len(trees),
            max_depth=max((t.tree_.max_depth for t in trees), default=0),
            objective=self.objective(est),
            n_features=int(est.n_features_in_),
            feature_names=names,
        )

    def objective(self, est) -> str:
        return "binary log-loss"

    def accepts_missing(self, est) -> bool:
        # scikit-learn's own declaration (GradientBoostingClassifier: False; forests, HistGBM: True)
        tags = getattr(est, "__sklearn_tags__", None)
        if tags is None:
            return False
        try:
            return bool(tags().input_tags.allow_nan)
        except Exception:  # noqa: BLE001 - an estimator without the tag API: assume it cannot
            return False

    def raw(self, est, M):
        return np.asarray(est.decision_function(M), dtype=np.float64)

    def select_trees(self, est):
        # GradientBoosting keeps only its fitted stages (n_estimators_ after n_iter_no_change)
        n_stages = getattr(est, "n_estimators_", None)
        stored = len(self._trees(est))
        if n_stages is None:  # forests: every tree counts
            return est, None, stored
        n_stages = int(n_stages)
        best = n_stages if getattr(est, "n_iter_no_change", None) is not None else None
        if len(est.estimators_) > n_stages:
            import copy

            kept = copy.copy(est)
            kept.estimators_ = est.estimators_[:n_stages]
            return kept, best, stored
        return est, best, stored

    def owner_proba(self, est, M):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            proba = np.asarray(est.predict_proba(M), dtype=np.float64)
        return proba[:, list(est.classes_).index(est.classes_[1])]

    def leaf_values(self, est, tree) -> np.ndarray:
        """Per node of ``tree`` (a DecisionTree) its value in raw-output units (used at leaves)."""
        raise NotImplementedError

    def intercept(self, est) -> float:
        return 0.0

    def build_forest(self, est):
        from churnlens.attribution.treeshap import from_sklearn_trees

        trees = []
        for tree in self._trees(est):
            t = tree.tree_
            arrays = {k: np.asarray(getattr(t, k)) for k in ("children_left", "children_right", "feature", "threshold",
                                                             "weighted_n_node_samples")}
            mgl = getattr(t, "missing_go_to_left", None)
            arrays["missing_go_to_left"] = None if mgl is None else np.asarray(mgl, bool)
            arrays["value"] = self.leaf_values(est, t)
            trees.append(arrays)
        return from_sklearn_trees(trees, n_features=int(est.n_features_in_), intercept=self.intercept(est))

    def reference(self, est, M):
        return _shap_reference(est, np.ascontiguousarray(M, dtype=np.float64), positive_class=True)


class _SklearnGBM(_SklearnTrees):
    name = "sklearn_gbm"

    def check(self, est, path):
        super().check(est, path)
        loss = getattr(est, "loss", "log_loss")
        if loss != "log_loss":
            raise ModelError(f"Model {path} is a GradientBoostingClassifier with loss='{loss}'; its raw output "
                             "is not log-odds. Retrain with loss='log_loss'.")

    def leaf_values(self, est, t):
        return np.asarray(t.value[:, 0, 0], np.float64) * float(est.learning_rate)

    def intercept(self, est):
        # the init estimator's raw prediction (a constant: the prior log-odds, or 0 for init='zero')
        return float(np.ravel(est._raw_predict_init(np.zeros((1, int(est.n_features_in_)), np.float32)))[0])


class _SklearnHistGBM(_SklearnTrees):
    """HistGradientBoostingClassifier, with native ``categorical_features`` too.

    A model with categorical features carries its own OrdinalEncoder (``_preprocessor``,
    categorical columns first, then the numeric ones); churnlens encodes the levels itself
    (align: code = position in the encoder's categories), so the adapter works on a shallow
    copy without that encoder, fed the columns in the trees' order (``_churnlens_perm``) and
    returning attributions in the input order. churnlens' own TreeSHAP reads the trees'
    categorical bitsets; the cross-check recomputes a sample with Algorithm 2, and
    :meth:`reference` (shap's C++ with the categorical splits set on shap's parse) is the tests'
    oracle, since shap 0.51 alone ignores bitset splits.
    """

    name = "sklearn_hist_gbm"
    unknown_levels = "missing"  # HGB sends unknown categories down the missing-value branch

    def unwrap(self, est):
        pre = getattr(est, "_preprocessor", None)
        if pre is None:
            return est
        import copy

        levels = _hgb_levels(est, pre)
        bare = copy.copy(est)
        bare._preprocessor = None
        bare._churnlens_levels = levels
        cat = np.flatnonzero(est.is_categorical_)
        bare._churnlens_perm = np.r_[cat, np.setdiff1d(np.arange(int(est.n_features_in_)), cat)].astype(np.intp)
        return bare

    def _tree_order(self, est, M):
        perm = getattr(est, "_churnlens_perm", None)
        return M if perm is None else np.ascontiguousarray(M[:, perm])

    def _input_order(self, est, phi):
        perm = getattr(est, "_churnlens_perm", None)
        if perm is None:
            return phi
        out = np.empty_like(phi)
        out[:, perm] = phi
        return out

    def raw(self, est, M):
        return np.asarray(est.decision_function(self._tree_order(est, M)), dtype=np.float64)

    def select_trees(self, est):
        n_iter = int(est.n_iter_)
        stored = len(self._trees(est))
        best = n_iter if getattr(est, "do_early_stopping_", False) else None
        if len(est._predictors) > n_iter:
            import copy

            kept = copy.copy(est)
            kept._predictors = est._predictors[:n_iter]
            return kept, best, stored
        return est, best, stored

    def owner_proba(self, est, M):
        return super().owner_proba(est, self._tree_order(est, M))

    def categories(self, est):
        mask = getattr(est, "is_categorical_", None)
        if mask is None or not np.any(mask):
            return (None,) * int(est.n_features_in_)
        levels = getattr(est, "_churnlens_levels", None) or {}
        return tuple((levels.get(i, ()) if m else None) for i, m in enumerate(mask))

    def build_forest(self, est):
        from churnlens.attribution.treeshap import from_sklearn_hist

        return from_sklearn_hist([(p.nodes, p.raw_left_cat_bitsets) for p in self._trees(est)],
                                 n_features=int(est.n_features_in_),
                                 intercept=float(np.ravel(est._baseline_prediction)[0]))

    def forest_input(self, est, M):
        # native categorical features: the trees read the category codes first, then the numeric
        # columns (the order of the estimator's own OrdinalEncoder); align already coded them
        return self._tree_order(est, M)

    def forest_columns(self, est):
        perm = getattr(est, "_churnlens_perm", None)
        return None if perm is None else np.asarray(perm, dtype=np.int64)

    def cross_reference(self, est, M, *, categorical):
        if getattr(est, "_churnlens_perm", None) is None:
            return super().cross_reference(est, M, categorical=categorical)
        # shap alone ignores the categorical splits: Lundberg et al.'s Algorithm 2 (plain numpy,
        # not the numba kernels) on the model's trees
        from churnlens.attribution.treeshap.reference import shap_values_reference

        phi, base = shap_values_reference(self.forest(est), self.forest_input(est, M))
        out = np.empty_like(phi)
        out[:, self.forest_columns(est)] = phi
        return out, base, Note.of("crosscheck.algorithm2")

    def reference(self, est, M):
        """shap's C++ TreeSHAP on shap's parse of the trees, the categorical splits set as shap
        categorical splits (shap 0.51 alone ignores them): an oracle for the tests."""
        mask = getattr(est, "is_categorical_", None)
        if mask is None or not np.any(mask):
            return super().reference(est, M)
        explainer = _hgb_categorical_explainer(est)
        X = np.array(M, dtype=np.float64, copy=True)
        X[:, np.flatnonzero(mask)] += 1.0  # shap's categorical split tests bit (code - 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            phi = np.asarray(explainer.shap_values(self._tree_order(est, X), check_additivity=False),
                             dtype=np.float64)
        base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
        return self._input_order(est, phi), float(base[0])

    def _trees(self, est):
        return [p for it in est._predictors for p in it]

    def facts(self, est):
        trees = self._trees(est)
        names = _sklearn_feature_names(est)
        return Facts(
            n_trees=len(trees),
            max_depth=max((int(p.nodes["depth"].max()) for p in trees), default=0),
            objective="binary log-loss",
            n_features=int(est.n_features_in_),
            feature_names=names,
        )


def _hgb_levels(est: Any, pre: Any) -> dict[int, tuple]:
    """Training categories of an HGB fitted on pandas categories, by input column index."""
    encoder = pre.named_transformers_.get("encoder")
    cat_idx = np.flatnonzero(est.is_categorical_)
    cats = getattr(encoder, "categories_", None) or []
    return {int(i): tuple(v.item() if isinstance(v, np.generic) else v for v in c) for i, c in zip(cat_idx, cats)}


def _hgb_categorical_explainer(est: Any) -> Any:
    """shap's parse of an HGB model with its categorical nodes turned into shap categorical splits."""
    import shap

    cached = _EXPLAINERS.get(est, {}).get("hgb_categorical") if est in _EXPLAINERS else None
    if cached is not None:
        return cached
    explainer = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")
    ens = explainer.model
    ens.model_type = "internal"
    for t, predictor in enumerate(p for it in est._predictors for p in it):
        nodes, bitsets = predictor.nodes, predictor.raw_left_cat_bitsets
        for i in np.flatnonzero(nodes["is_categorical"] & ~nodes["is_leaf"].astype(bool)):
            words = bitsets[nodes["bitset_idx"][i]]
            ens.threshold_types[t, i] = 1
            ens.thresholds[t, i] = float(int(words[0]) & 0xFFFFFF)  # bit c: code c goes left
    try:
        _EXPLAINERS.setdefault(est, {})["hgb_categorical"] = explainer
    except TypeError:
        pass
    return explainer


class _Forest(_SklearnTrees):
    raw_output = "probability"

    def objective(self, est):
        return f"{getattr(est, 'criterion', 'gini')} (probability = mean of tree leaf class shares)"

    def raw(self, est, M):
        """scikit-learn's own ``predict_proba`` of the churn class, computed as the forest does
        with ``n_jobs=1``: its input check, then every tree's own ``predict_proba`` summed in
        tree order and divided by the tree count (the same numbers, bit for bit). Without
        joblib: for a few hundred rows its dispatch and its threads' polling cost more than
        the trees (0.038 -> 0.015 CPU-s on 300 deep trees x 200 rows), and the sum no longer
        depends on which thread adds first."""
        trees = getattr(est, "estimators_", None)
        validate = getattr(est, "_validate_X_predict", None)
        if not trees or validate is None or not hasattr(trees[0], "predict_proba"):
            return np.asarray(est.predict_proba(M)[:, 1], dtype=np.float64)
        X = validate(M)  # float32, and the forest's own rule on missing values
        proba = np.zeros((X.shape[0], len(est.classes_)), dtype=np.float64)
        for tree in trees:
            proba += tree.predict_proba(X, check_input=False)
        proba /= len(trees)
        return np.asarray(proba[:, 1], dtype=np.float64)

    def leaf_values(self, est, t):
        # probability of class 1 at the node (value holds class shares or counts), averaged over trees
        v = np.asarray(t.value[:, 0, :], np.float64)
        k = list(est.classes_).index(est.classes_[1])
        return v[:, k] / np.maximum(v.sum(axis=1), 1e-300) / len(est.estimators_)


class _RandomForest(_Forest):
    name = "random_forest"


class _ExtraTrees(_Forest):
    name = "extra_trees"


FAMILIES: dict[str, _Family] = {
    f.name: f for f in (_LightGBM(), _XGBoost(), _SklearnGBM(), _SklearnHistGBM(), _RandomForest(), _ExtraTrees())
}


def _type_table() -> list[tuple[type, str]]:
    """(estimator class, family) pairs, importing optional libraries lazily."""
    table: list[tuple[type, str]] = []
    from sklearn.ensemble import (
        ExtraTreesClassifier, GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier,
    )

    table += [
        (GradientBoostingClassifier, "sklearn_gbm"),
        (HistGradientBoostingClassifier, "sklearn_hist_gbm"),
        (RandomForestClassifier, "random_forest"),
        (ExtraTreesClassifier, "extra_trees"),
    ]
    try:
        import lightgbm as lgb

        table += [(lgb.Booster, "lightgbm"), (lgb.LGBMClassifier, "lightgbm")]
    except ImportError:  # pragma: no cover - lightgbm is a hard dependency
        pass
    try:
        import xgboost as xgb

        table += [(xgb.Booster, "xgboost"), (xgb.XGBClassifier, "xgboost")]
    except ImportError:
        pass
    return table


def family_of(est: Any) -> Optional[str]:
    """Family name of a (final) estimator, or None when unsupported."""
    for cls, name in _type_table():
        if type(est) is cls:
            return name
    for cls, name in _type_table():  # subclasses (e.g. a bank's own wrapper class)
        if isinstance(est, cls):
            return name
    return None


SUPPORTED_ESTIMATORS = (
    "lightgbm.Booster, lightgbm.LGBMClassifier, xgboost.Booster, xgboost.XGBClassifier, "
    "sklearn GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier, "
    "ExtraTreesClassifier (alone or as the last step of a Pipeline)"
)
