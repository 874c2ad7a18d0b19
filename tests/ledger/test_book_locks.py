"""Batches booked at once on PostgreSQL: other customers' batches book side by side, the same customer's wait,
and a new key two customers claim at once is booked once (the second batch runs again, judged against the first)."""
from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from ledger import schema as t
from ledger.book import Book, Verdict
from ledger.database import open_ledger
from ledger.imports import import_ledger
from training.simulation import SimulationConfig, simulate

RECEIVED = 1_790_000_000_000_000


def issue(event_id: str, customer_id: str, invoice_id: str, day: int) -> dict:
    return {"event_id": event_id, "type": "invoice_issued", "customer_id": customer_id, "invoice_id": invoice_id,
            "at": f"2026-10-{day:02d}T09:00:00", "amount": 100.0, "due_at": "2026-11-30T00:00:00", "payment_terms_days": 30, "paperless": False}


def statuses(verdicts: list[Verdict]) -> list[tuple[str, str | None]]:
    return [(v.status, v.code) for v in verdicts]


def test_other_customers_book_while_a_batch_is_open_and_the_same_customer_waits(pg_ledger_url: str) -> None:
    book = Book(open_ledger(pg_ledger_url))
    with book.engine.connect() as held:
        with held.begin():
            first = book.apply([issue("a1", "C-1", "INV-1", 1)], RECEIVED, conn=held)
            assert statuses(first.verdicts) == [("applied", None)]
            with book.engine.connect() as other, other.begin():
                other.execute(sa.text("SET LOCAL lock_timeout = '1s'"))
                side = book.apply([issue("b1", "C-2", "INV-2", 2)], RECEIVED, conn=other)
                assert statuses(side.verdicts) == [("applied", None)]  # not waiting for C-1's batch
            with book.engine.connect() as same, same.begin():
                same.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))
                with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                    book.apply([issue("a2", "C-1", "INV-3", 3)], RECEIVED, conn=same)
    with book.engine.connect() as conn:
        assert sorted(conn.execute(sa.select(t.invoices.c.id)).scalars()) == ["INV-1", "INV-2"]
    book.engine.dispose()


def test_a_new_key_two_customers_claim_at_once_is_booked_once(pg_ledger_url: str) -> None:
    """C-1's batch is open with event ``e1`` issuing ``INV-X``; C-2's batch claims both keys too. It waits for
    C-1's rows, and once they are committed it is booked again: ``e1`` reused, ``INV-X`` exists."""
    book = Book(open_ledger(pg_ledger_url))
    second: list[list[Verdict]] = []

    def rival() -> None:
        second.append(book.apply([issue("e1", "C-2", "INV-Y", 2), issue("e2", "C-2", "INV-X", 2)],
                                 RECEIVED).verdicts)

    with book.engine.connect() as held:
        with held.begin():
            book.apply([issue("e1", "C-1", "INV-X", 1)], RECEIVED, conn=held)
            thread = threading.Thread(target=rival)
            thread.start()
            time.sleep(0.5)
            assert thread.is_alive()  # waiting on the uncommitted rows, not booked past them
        thread.join(timeout=10)
    assert statuses(second[0]) == [("refused", "event_id_reused"), ("refused", "invoice_exists")]
    with book.engine.connect() as conn:
        assert conn.execute(sa.select(t.invoices.c.id, t.invoices.c.customer_id)).all() == [("INV-X", "C-1")]
        assert conn.execute(sa.select(sa.func.count()).select_from(t.ledger_events)).scalar_one() == 1
    book.engine.dispose()


ADVISORY_HELD = sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()")


def test_an_import_holds_one_lock_however_many_customers(pg_ledger_url: str) -> None:
    """A lock per customer for a whole book's import filled PostgreSQL's lock table (6,400 by default):
    20,000 customers failed with "out of shared memory". The import holds the book-wide lock alone."""
    book = Book(open_ledger(pg_ledger_url))
    world = simulate(SimulationConfig(customers=300, months=2, seed=3))
    held: list[int] = []
    with book.engine.connect() as watcher:
        report = import_ledger(book, world, progress=lambda n: held.append(watcher.execute(ADVISORY_HELD).scalar()))
    assert report.committed and report.applied > 300
    assert held and set(held) == {1}, held  # before: one lock per customer booked so far
    book.engine.dispose()


def test_a_batch_waits_for_an_open_import_and_an_import_for_an_open_batch(pg_ledger_url: str) -> None:
    book = Book(open_ledger(pg_ledger_url))
    with book.engine.connect() as held, held.begin():
        book.apply([issue("i1", "C-1", "INV-1", 1)], RECEIVED, conn=held, whole_book=True)
        with book.engine.connect() as other, other.begin():
            other.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                book.apply([issue("b1", "C-2", "INV-2", 2)], RECEIVED, conn=other)  # another customer: it waits
    with book.engine.connect() as held, held.begin():
        book.apply([issue("b2", "C-3", "INV-3", 3)], RECEIVED, conn=held)
        with book.engine.connect() as other, other.begin():
            other.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                book.apply([issue("i2", "C-4", "INV-4", 4)], RECEIVED, conn=other, whole_book=True)
    with book.engine.connect() as conn:
        assert sorted(conn.execute(sa.select(t.invoices.c.id)).scalars()) == ["INV-1", "INV-3"]
    book.engine.dispose()
