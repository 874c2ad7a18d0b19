"""What next-action knows from the ledger: the request built from the book, or the caller's corrected by it.

Why: a dunning system should not have to keep the invoice's reminder history,
dispute flag, promises, payment plan or payments on its side, and when it does and
gets them wrong, the answer must follow the ledger (the system of record), saying
what it corrected. A paid or written-off invoice gets ``none``; an invoice the
ledger never saw is 404 when asked by id, and, for a customer the ledger keeps,
also when the caller sends a full body (Kredo keeps that customer's book).

This is the one builder of a next-action request from an ``InvoiceView``: the
API (one invoice) and the dunning run (a partition of customers) both call
``from_ledger``, so they decide on the same facts. The policy gives the numbers
that turn the book's rows into a standing (the grace of a promise and of a
payment plan's instalments).

Example::

    request = from_ledger(view, request_id="na-1", now=now, policy=served.rules.policy)
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from domain.construct import built
from domain.contract import (Consent, DunningCustomer, Invoice, NextActionRequest, PaymentPlan, PromiseToPay, Reason,
                             Reminder)
from domain.errors import InvalidInput
from domain.vocabulary import CHANNELS
from engine.rules import CreditPolicy
from ledger.collections import day_of, plan_standing, promise_standing
from ledger.events import US_PER_DAY
from ledger.outbox import contact_id
from ledger.views import InvoiceView

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def moment(us: int) -> datetime:
    """Ledger microseconds (business time, read as UTC like the API's clock) as an aware datetime."""
    return _EPOCH + timedelta(microseconds=us)


def micros(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def day(us: int) -> date:
    return moment(us - us % US_PER_DAY).date()


def _date(day_number: int) -> date:
    return day(day_number * US_PER_DAY)


def customer_of(view: InvoiceView, now_us: int, policy: CreditPolicy) -> DunningCustomer:
    """The invoice's customer from the ledger's master data (refused when it was never sent); its broken
    promises are a feature (``broken_promises``), folded from the ledger's events like the others."""
    c = view.customer
    if c["type"] is None or c["country"] is None:
        raise InvalidInput(f"the ledger has no master data for customer {c['id']}: send a customer_updated event "
                           "with customer_type and country", field="customer_id")
    consent = built(Consent, **{ch: bool(c[f"consent_{ch}"]) for ch in CHANNELS})
    return built(DunningCustomer,
        id=c["id"], type=c["type"], country=c["country"], profile=c["profile"], size=c["size"],
        key_account=bool(c["key_account"]), account_manager=c["account_manager"], blocked=bool(c["blocked"]),
        consent=consent)


def invoice_of(view: InvoiceView, now_us: int, policy: CreditPolicy) -> Invoice:
    """The invoice as the ledger knows it at ``now``: open amount, disputes, reminders sent before now (and the
    outbox's messages decided before now, from their send time), its last promise and its payment plan."""
    inv, today = view.invoice, day_of(now_us)
    contacts = {c["id"] for c in view.contacts}
    reminders = [built(Reminder, sent_at=moment(c["at_us"]), channel=c["channel"] or "letter",
                                 tone=c["tone"], final_notice=c["kind"] == "final_notice")
                 for c in view.contacts if c["kind"] in ("reminder", "final_notice") and c["at_us"] < now_us]
    reminders += [built(Reminder, sent_at=moment(m["send_at_us"]), channel=m["channel"], tone=m["tone"],
                                  final_notice=m["action"] == "final_notice")
                  for m in view.messages if m["decided_us"] <= now_us
                  and contact_id(m["message_id"], inv["id"]) not in contacts]
    dispute = view.open_dispute
    return built(Invoice,
        id=inv["id"], amount=(inv["amount_cents"] - inv["paid_cents"]) / 100, currency=inv["currency"],
        issue_date=day(inv["issued_us"]), due_date=day(inv["due_us"]), paperless=bool(inv["paperless"]),
        disputed=dispute is not None, dispute_opened=None if dispute is None else day(dispute["opened_us"]),
        dispute_type=None if dispute is None else dispute["reason"],
        days_in_resolved_disputes=_resolved_dispute_days(view, today), promise=_promise(view, today, policy),
        payment_plan=_plan(view, today, policy), reminders=reminders)


def _resolved_dispute_days(view: InvoiceView, today: int) -> int:
    """Days past due spent in disputes that were resolved before today."""
    due = day_of(view.invoice["due_us"])
    return sum(max(0, min(day_of(d["resolved_us"]), today) - max(day_of(d["opened_us"]), due))
               for d in view.disputes if d["resolved_us"] is not None and day_of(d["resolved_us"]) <= today)


def _promise(view: InvoiceView, today: int, policy: CreditPolicy) -> PromiseToPay | None:
    mine = [r for r in view.promises if r.row["invoice_id"] == view.invoice["id"] and day_of(r.row["created_us"]) <= today]
    if not mine:
        return None
    standing = promise_standing(mine[-1], today, policy.dunning.promise_grace_days)
    return built(PromiseToPay,
        promised_for=_date(standing.promised_for_day), amount=standing.amount_cents / 100, status=standing.status,
        broken_since=None if standing.broken_since_day is None else _date(standing.broken_since_day))


def _plan(view: InvoiceView, today: int, policy: CreditPolicy) -> PaymentPlan | None:
    if view.plan is None or day_of(view.plan.row["created_us"]) > today:
        return None
    standing = plan_standing(view.plan, today, policy.dunning.plans.grace_days)
    if standing.status == "completed":
        return None
    return built(PaymentPlan, plan_id=standing.plan_id, status=standing.status,
                              missed_since=None if standing.missed_since_day is None
                              else _date(standing.missed_since_day))


def from_ledger(view: InvoiceView, request_id: str, now: datetime, policy: CreditPolicy,
                customer: DunningCustomer | None = None) -> NextActionRequest:
    """The full next-action request for an invoice the ledger keeps; ``customer``: its customer as
    ``customer_of`` made it for another invoice of the same view set (the dunning run builds a customer once,
    not once per invoice: the engine reads a request's customer and never changes it)."""
    now_us = micros(now)
    return built(NextActionRequest, request_id=request_id, now=now,
                                             customer=customer or customer_of(view, now_us, policy),
                                             invoice=invoice_of(view, now_us, policy))


def corrected(body: NextActionRequest, view: InvoiceView,
              policy: CreditPolicy) -> tuple[NextActionRequest, list[Reason]]:
    """The caller's request with the ledger's truth where they differ, and a reason per correction."""
    now_us = micros(body.now)
    truth = invoice_of(view, now_us, policy)
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
    if said.days_in_resolved_disputes != truth.days_in_resolved_disputes:
        notes.append(f"{truth.days_in_resolved_disputes} days in resolved disputes in the ledger")
    if (said.promise, said.payment_plan) != (truth.promise, truth.payment_plan):
        notes.append("the promise to pay and the payment plan as the ledger has them")
    if not notes:  # the dispute's type comes from the ledger (its department owns the task) without a note
        same = said.dispute_type == truth.dispute_type
        return (body if same else body.model_copy(update={"invoice": said.model_copy(
            update={"dispute_type": truth.dispute_type})})), []
    fixed = body.model_copy(update={"invoice": truth})
    return fixed, [built(Reason, code="ledger.correction", text=f"Ledger truth used: {note}",
                                          source="ledger", contribution=None) for note in notes]
