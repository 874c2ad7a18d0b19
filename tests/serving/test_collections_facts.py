"""Checkout hears of non-payment: the finding's customer, rebuilt through the API on an empty ledger."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import make_app, routed

NOW = "2026-11-30T10:00:00+01:00"
CUSTOMER = {"event_id": "cu-9", "type": "customer_updated", "customer_id": "C-9", "customer_type": "business",
            "country": "NL", "profile": "sme", "size": "small", "consent_email": True}


@pytest.fixture()
def client(champion: dict[str, str], tmp_path: Path) -> Iterator:
    app = make_app(champion, tmp_path)
    yield routed(app)
    app.extensions["kredo.runtime"].stop()


def _history(escalated: bool) -> list[dict]:
    """A business that paid its first year on time, then stopped: three invoices unpaid, the oldest
    48 days past due on 30 November 2026, EUR 24,638 overdue, the oldest handed over to collections."""
    events = [CUSTOMER]
    for i, month in enumerate(range(1, 10)):  # paid within terms, January to September
        inv = f"INV-9-{i}"
        events += [{"event_id": f"i-{inv}", "type": "invoice_issued", "customer_id": "C-9", "invoice_id": inv,
                    "at": f"2026-{month:02d}-02T09:00:00", "amount": 2000.0, "due_at": f"2026-{month:02d}-28T00:00:00",
                    "payment_terms_days": 26, "paperless": True},
                   {"event_id": f"p-{inv}", "type": "payment_received", "customer_id": "C-9", "invoice_id": inv,
                    "at": f"2026-{month:02d}-25T09:00:00", "amount": 2000.0}]
    for inv, at, due, amount in (("INV-9-A", "2026-09-13T09:00:00", "2026-10-13T00:00:00", 9638.0),
                                 ("INV-9-B", "2026-09-20T09:00:00", "2026-10-20T00:00:00", 8000.0),
                                 ("INV-9-C", "2026-10-01T09:00:00", "2026-10-31T00:00:00", 7000.0)):
        events.append({"event_id": f"i-{inv}", "type": "invoice_issued", "customer_id": "C-9", "invoice_id": inv,
                       "at": at, "amount": amount, "due_at": due, "payment_terms_days": 30, "paperless": True})
    if escalated:
        events.append({"event_id": "esc-A", "type": "invoice_escalated", "customer_id": "C-9", "invoice_id": "INV-9-A",
                       "at": "2026-11-24T10:00:00"})
    return events


def _checkout(client, request_id: str) -> dict:  # noqa: ANN001
    body = {"request_id": request_id, "now": NOW,
            "customer": {"id": "C-9", "type": "business", "country": "NL", "profile": "sme", "size": "small"},
            "order": {"amount": 1500.0, "currency": "EUR", "payment_terms_days": 30}}
    answer = client.post("/v1/decisions/checkout", json=body)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


@pytest.mark.parametrize("escalated", [True, False])
def test_a_business_that_stopped_paying_is_not_given_more_credit(client, escalated: bool) -> None:
    """Finding: a business customer that stopped paying (48 days, EUR 24,638 overdue, in escalation) only
    ever got ``review`` at checkout: the high-risk rule read lateness of *paid* invoices only."""
    booked = client.post("/v1/events", json={"events": _history(escalated)}).get_json()
    assert booked["refused"] == 0, booked
    answer = _checkout(client, f"co-9-{escalated}")
    record = client.get(f"/v1/decisions/{answer['decision_id']}").get_json()
    features = record["features"]
    assert features["max_days_overdue"] == pytest.approx(48 + 9 / 24)  # 13 Oct 00:00 to 30 Nov 09:00 UTC
    assert features["overdue_amount"] == 24638.0 and features["overdue_share"] == 1.0
    assert features["open_escalations"] == (1.0 if escalated else 0.0)
    assert answer["segment"] == "high"
    if escalated:
        assert answer["outcome"] == "reject"
        assert answer["rules_fired"][-1] == "checkout.reject_business_in_collections"
    else:
        assert answer["outcome"] == "review"
        assert answer["rules_fired"][-1] == "checkout.review_business_long_overdue"
    assert "48 days" in " ".join(r["text"] for r in answer["reasons"])
