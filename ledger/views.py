"""Reading the book: a customer's standing, its invoices, an invoice's timeline, the decisions taken.

Why here: every reader (the read API, next-action by invoice id, the dunning run)
asks the same questions of the same tables; one module answers them, in plain
typed rows with exact cents and integer-microsecond times (the API turns them
into EUR and ISO times).

Example::

    view = invoice_view(engine, "INV-00000042")
    view.invoice["status"], [c["kind"] for c in view.contacts]
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledger import schema as t
from ledger.events import US_PER_DAY

#: Ageing buckets by days past due on the report date (current = not yet due).
AGEING = (("current", None, 0), ("1_30", 0, 30), ("31_60", 30, 60), ("61_90", 60, 90), ("90_plus", 90, None))
INVOICE_STATUSES = ("open", "overdue", "disputed", "paid", "written_off")


Source = Engine | sa.Connection
"""Where a reader reads: an engine (a connection of its own) or an open connection, so a page that asks
several questions asks them on one connection."""


@contextmanager
def connected(source: Source) -> Iterator[sa.Connection]:
    if isinstance(source, sa.Connection):
        yield source
        return
    with source.connect() as conn:
        yield conn


def _rows(conn: sa.Connection, query: sa.Select) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(query)]


@dataclass(frozen=True)
class InvoiceView:
    """One invoice as the book knows it, with its customer and everything that happened to it."""

    invoice: dict[str, Any]
    customer: dict[str, Any]
    payments: list[dict[str, Any]]
    disputes: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    decisions: list[dict[str, Any]]

    @property
    def open_dispute(self) -> dict[str, Any] | None:
        return next((d for d in self.disputes if d["status"] == "open"), None)


def invoice_view(engine: Engine, invoice_id: str) -> InvoiceView | None:
    """The invoice, its customer, payments, disputes, contacts and decisions; None if never issued."""
    with engine.connect() as conn:
        invoice = conn.execute(sa.select(t.invoices).where(t.invoices.c.id == invoice_id)).first()
        if invoice is None:
            return None
        inv = dict(invoice._mapping)
        customer = dict(conn.execute(sa.select(t.customers).where(t.customers.c.id == inv["customer_id"]))
                        .one()._mapping)
        by_invoice = lambda table, order: _rows(conn, sa.select(table).where(table.c.invoice_id == invoice_id)  # noqa: E731
                                                .order_by(order))
        return InvoiceView(inv, customer, by_invoice(t.payments, t.payments.c.received_us),
                           by_invoice(t.disputes, t.disputes.c.opened_us), by_invoice(t.contacts, t.contacts.c.at_us),
                           by_invoice(t.decisions, t.decisions.c.received_us))


def customer_row(source: Source, customer_id: str) -> dict[str, Any] | None:
    with connected(source) as conn:
        row = conn.execute(sa.select(t.customers).where(t.customers.c.id == customer_id)).first()
    return None if row is None else dict(row._mapping)


def customer_invoices(source: Source, customer_id: str, status: str | None, at_us: int) -> list[dict[str, Any]]:
    """The customer's invoices, newest first; ``status`` open / overdue (open past due at ``at_us``) /
    disputed (open dispute) / paid / written_off, or all."""
    inv = t.invoices.c
    query = sa.select(t.invoices).where(inv.customer_id == customer_id)
    if status == "open":
        query = query.where(inv.status == "open")
    elif status == "overdue":
        query = query.where(inv.status == "open", inv.due_us < at_us)
    elif status == "disputed":
        query = query.where(inv.disputed.is_(True))
    elif status in ("paid", "written_off"):
        query = query.where(inv.status == status)
    with connected(source) as conn:
        return _rows(conn, query.order_by(inv.issued_us.desc(), inv.id))


def days_past_due(due_us: int, at_us: int) -> int:
    """Whole days past due on the report day (0 on the due day itself, negative before)."""
    return (at_us // US_PER_DAY) - (due_us // US_PER_DAY)


def bucket(due_us: int, at_us: int) -> str:
    days = days_past_due(due_us, at_us)
    for name, low, high in AGEING:
        if (low is None or days > low) and (high is None or days <= high):
            return name
    raise AssertionError(days)  # the buckets cover every integer


def ageing(open_invoices: Sequence[Mapping[str, Any]], at_us: int) -> dict[str, int]:
    """Open balances (cents) per ageing bucket on the report date."""
    out = {name: 0 for name, _, _ in AGEING}
    for inv in open_invoices:
        out[bucket(inv["due_us"], at_us)] += inv["amount_cents"] - inv["paid_cents"]
    return out


def record_decision(engine: Engine, decision_id: str, request_id: str, kind: str, customer_id: str,
                    invoice_id: str | None, outcome: str, at_us: int, received_us: int,
                    summary: Mapping[str, Any]) -> None:
    """Index one decision for the timelines and the decision search (the record itself is in the audit log)."""
    with engine.begin() as conn:
        conn.execute(sa.insert(t.decisions).values(
            decision_id=decision_id, request_id=request_id, kind=kind, customer_id=customer_id,
            invoice_id=invoice_id, outcome=outcome, at_us=at_us, received_us=received_us,
            summary=json.dumps(summary, separators=(",", ":"))))


def search_decisions(source: Source, customer_id: str | None = None, invoice_id: str | None = None,
                     outcome: str | None = None, from_us: int | None = None, to_us: int | None = None,
                     after: tuple[int, str] | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Decisions newest first (by the server's receipt time), filtered; ``after`` is the cursor
    (received_us, decision_id) of the last row of the previous page."""
    d = t.decisions.c
    query = sa.select(t.decisions)
    for column, value in ((d.customer_id, customer_id), (d.invoice_id, invoice_id), (d.outcome, outcome)):
        if value is not None:
            query = query.where(column == value)
    if from_us is not None:
        query = query.where(d.at_us >= from_us)
    if to_us is not None:
        query = query.where(d.at_us < to_us)
    if after is not None:
        query = query.where(sa.or_(d.received_us < after[0], sa.and_(d.received_us == after[0],
                                                                     d.decision_id < after[1])))
    with connected(source) as conn:
        return _rows(conn, query.order_by(d.received_us.desc(), d.decision_id.desc()).limit(limit))
