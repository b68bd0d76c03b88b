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

    def categories(self, est: Any) -> tuple[Optional[tuple], ...]:
        """Per input column the training categories (None for numeric columns)."""
        return (None,) * self.facts(est).n_features

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

    def forest(self, est: Any):
        """:meth:`build_forest`, cached per estimator (built once per model, not per chunk)."""
        try:
            fr = _FORESTS.get(est)
        except TypeError:  # not weak-referenceable
            return self.build_forest(est)
        if fr is None:
            fr = self.build_forest(est)
            _FORESTS[est] = fr
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

def _lgb_depth(node: dict) -> int:
    depth, stack = 0, [(node, 0)]
    while stack:
        nd, d = stack.pop()
        if "split_index" in nd:
            stack += [(nd["left_child"], d + 1), (nd["right_child"], d + 1)]
        else:
            depth = max(depth, d)
    return depth


class _LightGBM(_Family):
    name = "lightgbm"

    def unwrap(self, est):
        import lightgbm as lgb

        return est if isinstance(est, lgb.Booster) else est.booster_

    def _objective(self, est) -> tuple[str, float]:
        obj = str(est.dump_model(num_iteration=1).get("objective", ""))
        sigmoid = 1.0
        for tok in obj.split()[1:]:
            if tok.startswith("sigmoid:"):
                sigmoid = float(tok.split(":", 1)[1])
        return obj, sigmoid

    def check(self, est, path):
        obj, _ = self._objective(est)
        if est.num_model_per_iteration() != 1 or not obj.startswith("binary"):
            raise _binary_only(path, f"a LightGBM model with objective '{obj or 'unknown'}' and "
                               f"{est.num_model_per_iteration()} output(s)")
        if "is_linear=1" in est.model_to_string(num_iteration=1):
            raise ModelError(f"Model {path} uses LightGBM linear trees, which TreeSHAP does not explain exactly. "
                             "Retrain with linear_tree=false.")
        from churnlens.attribution._lgb_json import tree_problem

        # boosters restored from skops/pickle bypass the text-file check; a bad index would
        # crash the process inside LightGBM's prediction code
        problem = tree_problem(est.model_to_string().split("\n"))
        if problem:
            raise ModelError(f"Model {path} holds a malformed LightGBM model: {problem}.")

    def facts(self, est):
        dump = est.dump_model()
        trees = dump["tree_info"]
        return Facts(
            n_trees=len(trees),
            max_depth=max((_lgb_depth(t["tree_structure"]) for t in trees), default=0),
            objective=self._objective(est)[0],
            n_features=est.num_feature(),
            feature_names=tuple(est.feature_name()),
            # LightGBM's probability is sigmoid(k * margin): k * margin is the log-odds.
            raw_scale=self._objective(est)[1],
        )

    def categories(self, est):
        names = est.feature_name()
        # categorical features list their category codes in feature_infos (numeric: min/max);
        # params["categorical_feature"] is absent on boosters trained in memory with "auto".
        infos = est.dump_model(num_iteration=1).get("feature_infos", {})
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
        return np.asarray(est.predict(M, raw_score=True), dtype=np.float64)

    def build_forest(self, est):
        from churnlens.attribution.treeshap import from_lightgbm_dump

        return from_lightgbm_dump(est.dump_model())

    def library_contribs(self, est, M):
        """LightGBM's own TreeSHAP (``pred_contrib``)."""
        out = np.asarray(est.predict(M, pred_contrib=True), dtype=np.float64)
        return out[:, :-1], float(out[0, -1])

    def cross_reference(self, est, M, *, categorical):
        import lightgbm as lgb

        phi, base = self.library_contribs(est, M)
        return phi, base, Note.of("crosscheck.lightgbm", version=lgb.__version__)


