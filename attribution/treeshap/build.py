"""Builders: trees handed over as plain data (JSON dumps, arrays) -> one :class:`Forest`.

Only ``attribution/_families.py`` talks to the libraries; it passes what they export here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from churnlens.attribution.treeshap import _kernels as K
from churnlens.attribution.treeshap.forest import Forest


@dataclass
class TreeArrays:
    """One tree in local node indices (any order; node ``root`` is the root).

    ``cats`` maps a categorical node to the integer categories that go LEFT.
    """

    left: np.ndarray  # (n,) int, -1 at leaves
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    kind: np.ndarray  # per node, see forest.py
    missing: np.ndarray
    default_left: np.ndarray
    value: np.ndarray  # leaf values in raw-output units
    cover: np.ndarray
    cats: Optional[dict] = None
    root: int = 0


def _as(a, dtype, n: int) -> np.ndarray:
    a = np.asarray(a, dtype=dtype)
    return np.full(n, a, dtype=dtype) if a.ndim == 0 else a


def from_tree_arrays(trees: Sequence[TreeArrays], *, n_features: int, intercept: float = 0.0,
                     cast_float32: bool = False) -> Forest:
    """Pack trees into a :class:`Forest` (each tree renumbered in preorder)."""
    cols: dict[str, list] = {k: [] for k in ("left", "right", "feature", "kind", "threshold", "missing",
                                             "default_left", "cat_start", "cat_len", "value", "cover")}
    words: list[np.ndarray] = []
    n_words = 0
    starts = [0]
    for tr in trees:
        n = len(tr.left)
        left = np.asarray(tr.left, dtype=np.int64)
        right = np.asarray(tr.right, dtype=np.int64)
        if np.any((left < -1) | (left >= n) | (right < -1) | (right >= n)) or not 0 <= int(tr.root) < n:
            raise ValueError("a tree has a child index outside its nodes")
        order = np.empty(n, np.int64)
        m = K.preorder(left, right, int(tr.root), order)
        order = order[:m]
        new = np.full(n, -1, np.int64)
        new[order] = np.arange(m) + starts[-1]
        is_leaf = left[order] < 0
        cols["left"].append(np.where(is_leaf, -1, new[np.maximum(left[order], 0)]))
        cols["right"].append(np.where(is_leaf, -1, new[np.maximum(right[order], 0)]))
        feature = np.where(is_leaf, 0, _as(tr.feature, np.int64, n)[order])
        if np.any((feature < 0) | (feature >= n_features)):
            raise ValueError(f"a tree splits on a feature index outside [0, {n_features})")
        cols["feature"].append(feature)
        for k, dt in (("kind", np.int8), ("threshold", np.float64), ("missing", np.int8),
                      ("default_left", np.bool_), ("value", np.float64), ("cover", np.float64)):
            cols[k].append(_as(getattr(tr, k), dt, n)[order])
        cs, cl = np.zeros(m, np.int64), np.zeros(m, np.int64)
        for node, cats in (tr.cats or {}).items():
            cats = np.asarray(sorted(int(c) for c in cats if int(c) >= 0), dtype=np.int64)
            w = np.zeros(int(cats.max()) // 32 + 1 if len(cats) else 1, np.uint32)
            np.bitwise_or.at(w, cats >> 5, (np.uint32(1) << (cats & 31).astype(np.uint32)))
            i = int(new[node] - starts[-1])
            cs[i], cl[i] = n_words, len(w)
            words.append(w)
            n_words += len(w)
        cols["cat_start"].append(cs)
        cols["cat_len"].append(cl)
        starts.append(starts[-1] + m)
    cat = {k: np.ascontiguousarray(np.concatenate(v)) if v else np.zeros(0) for k, v in cols.items()}
    return Forest(
        node_start=np.asarray(starts, np.int64), left=cat["left"].astype(np.int64), right=cat["right"].astype(np.int64),
        feature=cat["feature"].astype(np.int64), kind=cat["kind"].astype(np.int8),
        threshold=cat["threshold"].astype(np.float64), missing=cat["missing"].astype(np.int8),
        default_left=cat["default_left"].astype(np.bool_), cat_start=cat["cat_start"].astype(np.int64),
        cat_len=cat["cat_len"].astype(np.int64),
        cat_words=np.concatenate(words) if words else np.zeros(1, np.uint32),
        value=cat["value"].astype(np.float64), cover=cat["cover"].astype(np.float64), intercept=float(intercept),
        n_features=int(n_features), cast_float32=cast_float32)


# --- LightGBM: Booster.dump_model() ----------------------------------------------------------------

_LGB_MISSING = {"None": K.MISS_AS_ZERO, "Zero": K.MISS_ZERO, "NaN": K.MISS_NAN}


def _lgb_tree(root: dict, scale: float) -> TreeArrays:
    rows: list[tuple] = []
    cats: dict[int, list[int]] = {}
    stack = [(root, -1, 0)]
    while stack:  # nodes numbered in visiting order; children patched when visited
        node, parent, side = stack.pop()
        i = len(rows)
        if parent >= 0:
            rows[parent][side] = i
        if "split_index" not in node:
            rows.append([-1, -1, 0, 0.0, K.KIND_LE, K.MISS_NAN, False, float(node.get("leaf_value", 0.0)) * scale,
                         float(node.get("leaf_count", 0))])
            continue
        if node["decision_type"] == "==":
            # LightGBM: categories in the set go left; NaN and negative values go right
            cats[i] = [int(c) for c in str(node["threshold"]).split("||") if c != ""]
            kind, thr, miss, dleft = K.KIND_CAT, 0.0, K.MISS_NAN, False
        elif node["decision_type"] == "<=":
            kind, thr = K.KIND_LE, float(node["threshold"])
            miss, dleft = _LGB_MISSING[node.get("missing_type", "None")], bool(node.get("default_left", False))
        else:
            raise ValueError(f"unknown LightGBM decision_type {node['decision_type']!r}")
        rows.append([-1, -1, int(node["split_feature"]), thr, kind, miss, dleft, 0.0,
                     float(node.get("internal_count", 0))])
        stack += [(node["right_child"], i, 1), (node["left_child"], i, 0)]
    arr = list(zip(*rows))
    return TreeArrays(*(np.asarray(a) for a in arr), cats=cats)


def from_lightgbm_dump(dump: dict) -> Forest:
    """Forest of a binary LightGBM model from ``Booster.dump_model()`` (covers = data counts)."""
    trees = dump["tree_info"]
    scale = 1.0 / len(trees) if dump.get("average_output") and trees else 1.0  # boosting=rf
    return from_tree_arrays([_lgb_tree(t["tree_structure"], scale) for t in trees],
                            n_features=int(dump["max_feature_idx"]) + 1)


# --- XGBoost: Booster.save_raw("json") ------------------------------------------------------------

def _xgb_float(s) -> float:
    return float(str(s).strip("[]").split(",")[0])


def _xgb_tree(t: dict, weight: float) -> TreeArrays:
    left = np.asarray(t["left_children"], np.int64)
    right = np.asarray(t["right_children"], np.int64)
    cond = np.asarray(t["split_conditions"], np.float32).astype(np.float64)
    is_leaf = left < 0
    dleft = np.asarray(t["default_left"], bool)
    split_type = np.asarray(t.get("split_type", np.zeros(len(left))), np.int64)
    kind = np.where(split_type == 1, K.KIND_CAT, K.KIND_LT)
    cats: dict[int, list[int]] = {}
    seg, size = t.get("categories_segments", []), t.get("categories_sizes", [])
    for j, node in enumerate(t.get("categories_nodes", [])):
        # XGBoost sends the listed categories (and nothing else) right: swap the children
        cats[int(node)] = list(t["categories"][int(seg[j]):int(seg[j]) + int(size[j])])
        left[node], right[node] = right[node], left[node]
        dleft[node] = not dleft[node]
    return TreeArrays(left, right, np.asarray(t["split_indices"], np.int64), np.where(is_leaf, 0.0, cond),
                      kind, K.MISS_NAN, dleft, np.where(is_leaf, cond * weight, 0.0),
                      np.asarray(t["sum_hessian"], np.float32).astype(np.float64), cats=cats)


def from_xgboost_json(model: dict) -> Forest:
    """Forest of a binary XGBoost gbtree/dart model from its JSON (``save_raw("json")``).

    The intercept is ``base_score`` as a margin: logit(base_score) for ``binary:logistic``,
    base_score itself for ``binary:logitraw``.
    """
    learner = model["learner"]
    gb = learner["gradient_booster"]
    weights = None
    if gb.get("name") == "dart":
        weights, gb = gb.get("weight_drop"), gb["gbtree"]
    trees = gb["model"]["trees"]
    weights = weights or [1.0] * len(trees)
    base = _xgb_float(learner["learner_model_param"]["base_score"])
    obj = learner.get("objective", {}).get("name", "binary:logistic")
    intercept = math.log(base / (1 - base)) if obj == "binary:logistic" else base
    return from_tree_arrays([_xgb_tree(t, float(w)) for t, w in zip(trees, weights)],
                            n_features=int(learner["learner_model_param"]["num_feature"]),
                            intercept=intercept, cast_float32=True)


# --- scikit-learn HistGradientBoosting: predictor node records ------------------------------------

def from_sklearn_hist(predictors: Sequence[tuple[np.ndarray, np.ndarray]], *, n_features: int,
                      intercept: float) -> Forest:
    """Forest from HistGradientBoosting predictors given as ``(nodes, raw_left_cat_bitsets)``.

    ``nodes`` is the predictor's structured node array (value, count, feature_idx,
    num_threshold, missing_go_to_left, left, right, is_leaf, is_categorical, bitset_idx);
    categorical nodes send the categories of their bitset left, NaN by missing_go_to_left.
    """
    trees = []
    for nodes, bitsets in predictors:
        leaf = nodes["is_leaf"].astype(bool)
        cat = nodes["is_categorical"].astype(bool) & ~leaf
        cats = {}
        for i in np.flatnonzero(cat):
            words = np.asarray(bitsets[nodes["bitset_idx"][i]], np.uint32)
            bits = np.unpackbits(words.view(np.uint8), bitorder="little")
            cats[int(i)] = np.flatnonzero(bits).tolist()
        trees.append(TreeArrays(
            np.where(leaf, -1, nodes["left"].astype(np.int64)), np.where(leaf, -1, nodes["right"].astype(np.int64)),
            nodes["feature_idx"],
            nodes["num_threshold"], np.where(cat, K.KIND_CAT, K.KIND_LE), K.MISS_NAN,
            nodes["missing_go_to_left"].astype(bool), np.where(leaf, nodes["value"], 0.0), nodes["count"], cats=cats))
    return from_tree_arrays(trees, n_features=n_features, intercept=intercept)


# --- scikit-learn DecisionTree-based ensembles: tree_ arrays --------------------------------------

def from_sklearn_trees(trees: Sequence[dict], *, n_features: int, intercept: float = 0.0) -> Forest:
    """Forest from scikit-learn ``tree_`` arrays given as dicts of plain numpy arrays.

    Each dict holds ``children_left``, ``children_right``, ``feature``, ``threshold``,
    ``missing_go_to_left`` (may be absent: NaN then follows the larger child, as scikit-learn
    does for features without missing values in training), ``value`` (the leaf value in
    raw-output units, learning rate or 1/n_trees applied) and ``weighted_n_node_samples``
    (the cover). scikit-learn compares ``float32(x) <= threshold``; NaN takes the node's
    missing direction.
    """
    out = []
    for t in trees:
        left = np.asarray(t["children_left"], np.int64)
        right = np.asarray(t["children_right"], np.int64)
        cover = np.asarray(t["weighted_n_node_samples"], np.float64)
        leaf = left < 0
        mgl = t.get("missing_go_to_left")
        if mgl is None:
            mgl = np.zeros(len(left), bool)
            inner = ~leaf
            mgl[inner] = cover[left[inner]] >= cover[right[inner]]
        out.append(TreeArrays(left, right, np.where(leaf, 0, np.asarray(t["feature"], np.int64)),
                              np.where(leaf, 0.0, np.asarray(t["threshold"], np.float64)), K.KIND_LE, K.MISS_NAN,
                              np.asarray(mgl, bool), np.where(leaf, np.asarray(t["value"], np.float64), 0.0), cover))
    return from_tree_arrays(out, n_features=n_features, intercept=intercept, cast_float32=True)
