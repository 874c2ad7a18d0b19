"""The reference TreeSHAP for tests: shap's own float64 algorithm on an XGBoost booster.

Why: ``shap.TreeExplainer(booster).shap_values`` does not run shap's algorithm on
an XGBoost model; it hands the rows to XGBoost's ``pred_contribs``, which sums in
float32 (errors of a few 1e-6 on margins of a few units). To check the served
values to rounding, parse the booster with ``TreeExplainer`` (covers, default
sides, ``<`` splits, base score) and run shap's C extension on that parsed
ensemble, which is what it does for any model it calls "internal".
"""
from __future__ import annotations

import numpy as np
import shap
import xgboost as xgb


def exact_tree_shap(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    """Path-dependent TreeSHAP of ``booster`` (margin space), float64, shape ``(n, n_features)``."""
    explainer = shap.TreeExplainer(booster)
    explainer.model.model_type = "internal"  # use shap's float64 C++ TreeSHAP, not XGBoost's float32 one
    return explainer.shap_values(np.asarray(X, dtype=np.float64), check_additivity=False)
