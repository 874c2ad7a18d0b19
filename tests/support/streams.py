"""Event streams the ledger and store tests replay, and the check that a store folded one right."""
from __future__ import annotations

import numpy as np
import pytest

from features.online import MemoryStore
from features.online.base import OnlineStore
from features.transform import InvoiceRequest
from ledger.events import ledger_to_events, to_us
from ledger.tables import Ledger


def late_stream(ledger: Ledger, seed: int) -> tuple[list[dict], list[dict]]:
    """The ledger's events in time order, and as they arrive when each invoice's payments, disputes and
    write-offs come 0-24 days late (seeded): what daily bank-statement batches do to a book."""
    history = ledger_to_events(ledger, include_reminders=False)
    rng = np.random.default_rng(seed)
    lag = {inv: int(d) for inv, d in zip(ledger.invoices["invoice_id"], rng.integers(0, 25, len(ledger.invoices)))}
    arrival = [to_us(e["at"]) + (0 if e["type"] == "invoice_issued" else lag[e["invoice_id"]] * 86_400_000_000)
               for e in history]
    return history, [history[i] for i in np.argsort(arrival, kind="stable")]


def assert_in_order_features(served: OnlineStore, ledger: Ledger, history: list[dict]) -> None:
    """Every customer's features in ``served`` equal those of an in-order fold of ``history``."""
    in_order = MemoryStore()
    in_order.apply(history)
    request = InvoiceRequest(amount=100.0, payment_terms_days=30, issued_at="2030-01-01T00:00:00")
    for customer_id in ledger.customers["customer_id"]:
        got, want = served.customer_features(customer_id, request), in_order.customer_features(customer_id, request)
        assert got == pytest.approx(want, rel=1e-12, abs=1e-9), customer_id
