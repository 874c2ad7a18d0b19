"""Evaluation metrics for the probability and the days-late heads.

Why one module: the model, every baseline and the champion/challenger gate
must be scored by the same code on the same rows, or a comparison means
nothing. A metric that cannot be computed (one class only in the test rows)
is ``nan`` and shows as ``null`` in JSON, never as a flattering 0 or 1.

Example::

    classification_metrics(y, p)   # {'roc_auc': ..., 'pr_auc': ..., 'brier': ..., 'log_loss': ..., 'ece': ...}
"""
from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

EPS = 1e-6
QUANTILE = 0.8


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE: the bin-weighted mean |observed rate - mean prediction| over equal-width bins."""
    idx = np.minimum((p * bins).astype(int), bins - 1)
    counts = np.bincount(idx, minlength=bins)
    if counts.sum() == 0:
        return math.nan
    gap = np.abs(np.bincount(idx, weights=y, minlength=bins) - np.bincount(idx, weights=p, minlength=bins))
    return float(gap.sum() / counts.sum())


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier, log loss, ECE and the positive rate of a probability forecast."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    both = 0 < y.sum() < len(y)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else math.nan,
        "pr_auc": float(average_precision_score(y, p)) if both else math.nan,
        "brier": float(brier_score_loss(y, p)) if len(y) else math.nan,
        "log_loss": float(log_loss(y, p, labels=[0.0, 1.0])) if len(y) else math.nan,
        "ece": expected_calibration_error(y, p) if len(y) else math.nan,
        "positive_rate": float(y.mean()) if len(y) else math.nan,
        "n": float(len(y)),
    }


def pinball_loss(y: np.ndarray, q: np.ndarray, alpha: float = QUANTILE) -> float:
    """Mean pinball (quantile) loss at level ``alpha``."""
    diff = np.asarray(y, dtype=float) - np.asarray(q, dtype=float)
    return float(np.mean(np.maximum(alpha * diff, (alpha - 1) * diff))) if len(diff) else math.nan


def regression_metrics(y: np.ndarray, mean: np.ndarray, p80: np.ndarray) -> dict[str, float]:
    """MAE of the expected days late, pinball loss and coverage of the 80th percentile."""
    y = np.asarray(y, dtype=float)
    if not len(y):
        return {"mae": math.nan, "pinball_80": math.nan, "coverage_80": math.nan, "n": 0.0}
    return {
        "mae": float(np.mean(np.abs(y - mean))),
        "pinball_80": pinball_loss(y, p80, QUANTILE),
        "coverage_80": float(np.mean(y <= p80)),
        "n": float(len(y)),
    }
