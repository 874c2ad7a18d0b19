"""The ledger's schema is Alembic's: an empty database and one at the previous revision both upgrade to head,
on SQLite and on PostgreSQL, keeping their rows; workers starting together migrate once."""
from __future__ import annotations

import multiprocessing

import sqlalchemy as sa

from ledger import schema
from ledger.book import Book
from ledger.database import current_revision, engine_for, open_ledger, upgrade

HEAD = "0008"


def tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_an_empty_database_upgrades_to_head(ledger_url: str) -> None:
    engine = open_ledger(ledger_url)
    assert current_revision(engine) == HEAD
    assert {t.name for t in schema.metadata.sorted_tables} <= tables(engine)
    engine.dispose()


def test_the_previous_revision_upgrades_with_its_rows(ledger_url: str) -> None:
    engine = engine_for(ledger_url)
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001" and "promises" not in tables(engine)
    with engine.begin() as conn:  # a row written by the previous revision's code
        conn.execute(sa.insert(schema.customers).values(id="C-1", type="consumer", country="NL", created_us=1,
                                                        updated_us=1))
    upgrade(engine)
    assert current_revision(engine) == HEAD and "promises" in tables(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.select(schema.customers.c.type)).scalar() == "consumer"
    Book(engine).apply([{"event_id": "e1", "type": "invoice_issued", "customer_id": "C-1", "invoice_id": "INV-1",
                         "at": "2026-10-01T09:00:00", "amount": 10.0, "due_at": "2026-10-31T00:00:00",
                         "payment_terms_days": 30, "paperless": False}], received_us=0)
    upgrade(engine)  # at head: nothing to do, nothing lost
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.invoices)).scalar() == 1
    engine.dispose()


def _open(ledger_url: str) -> str | None:
    engine = open_ledger(ledger_url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def test_workers_starting_together_migrate_once(ledger_url: str) -> None:
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert pool.map(_open, [ledger_url] * 4) == [HEAD] * 4


def test_the_migrations_build_exactly_the_declared_schema(ledger_url: str) -> None:
    """``ledger/schema.py`` is what the code reads and writes; Alembic's head must build the same tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = open_ledger(ledger_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == "kredo_ledger_version")] == []
    engine.dispose()


def test_revision_0007_fills_the_daily_sums_from_the_booked_invoices(ledger_url: str) -> None:
    """A book at 0006 (invoices, a payment allocated, a write-off) gets its receivables' daily sums on upgrade."""
    from ledger import daily

    engine = engine_for(ledger_url)
    upgrade(engine, "0006")
    day = 86_400_000_000
    with engine.begin() as conn:
        invoice = {"customer_id": "C-1", "payment_terms_days": 30, "due_us": 40 * day}
        conn.execute(sa.insert(schema.invoices), [
            {**invoice, "id": "INV-1", "issued_us": 10 * day, "amount_cents": 10_000, "paid_cents": 4_000,
             "legal_entity_id": "NL01", "status": "open", "written_off_us": None},
            {**invoice, "id": "INV-2", "issued_us": 10 * day + 5, "amount_cents": 2_500, "paid_cents": 0,
             "legal_entity_id": None, "status": "written_off", "written_off_us": 50 * day}])
        conn.execute(sa.insert(schema.payments).values(id="P-1", customer_id="C-1", invoice_id="INV-1",
                                                       received_us=20 * day, amount_cents=4_000,
                                                       allocated_cents=4_000))
        conn.execute(sa.insert(schema.allocations).values(payment_id="P-1", invoice_id="INV-1", amount_cents=4_000))
    upgrade(engine)
    assert current_revision(engine) == HEAD
    with engine.connect() as conn:
        assert daily.kept_rows(conn) == daily.derived_rows(conn) == {
            ("NL01", 10): (10_000, 1, 0, 0), ("NL01", 20): (0, 0, 4_000, 1), ("", 10): (2_500, 1, 0, 0),
            ("", 50): (0, 0, 2_500, 1)}
    engine.dispose()
