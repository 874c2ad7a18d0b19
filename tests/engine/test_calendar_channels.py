"""Calendar and channels: legal letters on business days, days past due in the customer's local date,
a channel for every action or a fallback the policy names, and a task when there is none."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from domain.calendar import PublicHolidays
from domain.contract import Consent, DunningCustomer, Invoice, NextActionRequest
from engine.calendar import is_business_day, next_business_day
from engine.decisions import next_action_outcome
from engine.rules import RuleEngine, check_policy, load_policy
from features.definitions import FEATURE_NAMES

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "rules" / "default.yaml"
ENGINE = RuleEngine(load_policy(DEFAULT))
CAL = PublicHolidays()
CET = timezone(timedelta(hours=1))
ZERO_FEATURES = dict.fromkeys(FEATURE_NAMES, 0.0)
SCORES = {"p_late": 0.1, "p_late_30": 0.02, "expected_days_late": 1.0}


def test_the_holidays_package_knows_dutch_christmas() -> None:
    assert CAL.holiday("NL", date(2026, 12, 25)) == "Christmas Day"
    assert CAL.holiday("nl", date(2026, 12, 28)) is None
    assert CAL.holiday("ZZ", date(2026, 12, 25)) is None  # an unknown country has no holidays
    assert not is_business_day(CAL, "NL", date(2026, 12, 26))  # Second Christmas Day, a Saturday
    assert next_business_day(CAL, "NL", date(2026, 12, 25)) == date(2026, 12, 28)
    assert next_business_day(CAL, "DE", date(2026, 4, 3)) == date(2026, 4, 7)  # Good Friday, Easter Monday


def test_final_notice_is_never_dated_on_christmas() -> None:
    """Finding: a final notice (the Dutch 14-day letter) was scheduled on 25 December."""
    facts = {"customer_type": "consumer", "country": "NL", "days_past_due": 30, "amount": 300.0}
    now = datetime(2026, 12, 24, 21, 30, tzinfo=CET)  # after the last contact hour of Christmas Eve
    without = ENGINE.evaluate_dunning(facts, now)
    assert without.action == "final_notice" and without.earliest_send_at.date() == date(2026, 12, 25)  # the bug
    out = ENGINE.evaluate_dunning(facts, now, CAL)
    assert out.action == "final_notice"
    assert out.earliest_send_at == datetime(2026, 12, 28, 8, tzinfo=out.earliest_send_at.tzinfo)
    assert is_business_day(CAL, "NL", out.earliest_send_at.date())


def test_a_legal_letter_waits_for_monday_but_a_reminder_goes_on_saturday() -> None:
    saturday = datetime(2026, 11, 28, 10, tzinfo=CET)  # NL contact hours include Saturday
    notice = ENGINE.evaluate_dunning({"customer_type": "consumer", "country": "NL", "days_past_due": 30,
                                      "amount": 300.0}, saturday, CAL)
    reminder = ENGINE.evaluate_dunning({"country": "NL", "days_past_due": 3}, saturday, CAL)
    assert notice.action == "final_notice" and notice.earliest_send_at.date() == date(2026, 11, 30)
    assert reminder.action == "remind" and reminder.earliest_send_at == saturday


def test_no_reminder_on_a_public_holiday() -> None:
    kings_day = datetime(2026, 4, 27, 10, tzinfo=timezone(timedelta(hours=2)))
    out = ENGINE.evaluate_dunning({"country": "NL", "days_past_due": 3}, kings_day, CAL)
    assert out.earliest_send_at.date() == date(2026, 4, 28)
    assert out.send_window.allows(out.earliest_send_at) and not out.send_window.allows(kings_day)


def _request(now: str, due: date) -> NextActionRequest:
    customer = DunningCustomer(id="C-1", type="consumer", country="NL", consent=Consent(email=True))
    invoice = Invoice(id="INV-1", amount=300.0, currency="EUR", issue_date=due - timedelta(days=30), due_date=due)
    return NextActionRequest(request_id="na-1", now=datetime.fromisoformat(now), customer=customer, invoice=invoice)


def test_days_past_due_count_in_the_customers_local_date_whatever_the_offset() -> None:
    """Finding: the same instant sent as 23:30Z gave ``wait`` and as 00:30+01:00 gave ``remind``."""
    due = date(2026, 11, 22)
    medium = {"p_late": 0.4, "p_late_30": 0.02, "expected_days_late": 1.0}  # the medium ladder starts on day 1
    # it is 23 November in Amsterdam at that instant: one day past due, the medium ladder's first reminder
    answers = [next_action_outcome(ENGINE, _request(now, due), ZERO_FEATURES, medium, CAL)
               for now in ("2026-11-22T23:30:00+00:00", "2026-11-23T00:30:00+01:00", "2026-11-22T18:30:00-05:00")]
    assert {(a.action, a.step, a.earliest_send_at) for a in answers} == {("remind", "reminder_1",
                                                                          answers[0].earliest_send_at)}


def test_a_call_without_phone_consent_is_a_letter_not_a_null_channel() -> None:
    """Finding: a consumer without phone consent was answered ``call`` with ``channel: null``."""
    out = next_action_outcome(ENGINE, _request("2026-11-23T10:00:00+01:00", date(2026, 11, 1)), ZERO_FEATURES,
                              SCORES, CAL)
    assert out.step == "call" and out.action == "remind"
    assert out.allowed_channels == ["letter", "email"]
    assert "constraint.fallback_channel" in [r.code for r in out.reasons]
    with_consent = ENGINE.evaluate_dunning({"days_past_due": 22, "consent_phone": True})
    assert (with_consent.action, with_consent.allowed_channels) == ("call", ["phone"])


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT.read_text()
    assert old in text
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_an_action_with_no_possible_channel_becomes_a_review_task(tmp_path: Path) -> None:
    path = _variant(tmp_path, "consent_required: [sms, whatsapp, phone]",
                    "consent_required: [email, sms, whatsapp, letter, phone]")
    text = path.read_text()
    start, end = text.index("  fallbacks:"), text.index("  worklists:")
    path.write_text(text[:start] + text[end:text.index("\ntests:")])  # its cases assume the default consent
    engine = RuleEngine(load_policy(path))
    out = engine.evaluate_dunning({"days_past_due": 22})  # a customer who consented to nothing
    assert (out.action, out.allowed_channels, out.task) == ("review", [], "no_channel")
    assert "constraint.no_channel" in [r.code for r in out.reasons]
    assert engine.evaluate_dunning({"days_past_due": 22, "consent_phone": True}).action == "call"


@pytest.mark.parametrize(("old", "new", "message"), [
    ("phone: [letter, email]", "phone: [phone, letter]", "names phone itself"),
    ("phone: [letter, email]", "phone: [sms, whatsapp]", "needs consent too"),
    ("phone: [letter, email]", "phone: [fax]", "fallbacks.phone"),
    ("queues: {low: collectors-low,", "queues: {lwo: collectors-low,", "'lwo', a segment no risk rule sets"),
    ("queues: {low: collectors-low, ", "queues: {", "risk segment 'low' has no collector queue"),
    # a dispute's department is its disputes.types route, the one table of departments
    ("    price: {department: sales,", "    pricing: {department: sales,", "'pricing' is not one of"),
])
def test_rules_check_refuses_a_bad_fallback_or_worklist(tmp_path: Path, old: str, new: str, message: str) -> None:
    report = check_policy(_variant(tmp_path, old, new))
    assert not report.ok
    assert any(message in f.message for f in report.errors), [str(f) for f in report.errors]
    assert all(f.line is not None for f in report.errors)