# --- XGBoost ----------------------------------------------------------------------------------

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
        if est.feature_types and any(t == "c" for t in est.feature_types):
            raise ModelError(
                f"Model {path} is an XGBoost model with categorical features; churnlens does not yet map "
                "CSV text to XGBoost's categories. One-hot or ordinal-encode those columns in a scikit-learn "
                "Pipeline, or use LightGBM with pandas categories."
            )
        booster = cfg.get("gradient_booster", {}).get("name", "gbtree")
        if booster not in ("gbtree", "dart"):
            raise ModelError(f"Model {path} is an XGBoost '{booster}' model; only tree boosters can be explained exactly.")

    def facts(self, est):
        dumps = est.get_dump(dump_format="json")

        def depth(node, d=0):
            return max((depth(c, d + 1) for c in node.get("children", [])), default=d)

        names = tuple(est.feature_names) if est.feature_names else tuple(f"f{i}" for i in range(est.num_features()))
        return Facts(
            n_trees=len(dumps),
            max_depth=max((depth(json.loads(t)) for t in dumps), default=0),
            objective=self._config(est)["objective"]["name"],
            n_features=est.num_features(),
            feature_names=names,
        )

    def _dmatrix(self, est, M):
        import xgboost as xgb

        return xgb.DMatrix(M, feature_names=est.feature_names, missing=np.nan)

    def raw(self, est, M):
        return np.asarray(est.predict(self._dmatrix(est, M), output_margin=True), dtype=np.float64)

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

    def raw(self, est, M):
        return np.asarray(est.decision_function(M), dtype=np.float64)

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
    name = "sklearn_hist_gbm"

    def check(self, est, path):
        super().check(est, path)
        pre = getattr(est, "_preprocessor", None)
        if pre is not None:
            enc = pre.named_transformers_["encoder"]
            if any(c.dtype.kind not in "iuf" for c in enc.categories_):
                raise ModelError(
                    f"Model {path} is a HistGradientBoostingClassifier fitted on text categories; churnlens passes "
                    "numbers to the estimator. Fit it on integer-coded categories (categorical_features=[...]), or "
                    "encode the text with an OrdinalEncoder in a Pipeline.")

    def raw(self, est, M):
        return np.asarray(est.decision_function(M), dtype=np.float64)

    def build_forest(self, est):
        from churnlens.attribution.treeshap import from_sklearn_hist

        return from_sklearn_hist([(p.nodes, p.raw_left_cat_bitsets) for p in self._trees(est)],
                                 n_features=int(est.n_features_in_),
                                 intercept=float(np.ravel(est._baseline_prediction)[0]))

    def forest_input(self, est, M):
        # native categorical features: the estimator's own OrdinalEncoder puts them first,
        # as category codes (unknown categories -> NaN -> the missing direction)
        pre = getattr(est, "_preprocessor", None)
        if pre is None:
            return M
        return np.ascontiguousarray(pre.transform(M), dtype=np.float64)

    def forest_columns(self, est):
        cat = getattr(est, "is_categorical_", None)
        if getattr(est, "_preprocessor", None) is None or cat is None:
            return None
        return np.concatenate([np.flatnonzero(cat), np.flatnonzero(~np.asarray(cat))]).astype(np.int64)

    def reference(self, est, M):
        if getattr(est, "_preprocessor", None) is not None:
            # shap 0.51 ignores HistGradientBoosting's categorical bitset splits
            raise ModelError("shap's TreeExplainer does not support HistGradientBoosting categorical splits.")
        return super().reference(est, M)

    def cross_reference(self, est, M, *, categorical):
        if getattr(est, "_preprocessor", None) is None:
            return super().cross_reference(est, M, categorical=categorical)
        # shap cannot: Lundberg et al.'s Algorithm 2 (plain numpy, not the numba kernels)
        from churnlens.attribution.treeshap.reference import shap_values_reference

        phi, base = shap_values_reference(self.forest(est), self.forest_input(est, M))
        out = np.empty_like(phi)
        out[:, self.forest_columns(est)] = phi
        return out, base, Note.of("crosscheck.algorithm2")

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


class _Forest(_SklearnTrees):
    raw_output = "probability"

    def objective(self, est):
        return f"{getattr(est, 'criterion', 'gini')} (probability = mean of tree leaf class shares)"

    def raw(self, est, M):
        return np.asarray(est.predict_proba(M)[:, 1], dtype=np.float64)

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
