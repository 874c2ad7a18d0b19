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
from ledger.database import among, insert_new

STATUSES = ("queued", "sent", "delivered", "bounced", "failed", "cancelled")
#: Statuses in which a message counts as its invoices' reminder.
LIVE = ("queued", "sent", "delivered")
#: What the history records beside the statuses: a message queued again for later (a failed try, quiet hours).
HISTORY = (*STATUSES, "retry", "held")


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
    add_history(conn, [(m.id, "queued", 0, f"replaces {m.replaces}" if m.replaces else None) for m in fresh], now_us)
    items = [{"message_id": m.id, "invoice_id": i.invoice_id, "decision_id": i.decision_id, "action": i.action,
              "step": i.step, "amount_cents": i.amount_cents, "collection_costs_cents": i.collection_costs_cents,
              "lead": i.lead} for m in fresh for i in m.items]
    if items:
        conn.execute(sa.insert(t.outbox_items), items)
    return len(fresh)


def queued_invoices(conn: sa.Connection, invoice_ids: Sequence[str]) -> set[str]:
    """Which of ``invoice_ids`` a queued message lists: a batch asks once, and withdraws only those."""
    m, i = t.outbox_messages.c, t.outbox_items.c
    out: set[str] = set()
    for part in range(0, len(invoice_ids), 5_000):  # by invoice (its index), the status filtered here (see withdraw)
        out |= {invoice_id for invoice_id, status in conn.execute(
            sa.select(i.invoice_id, m.status).join(t.outbox_messages, m.id == i.message_id)
            .where(among(conn, i.invoice_id, invoice_ids[part:part + 5_000]))) if status == "queued"}
    return out


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
                 .values(status="cancelled", status_us=now_us, reason=reason, lease_owner=None, lease_until_us=None))
    add_history(conn, [(mid, "cancelled", messages[mid].attempts, reason) for mid in cancelled], now_us)
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


# -- the sender's side: claim, record, read -----------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A queued message a sender holds until ``lease_until_us``, with its invoices."""

    row: sa.Row
    items: tuple[sa.Row, ...]

    @property
    def id(self) -> str:
        return self.row.id

    @property
    def lead(self) -> sa.Row:
        return next((i for i in self.items if i.lead), self.items[0])


def add_history(conn: sa.Connection, entries: Sequence[tuple[str, str, int, str | None]], now_us: int) -> None:
    if entries:
        conn.execute(sa.insert(t.outbox_history), [{"message_id": mid, "status": status, "attempt": attempt,
                                                     "detail": detail, "at_us": now_us}
                                                    for mid, status, attempt, detail in entries])


def claim(conn: sa.Connection, owner: str, now_us: int, lease_us: int, limit: int,
          channels: Sequence[str] | None = None) -> list[Claimed]:
    """Lease up to ``limit`` due messages (queued, send time and next attempt reached, no live lease; of
    ``channels``, when given) to ``owner``.

    Two senders never hold the same message: on PostgreSQL the candidates are locked ``FOR UPDATE SKIP
    LOCKED`` (a second sender passes over them to the next ones), on SQLite the claim takes the database's
    write lock first (a write that changes nothing), so the second sender reads after the first committed.
    The lease is re-checked in the update either way. A sender that dies holding a lease leaves its messages
    to the next sender once the lease runs out (``lease_us``).
    """
    m = t.outbox_messages.c
    if conn.dialect.name == "sqlite":
        conn.execute(sa.update(t.outbox_messages).where(sa.false()).values(status=m.status))
    free = sa.or_(m.lease_until_us.is_(None), m.lease_until_us < now_us)
    due = sa.and_(m.status == "queued", m.send_at_us <= now_us,
                  sa.or_(m.next_attempt_us.is_(None), m.next_attempt_us <= now_us), free,
                  m.channel.in_(channels) if channels is not None else sa.true())
    ids = list(conn.execute(sa.select(m.id).where(due).order_by(m.send_at_us, m.id).limit(limit)
                            .with_for_update(skip_locked=True)).scalars())
    if not ids:
        return []
    conn.execute(sa.update(t.outbox_messages).where(m.id.in_(ids), due)
                 .values(lease_owner=owner, lease_until_us=now_us + lease_us))
    rows = {r.id: r for r in conn.execute(sa.select(t.outbox_messages).where(
        m.id.in_(ids), m.lease_owner == owner, m.lease_until_us == now_us + lease_us))}
    items: dict[str, list[sa.Row]] = {}
    for row in conn.execute(sa.select(t.outbox_items).where(t.outbox_items.c.message_id.in_(sorted(rows)))
                            .order_by(t.outbox_items.c.invoice_id)):
        items.setdefault(row.message_id, []).append(row)
    return [Claimed(rows[i], tuple(items.get(i, ()))) for i in ids if i in rows]


