"""Ground truth: how a customer responds to a reminder.

Why: a bandit can only be scored by regret against the truth, and an
off-policy estimate can only be checked against the true value of the policy.
The simulator uses this very function to decide whether a logged reminder got
the invoice paid within 7 days, so the logged rewards and the truth agree.

Example::

    p = response_probability(traits.iloc[[0, 0]], channel=np.array(["email", "sms"]),
                             hour=np.array([9, 19]), weekday=np.array([1, 5]),
                             tone=np.array(["friendly", "firm"]))
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from domain.vocabulary import CHANNELS, TONES

_CHANNEL_INDEX = {c: i for i, c in enumerate(CHANNELS)}
_TONE_WEIGHT = {"friendly": 0.0, "neutral": 0.5, "firm": 1.0}
WINDOW_DAYS = 7
#: A reminder that works gets paid this many days after it went out at the soonest, and uniformly
#: up to ``WINDOW_DAYS`` (the simulator draws it so).
PAY_AFTER_MIN_DAYS = 0.05


def _codes(values: np.ndarray, index: Mapping[str, int]) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    return np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))


def response_logit(
    traits: pd.DataFrame | Mapping[str, np.ndarray],
    channel: np.ndarray,
    hour: np.ndarray,
    weekday: np.ndarray,
    tone: np.ndarray,
    step: np.ndarray | int = 1,
) -> np.ndarray:
    """Log-odds that a reminder gets the invoice paid within 7 days.

    ``traits`` rows align with the other arguments (one row per reminder).
    ``channel`` and ``tone`` are names or integer codes (order of
    ``CHANNELS`` / ``TONES``); ``hour`` is the local hour, ``weekday`` 0=Monday.
    """
    ch = _codes(channel, _CHANNEL_INDEX)
    resp = np.column_stack([np.asarray(traits[f"resp_{c}"], dtype=float) for c in CHANNELS])
    n = len(ch)
    channel_effect = resp[np.arange(n), ch]
    tone_w = np.asarray(
        [_TONE_WEIGHT[t] for t in tone] if np.asarray(tone).dtype.kind not in "iu"
        else np.asarray(list(_TONE_WEIGHT.values()))[np.asarray(tone)],
        dtype=float,
    )
    liquidity = np.asarray(traits["liquidity"], dtype=float)
    forgetful = np.asarray(traits["forgetfulness"], dtype=float)
    hour_gap = (np.asarray(hour, dtype=float) - np.asarray(traits["peak_hour"], dtype=float)) / 4.0
    weekend = np.asarray(weekday) >= 5
    return (
        -1.2
        + 2.0 * forgetful
        + 2.2 * (liquidity - 0.5)
        + channel_effect
        - 0.6 * np.minimum(hour_gap**2, 4.0)
        + np.where(weekend, np.asarray(traits["weekend_affinity"], dtype=float), 0.0)
        + tone_w * np.asarray(traits["firm_effect"], dtype=float)
        - 0.25 * (np.asarray(step, dtype=float) - 1.0)
    )


def response_probability(
    traits: pd.DataFrame | Mapping[str, np.ndarray],
    channel: np.ndarray,
    hour: np.ndarray,
    weekday: np.ndarray,
    tone: np.ndarray,
    step: np.ndarray | int = 1,
) -> np.ndarray:
    """P(paid within 7 days of the reminder) under the simulator's truth."""
    return 1.0 / (1.0 + np.exp(-response_logit(traits, channel, hour, weekday, tone, step)))


def paid_within_window_of_decision(p_sent: np.ndarray, delay_days: np.ndarray) -> np.ndarray:
    """P(paid within ``WINDOW_DAYS`` of the *decision*) of a reminder sent ``delay_days`` after it,
    given ``p_sent`` = P(paid within the window of the send): a reminder that works is paid
    uniformly between ``PAY_AFTER_MIN_DAYS`` and ``WINDOW_DAYS`` after it went out, so only the
    part of that spread that falls inside the decision's week counts."""
    inside = (WINDOW_DAYS - np.asarray(delay_days, dtype=float) - PAY_AFTER_MIN_DAYS) / (WINDOW_DAYS - PAY_AFTER_MIN_DAYS)
    return np.asarray(p_sent, dtype=float) * np.clip(inside, 0.0, 1.0)


def after_reminder(paid_days: np.ndarray, sent_days: np.ndarray, success: np.ndarray,
                   window: np.ndarray) -> np.ndarray:
    """When each invoice gets paid after a reminder, in days from any fixed origin.

    The truth's rule, the same in the logged history and in the closed loop: a reminder that works gets the
    invoice paid ``window`` days after it went out (``window`` drawn uniformly in ``PAY_AFTER_MIN_DAYS``..
    ``WINDOW_DAYS``); one that fails means the invoice is *not* paid within the 7 days, so a payment that
    was to come inside them slips to just past them. That is what makes ``response_probability`` exactly
    P(paid within 7 days | reminder): a reminder to a customer who was about to pay anyway is not free."""
    paid_days, sent_days = np.asarray(paid_days, dtype=float), np.asarray(sent_days, dtype=float)
    return np.where(success, sent_days + window,
                    np.where(paid_days <= sent_days + WINDOW_DAYS, sent_days + WINDOW_DAYS + window, paid_days))


__all__ = ["after_reminder", "response_logit", "response_probability", "paid_within_window_of_decision", "WINDOW_DAYS",
           "PAY_AFTER_MIN_DAYS", "CHANNELS", "TONES"]
