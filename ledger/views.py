"""Reading the book: a customer's standing, its invoices, an invoice's timeline, the decisions taken.

Why here: every reader (the read API, next-action by invoice id, the dunning run)
asks the same questions of the same tables; one module answers them, in plain
typed rows with exact cents and integer-microsecond times (the API turns them
into EUR and ISO times). ``invoice_views`` reads any number of invoices in a
fixed number of queries: one invoice for next-action, a partition of customers
for the dunning run, the same code either way.

Example::

    view = invoice_view(engine, "INV-00000042")
    view.invoice["status"], [c["kind"] for c in view.contacts]
"""
from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledger import schema as t
from ledger.database import execute_raw, insert_sql
from ledger.events import US_PER_DAY
from ledger.outbox import LIVE

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
class PromiseRecord:
    """A promise to pay with what its invoice received: enough to say whether it was kept."""

    row: dict[str, Any]
    paid: tuple[tuple[int, int], ...]      # (received_us, allocated cents) of the invoice's payments
    invoice_paid_us: int | None            # when the invoice was settled in full, if it was


@dataclass(frozen=True)
class PlanRecord:
    """An active payment plan: its instalments in order and what its invoices received since it was agreed."""

    row: dict[str, Any]
    instalments: tuple[dict[str, Any], ...]
    invoice_ids: tuple[str, ...]
    paid: tuple[tuple[int, int], ...]      # (received_us, allocated cents) since the plan was agreed
    open_invoices: int


@dataclass(frozen=True)
class InvoiceView:
    """One invoice as the book knows it, with its customer and everything that happened to it.

    ``messages``: the outbox items listing it that still count (queued, sent or delivered); ``promises``:
    every promise of its customer (a customer's broken promises are a risk fact); ``plan``: the active
    payment plan covering it, if any.
    """

    invoice: dict[str, Any]
    customer: dict[str, Any]
    payments: list[dict[str, Any]]
    disputes: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    messages: list[dict[str, Any]] = field(default_factory=list)
    promises: tuple[PromiseRecord, ...] = ()
    plan: PlanRecord | None = None

    @property
    def open_dispute(self) -> dict[str, Any] | None:
        return next((d for d in self.disputes if d["status"] == "open"), None)


def invoice_view(source: Source, invoice_id: str, decisions: bool = False,
                 commitments: bool = True) -> InvoiceView | None:
    """The invoice, its customer, payments, disputes, contacts, messages, promises and plan (and the decisions
    taken on it, for a timeline); None if never issued. ``commitments=False``: without the promises and the
    plan (a timeline does not show them: up to eight queries fewer)."""
    with connected(source) as conn:
        views = invoice_views(conn, t.invoices.c.id == invoice_id, decisions=decisions, commitments=commitments)
    return views[0] if views else None


#: Up to this many invoices, related rows are fetched by their ids; beyond, by the same filter as a subquery.
FEW = 200
Keys = list[str] | sa.Select


def invoice_views(conn: sa.Connection, where: sa.ColumnElement[bool], decisions: bool = False,
                  commitments: bool = True) -> list[InvoiceView]:
    """Every invoice matching ``where`` (e.g. the open invoices of a range of customers) with all it needs,
    in a fixed number of queries whatever their count; ordered by customer, issue time and id.

    The one reader of an invoice's state: next-action by invoice id reads one, the dunning run a partition
    of customers, so both decide on the same facts. ``decisions``: also the decisions taken on each (the
    timeline; the dunning run does not need them); ``commitments``: the promises and plans (a timeline does
    not need those).
    """
    i = t.invoices.c
    invoices = _rows(conn, sa.select(t.invoices).where(where).order_by(i.customer_id, i.issued_us, i.id))
    if not invoices:
        return []
    ids, customer_ids = (sorted({inv[key] for inv in invoices}) if len(invoices) <= FEW
                         else sa.select(column).where(where) for key, column in (("id", i.id), ("customer_id", i.customer_id)))
    customers = {r["id"]: r for r in _rows(conn, sa.select(t.customers).where(t.customers.c.id.in_(customer_ids)))}

    def per_invoice(query: sa.Select) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for row in _rows(conn, query):
            out.setdefault(row["invoice_id"], []).append(row)
        return out

    payments = per_invoice(sa.select(t.payments).where(t.payments.c.invoice_id.in_(ids))
                           .order_by(t.payments.c.received_us, t.payments.c.id))
    disputes = per_invoice(sa.select(t.disputes).where(t.disputes.c.invoice_id.in_(ids))
                           .order_by(t.disputes.c.opened_us, t.disputes.c.id))
    contacts = per_invoice(sa.select(t.contacts).where(t.contacts.c.invoice_id.in_(ids))
                           .order_by(t.contacts.c.at_us, t.contacts.c.id))
    m, o = t.outbox_messages.c, t.outbox_items.c
    messages = per_invoice(sa.select(o.invoice_id, o.message_id, o.action, o.step, o.decision_id, m.channel, m.tone,
                                     m.send_at_us, m.decided_us, m.status)
                           .join(t.outbox_messages, m.id == o.message_id)
                           .where(o.invoice_id.in_(ids)).order_by(m.send_at_us, o.message_id))
    messages = {k: live for k, v in messages.items() if (live := [r for r in v if r["status"] in LIVE])}
    # (the status is filtered here, not in SQL: a filter on it would lead the plan through every queued message)
    taken = per_invoice(sa.select(t.decisions).where(t.decisions.c.invoice_id.in_(ids))
                        .order_by(t.decisions.c.received_us)) if decisions else {}
    promises = _promises(conn, customer_ids) if commitments else {}
    plans = _plans(conn, customer_ids) if commitments else {}
    return [InvoiceView(inv, customers[inv["customer_id"]], payments.get(inv["id"], []), disputes.get(inv["id"], []),
                        contacts.get(inv["id"], []), taken.get(inv["id"], []), messages.get(inv["id"], []),
                        promises.get(inv["customer_id"], ()), plans.get(inv["id"]))
            for inv in invoices]


