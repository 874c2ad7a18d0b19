"""The transactional outbox: the messages a dunning run decided, written with its decisions, withdrawn when moot.

Why: a reminder is worth nothing until it leaves, and worse than nothing when it
leaves after the customer paid or disputed. The run writes each message in the
same transaction as the decisions it carries out (``queue``), so no message
exists for a decision that was rolled back and none is lost between deciding and
sending. A sender (the delivery connectors) reads the ``queued`` rows and sets
their status (``sent``, ``delivered``, ``bounced``, ``failed``); the message id is
its idempotency key.

A message lists one or more invoices (a consolidated reminder: one message per
customer and channel, ``outbox_items`` one row per invoice). When an event makes
an invoice's reminder moot (paid, written off, disputed, promised or put under a
payment plan) the book calls ``withdraw`` in the transaction that books it: every
still-``queued`` message listing the invoice is cancelled, and if other invoices
remain on it, it is re-issued without that invoice under a new id (``<id>/<n>``,
``n`` the invoices left, so each re-issue gets an id of its own): a sender that
already claimed the old id never sends it, and the customer is still reminded of
the rest. The lead invoice (whose decision chose the channel and time) keeps its
mark only if it stays on the message.

A message counts as its invoices' reminder from its send time while it is queued,
sent or delivered (``LIVE``), so the next run and next-action do not remind twice.
The sender books the contact as ``reminder_sent`` with event id
``contact_id(message, invoice)``: readers count that contact once.

Example::

    with engine.begin() as conn:
        queue(conn, [Message("msg:2026-03-02:C-1:0", "run:2026-03-02", "C-1", "reminder", "email", "friendly",
                             decided_us, send_at_us, (Item("INV-1", "dec_...", "remind", "reminder_1", 12000),))],
              now_us)
        withdraw(conn, ["INV-1"], "disputed", now_us)
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from ledger import schema as t
from ledger.database import insert_new

STATUSES = ("queued", "sent", "delivered", "bounced", "failed", "cancelled")
#: Statuses in which a message counts as its invoices' reminder.
LIVE = ("queued", "sent", "delivered")


@dataclass(frozen=True)
class Item:
    """One invoice on a message, with the decision it carries out."""

    invoice_id: str
    decision_id: str | None
    action: str
    step: str
    amount_cents: int
    collection_costs_cents: int | None = None
    lead: bool = False


@dataclass(frozen=True)
class Message:
    id: str
    run_id: str | None
    customer_id: str
    kind: str
    channel: str
    tone: str | None
    decided_us: int
    send_at_us: int
    items: tuple[Item, ...]
    replaces: str | None = None


def contact_id(message_id: str, invoice_id: str) -> str:
    """The event id of the ``reminder_sent`` a sender books for one invoice of a sent message."""
    return f"{message_id}:{invoice_id}"


def queue(conn: sa.Connection, messages: Sequence[Message], now_us: int) -> int:
    """Write new messages (status ``queued``) with their items; a known id is left as it is. Returns how many
    were new."""
    rows = [{"id": m.id, "run_id": m.run_id, "customer_id": m.customer_id, "kind": m.kind, "channel": m.channel,
             "tone": m.tone, "decided_us": m.decided_us, "send_at_us": m.send_at_us, "status": "queued",
             "status_us": now_us, "replaces": m.replaces, "created_us": now_us} for m in messages]
    new = insert_new(conn, t.outbox_messages, rows)
    fresh = [m for m in messages if m.id in new]
    items = [{"message_id": m.id, "invoice_id": i.invoice_id, "decision_id": i.decision_id, "action": i.action,
              "step": i.step, "amount_cents": i.amount_cents, "collection_costs_cents": i.collection_costs_cents,
              "lead": i.lead} for m in fresh for i in m.items]
    if items:
        conn.execute(sa.insert(t.outbox_items), items)
    return len(fresh)


def withdraw(conn: sa.Connection, invoice_ids: Iterable[str], reason: str, now_us: int) -> list[str]:
    """Cancel every queued message listing one of ``invoice_ids``; re-issue the rest of its invoices under a
    new id. Returns the ids of the cancelled messages."""
    ids = sorted(set(invoice_ids))
    m, i = t.outbox_messages.c, t.outbox_items.c
    hit: set[str] = set()
    for part in range(0, len(ids), 500):  # by invoice (its index); the status filtered here, not in SQL, where it
        hit |= {mid for mid, status in conn.execute(  # would lead the plan through every queued message
            sa.select(i.message_id, m.status).join(t.outbox_messages, m.id == i.message_id)
            .where(i.invoice_id.in_(ids[part:part + 500]))) if status == "queued"}
    if not hit:
        return []
    gone = set(ids)
    cancelled = sorted(hit)
    messages = {r.id: r for r in conn.execute(sa.select(t.outbox_messages).where(m.id.in_(cancelled)))}
    items: dict[str, list[sa.Row]] = {}
    for row in conn.execute(sa.select(t.outbox_items).where(i.message_id.in_(cancelled)).order_by(i.invoice_id)):
        items.setdefault(row.message_id, []).append(row)
    conn.execute(sa.update(t.outbox_messages).where(m.id.in_(cancelled))
                 .values(status="cancelled", status_us=now_us, reason=reason))
    reissued = []
    for message_id in cancelled:
        old = messages[message_id]
        keep = [r for r in items[message_id] if r.invoice_id not in gone]
        if not keep:
            continue
        lead_stays = any(r.lead for r in keep)
        reissued.append(Message(
            f"{message_id.split('/')[0]}/{len(keep)}", old.run_id, old.customer_id, old.kind, old.channel, old.tone,
            old.decided_us, old.send_at_us,
            tuple(Item(r.invoice_id, r.decision_id, r.action, r.step, r.amount_cents, r.collection_costs_cents,
                       r.lead and lead_stays) for r in keep), replaces=message_id))
    queue(conn, reissued, now_us)
    return cancelled
