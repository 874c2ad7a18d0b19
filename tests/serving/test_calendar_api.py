"""The calendar and channel findings, asked the way the integrator asked: next-action with a full body."""
from __future__ import annotations

import pytest

from tests.support.api import NEXT_ACTION, routed


def body(request_id: str, now: str, due: str, **customer) -> dict:
    return {**NEXT_ACTION, "request_id": request_id, "now": now,
            "customer": {**NEXT_ACTION["customer"], "id": "C-CAL-1", **customer},
            "invoice": {**NEXT_ACTION["invoice"], "id": "INV-CAL-1", "issue_date": "2026-10-01", "due_date": due}}


@pytest.fixture()
def client(app):  # noqa: ANN001, ANN201
    return routed(app)


def ask(client, payload: dict) -> dict:  # noqa: ANN001
    answer = client.post("/v1/decisions/next-action", json=payload)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def test_the_14_day_letter_is_not_dated_on_christmas(client) -> None:
    answer = ask(client, body("cal-1", "2026-12-24T21:30:00+01:00", "2026-11-24"))
    assert answer["action"] == "final_notice"
    assert answer["send_at"].startswith("2026-12-28T08:00")  # 25 and 26 December, then the weekend


@pytest.mark.parametrize("now", ["2026-11-30T23:30:00+00:00", "2026-12-01T00:30:00+01:00"])
def test_the_same_instant_in_two_offsets_gets_one_answer(client, now: str) -> None:
    answer = ask(client, body(f"cal-2-{now[11:13]}", now, "2026-11-30",
                              consent={"email": True, "sms": False, "whatsapp": False, "letter": True, "phone": False}))
    # 1 December in Amsterdam: one day past due, the first reminder (not the pre-due nudge of 30 November)
    assert (answer["action"], answer["step"]) == ("remind", "reminder_1")


def test_a_call_without_phone_consent_has_a_channel(client) -> None:
    answer = ask(client, body("cal-3", "2026-11-23T10:00:00+01:00", "2026-11-01",
                              consent={"email": False, "sms": False, "whatsapp": False, "letter": True, "phone": False}))
    assert answer["step"] == "call" and answer["action"] == "remind"
    assert answer["channel"] in ("letter", "email") and answer["send_at"] is not None
