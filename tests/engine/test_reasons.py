"""SHAP contributions in plain words: every feature has a phrase, the largest come first, and a reason
describes only the history the customer has (none, one or many invoices)."""
from __future__ import annotations

import numpy as np
import pytest

from engine.reasons import phrase, top_order, top_reasons
from features.definitions import FEATURE_NAMES, FEATURES
from features.online import MemoryStore
from features.transform import InvoiceRequest

HISTORY_CLAIMS = ("late", "early", "on time", "paid so far", "written off", "opened before", "a month on average",
                  "usual invoice", "customer for")


def _features(**values: float) -> dict[str, float]:
    base = {name: FEATURES[name].default for name in FEATURE_NAMES}
    base.update(invoices_issued=12.0, invoices_paid=10.0)
    return {**base, **values}


@pytest.mark.parametrize("name", FEATURE_NAMES)
def test_phrase_renders_default_and_typical_values(name: str) -> None:
    for value in (FEATURES[name].default, 0.0, 1.0, 18.0, -3.0):
        text = phrase(name, _features(**{name: value}))
        assert text and "_" not in text


def test_example_from_the_issue() -> None:
    (reason,) = top_reasons(("mean_days_late",), _features(mean_days_late=18.0), np.array([0.42]), k=1)
    assert reason.text == "pays 18 days late on average (+0.42)"
    assert reason.code == "model.mean_days_late"


def test_largest_absolute_contributions_first_and_tiny_ones_dropped() -> None:
    names = ("amount", "share_paid_late", "mean_days_late", "paperless")
    feats = _features(amount=500.0, share_paid_late=0.25, mean_days_late=-2.0, paperless=1.0)
    reasons = top_reasons(names, feats, np.array([0.05, -0.6, 0.3, 0.001]), k=4)
    assert [r.feature for r in reasons] == ["share_paid_late", "mean_days_late", "amount"]
    assert reasons[0].text == "paid 25% of invoices late (-0.60)"
    assert reasons[1].text == "pays 2 days early on average (+0.30)"


def test_a_batch_sorted_at_once_ranks_each_row_as_one_python_sort() -> None:
    """``top_order`` of a matrix (the dunning run's partition) gives each row the order a stable Python sort by
    absolute size gives it, ties (equal sizes, either sign, zeros) in feature order, and the same reasons."""
    rng = np.random.default_rng(7)
    rows = np.round(rng.normal(0, 0.05, size=(500, len(FEATURE_NAMES))), 2)  # rounded: many ties
    rows[:50] = 0.0
    rows[50:60, :4] = [0.1, -0.1, 0.1, -0.1]
    orders = top_order(rows, 3).tolist()
    feats = _features()
    for row, order in zip(rows, orders):
        points = row.tolist()
        assert order == sorted(range(len(points)), key=lambda i: -abs(points[i]))[:3]
        assert top_reasons(FEATURE_NAMES, feats, row, 3, order=order) == top_reasons(FEATURE_NAMES, feats, row, 3)


def _issue(eid: str, inv: str, at: str, due: str) -> dict:
    return {"event_id": eid, "type": "invoice_issued", "customer_id": "C-1", "invoice_id": inv, "at": at,
            "amount": 100.0, "due_at": due, "payment_terms_days": 14, "paperless": True}


def _store_features(events: list[dict], now: str) -> dict[str, float]:
    store = MemoryStore()
    assert all(r.status == "applied" for r in store.apply(events))
    request = InvoiceRequest(amount=250.0, payment_terms_days=14, issued_at=now, customer_type="consumer")
    return store.customer_features("C-1", request, now)


def _all_phrases(feats: dict[str, float]) -> dict[str, str]:
    return {name: phrase(name, feats) for name in FEATURE_NAMES}


def test_a_brand_new_customer_is_told_it_has_no_history() -> None:
    said = _all_phrases(_store_features([], "2024-05-02T10:00:00"))
    assert said["share_known_late"] == "no invoice with a known outcome yet"
    assert said["p90_days_late"] == said["share_paid_late"] == said["mean_days_late"] == "no payment history yet"
    assert said["amount_vs_usual"] == "first invoice: no usual amount yet"
    assert said["tenure_days"] == "a new customer: first invoice"
    for name, text in said.items():
        if FEATURES[name].entity == "customer":
            assert not any(claim in text for claim in HISTORY_CLAIMS), (name, text)


def test_one_open_invoice_not_due_yet_is_not_a_payment_history() -> None:
    feats = _store_features([_issue("e1", "INV-1", "2024-05-01T10:00:00", "2024-05-15T00:00:00")],
                            "2024-05-02T10:00:00")
    said = _all_phrases(feats)
    assert said["mean_days_late"] == said["last_days_late"] == "no payment history yet"
    assert said["share_known_late"] == "no invoice with a known outcome yet"
    assert said["invoices_issued"] == "1 invoice issued before"
    assert said["amount_vs_usual"] == "amount is 2.5x the customer's usual invoice"
    assert said["days_since_last_payment"] == "has never paid an invoice"


def test_many_paid_invoices_are_described_by_their_values() -> None:
    events = []
    for i in range(5):
        events.append(_issue(f"i{i}", f"INV-{i}", f"2024-0{i + 1}-01T10:00:00", f"2024-0{i + 1}-15T00:00:00"))
        events.append({"event_id": f"p{i}", "type": "payment_received", "customer_id": "C-1",
                       "invoice_id": f"INV-{i}", "at": f"2024-0{i + 1}-25T10:00:00", "amount": 100.0})
    said = _all_phrases(_store_features(events, "2024-07-01T10:00:00"))
    assert said["share_paid_late"] == "paid 100% of invoices late"
    assert said["mean_days_late"] == "pays 10 days late on average"
    assert said["invoices_paid"] == "5 invoices paid so far"
