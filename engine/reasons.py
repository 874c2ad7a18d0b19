"""SHAP contributions in plain words: "pays 18 days late on average (+0.05)".

Why: a credit manager, a customer service agent and an auditor must read why
the model thought what it thought without knowing feature names or log-odds.
Each feature's phrase lives on its definition (``features.definitions``) and
renders its *value*, or says that the value is only a default for lack of
history ("no payment history yet", "first invoice"), so a reason never
describes a history the customer does not have. The signed SHAP contribution
follows in brackets in *probability points* of paying late (the model's
explanation of P(late): the points add up to the answer's P(late) minus the
base rate), so "+0.05" is five percentage points towards late payment and "-"
away from it. The reasons are the ``k`` largest contributions by absolute
size; each also carries its calibrated log-odds, which rank the same way.

Example::

    top_reasons(FEATURE_NAMES, features, points, k=1, log_odds=log_odds)
    # [ModelReason(code="model.mean_days_late", text="pays 18 days late on average (+0.05)", ...)]
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from features.definitions import FEATURES


@dataclass(frozen=True)
class ModelReason:
    """One model reason: a stable code, the sentence, the signed contribution in probability
    points and, when known, in calibrated log-odds."""

    code: str
    text: str
    feature: str
    value: float
    contribution: float
    log_odds: float | None = None


def phrase(feature: str, features: Mapping[str, float]) -> str:
    """The plain-words reading of one feature's value within the whole feature vector."""
    return FEATURES[feature].describe(features[feature], features)


def top_order(contributions: np.ndarray, k: int) -> np.ndarray:
    """The indices of the ``k`` largest contributions by absolute value, largest first, ties in feature order
    (a stable sort), of one vector or of each row of a matrix: the dunning run sorts a partition's SHAP rows
    in one call instead of one Python sort per decision."""
    return np.argsort(-np.abs(contributions), axis=-1, kind="stable")[..., :k]


def top_reasons(names: Sequence[str], features: Mapping[str, float], contributions: np.ndarray,
                k: int = 3, min_abs: float = 0.005, log_odds: np.ndarray | None = None,
                order: Sequence[int] | None = None) -> list[ModelReason]:
    """The ``k`` largest ``contributions`` (probability points; by absolute value, at least
    ``min_abs``, i.e. one point once rounded), largest first; ``log_odds`` ride along.
    ``order``: ``top_order`` of these contributions, where a batch sorted them already."""
    points = contributions.tolist()  # Python floats: formatted and compared one by one below
    odds = None if log_odds is None else log_odds.tolist()
    ranked = top_order(contributions, k).tolist() if order is None else order[:k]
    return [ModelReason(f"model.{names[i]}", f"{phrase(names[i], features)} ({points[i]:+.2f})",
                        names[i], float(features[names[i]]), points[i], None if odds is None else odds[i])
            for i in ranked if abs(points[i]) >= min_abs]
