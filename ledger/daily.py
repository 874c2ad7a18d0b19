"""The receivables' daily sums, kept as the book books: per legal entity and day, the invoices issued and what
left the receivables (allocated payments by the day received, open balances written off).

Why a projection: DSO's countback, its twelve month-end trend, CEI and best possible DSO need the receivables
and the sales at many past days; reading them from the invoices means three grouped scans of the whole book
(0.56 s consolidated, 2.5 s for one entity at 500,000 invoices on SQLite), on every cold report. The book
already knows, per touched invoice, its projection rows before and after a batch (``ledger.book``); the
difference of their contributions is a handful of (entity, day) increments, written in the same transaction
(:func:`record`), so the table is never behind the invoices. :func:`rebuild` derives it from the invoices
(the migration that created it fills it so, and a test holds the kept table to it after every kind of event,
late ones included).

The item counts say whether a day has any invoice or leaving at all (a credit note can make a day's sales sum
to zero): the report's first month is the book's first such day.

Example::

    sales, leaving = daily_sums(conn, entity="NL01")   # {day: cents} each; entity None for all
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ledger import schema as t
from ledger.events import US_PER_DAY

#: The ``entity`` of invoices without a legal entity.
NONE = ""
Rows = Mapping[sa.Table, Mapping[tuple, Mapping[str, Any]]]
_FIELDS = ("issued_cents", "issued_items", "leaving_cents", "leaving_items")


def _facts(rows: Rows) -> tuple:
    """What of one invoice's projection rows the daily sums depend on."""
    (inv,) = rows[t.invoices].values()
    return (inv["legal_entity_id"], inv["issued_us"], inv["amount_cents"], inv["paid_cents"], inv["written_off_us"],
            tuple((p["received_us"], p["allocated_cents"]) for p in rows[t.payments].values()))


def _contribute(facts: tuple, sign: int, into: Counter) -> None:
    """Add ``sign`` times what one invoice (its :func:`_facts`) puts in each day."""
    entity, issued_us, amount, paid, written_off_us, payments = facts
    entity = entity or NONE
    into[entity, issued_us // US_PER_DAY, "issued_cents"] += sign * amount
    into[entity, issued_us // US_PER_DAY, "issued_items"] += sign
    if written_off_us is not None:
        into[entity, written_off_us // US_PER_DAY, "leaving_cents"] += sign * (amount - paid)
        into[entity, written_off_us // US_PER_DAY, "leaving_items"] += sign
    for received_us, allocated in payments:
        if allocated > 0:
            into[entity, received_us // US_PER_DAY, "leaving_cents"] += sign * allocated
            into[entity, received_us // US_PER_DAY, "leaving_items"] += sign


def record(conn: sa.Connection, before: Mapping[str, Rows], after: Mapping[str, Rows]) -> int:
    """In the booking transaction: add to the daily sums the difference the batch made (the touched invoices'
    projection rows before and after it, by invoice id); returns how many (entity, day) rows changed. An
    invoice whose amounts, dates and payments stayed (a reminder, a dispute) costs one comparison."""
    delta: Counter = Counter()
    for invoice_id, rows in after.items():
        now, was = _facts(rows), _facts(before[invoice_id]) if invoice_id in before else None
        if now != was:
            _contribute(now, 1, delta)
            if was is not None:
                _contribute(was, -1, delta)
    days: dict[tuple[str, int], dict[str, Any]] = {}
    for (entity, day, name), value in delta.items():
        if value:
            days.setdefault((entity, day), {"entity": entity, "day": day, **dict.fromkeys(_FIELDS, 0)})[name] = value
    if days:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(t.receivable_days)
        conn.execute(insert.on_conflict_do_update(
            index_elements=["entity", "day"],
            set_={name: t.receivable_days.c[name] + insert.excluded[name] for name in _FIELDS}),
            sorted(days.values(), key=lambda r: (r["entity"], r["day"])))  # one order: no deadlock between writers
    return len(days)


def _derived() -> sa.Select:
    """The daily sums as the invoices, payments and write-offs give them (what :func:`record` keeps)."""
    i, p = t.invoices.c, t.payments.c
    entity = sa.func.coalesce(i.legal_entity_id, NONE)
    zero = sa.literal(0, sa.BigInteger())
    parts = sa.union_all(
        sa.select(entity.label("entity"), (i.issued_us // US_PER_DAY).label("day"),
                  i.amount_cents.label("issued_cents"), sa.literal(1).label("issued_items"),
                  zero.label("leaving_cents"), sa.literal(0).label("leaving_items")),
        sa.select(entity, p.received_us // US_PER_DAY, zero, sa.literal(0), p.allocated_cents, sa.literal(1))
        .join_from(t.payments, t.invoices, i.id == p.invoice_id).where(p.allocated_cents > 0),
        sa.select(entity, i.written_off_us // US_PER_DAY, zero, sa.literal(0), i.amount_cents - i.paid_cents,
                  sa.literal(1)).where(i.written_off_us.is_not(None))).subquery()
    return (sa.select(parts.c.entity, parts.c.day, *(sa.func.sum(parts.c[name]).label(name) for name in _FIELDS))
            .group_by(parts.c.entity, parts.c.day))


def rebuild(conn: sa.Connection) -> int:
    """Derive the daily sums from the invoices again (the migration that made the table; a check); rows."""
    conn.execute(sa.delete(t.receivable_days))
    rows = [dict(r._mapping) for r in conn.execute(_derived())]
    if rows:
        conn.execute(sa.insert(t.receivable_days), rows)
    return len(rows)


def derived_rows(conn: sa.Connection) -> dict[tuple[str, int], tuple[int, ...]]:
    """The daily sums derived from the invoices, without zero rows (a test compares the kept ones to these)."""
    return {(r.entity, int(r.day)): tuple(int(r._mapping[n]) for n in _FIELDS) for r in conn.execute(_derived())
            if any(r._mapping[n] for n in _FIELDS)}


def kept_rows(conn: sa.Connection) -> dict[tuple[str, int], tuple[int, ...]]:
    """The kept daily sums, without the rows every change cancelled out."""
    d = t.receivable_days.c
    query = sa.select(d.entity, d.day, *(d[n] for n in _FIELDS))
    return {(r.entity, int(r.day)): tuple(int(r._mapping[n]) for n in _FIELDS) for r in conn.execute(query)
            if any(r._mapping[n] for n in _FIELDS)}


def daily_sums(conn: sa.Connection, entity: str | None) -> tuple[dict[int, int], dict[int, int]]:
    """Per day, the sales and what left the receivables, in cents, of ``entity`` (a legal entity id, :data:`NONE`
    for invoices without one, None for all): a day is there when it had an invoice issued, resp. a payment
    allocated or a balance written off, as a grouped scan of the invoices would give."""
    d = t.receivable_days.c
    query = sa.select(d.day, sa.func.sum(d.issued_cents), sa.func.sum(d.issued_items), sa.func.sum(d.leaving_cents),
                      sa.func.sum(d.leaving_items))
    if entity is not None:
        query = query.where(d.entity == entity)
    sales, leaving = {}, {}
    for day, issued, issued_items, left, left_items in conn.execute(query.group_by(d.day)):
        if issued_items:
            sales[int(day)] = int(issued)
        if left_items:
            leaving[int(day)] = int(left)
    return sales, leaving
