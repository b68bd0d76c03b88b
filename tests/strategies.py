"""Hypothesis strategies for the fuzz tests: tables, ids, configs, model files, folder states.

Small on purpose (CI runs them in seconds): tables of at most a few hundred rows and a few
features, models of a few trees trained in the test. ``examples(n)`` is the CI example count,
multiplied in the ``long`` profile (``HYPOTHESIS_PROFILE=long pytest tests/test_fuzz_*.py``).
"""

from __future__ import annotations

import os
import unicodedata

import numpy as np
import pandas as pd
from hypothesis import strategies as st


def examples(n: int) -> int:
    """``n`` examples in CI; 25x as many in the ``long`` profile."""
    return n * 25 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else n


# --- text and ids -----------------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: text a careless or hostile user puts in a cell: formulas, quotes, separators, CJK, controls
hostile_text = st.one_of(
    st.text(min_size=0, max_size=30),
    st.sampled_from(FORMULA_STARTS).flatmap(lambda c: st.text(max_size=20).map(lambda t: c + t)),
    st.sampled_from(["=1+2", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)", "+1", "=HYPERLINK(\"http://x\")",
                     "流失客户", "a,b;c|d", "\"quoted\"", "'=already", "-2.5", "+3", "1e-3", "-inf", "NaN"]),
)

#: an id as a bank writes it (digits with leading zeros, letters, CJK), before any damage
base_id = st.one_of(
    st.integers(0, 10**9).map(lambda i: f"{i:010d}"),
    st.from_regex(r"[A-Z]{2}[0-9]{4,8}", fullmatch=True),
    st.sampled_from(["Zoë", "José", "Åsa", "客户001", "Ñandú"]).flatmap(
        lambda s: st.integers(0, 999).map(lambda i: f"{s}{i}")),
)


def damaged(ident: str) -> st.SearchStrategy[str]:
    """Spellings of ``ident`` a bank means as the same id: surrounding spaces, tabs, NFD/NFC."""
    return st.sampled_from([
        ident, f" {ident}", f"{ident} ", f"\t{ident}\n", unicodedata.normalize("NFD", ident),
        " " + unicodedata.normalize("NFD", ident) + "  ",
    ])


# --- configs ------------------------------------------------------------------------------------

def typo(word: str) -> st.SearchStrategy[str]:
    """One-letter typos of ``word`` (dropped, doubled or swapped letter) that are not ``word``."""
    def make(i_op):
        i, op = i_op
        i = i % len(word)
        if op == 0:
            out = word[:i] + word[i + 1:]
        elif op == 1:
            out = word[:i] + word[i] + word[i:]
        else:
            j = min(i + 1, len(word) - 1)
            lst = list(word)
            lst[i], lst[j] = lst[j], lst[i]
            out = "".join(lst)
        return out
    return st.tuples(st.integers(0, 50), st.integers(0, 2)).map(make).filter(lambda t: t != word and len(t) > 1)


months = st.one_of(
    st.tuples(st.integers(1900, 2200), st.integers(-1, 14)).map(lambda t: f"{t[0]:04d}-{t[1]:02d}"),
    st.text(alphabet="0123456789-/ ", max_size=9),
    st.sampled_from(["2026-11", "2026-13", "2026-00", "2026-1", "26-11", "2026/11", " 2026-11", "2026-11 "]),
)

# --- tables -----------------------------------------------------------------------------------

@st.composite
def books(draw, *, max_rows: int = 300, max_features: int = 4):
    """A small customer book: ids as text, 1..max_features numeric features, a 0/1 label,
    a value column. Degenerate on purpose with some probability: one row, identical
    customers, constant features, no churners, all churners."""
    n = draw(st.integers(1, max_rows))
    k = draw(st.integers(1, max_features))
    shape = draw(st.sampled_from(["random", "identical", "constant_feature", "no_churners", "all_churners",
                                  "one_row", "random"]))
    if shape == "one_row":
        n = 1
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k)).round(3)
    if shape == "identical":
        X[:] = X[0]
    if shape == "constant_feature":
        X[:, 0] = 1.0
    label = (X[:, 0] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    if shape == "no_churners":
        label[:] = 0
    if shape == "all_churners":
        label[:] = 1
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(k)])
    frame.insert(0, "customer_id", [f"{i:07d}" for i in range(1, n + 1)])
    frame["churned"] = label
    frame["balance"] = np.round(rng.lognormal(8, 1, n), 2)
    return frame, shape


# --- model files --------------------------------------------------------------------------------

def train_lightgbm(frame: pd.DataFrame, features, *, path, rounds: int = 3, leaves: int = 4,
                   min_leaf: int = 5) -> bool:
    """A tiny LightGBM model of ``frame`` saved at ``path`` (single-leaf trees when nothing can
    be split). Returns False when LightGBM cannot train on the book at all."""
    import lightgbm as lgb

    try:
        booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": leaves, "num_threads": 1,
                             "seed": 0, "deterministic": True, "min_data_in_leaf": min_leaf,
                             "min_data_in_bin": 1},
                            lgb.Dataset(frame[list(features)], frame["churned"]), num_boost_round=rounds)
    except lgb.basic.LightGBMError:
        return False
    booster.save_model(str(path))
    return True


model_shapes = st.fixed_dictionaries({"rounds": st.integers(1, 4), "leaves": st.sampled_from([2, 3, 4, 8]),
                                      "min_leaf": st.sampled_from([1, 5, 1000])})  # 1000: single-leaf trees

#: config fragments a user may write (legal or not); the CLI must answer each with 0 or 2
config_texts = st.lists(st.sampled_from([
    "churners: {by: label}\n", "churners: {by: score, threshold: 0.5}\n", "churners: {by: top_fraction, fraction: 1.0}\n",
    "churners: {by: value_at_risk, fraction: 0.3}\n", "seed: -1\n", "seed: 7\n", "report: {period: 2026-13}\n",
    "report: {period: 2026-11, control_share: 0.5}\n", "segmentation: {min_cluster_size: 1, stability_runs: 0}\n",
    "segmentation: {min_cluster_size: 0.5, stability_runs: 1}\n", "attribution: {mode: all}\n",
    "reasons: {k: 1, min_contribution_pp: 0}\n", "churnrs: {by: label}\n", "output_space: probability\n",
]), max_size=3, unique_by=lambda t: t.split(":")[0]).map(
    lambda parts: "id_column: customer_id\nlabel_column: churned\nvalue_column: balance\n" + "".join(parts))


# --- folder states ------------------------------------------------------------------------------

folder_states = st.sampled_from(["absent", "empty", "foreign_file", "own_report", "file_at_path"])


def make_folder_state(path, state: str, own_report=None) -> None:
    """Put ``path`` into ``state`` before a run writes there."""
    import shutil
    from pathlib import Path

    path = Path(path)
    if state == "empty":
        path.mkdir(parents=True)
    elif state == "foreign_file":
        path.mkdir(parents=True)
        (path / "notes.txt").write_text("mine")
    elif state == "own_report" and own_report is not None:
        shutil.copytree(own_report, path)
    elif state == "file_at_path":
        path.write_text("mine")
