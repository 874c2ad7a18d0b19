"""Kredo's workflow in the closed loop (``bench/closed_loop.py``): every day's run, sender and collectors through
the API, on a small simulated book; what the loop relies on holds."""
from __future__ import annotations

from bench.closed_loop import run


def test_a_short_loop_books_everything_sends_nothing_moot_and_works_its_calls() -> None:
    figures = run(customers=160, months=9, days=10, seed=5, arms=("static", "kredo"))
    kredo = figures["kredo"]
    assert figures["kredo_refused_events"] == 0
    assert figures["kredo_messages_delivered"] > 0 and kredo["contacts"] >= figures["kredo_messages_delivered"]
    # a message whose invoice was paid, disputed or written off before its send time was cancelled by the ledger
    assert figures["kredo_items_delivered_after_close"] == 0
    assert kredo["invoices"] == figures["static"]["invoices"]
    assert 0 < kredo["cei"] <= 100
