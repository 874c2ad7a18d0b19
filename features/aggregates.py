"""Per-customer aggregates: the bounded state features are computed from.

Why: serving must be cheap, so a customer's whole history is folded, event by
event, into a small state (counts, sums, the last ``RECENT_K`` days-late
values, the open invoices). :func:`fold` is that fold. The in-process store
runs it as is; the Redis store runs the same steps in one Lua script
(``features/online/apply.lua``); the offline table computes the same sums
vectorised. The parity test proves the three agree.

Ordering: a customer's events must arrive in time order. An event earlier
than the customer's last applied one is refused (``out_of_order``), never
folded in the wrong place. Ties (same instant) are order-independent: the
recent window is kept sorted by (payment time, invoice id).

Example::

    state = CustomerState()
    fold(state, parse_event({...}))    # None when applied, else a Refusal
    state.aggregates.invoices_issued
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from domain.errors import Conflict, InvalidInput, KredoError, NotFound
from features.definitions import EWM_HALFLIFE_DAYS, EWM_ORIGIN, PAID_TOLERANCE, RECENT_K
from ledger.events import US_PER_DAY, Event, iso, to_us

EWM_ORIGIN_US = to_us(EWM_ORIGIN)
EWM_HALFLIFE_US = int(EWM_HALFLIFE_DAYS * US_PER_DAY)


@dataclass
class OpenInvoice:
    """An invoice issued and not yet paid in full nor written off."""

    amount: float
    paid: float
    due_us: int
    issued_us: int
    disputed: bool = False
    escalated: bool = False


@dataclass
class CustomerAggregates:
    """What the features need to know about one customer (a new customer: all defaults)."""

    invoices_issued: int = 0
    amount_sum: float = 0.0
    first_issued_us: int | None = None
    invoices_paid: int = 0
    paid_late: int = 0
    days_late_sum: float = 0.0
    ewm_num: float = 0.0
    ewm_den: float = 0.0
    recent: list[tuple[int, str, float]] = field(default_factory=list)
    """(paid_us, invoice_id, days_late) of the last ``RECENT_K`` paid invoices, oldest first."""
    last_payment_us: int | None = None
    write_offs: int = 0
    disputes_opened: int = 0
    open_disputes: int = 0
    open_invoices: dict[str, OpenInvoice] = field(default_factory=dict)
    promises: list[tuple[int, float, str]] = field(default_factory=list)
    """(deadline_us, paid total the invoice must reach, invoice_id) of promises neither kept nor yet broken."""
    broken_promises: int = 0
    """Promises whose deadline passed, before the last applied event, without the promised amount paid."""
    watermark_us: int | None = None
    """Time of the last applied event; earlier events are refused."""


@dataclass
class CustomerState:
    """Aggregates plus the bookkeeping that validates events (not used by features)."""

    aggregates: CustomerAggregates = field(default_factory=CustomerAggregates)
    invoices: set[str] = field(default_factory=set)
    disputed: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Refusal:
    """Why an event was not applied: a stable ``reason`` and the error class giving its code."""

    reason: str
    error: type[KredoError]
    detail: str


REASONS: dict[str, type[KredoError]] = {
    "out_of_order": Conflict,
    "invoice_exists": Conflict,
    "invoice_closed": Conflict,
    "unknown_invoice": NotFound,
    "dispute_open": Conflict,
    "no_open_dispute": Conflict,
    "not_finite": InvalidInput,
}


def refusal(reason: str, event: Event, watermark_us: int | None = None) -> Refusal:
    """The refusal for ``reason`` with a message a person can act on."""
    detail = {
        "out_of_order": f"event at {iso(event.at_us)} is earlier than the last applied event of customer "
                        f"{event.customer_id} at {iso(watermark_us or 0)}; send a customer's events in time order",
        "invoice_exists": f"invoice {event.invoice_id} was already issued to customer {event.customer_id}",
        "invoice_closed": f"invoice {event.invoice_id} is already paid or written off",
        "unknown_invoice": f"invoice {event.invoice_id} was never issued to customer {event.customer_id}",
        "dispute_open": f"invoice {event.invoice_id} already has an open dispute",
        "no_open_dispute": f"invoice {event.invoice_id} has no open dispute to resolve",
        "not_finite": f"event {event.event_id} would make an aggregate of customer {event.customer_id} "
                      "infinite (a sum or a time weight past the double range); nothing was stored",
    }[reason]
    return Refusal(reason, REASONS[reason], detail)


def days_between(later_us: int, earlier_us: int) -> float:
    """Days from ``earlier`` to ``later``: one exact division (the same in numpy and Lua)."""
    return (later_us - earlier_us) / US_PER_DAY


def ewm_weight(at_us: int) -> float:
    """Decay weight of a days-late value observed at ``at_us`` (see ``EWM_ORIGIN``); inf past the double range."""
    try:
        return math.pow(2.0, (at_us - EWM_ORIGIN_US) / EWM_HALFLIFE_US)
    except OverflowError:
        return math.inf


def _finite(*values: float) -> bool:
    """Every value a finite double: what may be stored (an infinite sum would poison every later decision)."""
    return all(math.isfinite(v) for v in values)


def _record_paid(agg: CustomerAggregates, invoice_id: str, inv: OpenInvoice, at_us: int) -> None:
    """Fold a paid invoice into the paid-invoice sums (``_refusal`` checked they stay finite)."""
    days = days_between(at_us, inv.due_us)
    weight = ewm_weight(at_us)
    agg.invoices_paid += 1
    agg.paid_late += days > 0
    agg.days_late_sum += days
    agg.ewm_num += weight * days
    agg.ewm_den += weight
    item = (at_us, invoice_id, days)
    pos = len(agg.recent)
    while pos > 0 and agg.recent[pos - 1][:2] > item[:2]:
        pos -= 1
    agg.recent.insert(pos, item)
    del agg.recent[:-RECENT_K]


def fold(state: CustomerState, event: Event) -> Refusal | None:
    """Apply one validated event to one customer's state; ``None`` when applied.

    Every check comes first (:func:`_refusal`), so a refused event leaves the state
    untouched, also when a sum would leave the double range (``not_finite``): no
    infinite aggregate is ever stored. Duplicates (by event id) are the store's
    business: it checks them before calling this. Promises whose deadline has passed
    by the event's time are settled first (broken), so a payment on the deadline or
    later keeps no promise.
    """
    agg = state.aggregates
    if event.type == "reminder_sent":
        return None
    if agg.watermark_us is not None and event.at_us < agg.watermark_us:
        return refusal("out_of_order", event, agg.watermark_us)
    refused = _refusal(state, event)
    if refused is not None:
        return refused
    _break_due_promises(agg, event.at_us)
    inv_id = event.invoice_id
    inv = agg.open_invoices.get(inv_id)
    if event.type == "invoice_issued":
        state.invoices.add(inv_id)
        agg.open_invoices[inv_id] = OpenInvoice(event.amount, 0.0, event.due_us, event.at_us)
        agg.invoices_issued += 1
        agg.amount_sum += event.amount
        if agg.first_issued_us is None:
            agg.first_issued_us = event.at_us
    elif event.type == "invoice_written_off":
        del agg.open_invoices[inv_id]
        agg.write_offs += 1
    elif event.type == "payment_received":
        assert inv is not None
        inv.paid += event.amount
        if inv.paid >= inv.amount - PAID_TOLERANCE:
            _record_paid(agg, inv_id, inv, event.at_us)
            del agg.open_invoices[inv_id]
        agg.last_payment_us = event.at_us
        agg.promises = [p for p in agg.promises
                        if p[2] != inv_id or inv.paid < min(p[1], inv.amount) - PAID_TOLERANCE]
    elif event.type == "promise_made":
        assert inv is not None
        agg.promises.append((event.due_us, inv.paid + event.amount, inv_id))
    elif event.type == "invoice_escalated":
        assert inv is not None
        inv.escalated = True
    elif event.type == "dispute_opened":
        state.disputed.add(inv_id)
        agg.disputes_opened += 1
        agg.open_disputes = len(state.disputed)
        if inv is not None:
            inv.disputed = True
    else:  # dispute_resolved
        state.disputed.discard(inv_id)
        agg.open_disputes = len(state.disputed)
        if inv is not None:
            inv.disputed = False
    agg.watermark_us = event.at_us
    return None


def _refusal(state: CustomerState, event: Event) -> Refusal | None:
    """Why ``event`` cannot be applied to ``state`` (checked before anything changes), or None."""
    agg, inv_id = state.aggregates, event.invoice_id
    if event.type == "invoice_issued":
        if inv_id in state.invoices:
            return refusal("invoice_exists", event)
        return None if _finite(agg.amount_sum + event.amount) else refusal("not_finite", event)
    if event.type in ("dispute_opened", "dispute_resolved"):
        if event.type == "dispute_resolved":
            return None if inv_id in state.disputed else refusal("no_open_dispute", event)
        if inv_id not in state.invoices:
            return refusal("unknown_invoice", event)
        return refusal("dispute_open", event) if inv_id in state.disputed else None
    inv = agg.open_invoices.get(inv_id)
    if inv is None:
        return refusal("invoice_closed" if inv_id in state.invoices else "unknown_invoice", event)
    if event.type in ("payment_received", "promise_made"):
        paid = inv.paid + event.amount
        if not _finite(paid):
            return refusal("not_finite", event)
        if event.type == "payment_received" and paid >= inv.amount - PAID_TOLERANCE:
            days, weight = days_between(event.at_us, inv.due_us), ewm_weight(event.at_us)
            if not _finite(days, weight, agg.days_late_sum + days, agg.ewm_num + weight * days,
                           agg.ewm_den + weight):
                return refusal("not_finite", event)
    return None


def _break_due_promises(agg: CustomerAggregates, at_us: int) -> None:
    """Count as broken the promises whose deadline is at or before ``at_us`` (none was kept in time)."""
    due = [p for p in agg.promises if p[0] <= at_us]
    if due:
        agg.broken_promises += len(due)
        agg.promises = [p for p in agg.promises if p[0] > at_us]
