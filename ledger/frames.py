"""The ledger database read back as the data contract's tables (``ledger.tables.Ledger``), per legal entity.

Why: the cash-in forecast (``training.forecast``) is computed from the contract's
tables, the same as in its back-test on simulated files, so the service reads
the system of record into those tables rather than computing the forecast a
second way in SQL. Money comes back from cents to EUR (exact for cents),
times from micros to naive UTC datetimes (what ``ledger.events`` books a
naive file time as). Only what the forecast's features read is filled:
customers' master data, invoices (credit notes left out), the allocated
payments, disputes, promises and escalations; reminders stay empty (no feature
reads them).

Example::

    book = read_ledger(engine, entity="NL01")
    book.invoices["amount"].sum()
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from domain.vocabulary import CHANNELS
from ledger import schema as t
from ledger.tables import CUSTOMERS, DISPUTES, ESCALATIONS, INVOICES, PAYMENTS, PROMISES, REMINDERS, Ledger, empty
from ledger.receivables import NO_ENTITY
from ledger.views import Source, connected


def _time(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, unit="us").astype("datetime64[us]")


def _frame(conn: sa.Connection, query: sa.Select, columns: list[str]) -> pd.DataFrame:
    rows = conn.execute(query).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def _typed(table, frame: pd.DataFrame) -> pd.DataFrame:  # noqa: ANN001
    """``frame`` with the contract table's columns, in order (an empty read keeps the canonical dtypes)."""
    return empty(table) if frame.empty else frame[table.names].reset_index(drop=True)


def legal_entities(source: Source) -> list[dict[str, str]]:
    """Every legal entity (id, name), by id: the ``legal_entities`` table and every entity an invoice was
    booked under (events name an invoice's ``legal_entity_id``; its name is its id until the table has it;
    ``-`` stands for the invoices booked under none)."""
    le, inv = t.legal_entities.c, t.invoices.c
    with connected(source) as conn:
        named = {r.id: r.name for r in conn.execute(sa.select(le.id, le.name))}
        booked = conn.execute(sa.select(inv.legal_entity_id).distinct())
        ids = set(named) | {NO_ENTITY if r[0] is None else r[0] for r in booked}
    return [{"id": i, "name": named.get(i, i)} for i in sorted(ids)]


def read_ledger(source: Source, entity: str | None = None) -> Ledger:
    """The book of one legal entity (``entity``: its id; ``-``: the invoices booked under none; ``None``: the
    whole book, consolidated)."""
    inv, cu = t.invoices.c, t.customers.c
    where = inv.kind == "invoice"
    if entity == NO_ENTITY:
        where = where & inv.legal_entity_id.is_(None)
    elif entity is not None:
        where = where & (inv.legal_entity_id == entity)
    with connected(source) as conn:
        invoices = _frame(conn, sa.select(inv.id, inv.customer_id, inv.issued_us, inv.due_us, inv.amount_cents,
                                          inv.currency, inv.payment_terms_days, inv.paperless, inv.status, inv.paid_us,
                                          inv.written_off_us).where(where),
                          ["invoice_id", "customer_id", "issued_us", "due_us", "amount_cents", "currency",
                           "payment_terms_days", "paperless", "status", "paid_us", "written_off_us"])
        ids = sa.select(inv.id).where(where).scalar_subquery()
        customer_ids = sa.select(inv.customer_id).where(where).scalar_subquery()
        consents = [getattr(cu, f"consent_{ch}") for ch in CHANNELS]
        customers = _frame(conn, sa.select(cu.id, cu.type, cu.country, cu.sector, cu.size, cu.profile,
                                           cu.account_manager, cu.key_account, cu.paperless, *consents,
                                           cu.created_us).where(cu.id.in_(customer_ids)),
                           ["customer_id", "type", "country", "sector", "size", "profile", "account_manager",
                            "key_account", "paperless", *(f"consent_{ch}" for ch in CHANNELS), "created_us"])
        al, pay = t.allocations.c, t.payments.c
        payments = _frame(conn, sa.select(al.payment_id, al.invoice_id, pay.customer_id, pay.received_us,
                                          al.amount_cents).join_from(t.allocations, t.payments,
                                                                     al.payment_id == pay.id)
                          .where(al.invoice_id.in_(ids)),
                          ["payment_id", "invoice_id", "customer_id", "received_us", "amount_cents"])
        d = t.disputes.c
        disputes = _frame(conn, sa.select(d.id, d.invoice_id, d.customer_id, d.opened_us, d.resolved_us, d.reason)
                          .where(d.invoice_id.in_(ids)),
                          ["dispute_id", "invoice_id", "customer_id", "opened_us", "resolved_us", "reason"])
        pr = t.promises.c
        promises = _frame(conn, sa.select(pr.id, pr.invoice_id, pr.customer_id, pr.created_us, pr.promised_for_us,
                                          pr.amount_cents).where(pr.invoice_id.in_(ids)),
                          ["promise_id", "invoice_id", "customer_id", "made_us", "promised_for_us", "amount_cents"])
        ev = t.ledger_events.c
        escalations = _frame(conn, sa.select(ev.event_id, ev.invoice_id, ev.customer_id, ev.at_us)
                             .where((ev.type == "invoice_escalated") & ev.invoice_id.in_(ids)),
                             ["escalation_id", "invoice_id", "customer_id", "escalated_us"])
    invoices = invoices.assign(
        issued_at=_time(invoices["issued_us"]), due_at=_time(invoices["due_us"]),
        amount=invoices["amount_cents"] / 100.0, paperless=invoices["paperless"].astype(bool),
        paid_at=_time(invoices["paid_us"].where(invoices["status"] == "paid")),
        written_off_at=_time(invoices["written_off_us"].where(invoices["status"] == "written_off")))
    customers = customers.assign(created_at=_time(customers["created_us"]),
                                 key_account=customers["key_account"].astype(bool),
                                 paperless=customers["paperless"].astype(bool))
    payments = payments.assign(paid_at=_time(payments["received_us"]), amount=payments["amount_cents"] / 100.0)
    disputes = disputes.assign(opened_at=_time(disputes["opened_us"]), resolved_at=_time(disputes["resolved_us"]))
    promises = promises.assign(made_at=_time(promises["made_us"]), promised_for=_time(promises["promised_for_us"]),
                               amount=promises["amount_cents"] / 100.0)
    escalations = escalations.assign(escalated_at=_time(escalations["escalated_us"]))
    return Ledger(customers=_typed(CUSTOMERS, customers), invoices=_typed(INVOICES, invoices),
                  payments=_typed(PAYMENTS, payments), disputes=_typed(DISPUTES, disputes),
                  reminders=empty(REMINDERS), promises=_typed(PROMISES, promises),
                  escalations=_typed(ESCALATIONS, escalations))