def _paid(conn: sa.Connection, invoice_ids: Keys) -> dict[str, list[tuple[int, int]]]:
    """Allocated payments of ``invoice_ids`` in time order: (received_us, cents) per invoice."""
    p = t.payments.c
    out: dict[str, list[tuple[int, int]]] = {}
    for invoice_id, at, allocated in conn.execute(sa.select(p.invoice_id, p.received_us, p.allocated_cents)
                                                  .where(p.invoice_id.in_(invoice_ids), p.allocated_cents > 0)
                                                  .order_by(p.received_us, p.id)):
        out.setdefault(invoice_id, []).append((at, allocated))
    return out


def _promises(conn: sa.Connection, customer_ids: Keys) -> dict[str, tuple[PromiseRecord, ...]]:
    """Every promise of these customers, oldest first, with its invoice's payments."""
    p = t.promises.c
    rows = _rows(conn, sa.select(t.promises).where(p.customer_id.in_(customer_ids)).order_by(p.created_us, p.id))
    if not rows:
        return {}
    promised = sa.select(p.invoice_id).where(p.customer_id.in_(customer_ids))
    paid = _paid(conn, promised)
    settled = dict(conn.execute(sa.select(t.invoices.c.id, t.invoices.c.paid_us).where(t.invoices.c.id.in_(promised))).all())
    out: dict[str, list[PromiseRecord]] = {}
    for row in rows:
        out.setdefault(row["customer_id"], []).append(
            PromiseRecord(row, tuple(paid.get(row["invoice_id"], ())), settled.get(row["invoice_id"])))
    return {k: tuple(v) for k, v in out.items()}


def _plans(conn: sa.Connection, customer_ids: Keys) -> dict[str, PlanRecord]:
    """The active plans of these customers, by each invoice they cover."""
    pp, pi, pn = t.payment_plans.c, t.plan_invoices.c, t.plan_instalments.c
    active = sa.select(pp.id).where(pp.customer_id.in_(customer_ids), pp.status == "active")
    plans = {r["id"]: r for r in _rows(conn, sa.select(t.payment_plans).where(pp.id.in_(active)))}
    if not plans:
        return {}
    covered: dict[str, list[str]] = {}
    for plan_id, invoice_id in conn.execute(sa.select(pi.plan_id, pi.invoice_id).where(pi.plan_id.in_(active))
                                            .order_by(pi.invoice_id)):
        covered.setdefault(plan_id, []).append(invoice_id)
    instalments: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(conn, sa.select(t.plan_instalments).where(pn.plan_id.in_(active)).order_by(pn.number)):
        instalments.setdefault(row["plan_id"], []).append(row)
    planned = sa.select(pi.invoice_id).where(pi.plan_id.in_(active))
    paid = _paid(conn, planned)
    # (the status is filtered here, not in SQL: SQLite would then lead the plan through every open invoice,
    # 33 ms a partition at 100,000 open invoices, 0.3 s at a million)
    still_open = {i for i, status in conn.execute(sa.select(t.invoices.c.id, t.invoices.c.status)
                                                  .where(t.invoices.c.id.in_(planned))) if status == "open"}
    out: dict[str, PlanRecord] = {}
    for plan_id, row in plans.items():
        invoice_ids = tuple(covered.get(plan_id, ()))
        since = sorted(x for i in invoice_ids for x in paid.get(i, ()) if x[0] >= row["created_us"])
        record = PlanRecord(row, tuple(instalments.get(plan_id, ())), invoice_ids, tuple(since),
                            sum(i in still_open for i in invoice_ids))
        out.update({i: record for i in invoice_ids})
    return out


