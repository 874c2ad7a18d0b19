"""Delayed rewards: paid within 7 days = 1, otherwise 0; every reminder is learned once."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from engine.bandits import (Attribution, Context, Experiment, FixedPreference, ThompsonSampling,
                            arms_for_channels)

DAY = 86_400.0
CTX = Context("sme", customer_type="business", segment="low", p_late=0.2, step=1)
ALLOWED = arms_for_channels(["email", "phone"])


@pytest.fixture()
def setup(bandit_state):
    ts = ThompsonSampling(state=bandit_state, by=("profile",))
    exp = Experiment(name="exp", policy=ts, control_policy=FixedPreference(), control_share=0.0)
    attr = Attribution(state=bandit_state, policies={"thompson": ts, "static": FixedPreference()})
    return exp, ts, attr, bandit_state


def counts(ts, arm) -> tuple[float, float]:
    alpha, beta = ts.posterior(CTX, (arm,))
    return float(alpha[0] - 1), float(beta[0] - 1)  # (paid, unpaid) with the Beta(1, 1) prior


def send(exp, attr, reminder: str, invoice: str, at: float):
    choice = exp.decide(invoice, CTX, ALLOWED, np.random.default_rng(0))
    return choice, attr.record_reminder(reminder, invoice, at, CTX, choice)


def test_payment_within_window_pays_once(setup):
    exp, ts, attr, _ = setup
    choice, displaced = send(exp, attr, "REM-1", "INV-1", 1000.0)
    assert displaced == []
    settled = attr.payment_received("PAY-1", "INV-1", 1000.0 + 3 * DAY)
    assert settled.reward == 1.0 and settled.learned and settled.arm == choice.arm
    assert attr.payment_received("PAY-1", "INV-1", 1000.0 + 3 * DAY) is None  # replayed event
    assert attr.expire(1e12) == []
    assert counts(ts, choice.arm) == (1.0, 0.0)
    assert attr.group_stats("exp", "bandit") == {"n": 1.0, "s": 1.0}


def test_late_payment_and_expiry_pay_zero(setup):
    exp, ts, attr, _ = setup
    c1, _ = send(exp, attr, "REM-1", "INV-1", 0.0)
    assert attr.payment_received("PAY-1", "INV-1", 8 * DAY).reward == 0.0
    c2, _ = send(exp, attr, "REM-2", "INV-2", 0.0)
    assert attr.expire(6 * DAY) == []
    expired = attr.expire(7 * DAY)
    assert [s.reminder_id for s in expired] == ["REM-2"] and expired[0].reward == 0.0
    assert attr.payment_received("PAY-2", "INV-2", 7.5 * DAY) is None  # already settled
    assert sum(counts(ts, c1.arm)) + (sum(counts(ts, c2.arm)) if c2.arm != c1.arm else 0) == 2.0
    assert attr.group_stats("exp", "bandit") == {"n": 2.0, "s": 0.0}


def test_next_reminder_settles_the_previous_with_zero(setup):
    exp, ts, attr, _ = setup
    send(exp, attr, "REM-1", "INV-1", 0.0)
    _, displaced = send(exp, attr, "REM-2", "INV-1", 5 * DAY)
    assert [(s.reminder_id, s.reward) for s in displaced] == [("REM-1", 0.0)]
    settled = attr.payment_received("PAY-1", "INV-1", 6 * DAY)
    assert settled.reminder_id == "REM-2" and settled.reward == 1.0


def test_replays_and_partial_or_early_payments_change_nothing(setup):
    exp, ts, attr, state = setup
    choice, _ = send(exp, attr, "REM-1", "INV-1", 10 * DAY)
    _, again = send(exp, attr, "REM-1", "INV-1", 10 * DAY)  # reminder event replayed
    assert again == []
    assert attr.payment_received("PAY-0", "INV-1", 9 * DAY) is None  # paid before the reminder
    assert attr.payment_received("PAY-1", "INV-1", 11 * DAY, invoice_settled=False) is None
    assert state.get_pending("INV-1")["reminder_id"] == "REM-1"
    when = datetime(1970, 1, 1) + timedelta(seconds=12 * DAY)  # naive datetimes are UTC
    assert attr.payment_received("PAY-2", "INV-1", when).reward == 1.0
    send(exp, attr, "REM-1", "INV-1", 10 * DAY)  # replay after settlement: not pending again
    assert state.get_pending("INV-1") is None
    assert counts(ts, choice.arm) == (1.0, 0.0)


def test_unrelated_invoice_payment_is_ignored(setup):
    exp, ts, attr, _ = setup
    send(exp, attr, "REM-1", "INV-1", 0.0)
    assert attr.payment_received("PAY-9", "INV-9", DAY) is None
    assert attr.expire(DAY) == []


def test_the_window_runs_from_the_decision_not_the_send_time(setup):
    """Finding: 25 of 80 reminders were planned more than 48 h ahead (up to 6.5 days): the reward
    counted 'paid within 7 days of the reminder', so a later slot cost the bandit nothing although
    it delayed the cash."""
    exp, ts, attr, _ = setup
    decided = 1000.0
    choice = exp.decide("INV-9", CTX, ALLOWED, np.random.default_rng(0))
    attr.record_reminder("REM-9", "INV-9", decided + 6.5 * DAY, CTX, choice, decided_at=decided)
    late = attr.payment_received("PAY-9", "INV-9", decided + 8 * DAY)  # 1.5 days after it went out
    assert late.reward == 0.0 and counts(ts, choice.arm) == (0.0, 1.0)
    attr.record_reminder("REM-10", "INV-10", decided + 0.1 * DAY, CTX, choice, decided_at=decided)
    assert attr.payment_received("PAY-10", "INV-10", decided + 6.9 * DAY).reward == 1.0
    attr.record_reminder("REM-11", "INV-11", decided + 6.5 * DAY, CTX, choice, decided_at=decided)
    assert [s.reward for s in attr.expire(decided + 7.01 * DAY)] == [0.0]  # the window closed a week after deciding
