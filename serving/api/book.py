"""The book, read: ``GET /v1/customers/{id}``, ``/v1/customers/{id}/invoices``, ``/v1/invoices/{id}``.

Why: a webshop, a dunning system or a collector asks Kredo what it knows instead of
keeping its own copy: the customer's standing (segment, credit limit, available
credit from the live policy and model), exposure and ageing from the ledger, the
open items, and each invoice's whole story in time order.
"""
from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from flask import Blueprint, Response, g, request
from pydantic_core import to_json

from domain.contract import Customer
from domain.errors import InvalidInput, NotFound
from domain.vocabulary import CHANNELS
from ledger import outbox
from ledger import schema as t
from engine.decisions import standing
from ledger.views import (INVOICE_STATUSES, ageing, customer_invoices, customer_row, days_past_due, invoice_view,
                          search_decisions)
from serving.access import requires
from serving.api._body import time_arg
from serving.dunning_view import micros, moment
from serving.runtime import get_runtime
from serving.schemas import (Ageing, CustomerOverview, DecisionSummary, InvoiceDetail, InvoiceList, InvoiceSummary,
                             Standing, TimelineEntry)

bp = Blueprint("book", __name__, url_prefix="/v1")
LAST_DECISIONS = 5


def _json(model) -> Response:  # noqa: ANN001
    return Response(to_json(model, by_alias=True), mimetype="application/json")


def iso(us: int | None) -> str | None:
    return None if us is None else moment(us).isoformat()


def invoice_summary(row: dict, now_us: int) -> InvoiceSummary:
    return InvoiceSummary(id=row["id"], status=row["status"], issued_at=iso(row["issued_us"]),
                          due_at=iso(row["due_us"]), amount=row["amount_cents"] / 100,
                          open_amount=(row["amount_cents"] - row["paid_cents"]) / 100 if row["status"] == "open" else 0.0,
                          days_past_due=days_past_due(row["due_us"], now_us), disputed=bool(row["disputed"]),
                          payment_reference=row["payment_reference"])


def decision_summary(row: dict) -> DecisionSummary:
    return DecisionSummary(decision_id=row["decision_id"], request_id=row["request_id"], kind=row["kind"],
                           customer_id=row["customer_id"], invoice_id=row["invoice_id"], outcome=row["outcome"],
                           at=iso(row["at_us"]), received_at=iso(row["received_us"]),
                           reasons=json.loads(row["summary"]).get("reasons", []))


def _standing(row: dict, now: datetime) -> Standing:
    if row["type"] is None or row["country"] is None:
        return Standing(segment=None, profile_segment=None, credit_limit=None, available_credit=None,
                        reasons=["no master data yet: send a customer_updated event with customer_type and country"])
    customer = Customer.model_construct(id=row["id"], type=row["type"], country=row["country"], profile=row["profile"],
                                        size=row["size"], key_account=bool(row["key_account"]),
                                        account_manager=row["account_manager"], blocked=bool(row["blocked"]))
    runtime = get_runtime()
    out = standing(customer, now, store=runtime.store, served=runtime.snapshot())
    limit = out.credit_limit if row["credit_limit_cents"] is None else row["credit_limit_cents"] / 100
    reasons = [r.text for r in out.reasons[:3]]
    if row["credit_limit_cents"] is not None:
        reasons.append(f"credit limit set by hand to EUR {limit:,.2f} (the policy says EUR {out.credit_limit:,.2f})")
    return Standing(segment=out.segment, profile_segment=out.profile_segment, credit_limit=limit,
                    available_credit=round(max(0.0, limit - out.open_exposure), 2), reasons=reasons)


@bp.get("/customers/<customer_id>")
@requires("dunning", "auditor")
def get_customer(customer_id: str) -> Response:
    """``at``: the standing as at that business moment (default: the server clock), e.g. a simulated book's."""
    return _json(overview(customer_id, time_arg("at") or g.received))


def overview(customer_id: str, now: datetime) -> CustomerOverview:
    """The customer's standing on ``now`` (the API: the server clock; the customer page: the book's date)."""
    runtime = get_runtime()
    now_us = micros(now)
    with runtime.book.engine.connect() as conn:
        row = customer_row(conn, customer_id)
        if row is None:
            raise NotFound(f"the ledger has no customer {customer_id[:80]!r}", field="customer_id")
        open_items = customer_invoices(conn, customer_id, "open", now_us)
        recent = search_decisions(conn, customer_id=customer_id, limit=LAST_DECISIONS)
    buckets = ageing(open_items, now_us)
    return CustomerOverview(
        id=row["id"], name=row["name"], customer_type=row["type"], country=row["country"], profile=row["profile"],
        size=row["size"], sector=row["sector"], account_manager=row["account_manager"],
        key_account=bool(row["key_account"]), blocked=bool(row["blocked"]),
        consent={ch: bool(row[f"consent_{ch}"]) for ch in CHANNELS},
        credit_limit_override=None if row["credit_limit_cents"] is None else row["credit_limit_cents"] / 100,
        standing=_standing(row, now), exposure=sum(buckets.values()) / 100,
        overdue=sum(v for k, v in buckets.items() if k != "current") / 100,
        ageing=Ageing.model_validate({k: v / 100 for k, v in buckets.items()}), open_items=len(open_items),
        open_disputes=sum(bool(i["disputed"]) for i in open_items),
        last_decisions=[decision_summary(d) for d in recent])