def record(conn: sa.Connection, message_id: str, owner: str, status: str, now_us: int, detail: str | None = None,
           *, attempts: int | None = None, next_attempt_us: int | None = None,
           template_version: str | None = None, content_digest: str | None = None) -> bool:
    """Set what became of a claimed message and write it to its history; the lease ends.

    ``status`` is one of ``STATUSES`` or ``retry``/``held`` (still queued, tried again at ``next_attempt_us``).
    Only the lease holder records (False: the lease was lost or the message withdrawn meanwhile).
    """
    m = t.outbox_messages.c
    later = status in ("retry", "held")
    values: dict[str, object] = {"lease_owner": None, "lease_until_us": None}
    if later:
        values["next_attempt_us"] = next_attempt_us
    else:
        values.update(status=status, status_us=now_us)
        if status in ("cancelled", "failed"):
            values["reason"] = detail
    if attempts is not None:
        values["attempts"] = attempts
    if template_version is not None:
        values["template_version"] = template_version
    if content_digest is not None:
        values["content_digest"] = content_digest
    done = conn.execute(sa.update(t.outbox_messages).where(m.id == message_id, m.lease_owner == owner)
                        .values(values)).rowcount
    if done:
        add_history(conn, [(message_id, status, attempts or 0, detail)], now_us)
    return bool(done)


def depth(conn: sa.Connection, now_us: int) -> tuple[dict[str, int], int | None]:
    """Messages per status, and the send time of the oldest queued message that is due (None: none is):
    what an operator alerts on (dead letters, a sender that stopped)."""
    m = t.outbox_messages.c
    counts = {status: 0 for status in STATUSES}
    counts.update({status: n for status, n in conn.execute(sa.select(m.status, sa.func.count()).group_by(m.status))})
    oldest = conn.execute(sa.select(sa.func.min(m.send_at_us)).where(
        m.status == "queued", m.send_at_us <= now_us,
        sa.or_(m.next_attempt_us.is_(None), m.next_attempt_us <= now_us))).scalar()
    return counts, oldest


def history(conn: sa.Connection, message_ids: Sequence[str]) -> dict[str, list[dict[str, object]]]:
    """Every status each message went through, in order."""
    h = t.outbox_history.c
    out: dict[str, list[dict[str, object]]] = {}
    for part in range(0, len(message_ids), 500):
        for row in conn.execute(sa.select(t.outbox_history).where(h.message_id.in_(message_ids[part:part + 500]))
                                .order_by(h.seq)):
            out.setdefault(row.message_id, []).append(dict(row._mapping))
    return out


def messages_of_invoice(conn: sa.Connection, invoice_id: str) -> list[str]:
    """The ids of every message that listed the invoice (whatever became of it)."""
    return list(conn.execute(sa.select(t.outbox_items.c.message_id).where(t.outbox_items.c.invoice_id == invoice_id)
                             .order_by(t.outbox_items.c.message_id)).scalars())


def search(conn: sa.Connection, customer_id: str | None, status: str | None, invoice_id: str | None,
           after: str | None, limit: int, channel: str | None = None,
           message_id: str | None = None) -> list[dict[str, object]]:
    """Messages by id (page after ``after``), filtered; each with its invoices (``items``)."""
    m, i = t.outbox_messages.c, t.outbox_items.c
    query = sa.select(t.outbox_messages)
    if message_id is not None:
        query = query.where(m.id == message_id)
    if channel is not None:
        query = query.where(m.channel == channel)
    if customer_id is not None:
        query = query.where(m.customer_id == customer_id)
    if status is not None:
        query = query.where(m.status == status)
    if invoice_id is not None:
        query = query.where(m.id.in_(sa.select(i.message_id).where(i.invoice_id == invoice_id)))
    if after is not None:
        query = query.where(m.id > after)
    found = [dict(r._mapping) for r in conn.execute(query.order_by(m.id).limit(limit))]
    items: dict[str, list[dict[str, object]]] = {}
    if found:
        for row in conn.execute(sa.select(t.outbox_items).where(i.message_id.in_([f["id"] for f in found]))
                                .order_by(i.invoice_id)):
            items.setdefault(row.message_id, []).append(dict(row._mapping))
    for f in found:
        f["items"] = items.get(f["id"], [])
    return found
