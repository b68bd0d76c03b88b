"""churnlens' own exact path-dependent TreeSHAP (numba), for every supported tree family.

    forest = from_lightgbm_dump(booster.dump_model())        # or from_xgboost_json / from_sklearn_trees / ...
    phi, base = shap_values(forest, M)                        # (n, f) float64, base + phi.sum(1) == predict
    phi, base = shap_values(forest, M, kernel="classic")      # the previous kernel (or CHURNLENS_TREESHAP_KERNEL)
    raw = predict(forest, M)                                  # (n,) float64
    Phi = interaction_values(forest, M, features=[0, 3])      # (n, 2, 2)

The builders take plain data (JSON dumps, arrays); only ``attribution/_families.py`` knows the
libraries and hands their trees over. See :mod:`._kernels` for the algorithms.
"""

from churnlens.attribution.treeshap.api import interaction_values, predict, shap_values
from churnlens.attribution.treeshap.build import (
    TreeArrays, from_lightgbm_dump, from_sklearn_hist, from_sklearn_trees, from_tree_arrays, from_xgboost_json,
)
from churnlens.attribution.treeshap.forest import Forest

__all__ = ["Forest", "TreeArrays", "from_lightgbm_dump", "from_sklearn_hist", "from_sklearn_trees", "from_tree_arrays",
           "from_xgboost_json", "interaction_values", "predict", "shap_values"]
