"""LightGBM's text model format: rebuilt from a JSON dump, and checked before use.

``dump_to_model_string`` rebuilds the text model from ``Booster.dump_model()``;
``tree_problem`` finds structural defects LightGBM itself would crash on.

LightGBM writes JSON dumps but cannot read them back. The dump holds every number the
text format needs (splits, thresholds, default directions, leaf values and the
internal/leaf counts TreeSHAP uses as covers), so we translate it and let LightGBM load
the text: predictions and ``pred_contrib`` then run in LightGBM's own C++ code.
"""

from __future__ import annotations

import json

# decision_type bit layout in the text format (LightGBM tree.h): bit 0 categorical,
# bit 1 default_left, bits 2-3 missing type (0 None, 1 Zero, 2 NaN).
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}


def _num(x: float | int) -> str:
    # repr of a Python float is the shortest string that round-trips exactly.
    return repr(float(x)) if isinstance(x, float) else str(x)


def _category_words(threshold) -> list[int]:
    """LightGBM's text form of a categorical split: the categories going left ("1||4||7") as a
    bitset in 32-bit words."""
    cats = [int(c) for c in str(threshold).split("||") if c != ""]
    words = [0] * (max(cats) // 32 + 1 if cats else 1)
    for c in cats:
        words[c // 32] |= 1 << (c % 32)
    return words


def _tree_text(tree: dict) -> str:
    n_leaves = int(tree["num_leaves"])
    lines = [f"Tree={tree['tree_index']}", f"num_leaves={n_leaves}"]
    root = tree["tree_structure"]
    if n_leaves <= 1:
        lines += ["num_cat=0", f"leaf_value={_num(root.get('leaf_value', 0.0))}", "is_linear=0",
                  f"shrinkage={_num(tree.get('shrinkage', 1))}", "", ""]
        return "\n".join(lines)
    n_int = n_leaves - 1
    split_feature = [0] * n_int
    split_gain = [0.0] * n_int
    threshold: list[str] = ["0"] * n_int
    decision = [0] * n_int
    left = [0] * n_int
    right = [0] * n_int
    int_value = [0.0] * n_int
    int_weight = [0.0] * n_int
    int_count = [0] * n_int
    leaf_value = [0.0] * n_leaves
    leaf_weight = [0.0] * n_leaves
    leaf_count = [0] * n_leaves
    cat_boundaries = [0]
    cat_threshold: list[int] = []

    def child_id(node: dict) -> int:
        return int(node["split_index"]) if "split_index" in node else ~int(node["leaf_index"])

    stack = [root]
    while stack:
        node = stack.pop()
        if "leaf_index" in node:
            i = int(node["leaf_index"])
            leaf_value[i] = node["leaf_value"]
            leaf_weight[i] = node.get("leaf_weight", 0.0)
            leaf_count[i] = int(node.get("leaf_count", 0))
            continue
        i = int(node["split_index"])
        split_feature[i] = int(node["split_feature"])
        split_gain[i] = node.get("split_gain", 0.0)
        dt = (2 if node.get("default_left") else 0) | (_MISSING[node.get("missing_type", "None")] << 2)
        if node["decision_type"] == "==":
            dt |= 1
            words = _category_words(node["threshold"])
            threshold[i] = str(len(cat_boundaries) - 1)
            cat_threshold.extend(words)
            cat_boundaries.append(cat_boundaries[-1] + len(words))
        elif node["decision_type"] == "<=":
            threshold[i] = _num(float(node["threshold"]))
        else:
            raise ValueError(f"unknown decision_type {node['decision_type']!r}")
        decision[i] = dt
        left[i] = child_id(node["left_child"])
        right[i] = child_id(node["right_child"])
        int_value[i] = node.get("internal_value", 0.0)
        int_weight[i] = node.get("internal_weight", 0.0)
        int_count[i] = int(node.get("internal_count", 0))
        stack += [node["left_child"], node["right_child"]]

    def join(xs) -> str:
        return " ".join(_num(x) if isinstance(x, float) else str(x) for x in xs)

    n_cat = len(cat_boundaries) - 1
    lines += [
        f"num_cat={n_cat}",
        f"split_feature={join(split_feature)}",
        f"split_gain={join(split_gain)}",
        f"threshold={' '.join(threshold)}",
        f"decision_type={join(decision)}",
        f"left_child={join(left)}",
        f"right_child={join(right)}",
        f"leaf_value={join(leaf_value)}",
        f"leaf_weight={join(leaf_weight)}",
        f"leaf_count={join(leaf_count)}",
        f"internal_value={join(int_value)}",
        f"internal_weight={join(int_weight)}",
        f"internal_count={join(int_count)}",
    ]
    if n_cat:
        lines += [f"cat_boundaries={join(cat_boundaries)}", f"cat_threshold={join(cat_threshold)}"]
    lines += ["is_linear=0", f"shrinkage={_num(tree.get('shrinkage', 1))}", "", ""]
    return "\n".join(lines)


def _feature_info(info: dict) -> str:
    if info.get("values"):
        return ":".join(str(int(v)) for v in info["values"])
    if "min_value" in info and "max_value" in info:
        return f"[{_num(info['min_value'])}:{_num(info['max_value'])}]"
    return "none"


def dump_to_model_string(dump: dict) -> str:
    """Text model (as ``Booster.model_to_string()`` writes it) equivalent to a JSON dump.

    Raises
    ------
    ValueError, KeyError
        The mapping is not a LightGBM dump or uses features we cannot translate
        (linear trees).
    """
    names = list(dump["feature_names"])
    infos = dump.get("feature_infos", {})
    header = [
        "tree",
        f"version={dump.get('version', 'v4')}",
        f"num_class={dump['num_class']}",
        f"num_tree_per_iteration={dump['num_tree_per_iteration']}",
        f"label_index={dump.get('label_index', 0)}",
        f"max_feature_idx={dump['max_feature_idx']}",
        f"objective={dump['objective']}",
    ]
    if dump.get("average_output"):
        header.append("average_output")
    header += [
        f"feature_names={' '.join(names)}",
        f"feature_infos={' '.join(_feature_info(infos.get(n, {})) for n in names)}",
        "",
    ]
    trees = []
    for tree in dump["tree_info"]:
        if tree.get("is_linear"):
            raise ValueError("linear trees are not supported")
        trees.append(_tree_text(tree))
    text = "\n".join(header) + "\n" + "".join(trees) + "end of trees\n"
    cats = dump.get("pandas_categorical")
    text += f"\npandas_categorical:{json.dumps(cats)}\n"
    return text


def tree_problem(lines: list[str]) -> str:
    """First structural defect of a LightGBM text model's trees, or "".

    LightGBM trusts the indices in the file: a split on a feature beyond
    ``max_feature_idx`` or a child index out of range crashes the process at prediction
    time (segmentation fault), so they are checked here. Each tree must be a proper
    binary tree: from the root every internal node and every leaf is reached exactly once.
    """
    header = dict(line.split("=", 1) for line in lines[:40] if "=" in line and not line.startswith("Tree="))
    try:
        n_features = int(header["max_feature_idx"]) + 1
    except (KeyError, ValueError):
        return "the header has no valid max_feature_idx line"
    trees: list[dict[str, str]] = []
    for line in lines:
        if line.startswith("Tree="):
            trees.append({})
        elif line.strip() == "end of trees":
            break
        elif trees and "=" in line:
            key, value = line.split("=", 1)
            trees[-1][key] = value
    for t, tree in enumerate(trees):
        try:
            n_leaves = int(tree["num_leaves"])
            if n_leaves <= 1:
                continue
            split = [int(v) for v in tree["split_feature"].split()]
            left = [int(v) for v in tree["left_child"].split()]
            right = [int(v) for v in tree["right_child"].split()]
            decision = [int(v) for v in tree["decision_type"].split()]
            threshold = tree["threshold"].split()
            n_cat = int(tree.get("num_cat", "0"))
        except (KeyError, ValueError) as err:
            return f"tree {t} lacks or garbles the field {err}"
        n_int = n_leaves - 1
        if not len(split) == len(left) == len(right) == len(decision) == len(threshold) == n_int:
            return f"tree {t} has {n_leaves} leaves but its node fields do not all hold {n_int} values"
        bad = [f for f in split if not 0 <= f < n_features]
        if bad:
            return f"tree {t} splits on feature index {bad[0]}, but the model has {n_features} features"
        seen_nodes, seen_leaves, stack = {0}, set(), [0]
        while stack:
            node = stack.pop()
            for child in (left[node], right[node]):
                if child < 0:
                    leaf = ~child
                    if leaf >= n_leaves or leaf in seen_leaves:
                        return f"tree {t} has an invalid or repeated leaf reference {child}"
                    seen_leaves.add(leaf)
                elif child >= n_int or child in seen_nodes:
                    return f"tree {t} has an invalid or repeated child node {child}"
                else:
                    seen_nodes.add(child)
                    stack.append(child)
        if len(seen_nodes) != n_int or len(seen_leaves) != n_leaves:
            return f"tree {t} has nodes or leaves not reachable from its root"
        if any(d & 1 for d in decision):
            try:
                bounds = [int(v) for v in tree["cat_boundaries"].split()]
                n_words = len(tree["cat_threshold"].split())
                cats = [int(threshold[i]) for i, d in enumerate(decision) if d & 1]
            except (KeyError, ValueError) as err:
                return f"tree {t} has categorical splits but lacks or garbles {err}"
            if (len(bounds) != n_cat + 1 or bounds[0] != 0 or bounds[-1] != n_words
                    or any(b > c for b, c in zip(bounds, bounds[1:])) or any(not 0 <= c < n_cat for c in cats)):
                return f"tree {t} has inconsistent categorical split tables (num_cat, cat_boundaries, cat_threshold)"
    return ""