@bp.get("/customers/<customer_id>/invoices")
@requires("dunning", "auditor")
def get_customer_invoices(customer_id: str) -> Response:
    runtime = get_runtime()
    status = request.args.get("status")
    if status is not None and status not in INVOICE_STATUSES:
        raise InvalidInput(f"status must be one of {list(INVOICE_STATUSES)}", field="status")
    now_us = micros(g.received)
    with runtime.book.engine.connect() as conn:
        if customer_row(conn, customer_id) is None:
            raise NotFound(f"the ledger has no customer {customer_id[:80]!r}", field="customer_id")
        rows = customer_invoices(conn, customer_id, status, now_us)
    return _json(InvoiceList(customer_id=customer_id, status=status,
                             invoices=[invoice_summary(r, now_us) for r in rows]))


@bp.get("/invoices/<invoice_id>")
@requires("dunning", "auditor")
def get_invoice(invoice_id: str) -> Response:
    return _json(invoice_detail(invoice_id, micros(g.received)))


def invoice_detail(invoice_id: str, now_us: int) -> InvoiceDetail:
    """The invoice and its timeline, days past due counted to ``now_us``."""
    with get_runtime().book.engine.connect() as conn:  # one connection for the view and the messages' history
        view = invoice_view(conn, invoice_id, decisions=True, commitments=False)
        if view is None:
            raise NotFound(f"the ledger has no invoice {invoice_id[:80]!r}", field="invoice_id")
        sent = outbox.history(conn, outbox.messages_of_invoice(conn, invoice_id))
        channels = dict(conn.execute(sa.select(t.outbox_messages.c.id, t.outbox_messages.c.channel)
                                     .where(t.outbox_messages.c.id.in_(sorted(sent)))).all()) if sent else {}
    inv = view.invoice
    entries = [TimelineEntry(at=iso(inv["issued_us"]), kind="issued", amount=inv["amount_cents"] / 100,
                             text=f"issued, due {iso(inv['due_us'])[:10]}")]
    for p in view.payments:
        kept = p["amount_cents"] - p["allocated_cents"]
        note = f"; EUR {kept / 100:,.2f} unallocated" if kept else ""
        entries.append(TimelineEntry(at=iso(p["received_us"]), kind="payment", amount=p["amount_cents"] / 100,
                                     ref=p["id"], text=f"payment received ({p['source']}){note}"))
    for d in view.disputes:
        entries.append(TimelineEntry(at=iso(d["opened_us"]), kind="dispute_opened", ref=d["id"],
                                     text=f"dispute opened: {d['reason']}" + (f", owner {d['owner']}" if d["owner"] else "")))
        if d["resolved_us"] is not None:
            entries.append(TimelineEntry(at=iso(d["resolved_us"]), kind="dispute_resolved", ref=d["id"],
                                         text="dispute resolved"))
    for c in view.contacts:
        entries.append(TimelineEntry(at=iso(c["at_us"]), kind=c["kind"], ref=c["decision_id"],
                                     text=" ".join(x for x in (c["kind"].replace("_", " "), c["channel"] and
                                                               f"by {c['channel']}", c["step"] and f"(step {c['step']})",
                                                               c["tone"] and f"tone {c['tone']}",
                                                               c["outcome"] and f"({c['outcome'].replace('_', ' ')})")
                                                     if x)))
    for d in view.decisions:
        summary = decision_summary(d)
        entries.append(TimelineEntry(at=summary.received_at, kind="decision", ref=d["decision_id"],
                                     text=f"{d['kind'].replace('_', '-')} decision: {d['outcome']}"
                                          + (f" ({summary.reasons[0]})" if summary.reasons else "")))
    for message_id, steps in sent.items():
        for h in steps:
            entries.append(TimelineEntry(at=iso(h["at_us"]), kind="message", ref=message_id,
                                         text=f"message by {channels[message_id]} {h['status']}"
                                              + (f" (attempt {h['attempt']})" if h["attempt"] else "")
                                              + (f": {h['detail']}" if h["detail"] else "")))
    if inv["written_off_us"] is not None:
        entries.append(TimelineEntry(at=iso(inv["written_off_us"]), kind="written_off", text="written off"))
    entries.sort(key=lambda e: e.at)
    return InvoiceDetail(**invoice_summary(inv, now_us).model_dump(), customer_id=inv["customer_id"], timeline=entries)