# The customer overview's reads are statements built once, with bound parameters: building a select per
# request cost about as much CPU as running it (a request reads three of them).
_CUSTOMER = sa.select(t.customers).where(t.customers.c.id == sa.bindparam("customer_id"))


def customer_row(source: Source, customer_id: str) -> dict[str, Any] | None:
    with connected(source) as conn:
        row = conn.execute(_CUSTOMER, {"customer_id": customer_id}).first()
    return None if row is None else dict(row._mapping)


@functools.cache
def _invoices_query(status: str | None) -> sa.Select:
    inv = t.invoices.c
    query = sa.select(t.invoices).where(inv.customer_id == sa.bindparam("customer_id"))
    if status == "open":
        query = query.where(inv.status == "open")
    elif status == "overdue":
        query = query.where(inv.status == "open", inv.due_us < sa.bindparam("at_us"))
    elif status == "disputed":
        query = query.where(inv.disputed.is_(True))
    elif status in ("paid", "written_off"):
        query = query.where(inv.status == status)
    return query.order_by(inv.issued_us.desc(), inv.id)


def customer_invoices(source: Source, customer_id: str, status: str | None, at_us: int) -> list[dict[str, Any]]:
    """The customer's invoices, newest first; ``status`` open / overdue (open past due at ``at_us``) /
    disputed (open dispute) / paid / written_off, or all."""
    query = _invoices_query(status if status in INVOICE_STATUSES else None)
    params = {"customer_id": customer_id, **({"at_us": at_us} if status == "overdue" else {})}
    with connected(source) as conn:
        return [dict(r._mapping) for r in conn.execute(query, params)]


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


def decision_row(decision_id: str, request_id: str, kind: str, customer_id: str, invoice_id: str | None,
                 outcome: str, at_us: int, received_us: int, reasons: Sequence[str]) -> tuple[Any, ...]:
    """One decision's row of the index, in the table's column order (the summary: the answer's first reasons)."""
    return (decision_id, request_id, kind, customer_id, invoice_id, outcome, at_us, received_us,
            json.dumps({"reasons": list(reasons)[:6]}, separators=(",", ":")))


def record_decisions(engine: Engine, rows: Sequence[tuple[Any, ...]]) -> None:
    """Index decisions (``decision_row``) for the timelines and the decision search, in one transaction (the
    records themselves are in the audit log). One driver statement per row (``execute_raw``); a decision
    indexed already is left as it is (a recovering worker may index a row another one still has queued:
    ``serving.decision_index``)."""
    execute_raw(engine, insert_sql(engine, t.decisions) + " ON CONFLICT DO NOTHING", rows)


def indexed(engine: Engine, decision_ids: Sequence[str]) -> set[str]:
    """Which of ``decision_ids`` the index holds."""
    found: set[str] = set()
    with engine.connect() as conn:
        for part in range(0, len(decision_ids), 500):
            chunk = list(decision_ids[part:part + 500])
            found |= set(conn.execute(sa.select(t.decisions.c.decision_id)
                                      .where(t.decisions.c.decision_id.in_(chunk))).scalars())
    return found


def search_decisions(source: Source, customer_id: str | None = None, invoice_id: str | None = None,
                     outcome: str | None = None, from_us: int | None = None, to_us: int | None = None,
                     after: tuple[int, str] | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Decisions newest first (by the server's receipt time), filtered; ``after`` is the cursor
    (received_us, decision_id) of the last row of the previous page."""
    given = {"customer_id": customer_id, "invoice_id": invoice_id, "outcome": outcome, "from_us": from_us,
             "to_us": to_us, **({"after_us": after[0], "after_id": after[1]} if after is not None else {})}
    params = {k: v for k, v in given.items() if v is not None}
    with connected(source) as conn:
        return [dict(r._mapping) for r in conn.execute(_decisions_query(frozenset(params)), {**params, "limit": limit})]


@functools.cache
def _decisions_query(filters: frozenset[str]) -> sa.Select:
    """The search's statement for one set of filters, built once."""
    d = t.decisions.c
    query = sa.select(t.decisions)
    for name in ("customer_id", "invoice_id", "outcome"):
        if name in filters:
            query = query.where(d[name] == sa.bindparam(name))
    if "from_us" in filters:
        query = query.where(d.at_us >= sa.bindparam("from_us"))
    if "to_us" in filters:
        query = query.where(d.at_us < sa.bindparam("to_us"))
    if "after_us" in filters:
        query = query.where(sa.or_(d.received_us < sa.bindparam("after_us"),
                                   sa.and_(d.received_us == sa.bindparam("after_us"),
                                           d.decision_id < sa.bindparam("after_id"))))
    return query.order_by(d.received_us.desc(), d.decision_id.desc()).limit(sa.bindparam("limit"))
