"""A customer's decisions of one dunning day as messages and tasks: one reminder listing its overdue
invoices, not one per invoice; one call, not one per invoice.

Why: the decision is per invoice (the same as next-action answers), but a customer
with five overdue invoices must get one consolidated reminder listing them at their
own steps, and a collector one call to make. This is that step, pure: it groups
decisions that are already taken and changes none of them.

* **Messages.** The customer's sending decisions (``remind``, ``final_notice``,
  ``payment_plan``) are ordered by weight (a final notice, then a payment-plan
  offer, then a reminder; then the most days past due; then the invoice id). The
  first is the message's **lead**: its channel, send time and tone are the
  message's. Every other decision rides on that message when it can: a reminder
  on any channel of the lead (the lead's channel passed the customer's consent and
  the policy's checks already), a final notice or a payment-plan offer only on its
  own decided channel (a 14-day letter stays a letter). What cannot ride leads a
  message of its own, by the same rule.
* **Tasks.** ``call`` decisions make one call task per customer (owner: the lead
  call's assignee, e.g. the account manager of a key account); ``escalate`` one
  hand-over task per invoice; a step's own ``task`` one per invoice and step; a
  sending decision without any channel one task to contact the customer by hand.
  Priority: the open amount at risk times P(more than 30 days late), summed.

Example::

    bundles, work = consolidate(decided)
    [(b.lead.invoice_id, [r.invoice_id for r in b.riders]) for b in bundles]
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

#: Sending actions, heaviest first (the lead of a message is the heaviest decision).
SENDING = ("final_notice", "payment_plan", "remind")
MESSAGE_KIND = {"remind": "reminder", "final_notice": "final_notice", "payment_plan": "payment_plan"}


@dataclass(frozen=True)
class Decided:
    """One invoice's decision as the day consolidates it (read from the recorded answer)."""

    invoice_id: str
    customer_id: str
    decision_id: str
    request_id: str
    action: str
    step: str
    segment: str
    channel: str | None
    send_at: datetime | None
    tone: str | None
    assignee: str | None
    task: str | None
    amount: float
    collection_costs: float | None
    p_late_30: float
    days_past_due: int
    reasons: tuple[str, ...]

    @property
    def at_risk(self) -> float:
        return self.amount * self.p_late_30


@dataclass(frozen=True)
class Bundle:
    """One message: the lead decision chose channel, time and tone; the riders are listed with it."""

    customer_id: str
    kind: str
    channel: str
    send_at: datetime
    tone: str | None
    lead: Decided
    riders: tuple[Decided, ...]

    @property
    def decided(self) -> tuple[Decided, ...]:
        return (self.lead, *self.riders)


@dataclass(frozen=True)
class Work:
    """One task for a person: ``keys`` make its id unique (with the kind); ``once_per_invoice``: not while
    a task of the same kind for the same customer and invoice is still open."""

    kind: str
    keys: tuple[str, ...]
    owner: str
    customer_id: str
    invoice_id: str | None
    priority: float
    reason: str
    once_per_invoice: bool = False


def consolidate(decided: Iterable[Decided], handled_tasks: frozenset[str] = frozenset()) -> tuple[list[Bundle], list[Work]]:
    """Messages and tasks of the decisions, customer by customer. ``handled_tasks``: task names that come
    from elsewhere (the dispute tasks come with the dispute, not with each decision)."""
    bundles: list[Bundle] = []
    work: list[Work] = []
    ordered = sorted(decided, key=lambda d: (d.customer_id, d.invoice_id))
    for customer_id, group in groupby(ordered, key=lambda d: d.customer_id):
        mine = list(group)
        bundles += _messages(customer_id, [d for d in mine if d.action in SENDING and d.channel is not None])
        work += _tasks(customer_id, mine, handled_tasks)
    return bundles, work


def _weight(d: Decided) -> tuple[int, int, str]:
    return SENDING.index(d.action), -d.days_past_due, d.invoice_id


def _messages(customer_id: str, sending: list[Decided]) -> list[Bundle]:
    out = []
    left = sorted(sending, key=_weight)
    while left:
        lead, rest = left[0], left[1:]
        riders = tuple(d for d in rest if d.action == "remind" or d.channel == lead.channel)
        assert lead.channel is not None and lead.send_at is not None
        out.append(Bundle(customer_id, MESSAGE_KIND[lead.action], lead.channel, lead.send_at, lead.tone, lead, riders))
        left = [d for d in rest if d not in riders]
    return out


def _tasks(customer_id: str, mine: Sequence[Decided], handled: frozenset[str]) -> list[Work]:
    out = []
    calls = sorted((d for d in mine if d.action == "call"), key=lambda d: (-d.days_past_due, d.invoice_id))
    if calls:
        listed = ", ".join(f"{d.invoice_id} ({d.days_past_due} days, EUR {d.amount:,.2f})" for d in calls)
        out.append(Work("call", (customer_id,), calls[0].assignee or "collections", customer_id, None,
                        sum(d.at_risk for d in calls), f"Call about {listed}", once_per_invoice=True))
    for d in mine:
        if d.action == "escalate":
            out.append(Work("escalation", (d.invoice_id,), d.assignee or "collections", customer_id, d.invoice_id,
                            d.at_risk, f"Hand over {d.invoice_id} ({d.days_past_due} days past due, EUR "
                                       f"{d.amount:,.2f}): {d.reasons[0] if d.reasons else d.step}"))
        if d.task and d.task not in handled:
            out.append(Work(d.task, (d.invoice_id, d.step), d.assignee or "collections", customer_id, d.invoice_id,
                            d.at_risk, f"{d.task.replace('_', ' ')} for {d.invoice_id} (step {d.step})"))
        if d.action in SENDING and d.channel is None:
            out.append(Work("contact", (d.invoice_id, d.step), d.assignee or "collections", customer_id,
                            d.invoice_id, d.at_risk, f"{d.action.replace('_', ' ')} for {d.invoice_id}: no channel "
                                                     "the customer consented to; contact them by hand",
                            once_per_invoice=True))
    return out
