"""The customer view: master data, segment and why, credit limit, exposure and available credit, open items,
the invoices' timelines, every decision with its reasons, contact history and messages sent.

Why the API's functions: the standing is ``serving.api.book.overview`` (the very
object of ``GET /v1/customers/{id}``) and each timeline ``invoice_detail`` (``GET
/v1/invoices/{id}``), counted to the book's date as the dashboard is; the page adds
the customer's contacts (a task's outcome is one) and the messages the outbox holds
for it. A decision links to its audit page for the auditor.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from domain.errors import NotFound
from ledger import schema as t
from ledger.views import customer_invoices, customer_row, search_decisions
from serving.access import caller, requires
from serving.api.book import decision_summary, invoice_detail, invoice_summary, iso, overview
from serving.dunning_view import moment
from serving.pages.exports import Column, Table, page_args, respond
from serving.pages.layout import blueprint
from serving.pages.worklist import today_us
from serving.runtime import get_runtime

bp = blueprint("pages_customers", __name__)
READERS = ("collector", "credit_manager", "auditor")
TIMELINES = 12
DECISIONS = 100


def _contacts(customer_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The customer's contacts (reminders, calls, a task's outcome) and outbox messages, newest first."""
    c, m = t.contacts.c, t.outbox_messages.c
    with get_runtime().book.engine.connect() as conn:
        contacts = [dict(r._mapping) for r in conn.execute(
            sa.select(c.at_us, c.kind, c.channel, c.step, c.tone, c.outcome, c.invoice_id)
            .where(c.customer_id == customer_id).order_by(c.at_us.desc()).limit(200))]
        messages = [dict(r._mapping) for r in conn.execute(
            sa.select(m.id, m.kind, m.channel, m.tone, m.send_at_us, m.status)
            .where(m.customer_id == customer_id).order_by(m.send_at_us.desc()).limit(200))]
    for row in contacts:
        row["at"] = iso(row.pop("at_us"))
    for row in messages:
        row["send_at"] = iso(row.pop("send_at_us"))
    return contacts, messages


@bp.get("/customers/<customer_id>")
@requires(*READERS)
def customer(customer_id: str) -> Any:  # noqa: ANN401 - a page, a CSV or a PDF
    page_args()
    engine = get_runtime().book.engine
    if customer_row(engine, customer_id) is None:
        raise NotFound(f"the ledger has no customer {customer_id[:80]!r}", field="customer_id")
    now_us = today_us()
    standing = overview(customer_id, moment(now_us))
    open_rows = customer_invoices(engine, customer_id, "open", now_us)
    all_rows = customer_invoices(engine, customer_id, None, now_us)
    timelines = [invoice_detail(r["id"], now_us) for r in (open_rows or all_rows)[:TIMELINES]]
    decisions = [decision_summary(d) for d in search_decisions(engine, customer_id=customer_id, limit=DECISIONS)]
    contacts, messages = _contacts(customer_id)
    auditor = (caller() is not None and caller().role == "auditor")
    invoice_cols = [Column("id", _("Invoice")), Column("status", _("Status")), Column("issued_at", _("Issued"), "date"),
                    Column("due_at", _("Due"), "date"), Column("amount", _("Amount"), "money"),
                    Column("open_amount", _("Open"), "money"), Column("days_past_due", _("Days past due"), "int"),
                    Column("disputed", _("Disputed"), "bool")]
    tables = [
        Table("open_items", _("Open items"), invoice_cols,
              [invoice_summary(r, now_us).model_dump() for r in open_rows]),
        Table("invoices", _("All invoices"), invoice_cols, [invoice_summary(r, now_us).model_dump() for r in all_rows]),
        Table("decisions", _("Decisions and their reasons"), [
            Column("received_at", _("When"), "date"), Column("kind", _("Kind")),
            Column("invoice_id", _("Invoice")),
            Column("outcome", _("Outcome"), href=(lambda r: f"/decisions/{r['decision_id']}") if auditor else None),
            Column("reasons", _("Reasons"))],
            [{**d.model_dump(), "reasons": "; ".join(d.reasons)} for d in decisions]),
        Table("contacts", _("Contact history"), [
            Column("at", _("When"), "date"), Column("kind", _("Kind")), Column("channel", _("Channel")),
            Column("step", _("Step")), Column("outcome", _("Outcome")), Column("invoice_id", _("Invoice"))], contacts),
        Table("messages", _("Messages"), [
            Column("send_at", _("Send at"), "date"), Column("kind", _("Kind")), Column("channel", _("Channel")),
            Column("tone", _("Tone")), Column("status", _("Status"))], messages),
    ]
    return respond("pages/customer.html", tables, pdf=f"customer-{customer_id}"[:80],
                   title=standing.name or customer_id, c=standing, timelines=timelines,
                   as_of=moment(now_us).date().isoformat())
