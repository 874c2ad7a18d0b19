"""What next-action knows from the ledger: the request built from the book, or the caller's corrected by it.

Why: a dunning system should not have to keep the invoice's reminder history,
dispute flag or payments on its side, and when it does and gets them wrong, the
answer must follow the ledger (the system of record), saying what it corrected.
A paid or written-off invoice gets ``none``; an invoice the ledger never saw is
404 when asked by id, and, for a customer the ledger keeps, also when the
caller sends a full body (Kredo keeps that customer's book).

Example::

    request, notes = from_ledger(view, request_id="na-1", now=now)
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from domain.contract import Consent, DunningCustomer, Invoice, NextActionRequest, Reason, Reminder
from domain.errors import InvalidInput
from domain.vocabulary import CHANNELS
from ledger.events import US_PER_DAY
from ledger.views import InvoiceView

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def moment(us: int) -> datetime:
    """Ledger microseconds (business time, read as UTC like the API's clock) as an aware datetime."""
    return _EPOCH + timedelta(microseconds=us)


def micros(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def day(us: int) -> date:
    return moment(us - us % US_PER_DAY).date()


def customer_of(view: InvoiceView) -> DunningCustomer:
    """The invoice's customer from the ledger's master data (refused when it was never sent)."""
    c = view.customer
    if c["type"] is None or c["country"] is None:
        raise InvalidInput(f"the ledger has no master data for customer {c['id']}: send a customer_updated event "
                           "with customer_type and country", field="customer_id")
    consent = Consent.model_construct(**{ch: bool(c[f"consent_{ch}"]) for ch in CHANNELS})
    return DunningCustomer.model_construct(id=c["id"], type=c["type"], country=c["country"], profile=c["profile"],
                                           size=c["size"], key_account=bool(c["key_account"]),
                                           account_manager=c["account_manager"], blocked=bool(c["blocked"]),
                                           consent=consent)


def invoice_of(view: InvoiceView, now_us: int) -> Invoice:
    """The invoice as the ledger knows it at ``now``: open amount, dispute, reminders sent before now."""
    inv = view.invoice
    reminders = [Reminder.model_construct(sent_at=moment(c["at_us"]), channel=c["channel"] or "letter",
                                          tone=c["tone"], final_notice=c["kind"] == "final_notice")
                 for c in view.contacts if c["kind"] in ("reminder", "final_notice") and c["at_us"] < now_us]
    dispute = view.open_dispute
    return Invoice.model_construct(id=inv["id"], amount=(inv["amount_cents"] - inv["paid_cents"]) / 100,
                                   currency=inv["currency"], issue_date=day(inv["issued_us"]),
                                   due_date=day(inv["due_us"]), paperless=bool(inv["paperless"]),
                                   disputed=dispute is not None,
                                   dispute_opened=None if dispute is None else day(dispute["opened_us"]),
                                   dispute_type=None if dispute is None else dispute["reason"],
                                   reminders=reminders)


def from_ledger(view: InvoiceView, request_id: str, now: datetime) -> NextActionRequest:
    """The full next-action request for an invoice the ledger keeps."""
    now_us = micros(now)
    return NextActionRequest.model_construct(request_id=request_id, now=now, customer=customer_of(view),
                                             invoice=invoice_of(view, now_us))


def corrected(body: NextActionRequest, view: InvoiceView) -> tuple[NextActionRequest, list[Reason]]:
    """The caller's request with the ledger's truth where they differ, and a reason per correction."""
    truth = invoice_of(view, micros(body.now))
    said = body.invoice
    notes = []
    if said.disputed != truth.disputed:
        notes.append(f"disputed is {str(truth.disputed).lower()} in the ledger (the request said "
                     f"{str(said.disputed).lower()})")
    if len(said.reminders) != len(truth.reminders):
        notes.append(f"{len(truth.reminders)} reminders sent according to the ledger (the request listed "
                     f"{len(said.reminders)})")
    if round(said.amount, 2) != round(truth.amount, 2):
        notes.append(f"EUR {truth.amount:,.2f} open in the ledger (the request said EUR {said.amount:,.2f})")
    if (said.issue_date, said.due_date) != (truth.issue_date, truth.due_date):
        notes.append(f"issued {truth.issue_date}, due {truth.due_date} in the ledger")
    if not notes:  # the dispute's type comes from the ledger (its department owns the task) without a note
        same = said.dispute_type == truth.dispute_type
        return (body if same else body.model_copy(update={"invoice": said.model_copy(
            update={"dispute_type": truth.dispute_type})})), []
    fixed = body.model_copy(update={"invoice": truth})
    return fixed, [Reason.model_construct(code="ledger.correction", text=f"Ledger truth used: {note}",
                                          source="ledger", contribution=None) for note in notes]
