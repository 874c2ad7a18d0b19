"""The sender's last look (send / hold / stop) and the retry schedule, as pure functions over facts."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.delivery import Backoff, Facts, InvoiceState, gate, retry_at
from engine.rules import RuleEngine, load_policy

MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # 10:00 in Amsterdam


@pytest.fixture(scope="module")
def window():  # noqa: ANN201
    return RuleEngine(load_policy("rules/default.yaml")).send_window("NL")


def facts(window, **change) -> Facts:  # noqa: ANN001
    base = {"channel": "sms", "consent": True, "consent_required": True, "address": "+31612345678",
            "invoices": (InvoiceState("INV-1", "open", False), InvoiceState("INV-2", "open", False)),
            "window": window}
    return Facts(**{**base, **change})


def test_an_open_invoice_with_consent_inside_the_hours_is_sent(window) -> None:  # noqa: ANN001
    assert gate(facts(window), MONDAY).action == "send"


@pytest.mark.parametrize(("state", "moot"), [
    (InvoiceState("INV-2", "paid", False), ("INV-2",)),
    (InvoiceState("INV-2", "written_off", False), ("INV-2",)),
    (InvoiceState("INV-2", "open", True), ("INV-2",)),             # disputed
    (InvoiceState("INV-2", "open", False, committed=True), ("INV-2",)),  # a promise or plan since it was queued
    (InvoiceState("INV-2", "missing", False), ("INV-2",)),
])
def test_an_invoice_that_is_no_longer_to_be_reminded_stops_the_message(window, state, moot) -> None:  # noqa: ANN001
    verdict = gate(facts(window, invoices=(InvoiceState("INV-1", "open", False), state)), MONDAY)
    assert (verdict.action, verdict.code, verdict.moot, verdict.dead) == ("stop", "invoice_closed", moot, False)


def test_a_withdrawn_consent_stops_the_message_where_the_channel_needs_one(window) -> None:  # noqa: ANN001
    verdict = gate(facts(window, consent=False), MONDAY)
    assert (verdict.action, verdict.code) == ("stop", "consent_withdrawn")
    assert gate(facts(window, channel="email", consent=False, consent_required=False, address="a@b.nl"),
                MONDAY).action == "send"


def test_no_address_is_a_dead_letter_and_a_blocked_customer_is_stopped(window) -> None:  # noqa: ANN001
    verdict = gate(facts(window, address=None), MONDAY)
    assert (verdict.action, verdict.code, verdict.dead) == ("stop", "no_address", True)
    assert gate(facts(window, blocked=True), MONDAY).code == "customer_blocked"


def test_quiet_hours_hold_until_the_window_opens(window) -> None:  # noqa: ANN001
    night = datetime(2026, 11, 2, 21, 30, tzinfo=UTC)  # 22:30 in Amsterdam
    verdict = gate(facts(window), night)
    assert (verdict.action, verdict.code) == ("hold", "quiet_hours")
    assert verdict.until == datetime(2026, 11, 3, 8, 0, tzinfo=window.earliest(night).tzinfo)
    saturday = datetime(2026, 11, 7, 10, 0, tzinfo=UTC)  # a contact day, but no business day
    assert gate(facts(window), saturday).action == "send"
    legal = gate(facts(window, channel="letter", consent_required=False, address="Laan 2", legal_letter=True),
                 saturday)
    assert legal.action == "hold" and legal.until.date().isoformat() == "2026-11-09"


def test_the_invoices_are_checked_before_the_hours(window) -> None:  # noqa: ANN001
    """A paid invoice at night is stopped, not held until the morning."""
    night = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)
    assert gate(facts(window, invoices=(InvoiceState("INV-1", "paid", False),)), night).action == "stop"


def test_the_backoff_doubles_with_a_fixed_jitter_and_ends_dead() -> None:
    b = Backoff(base_s=60, cap_s=3600, max_attempts=5, jitter=0.1)
    delays = [(retry_at(b, "msg:1", n, MONDAY) - MONDAY).total_seconds() for n in range(1, 5)]
    for n, delay in enumerate(delays):
        assert 60 * 2 ** n <= delay <= 60 * 2 ** n * 1.1
    assert delays == [(retry_at(b, "msg:1", n, MONDAY) - MONDAY).total_seconds() for n in range(1, 5)]  # fixed
    assert delays != [(retry_at(b, "msg:2", n, MONDAY) - MONDAY).total_seconds() for n in range(1, 5)]  # spread
    assert retry_at(b, "msg:1", 5, MONDAY) is None
    assert retry_at(Backoff(base_s=60, cap_s=600, max_attempts=20, jitter=0), "m", 15, MONDAY) == \
        MONDAY + timedelta(seconds=600)


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    b = Backoff(base_s=1, cap_s=900, jitter=0)
    assert retry_at(b, "m", 1, MONDAY, retry_after_s=120) == MONDAY + timedelta(seconds=120)
    assert retry_at(b, "m", 1, MONDAY, retry_after_s=0) == MONDAY + timedelta(seconds=1)
    assert retry_at(b, "m", 1, MONDAY, retry_after_s=10_000) == MONDAY + timedelta(seconds=900)
