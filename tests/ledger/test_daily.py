"""The daily sums the book keeps (``ledger.daily``) are those the invoices give, per legal entity, whatever
order the events came in: late payments (newest first), write-offs last, a late invoice of nothing (the book has no negative
invoices: a credit note is not an event), a batch booked twice;
and they are what the report read before the table existed (three grouped scans of the invoices, kept here
as the oracle), on SQLite and PostgreSQL."""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from ledger import daily
from ledger import schema as t
from ledger.book import Book
from ledger.database import open_ledger
from ledger.events import US_PER_DAY, ledger_to_events, to_us
from ledger.receivables import NO_ENTITY, receivables
from training.simulation import SimulationConfig, simulate

RECEIVED = to_us("2026-12-01T09:00:00")
ENTITIES = ("NL01", "BE01", None)


def scanned(conn: sa.Connection, entity: str | None) -> tuple[dict[int, int], dict[int, int]]:
    """The daily sums as ``ledger.receivables`` computed them before revision 0007 (the parity oracle)."""
    i, p, a = t.invoices.c, t.payments.c, t.allocations.c
    where = [] if entity is None else [i.legal_entity_id.is_(None)] if entity == daily.NONE else \
        [i.legal_entity_id == entity]
    issued_day = i.issued_us // US_PER_DAY
    sales = dict(conn.execute(sa.select(issued_day, sa.func.sum(i.amount_cents)).where(*where)
                              .group_by(issued_day)).all())
    out: dict[int, int] = defaultdict(int)
    paid_day = p.received_us // US_PER_DAY
    if where:
        paid = (sa.select(paid_day, sa.func.sum(a.amount_cents))
                .select_from(t.allocations.join(t.payments, p.id == a.payment_id)
                             .join(t.invoices, i.id == a.invoice_id)).where(*where))
    else:
        paid = sa.select(paid_day, sa.func.sum(p.allocated_cents)).where(p.allocated_cents > 0)
    for day, cents in conn.execute(paid.group_by(paid_day)):
        out[int(day)] += int(cents)
    off_day = i.written_off_us // US_PER_DAY
    for day, cents in conn.execute(sa.select(off_day, sa.func.sum(i.amount_cents - i.paid_cents))
                                   .where(i.written_off_us.is_not(None), *where).group_by(off_day)):
        out[int(day)] += int(cents)
    return {int(k): int(v) for k, v in sales.items()}, dict(out)


def events_with_entities() -> list[dict]:
    events = ledger_to_events(simulate(SimulationConfig(customers=80, months=8, seed=11)))
    for n, e in enumerate(e for e in events if e["type"] == "invoice_issued"):
        if ENTITIES[n % 3] is not None:
            e["legal_entity_id"] = ENTITIES[n % 3]
    return events


def book_in_batches(book: Book, events: list[dict], size: int = 200) -> None:
    for start in range(0, len(events), size):
        book.apply(events[start:start + size], RECEIVED)


def test_the_kept_sums_are_the_invoices_whatever_the_order(ledger_url: str) -> None:
    events = events_with_entities()
    payments = [e for e in events if e["type"] == "payment_received"]
    write_offs = [e for e in events if e["type"] == "invoice_written_off"]
    rest = [e for e in events if e["type"] not in ("payment_received", "invoice_written_off")]
    assert len(payments) > 100 and write_offs
    book = Book(open_ledger(ledger_url))
    book_in_batches(book, rest)
    book_in_batches(book, payments[len(payments) // 2:][::-1])  # the later half first, newest first
    book_in_batches(book, payments[:len(payments) // 2][::-1] + write_offs)
    book_in_batches(book, payments)  # again: duplicates change nothing
    nothing = {"event_id": "z1", "type": "invoice_issued", "customer_id": rest[0]["customer_id"],
               "invoice_id": "Z-1", "at": "2026-03-02T09:00:00", "amount": 0.0, "due_at": "2026-04-01T00:00:00",
              "payment_terms_days": 30, "paperless": False, "legal_entity_id": "NL01"}
    assert book.apply([nothing], RECEIVED).verdicts[0].status == "applied"
    with book.engine.connect() as conn:
        kept = daily.kept_rows(conn)
        assert kept == daily.derived_rows(conn) and {e for e, _ in kept} == {"NL01", "BE01", daily.NONE}
        assert sum(v[3] for v in kept.values()) > 100  # payments and write-offs are in it
        for entity in (None, "NL01", "BE01", daily.NONE):
            assert daily.daily_sums(conn, entity) == scanned(conn, entity), entity
        facts = receivables(conn, entity=NO_ENTITY)
        rows = conn.execute(sa.select(t.invoices.c.amount_cents - t.invoices.c.paid_cents)
                            .where(t.invoices.c.status == "open", t.invoices.c.legal_entity_id.is_(None))).all()
    assert facts.trend[-1].receivables_cents == facts.outstanding.cents == sum(c for c, in rows)
    book.engine.dispose()


def test_the_migration_fills_the_sums_from_a_booked_book(ledger_url: str) -> None:
    """A book booked at revision 0006 gets the daily sums its invoices give when it is upgraded."""
    book = Book(open_ledger(ledger_url))
    book_in_batches(book, events_with_entities())
    with book.engine.begin() as conn:
        before = daily.kept_rows(conn)
        conn.execute(sa.delete(t.receivable_days))
        assert daily.rebuild(conn) > 0
        assert daily.kept_rows(conn) == before == daily.derived_rows(conn)
    book.engine.dispose()
