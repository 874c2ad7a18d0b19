"""The book on SQLite and PostgreSQL alike: late events give the projections of the ordered stream,
a batch booked twice changes nothing, and a late partial payment moves the allocations it should."""
from __future__ import annotations

import sqlalchemy as sa

from ledger import schema as t
from ledger.book import Book
from ledger.database import open_ledger
from ledger.events import ledger_to_events, to_us
from training.simulation import SimulationConfig, simulate

PROJECTIONS = (t.invoices, t.payments, t.allocations, t.disputes, t.contacts)
RECEIVED = to_us("2026-12-01T09:00:00")


def projections(book: Book) -> dict[str, set[tuple]]:
    with book.engine.connect() as conn:
        return {table.name: set(map(tuple, conn.execute(sa.select(table)).all())) for table in PROJECTIONS}


def book_in_batches(book: Book, events: list[dict], size: int = 250) -> list[str]:
    statuses: list[str] = []
    for start in range(0, len(events), size):
        statuses += [v.status for v in book.apply(events[start:start + size], RECEIVED).verdicts]
    return statuses


def test_late_payments_give_the_projections_of_the_ordered_stream(ledger_url: str, tmp_path) -> None:
    """Payments arrive last and newest first (yesterday's bank batch after today's): the allocations,
    paid amounts and statuses must be those of the stream in time order."""
    events = ledger_to_events(simulate(SimulationConfig(customers=60, months=8, seed=5)))
    ordered = Book(open_ledger(f"sqlite:///{tmp_path}/ordered.db"))
    assert set(book_in_batches(ordered, events)) == {"applied"}

    late = Book(open_ledger(ledger_url))
    payments = [e for e in events if e["type"] == "payment_received"]
    rest = [e for e in events if e["type"] not in ("payment_received", "invoice_written_off")]
    write_offs = [e for e in events if e["type"] == "invoice_written_off"]
    assert len(payments) > 100 and len({e["invoice_id"] for e in payments}) < len(payments)  # partials too
    statuses = book_in_batches(late, rest) + book_in_batches(late, payments[::-1]) + book_in_batches(late, write_offs)
    assert statuses.count("applied") == len(events)
    assert projections(late) == projections(ordered)

    again = book_in_batches(late, payments[::-1])
    assert set(again) == {"duplicate"} and projections(late) == projections(ordered)


def test_a_late_partial_payment_takes_its_share_first(ledger_url: str) -> None:
    book = Book(open_ledger(ledger_url))
    issue = {"event_id": "i1", "type": "invoice_issued", "customer_id": "C-1", "invoice_id": "INV-1",
             "at": "2026-10-01T09:00:00", "amount": 100.0, "due_at": "2026-10-31T00:00:00",
             "payment_terms_days": 30, "paperless": False}
    second = {"event_id": "p2", "type": "payment_received", "customer_id": "C-1", "invoice_id": "INV-1",
              "at": "2026-10-20T09:00:00", "amount": 80.0}
    first = {"event_id": "p1", "type": "payment_received", "customer_id": "C-1", "invoice_id": "INV-1",
             "at": "2026-10-10T09:00:00", "amount": 50.0}
    book.apply([issue, second], RECEIVED)
    verdict = book.apply([first], RECEIVED).verdicts[0]
    assert verdict.status == "applied"
    with book.engine.connect() as conn:
        alloc = dict(conn.execute(sa.select(t.allocations.c.payment_id, t.allocations.c.amount_cents)).all())
        pays = dict(conn.execute(sa.select(t.payments.c.id, t.payments.c.allocated_cents)).all())
        invoice = conn.execute(sa.select(t.invoices)).one()
    assert alloc == {"p1": 5_000, "p2": 5_000} and pays == {"p1": 5_000, "p2": 5_000}
    assert (invoice.paid_cents, invoice.status, invoice.paid_us) == (10_000, "paid", to_us(second["at"]))


def test_batches_booked_at_once_by_two_workers_lose_nothing(ledger_url: str, tmp_path) -> None:
    """Two service workers book overlapping batches at the same moment (the same customers' payments,
    some events in both): every event is booked once and the projections are those of one stream."""
    import threading

    events = ledger_to_events(simulate(SimulationConfig(customers=30, months=6, seed=9)))
    issued = [e for e in events if e["type"] == "invoice_issued"]
    rest = [e for e in events if e["type"] in ("payment_received", "reminder_sent")]
    ordered = Book(open_ledger(f"sqlite:///{tmp_path}/ordered.db"))
    book_in_batches(ordered, issued + rest)

    shared = Book(open_ledger(ledger_url))
    book_in_batches(shared, issued)
    halves = [rest[0::2] + rest[1::4], rest[1::2] + rest[0::4]]  # each half repeats a quarter of the other
    verdicts: list[list[str]] = [[], []]
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(n: int) -> None:
        start.wait()
        try:
            verdicts[n] = book_in_batches(shared, halves[n], size=40)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    flat = verdicts[0] + verdicts[1]
    assert flat.count("applied") == len(rest) and flat.count("duplicate") == len(flat) - len(rest)
    assert projections(shared) == projections(ordered)


def test_a_customers_addresses_and_language_are_master_data_checked_at_the_door(ledger_url: str) -> None:
    """Where a sender delivers (e-mail, phone, postal address) and the templates' language: a bad one is refused
    when it is booked, not when a reminder fails at the last moment."""
    book = Book(open_ledger(ledger_url))
    good = {"event_id": "cu-1", "type": "customer_updated", "customer_id": "C-1", "email": "jan@example.nl",
            "phone": "+31612345678", "postal_address": "Laan 2\n3500 AB Utrecht", "language": "en"}
    assert [v.status for v in book.apply([good], received_us=1).verdicts] == ["applied"]
    with book.engine.connect() as conn:
        row = conn.execute(sa.select(t.customers).where(t.customers.c.id == "C-1")).one()
    assert (row.email, row.phone, row.postal_address, row.language) == (
        "jan@example.nl", "+31612345678", "Laan 2\n3500 AB Utrecht", "en")
    for n, (name, value) in enumerate((("email", "jan at example"), ("phone", "0612345678"), ("language", "fr"),
                                       ("postal_address", "a\x00b"), ("email", 12))):
        (verdict,) = book.apply([{**good, "event_id": f"cu-bad-{n}", name: value}], received_us=2).verdicts
        assert (verdict.status, verdict.field) == ("refused", name), (name, value)
    book.engine.dispose()
