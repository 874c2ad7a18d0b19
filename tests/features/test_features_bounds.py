"""Poison events (F2, F3) are refused alone, and no store ever holds an infinite aggregate (both backends).

F2: one ``at`` of 9999-12-31T23:59:59-14:00 in a batch raised ``OverflowError`` (a 500, nothing of
the batch applied). F3: two ``invoice_issued`` of 1e308 made ``amount_sum`` infinite, and every
later decision for that customer failed in the model.
"""
from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from domain.contract import MAX_AMOUNT, DateWindow
from ledger.events import Event, to_us
from features.online import OnlineStore
from features.transform import InvoiceRequest

CLOCK = DateWindow(clock=lambda: datetime(2026, 12, 1, tzinfo=UTC))


def issued(i: int, customer: str = "C-P", **fields) -> dict:  # noqa: ANN003
    return {"event_id": f"p-{customer}-{i}", "type": "invoice_issued", "customer_id": customer,
            "invoice_id": f"I-{i}", "at": f"2026-01-{i:02d}T10:00:00", "due_at": f"2026-02-{i:02d}T10:00:00",
            "amount": 100.0, "payment_terms_days": 30, "paperless": False, **fields}


def features_of(store: OnlineStore, customer: str) -> dict[str, float]:
    request = InvoiceRequest(amount=250.0, payment_terms_days=30, paperless=False,
                             issued_at=datetime(2026, 6, 1, tzinfo=UTC), customer_type="business",
                             profile=None, size=None)
    return store.customer_features(customer, request, "2026-06-01T00:00:00")


POISON = [
    ({"at": "9999-12-31T23:59:59-14:00"}, "at"),
    ({"at": "0001-01-01T00:00:00+14:00"}, "at"),
    ({"at": "1999-12-31T23:59:59"}, "at"),
    ({"due_at": "9999-12-31T23:59:59"}, "due_at"),
    ({"at": "2031-12-03T00:00:00Z", "due_at": "2031-12-04T00:00:00Z"}, "at"),  # past the 5-year horizon
    ({"amount": 1e308}, "amount"),
    ({"amount": MAX_AMOUNT * 1.000001}, "amount"),
    ({"amount": 10 ** 400}, "amount"),
]


@pytest.mark.parametrize("poison, field", POISON)
def test_a_poison_event_is_refused_alone_and_the_batch_is_applied(store: OnlineStore, poison: dict,
                                                                  field: str) -> None:
    results = store.apply([issued(1), issued(2, **poison), issued(3)], CLOCK)
    assert [r.status for r in results] == ["applied", "refused", "applied"]
    assert results[1].code == "invalid_input" and results[1].field == field, results[1]
    agg = store.aggregates("C-P")
    assert agg.invoices_issued == 2 and agg.amount_sum == 200.0
    assert all(math.isfinite(v) for v in features_of(store, "C-P").values())


def test_two_invoices_of_1e308_leave_the_customer_decidable(store: OnlineStore) -> None:
    results = store.apply([issued(1, amount=1e308), issued(2, amount=1e308), issued(3)], CLOCK)
    assert [r.status for r in results] == ["refused", "refused", "applied"]
    assert all(math.isfinite(v) for v in features_of(store, "C-P").values())


def _event(i: int, kind: str, at: str, amount: float = 0.0, due: str | None = None) -> Event:
    return Event(f"x-{i}", kind, "C-X", "I-1", to_us(at), amount, to_us(due) if due else 0)


def test_no_store_keeps_an_infinite_sum_even_past_validation(store: OnlineStore) -> None:
    """Defence in depth under ``parse_event``: the fold (and the Lua script) refuse an infinite sum."""
    big = [_event(1, "invoice_issued", "2026-01-01T00:00:00", 1e308, "2026-02-01T00:00:00"),
           Event("x-2", "invoice_issued", "C-X", "I-2", to_us("2026-01-02T00:00:00"), 1e308,
                 to_us("2026-02-01T00:00:00")),
           _event(3, "payment_received", "2026-01-03T00:00:00", 9e307),
           _event(4, "payment_received", "2026-01-04T00:00:00", 9e307)]
    results = store._apply_valid(big)
    assert [(r.status, r.reason) for r in results] == [("applied", None), ("refused", "not_finite"),
                                                      ("applied", None), ("refused", "not_finite")]
    agg = store.aggregates("C-X")
    assert agg.amount_sum == 1e308 and agg.open_invoices["I-1"].paid == 9e307
    assert all(math.isfinite(v) for v in features_of(store, "C-X").values())


def test_a_time_weight_past_the_double_range_is_refused_not_stored(store: OnlineStore) -> None:
    """With a very wide horizon, a payment in 2300 has an EWM weight of 2**1217: refused, nothing stored."""
    wide = DateWindow(horizon_days=120_000, clock=CLOCK.clock)
    events = [issued(1, customer="C-W", at="2300-01-01T00:00:00", due_at="2300-01-31T00:00:00"),
              {"event_id": "w-pay", "type": "payment_received", "customer_id": "C-W", "invoice_id": "I-1",
               "at": "2300-03-01T00:00:00", "amount": 100.0}]
    results = store.apply(events, wide)
    assert [(r.status, r.reason) for r in results] == [("applied", None), ("refused", "not_finite")]
    agg = store.aggregates("C-W")
    assert agg.invoices_paid == 0 and math.isfinite(agg.ewm_den) and "I-1" in agg.open_invoices
