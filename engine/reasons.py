"""SHAP contributions in plain words: "pays 18 days late on average (+0.42)".

Why: a credit manager, a customer service agent and an auditor must read why
the model thought what it thought without knowing feature names or log-odds.
Each feature's phrase lives on its definition (``features.definitions``) and
renders its *value*, or says that the value is only a default for lack of
history ("no payment history yet", "first invoice"), so a reason never
describes a history the customer does not have. The signed SHAP contribution
(log-odds of paying late) follows in brackets, so "+" pushes towards late
payment and "-" away from it. The reasons are the ``k`` largest contributions
by absolute size.

Example::

    top_reasons(FEATURE_NAMES, features, contributions, k=1)
    # [ModelReason(code="model.mean_days_late", text="pays 18 days late on average (+0.42)", ...)]
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from features.definitions import FEATURES


@dataclass(frozen=True)
class ModelReason:
    """One model reason: a stable code, the sentence, and the signed contribution (log-odds)."""

    code: str
    text: str
    feature: str
    value: float
    contribution: float


def phrase(feature: str, features: Mapping[str, float]) -> str:
    """The plain-words reading of one feature's value within the whole feature vector."""
    return FEATURES[feature].describe(features[feature], features)


def top_reasons(names: Sequence[str], features: Mapping[str, float], contributions: np.ndarray,
                k: int = 3, min_abs: float = 0.01) -> list[ModelReason]:
    """The ``k`` largest contributions (by absolute value, at least ``min_abs``), largest first."""
    order = np.argsort(-np.abs(contributions), kind="stable")[:k]
    return [ModelReason(f"model.{names[i]}", f"{phrase(names[i], features)} ({contributions[i]:+.2f})",
                        names[i], float(features[names[i]]), float(contributions[i]))
            for i in order if abs(contributions[i]) >= min_abs]
