"""SHAP contributions in plain words: every feature has a phrase, the largest come first."""
from __future__ import annotations

import numpy as np
import pytest

from engine.reasons import PHRASES, phrase, top_reasons
from features.definitions import FEATURE_NAMES, FEATURES


def test_every_model_feature_has_a_phrase() -> None:
    assert set(PHRASES) == set(FEATURE_NAMES)


@pytest.mark.parametrize("name", FEATURE_NAMES)
def test_phrase_renders_default_and_typical_values(name: str) -> None:
    for value in (FEATURES[name].default, 0.0, 1.0, 18.0, -3.0):
        text = phrase(name, value)
        assert text and "_" not in text


def test_example_from_the_issue() -> None:
    (reason,) = top_reasons(("mean_days_late",), np.array([18.0]), np.array([0.42]), k=1)
    assert reason.text == "pays 18 days late on average (+0.42)"
    assert reason.code == "model.mean_days_late"
    assert reason.to_dict()["source"] == "model"


def test_largest_absolute_contributions_first_and_tiny_ones_dropped() -> None:
    names = ("amount", "share_paid_late", "mean_days_late", "paperless")
    reasons = top_reasons(names, np.array([500.0, 0.25, -2.0, 1.0]), np.array([0.05, -0.6, 0.3, 0.001]), k=4)
    assert [r.feature for r in reasons] == ["share_paid_late", "mean_days_late", "amount"]
    assert reasons[0].text == "paid 25% of invoices late (-0.60)"
    assert reasons[1].text == "pays 2 days early on average (+0.30)"
