"""A customer's decisions of one dunning day as messages: one reminder listing its overdue invoices, not one
per invoice.

Why: the decision is per invoice (the same as next-action answers), but a customer
with five overdue invoices must get one consolidated reminder listing them at their
own steps. This is that step, pure: it groups decisions that are already taken
and changes none of them.

* **Messages.** The customer's sending decisions (``remind``, ``final_notice``,
  ``payment_plan``) are ordered by weight (a final notice, then a payment-plan
  offer, then a reminder; then the most days past due; then the invoice id). The
  first is the message's **lead**: its channel, send time and tone are the
  message's. Every other decision rides on that message when it can: a reminder
  on any channel of the lead (the lead's channel passed the customer's consent and
  the policy's checks already), a final notice or a payment-plan offer only on its
  own decided channel (a 14-day letter stays a letter). What cannot ride leads a
  message of its own, by the same rule.
Tasks are not grouped here: each decision's task is the one next-action by invoice
id opens (``engine.tasks``: a call, an escalation, a review, a dispute per invoice),
so the run and the API put the same task on the worklist and a call's outcome (a
promise, a dispute, a plan) is booked on its invoice. A collector's worklist
shows a customer's calls together (``owner``, ``customer_id``).

Example::

    bundles = consolidate(decided)
    [(b.lead.invoice_id, [r.invoice_id for r in b.riders]) for b in bundles]
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from domain.contract import Task

#: Sending actions, heaviest first (the lead of a message is the heaviest decision).
SENDING = ("final_notice", "payment_plan", "remind")
MESSAGE_KIND = {"remind": "reminder", "final_notice": "final_notice", "payment_plan": "payment_plan"}


@dataclass(frozen=True)
class Decided:
    """One invoice's decision as the day consolidates and writes it (read from the recorded answer; ``task``:
    the answer's task, its ``id`` the worklist row)."""

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
    task: Task | None
    amount: float
    collection_costs: float | None
    days_past_due: int
    reasons: tuple[str, ...]


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


def consolidate(decided: Iterable[Decided]) -> list[Bundle]:
    """The messages of the decisions, customer by customer."""
    bundles: list[Bundle] = []
    ordered = sorted(decided, key=lambda d: (d.customer_id, d.invoice_id))
    for customer_id, group in groupby(ordered, key=lambda d: d.customer_id):
        bundles += _messages(customer_id, [d for d in group if d.action in SENDING and d.channel is not None])
    return bundles


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
