"""The book: events written to the ledger first, one transaction per batch, with a precise verdict each.

Why: the ledger is the system of record, so an event is judged against what the
ledger knows, once, here: a duplicate ``event_id`` changes nothing, a payment of
an invoice never issued or a dispute on an invoice already paid is refused with
a code and the field to blame, and one bad event never costs its batch the good
ones. An event that arrives late (dated before events already booked) is booked
at its own time: each touched invoice is refolded from its events in time order,
and the online features of its customer can be refolded from the ledger too
(``Book.customer_events``).

The projections (invoices, payments and allocations, disputes, contacts) are
kept in the same transaction as the events, so a read never sees an event
without its effect. They are the fold's output: each touched invoice is folded
before and after the batch and only the rows that differ are written (a late
event can change an earlier payment's allocation, so rows are compared, not
assumed new).

Example::

    book = Book(open_ledger("sqlite:///var/ledger.db"))
    outcome = book.apply(events, received_us=now_us)
    [(v.status, v.code, v.field) for v in outcome.verdicts]
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from domain.errors import InvalidInput
from domain.vocabulary import CHANNELS, CUSTOMER_TYPES, DISPUTE_TYPES, LANGUAGES, PROFILES, SIZES
from ledger import daily
from ledger import schema as t
from ledger.events import (COMMITMENT_TYPES, EVENT_TYPES, US_PER_DAY, Commitment, Event, parse_commitment, parse_event,
                           to_us)
from ledger.database import among as _among
from ledger.outbox import queued_invoices, withdraw
from ledger.tasks import OUTCOME_STATUS, TASK_OUTCOMES

Status = Literal["applied", "duplicate", "refused"]
#: Event types the book keeps beside the ones the features fold: master data, task outcomes, payment plans.
BOOK_ONLY_TYPES = ("customer_updated", "task_outcome", *COMMITMENT_TYPES)
ALL_TYPES = (*BOOK_ONLY_TYPES, *EVENT_TYPES)
RANK = {kind: i for i, kind in enumerate(ALL_TYPES)}
_MASTER_FIELDS = {"name": str, "customer_type": str, "country": str, "sector": str, "size": str, "profile": str,
                  "account_manager": str, "legal_entity_id": str, "parent_id": str, "key_account": bool,
                  "paperless": bool, "blocked": bool, "credit_limit": float, "ibans": list,
                  "email": str, "phone": str, "postal_address": str, "language": str,
                  **{f"consent_{ch}": bool for ch in CHANNELS}}
_CHOICES = {"customer_type": CUSTOMER_TYPES, "profile": PROFILES, "size": SIZES, "language": LANGUAGES}
#: Addresses a sender delivers to, checked at the door (a bad one would only fail at the last moment).
_FORMATS = {"email": (re.compile(r"^[^@\s<>,;]{1,64}@[^@\s<>,;]+\.[^@\s<>,;]{2,}$"), "an e-mail address"),
            "phone": (re.compile(r"^\+[1-9][0-9]{6,14}$"), "an E.164 number such as +31612345678"),
            "postal_address": (re.compile(r"^[^\x00-\x09\x0b-\x1f]{1,400}$"), "1-400 characters, lines by newline")}
_COLUMN = {"customer_type": "type"}  # master-data field -> customers column, where the names differ


def cents(amount: float | int | str | Decimal, field_name: str = "amount") -> int:
    """An amount in EUR as exact integer cents (half-even on the third decimal)."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise InvalidInput(f"{field_name} is not a number: {amount!r}", field=field_name) from None
    if not value.is_finite():
        raise InvalidInput(f"{field_name} must be finite", field=field_name)
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def euros(amount_cents: int) -> float:
    """Cents back to EUR for JSON answers (exact to the cent: cents / 100 is the nearest double)."""
    return amount_cents / 100


@dataclass(frozen=True)
class Verdict:
    """What the book did with one event."""

    event_id: str | None
    status: Status
    code: str | None = None
    field: str | None = None
    reason: str | None = None
    event: Event | None = None
    raw: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Applied:
    """A batch's verdicts, the customers it touched, and the status of every invoice it touched."""

    verdicts: list[Verdict]
    touched_customers: frozenset[str]
    invoice_status: dict[str, str] = field(default_factory=dict)
    withdrawn: list[str] = field(default_factory=list)
    """Queued messages the batch made moot (cancelled; the rest of their invoices re-issued)."""


class Refused(Exception):
    """Inside the book: one event's refusal (never leaves ``apply``)."""

    def __init__(self, code: str, reason: str, field_name: str | None = None) -> None:
        super().__init__(reason)
        self.code, self.reason, self.field = code, reason, field_name


def _canonical(raw: Mapping[str, Any]) -> str:
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _refusal_of(exc: InvalidInput, raw: Any) -> Refused:
    """A parse error as the verdict code an integrator can act on (the field is named either way)."""
    name = exc.field
    if name == "type":
        return Refused("unknown_type", exc.detail, name)
    root = None if name is None else name.split("[")[0].split(".")[0]  # instalments[1].due_at -> instalments
    if not isinstance(raw, Mapping) or root is not None and raw.get(root) is None:
        return Refused("missing_field", f"{name or 'event'} is missing: {exc.detail}", name)
    return Refused("invalid_field", exc.detail, name)


@dataclass
class _Invoice:
    """One invoice folded from its events in time order: the book's own view, in cents."""

    customer_id: str
    issued: Event | None = None
    amount_cents: int = 0
    paid_cents: int = 0
    status: str = "open"
    paid_us: int | None = None
    written_off_us: int | None = None
    dispute: tuple[str, int] | None = None          # (dispute event id, opened at) while one is open
    payments: list[tuple[str, int, int, int]] = field(default_factory=list)  # id, at, amount, allocated
    disputes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Booked:
    """A touched invoice: its events in time order (booked and accepted so far) and their bodies.

    The fold is kept until the next event is added: one batch judges and projects an invoice
    several times, and an event later than all the others is judged against the whole fold.
    """

    customer_id: str
    events: list[Event] = field(default_factory=list)
    raws: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    _folded: _Invoice | None = None

    def add(self, event: Event, raw: Mapping[str, Any], ordered: bool = True) -> None:
        late = bool(self.events) and _key(event) < _key(self.events[-1])
        self.events.append(event)
        if ordered and late:
            self.events.sort(key=_key)
        self.raws[event.event_id] = raw
        self._folded = None

    def state(self, before: Event | Commitment | None = None) -> _Invoice:
        """The invoice after its events (only those before ``before``, when given)."""
        if before is not None and (not self.events or _key(self.events[-1]) < _key(before)):
            before = None
        if before is not None:
            return _fold([e for e in self.events if _key(e) < _key(before)], self.customer_id)
        if self._folded is None:
            self._folded = _fold(self.events, self.customer_id)
        return self._folded


def _key(event: Event | Commitment) -> tuple[int, int, str]:
    return event.at_us, RANK[event.type], event.event_id


Parsed = Event | Commitment | None
"""What a valid event becomes: an ``Event`` the features fold, a ``Commitment``, or None (master data)."""


class Book:
    """The ledger on one database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- writing ------------------------------------------------------------------------------
    def apply(self, raws: Sequence[Mapping[str, Any]], received_us: int,
              conn: sa.Connection | None = None, whole_book: bool = False) -> Applied:
        """Judge and book a batch of events in one transaction (``conn``'s, when given: an import
        books many batches in one); one verdict per event, in order. ``whole_book``: the transaction
        books the whole book's history (an import) and holds the book-wide write lock instead of one
        per customer (see ``_lock_customers``)."""
        parsed = [self._parse(raw) for raw in raws]
        if conn is not None:
            return self._book(conn, parsed, received_us, whole_book)
        return booking(self.engine, lambda own: self._book(own, parsed, received_us, whole_book))

    def _parse(self, raw: Any) -> Verdict | tuple[Parsed, Mapping[str, Any], str]:
        event_id = raw.get("event_id") if isinstance(raw, Mapping) else None
        event_id = event_id if isinstance(event_id, str) else None
        try:
            if isinstance(raw, Mapping) and raw.get("type") in BOOK_ONLY_TYPES:
                if event_id is None or not 0 < len(event_id) <= 200:
                    raise InvalidInput("event_id is required (1-200 characters)", field="event_id")
                if raw["type"] in COMMITMENT_TYPES:
                    return parse_commitment(raw), raw, _canonical(raw)
                (_master_data if raw["type"] == "customer_updated" else _task_outcome)(raw)
                return None, raw, _canonical(raw)
            return parse_event(raw), raw, _canonical(raw)
        except InvalidInput as exc:
            refused = _refusal_of(exc, raw)
            return Verdict(event_id, "refused", refused.code, refused.field, refused.reason, raw=raw)
        except Refused as exc:
            return Verdict(event_id, "refused", exc.code, exc.field, exc.reason, raw=raw)

    def _book(self, conn: sa.Connection, parsed: list, received_us: int, whole_book: bool = False) -> Applied:
        candidates = [p for p in parsed if not isinstance(p, Verdict)]
        customer_ids = sorted({(e.customer_id if e is not None else raw["customer_id"]) for e, raw, _ in candidates})
        if candidates:
            _lock_customers(conn, customer_ids, whole_book)
        ids = [raw["event_id"] for _, raw, _ in candidates]
        known = dict(conn.execute(sa.select(t.ledger_events.c.event_id, t.ledger_events.c.digest)
                                  .where(_among(conn, t.ledger_events.c.event_id, ids))).all()) if ids else {}
        invoice_ids = sorted({i for e, _, _ in candidates for i in _invoices_of(e)})
        invoices = self._load_invoices(conn, invoice_ids)
        before = {invoice_id: _projection(invoice_id, booked) for invoice_id, booked in invoices.items()}
        commitments = _Commitments.load(conn, sorted({i for e, _, _ in candidates if _commits(e)
                                                      for i in _invoices_of(e)}))
        task_ids = sorted({raw["task_id"] for e, raw, _ in candidates if e is None and raw["type"] == "task_outcome"})
        tasks = {r.id: r.status for r in conn.execute(sa.select(t.tasks.c.id, t.tasks.c.status)
                                                      .where(_among(conn, t.tasks.c.id, task_ids)))} if task_ids else {}
        existing_customers = set(conn.execute(sa.select(t.customers.c.id)
                                              .where(_among(conn, t.customers.c.id, customer_ids))).scalars()) \
            if customer_ids else set()
        verdicts: list[Verdict] = []
        accepted: list[tuple[Event | None, Mapping[str, Any], str]] = []
        seen: dict[str, str] = {}
        masters: dict[str, Mapping[str, Any]] = {}
        stubs: dict[str, int] = {}
        for item in parsed:
            if isinstance(item, Verdict):
                verdicts.append(item)
                continue
            event, raw, text = item
            event_id = raw["event_id"]
            digest = hashlib.sha256(text.encode()).hexdigest()
            earlier = seen.get(event_id, known.get(event_id))
            if earlier is not None:
                verdicts.append(Verdict(event_id, "duplicate", event=event, raw=raw) if earlier == digest else
                                Verdict(event_id, "refused", "event_id_reused", "event_id",
                                        "this event_id was already booked with other content", event, raw))
                continue
            try:
                if _commits(event):
                    commitments.judge(event, invoices)
                note = (None if isinstance(event, Commitment) else
                        self._judge(event, raw, invoices) if event is not None or raw["type"] == "customer_updated"
                        else _judge_outcome(raw, tasks))
            except Refused as exc:
                verdicts.append(Verdict(event_id, "refused", exc.code, exc.field, exc.reason,
                                        event if isinstance(event, Event) else None, raw))
                continue
            seen[event_id] = digest
            item = (event, raw, digest, text)
            customer = event.customer_id if event is not None else raw["customer_id"]
            if event is None and raw["type"] == "customer_updated":
                masters[customer] = raw
            elif event is not None and customer not in existing_customers:
                stubs.setdefault(customer, event.at_us)
            accepted.append(item)
            verdicts.append(Verdict(event_id, "applied", *(note or (None, None, None)),
                                    event=event if isinstance(event, Event) else None, raw=raw))
        withdrawn = self._write(conn, accepted, invoices, before, masters, stubs, existing_customers, received_us)
        touched = frozenset((e.customer_id if e is not None else r["customer_id"]) for e, r, _, _ in accepted)
        statuses = {e.invoice_id: invoices[e.invoice_id].state().status for e, _, _, _ in accepted
                    if isinstance(e, Event)}
        return Applied(verdicts, touched, statuses, withdrawn)

    def _judge(self, event: Event | None, raw: Mapping[str, Any],
               invoices: dict[str, _Booked]) -> tuple[str, str, str] | None:
        """Refuse what contradicts the book; returns a (code, field, reason) note for an applied event."""
        if event is None:
            return None
        booked = invoices.get(event.invoice_id)
        issued = booked.state().issued if booked is not None else None
        if event.type == "invoice_issued":
            if issued is not None:
                raise Refused("invoice_exists", f"invoice {event.invoice_id} was already issued", "invoice_id")
            invoices[event.invoice_id] = booked = _Booked(event.customer_id)
            booked.add(event, raw)
            return None
        if booked is None or issued is None:
            raise Refused("unknown_invoice", f"invoice {event.invoice_id} was never issued", "invoice_id")
        if booked.customer_id != event.customer_id:
            raise Refused("customer_mismatch", f"invoice {event.invoice_id} belongs to customer "
                          f"{booked.customer_id}, not {event.customer_id}", "customer_id")
        if event.at_us < issued.at_us:
            raise Refused("before_issue", f"{event.type} dated before the invoice was issued", "at")
        before = booked.state(before=event)
        note = None
        if event.type == "payment_received":
            if before.status == "written_off":
                raise Refused("invoice_closed", f"invoice {event.invoice_id} was written off before this payment",
                              "invoice_id")
            open_cents = before.amount_cents - before.paid_cents
            paid = cents(event.amount)
            if paid > open_cents:
                note = ("overpayment", "amount", f"EUR {euros(paid - open_cents):,.2f} more than the open "
                        f"EUR {euros(open_cents):,.2f}: kept as unallocated credit of the customer")
        elif event.type == "dispute_opened":
            if before.status != "open":
                raise Refused("dispute_on_paid_invoice" if before.status == "paid" else "invoice_closed",
                              f"invoice {event.invoice_id} was already {before.status.replace('_', ' ')}", "invoice_id")
            if before.dispute is not None:
                raise Refused("dispute_already_open", f"invoice {event.invoice_id} already has an open dispute",
                              "invoice_id")
            reason = raw.get("reason", "other")
            if reason not in DISPUTE_TYPES:
                raise Refused("invalid_field", f"reason must be one of {list(DISPUTE_TYPES)}", "reason")
        elif event.type == "dispute_resolved":
            if before.dispute is None:
                raise Refused("no_open_dispute", f"invoice {event.invoice_id} has no open dispute", "invoice_id")
        elif event.type in ("invoice_written_off", "promise_made", "invoice_escalated"):
            if before.status != "open":
                raise Refused("invoice_closed", f"invoice {event.invoice_id} is already "
                              f"{before.status.replace('_', ' ')}", "invoice_id")
        booked.add(event, raw)
        return note

    def _load_invoices(self, conn: sa.Connection, invoice_ids: list[str]) -> dict[str, _Booked]:
        """The touched invoices with their booked events (the book's state to judge against)."""
        e = t.ledger_events.c
        out: dict[str, _Booked] = {}
        for part in range(0, len(invoice_ids), 5_000):
            rows = conn.execute(sa.select(e.event_id, e.type, e.customer_id, e.invoice_id, e.at_us, e.body)
                                .where(_among(conn, e.invoice_id, invoice_ids[part:part + 5_000])))
            for row in rows:
                raw = json.loads(row.body)
                out.setdefault(row.invoice_id, _Booked(row.customer_id)).add(_booked_event(row, raw), raw, False)
        for booked in out.values():
            booked.events.sort(key=_key)
        return out

    def _write(self, conn: sa.Connection, accepted: list, invoices: dict[str, _Booked],
               before: dict[str, dict[sa.Table, dict[tuple, dict[str, Any]]]],
               masters: dict[str, Mapping[str, Any]], stubs: dict[str, int], existing: set[str],
               received_us: int) -> list[str]:
        """Write the accepted events and their projections; returns the queued messages they made moot."""
        if not accepted:
            return []
        insert_rows(conn, t.ledger_events, [
            {"event_id": raw["event_id"], "type": raw["type"],
             "customer_id": event.customer_id if event is not None else raw["customer_id"],
             "invoice_id": event.invoice_id if isinstance(event, Event) else None,
             "at_us": event.at_us if event is not None else received_us, "received_us": received_us,
             "digest": digest, "body": text} for event, raw, digest, text in accepted])
        self._write_customers(conn, masters, stubs, existing, received_us)
        _write_outcomes(conn, [raw for e, raw, _, _ in accepted if e is None and raw["type"] == "task_outcome"])
        touched = sorted({e.invoice_id for e, _, _, _ in accepted if isinstance(e, Event)})
        after = {i: _projection(i, invoices[i]) for i in touched}
        for table in _PROJECTIONS:
            _sync(conn, table, {k: row for i in touched for k, row in before.get(i, {}).get(table, {}).items()},
                  {k: row for i in touched for k, row in after[i][table].items()})
        promised = [e for e, _, _, _ in accepted if _commits(e)]
        _Commitments.write(conn, promised)
        contacts = [{"id": e.event_id, "customer_id": e.customer_id, "invoice_id": e.invoice_id,
                     "kind": _contact_kind(e, raw), "channel": raw.get("channel"),
                     "at_us": e.at_us, "step": raw.get("step"), "tone": raw.get("tone"),
                     "decision_id": raw.get("decision_id")}
                    for e, raw, _, _ in accepted
                    if isinstance(e, Event) and e.type in ("reminder_sent", "invoice_escalated")]
        insert_rows(conn, t.contacts, contacts)
        withdrawn = self._withdraw(conn, touched, invoices, promised, received_us)
        daily.record(conn, before, after)  # last: its day rows are every customer's, locked until the commit
        return withdrawn

    @staticmethod
    def _withdraw(conn: sa.Connection, touched: list[str], invoices: dict[str, _Booked],
                  promised: list[Event | Commitment], received_us: int) -> list[str]:
        """Queued reminders of invoices this batch closed, disputed, promised or put under a plan are moot."""
        moot: dict[str, list[str]] = {}
        for invoice_id in touched:
            state = invoices[invoice_id].state()
            if state.status != "open" or state.dispute is not None:
                moot.setdefault(state.status if state.status != "open" else "disputed", []).append(invoice_id)
        for commitment in promised:
            moot.setdefault(commitment.type, []).extend(_invoices_of(commitment))
        if not moot:
            return []
        # one read for which of them a queued message lists (usually none), then only those are withdrawn
        listed = queued_invoices(conn, sorted({i for ids in moot.values() for i in ids}))
        return [m for reason, ids in sorted(moot.items()) if (hit := [i for i in ids if i in listed])
                for m in withdraw(conn, hit, reason, received_us)]

    @staticmethod
    def _write_customers(conn: sa.Connection, masters: dict[str, Mapping[str, Any]], stubs: dict[str, int],
                         existing: set[str], received_us: int) -> None:
        """New customers (stubs or with master data) in one insert; master-data updates grouped by shape."""
        inserts = [{"id": c, "created_us": at, "updated_us": received_us} for c, at in stubs.items() if c not in masters]
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for customer_id, raw in masters.items():
            values = {**_master_data(raw), "updated_us": received_us}
            if customer_id in existing:
                updates.setdefault(tuple(sorted(values)), []).append({"key": customer_id, **values})
            else:
                inserts.append({"id": customer_id, "created_us": stubs.get(customer_id, received_us), **values})
        for shape in {tuple(sorted(row)) for row in inserts}:
            conn.execute(sa.insert(t.customers), [row for row in inserts if tuple(sorted(row)) == shape])
        for shape, rows in updates.items():
            conn.execute(sa.update(t.customers).where(t.customers.c.id == sa.bindparam("key"))
                         .values({name: sa.bindparam(name) for name in shape}), rows)

    # -- reading ------------------------------------------------------------------------------

    def customer_events(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's events the features fold, in the order they happened (for a refold)."""
        with self.engine.connect() as conn:
            bodies = conn.execute(sa.select(t.ledger_events.c.body)
                                  .where(t.ledger_events.c.customer_id == customer_id,
                                         t.ledger_events.c.type.in_(EVENT_TYPES))).scalars().all()
        return sort_events([json.loads(b) for b in bodies])

    def customer_histories(self, customers: Sequence[str] | None = None,
                           batch: int = 20_000) -> Iterator[tuple[str, list[Event]]]:
        """Each customer's events the features fold, as the book judged them, in the order they happened,
        customer by customer (all customers, or ``customers``): how an online store is warmed or a
        customer it fell behind on is caught up (``OnlineStore.refold_many``)."""
        e = t.ledger_events.c
        rank = sa.case({kind: RANK[kind] for kind in EVENT_TYPES}, value=e.type)
        query = (sa.select(e.event_id, e.type, e.customer_id, e.invoice_id, e.at_us, e.body)
                 .where(e.type.in_(EVENT_TYPES)).order_by(e.customer_id, e.at_us, rank, e.invoice_id, e.event_id))
        with self.engine.connect() as conn:
            if customers is not None:
                query = query.where(_among(conn, e.customer_id, sorted(set(customers))))
            rows = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
            for customer_id, group in itertools.groupby(rows, key=lambda row: row.customer_id):
                yield customer_id, [_booked_event(row, json.loads(row.body)) for row in group]

    @staticmethod
    def booked_events(conn: sa.Connection, first: str, last: str) -> list[Event]:
        """The events the features fold of the customers ``first`` to ``last`` (by id), in the order they happened,
        as the ``Event`` values they were validated into when booked (a dunning run's partition folds them into a
        store of its own without parsing them again: only the amounts and due dates are read from the body)."""
        e = t.ledger_events.c
        query = _in_fold_order(sa.and_(e.customer_id >= first, e.customer_id <= last),
                               e.event_id, e.type, e.customer_id, e.invoice_id, e.at_us)
        return [_booked_event(row, json.loads(row.body)) for row in conn.execute(query)]


_PROJECTIONS: dict[sa.Table, tuple[str, ...]] = {
    t.invoices: ("id",), t.payments: ("id",), t.allocations: ("payment_id", "invoice_id"), t.disputes: ("id",)}


#: The class id ("KR") of the transaction-level advisory locks a batch takes, one per customer it names.
WRITER_LOCK_CLASS = 0x4B52
#: The book-wide lock ("KB", 0): every batch holds it shared, an import exclusive.
BOOK_LOCK = (0x4B42, 0)
#: One row back however many customers (a row per lock cost the client 3-4 ms a batch of 300 customers);
#: the book-wide lock first, so a batch queued behind an import holds no customer's lock meanwhile.
_LOCK_CUSTOMERS = sa.text("SELECT pg_advisory_xact_lock_shared(:b, :b2), (SELECT count(pg_advisory_xact_lock(:c, k)) "
                          "FROM unnest(CAST(:keys AS integer[])) AS k)")
_LOCK_BOOK = sa.text("SELECT pg_advisory_xact_lock(:b, :b2)")


def customer_lock_keys(customer_ids: Iterable[str]) -> list[int]:
    """The advisory-lock keys of customers, sorted: a stable 32-bit hash each (a collision only makes two
    customers share a lock), taken in one order by every writer, so two batches never wait on each other
    in a cycle."""
    return sorted({int.from_bytes(hashlib.blake2b(c.encode(), digest_size=4).digest(), "big", signed=True)
                   for c in customer_ids})


def _lock_customers(conn: sa.Connection, customer_ids: Iterable[str], whole_book: bool = False) -> None:
    """Take the write locks of the batch's customers before reading what it is judged against.

    Two workers booking the same customer at once would each judge against the state before the
    other's batch (the same event applied twice, an allocation lost), so a batch reads and writes its
    customers as their only writer: on PostgreSQL one transaction-level advisory lock per customer (a
    batch of other customers books side by side: the producers of an integrator partitioned by
    customer), on SQLite the database's write lock, taken by a write that changes nothing (one writer
    at a time there anyway). Readers are never blocked; the locks end with the transaction. What two
    batches of other customers can still both write is a new key neither saw (the same new
    ``event_id`` or ``invoice_id`` under two customers): the second insert fails and ``booking`` runs
    that batch again, judged against the first.

    An import (``whole_book``) books every customer's history in one transaction: a lock per customer
    would fill PostgreSQL's lock table (``max_locks_per_transaction`` x connections, 6,400 by default:
    a book of 20,000 customers failed with "out of shared memory"). It takes the book-wide lock
    exclusively instead, which every other batch holds shared: one lock, and the import is the book's
    only writer while it runs. Taking it again in the same transaction adds no lock.
    """
    if conn.dialect.name == "postgresql":
        book = {"b": BOOK_LOCK[0], "b2": BOOK_LOCK[1]}
        if whole_book:
            conn.execute(_LOCK_BOOK, book)
        else:
            conn.execute(_LOCK_CUSTOMERS, {"c": WRITER_LOCK_CLASS, "keys": customer_lock_keys(customer_ids),
                                           **book}).one()
    else:
        conn.execute(sa.update(t.ledger_events).where(sa.false()).values(seq=t.ledger_events.c.seq))


T = TypeVar("T")


def booking(engine: Engine, work: Callable[[sa.Connection], T], attempts: int = 3) -> T:
    """Run ``work`` (a batch booked, and what the same transaction does with it) in one transaction; again,
    from the start, when a concurrent batch of other customers committed first a new key this one inserts
    too (a unique violation: see ``_lock_customers``), so the rerun judges it a duplicate or a refusal."""
    for _ in range(attempts - 1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except (sa.exc.IntegrityError, engine.dialect.dbapi.IntegrityError):  # COPY raises the driver's own
            continue
    with engine.begin() as conn:
        return work(conn)


def _booked_event(row: sa.Row, raw: Mapping[str, Any]) -> Event:
    """A booked event rebuilt from its row and body: it was validated when it was booked, and the
    window it was judged in must not refuse it now (a far-ahead due date stays far ahead)."""
    if row.type == "invoice_issued":
        return Event(row.event_id, row.type, row.customer_id, row.invoice_id, row.at_us, float(raw["amount"]),
                     to_us(raw["due_at"], "due_at"))
    if row.type == "payment_received":
        return Event(row.event_id, row.type, row.customer_id, row.invoice_id, row.at_us, float(raw["amount"]))
    if row.type == "promise_made":
        promised = to_us(raw["promised_for"], "promised_for")
        return Event(row.event_id, row.type, row.customer_id, row.invoice_id, row.at_us, float(raw["amount"]),
                     promised - promised % US_PER_DAY + US_PER_DAY)
    return Event(row.event_id, row.type, row.customer_id, row.invoice_id, row.at_us)


def _projection(inv_id: str, inv: _Booked) -> dict[sa.Table, dict[tuple, dict[str, Any]]]:
    """The projection rows of one folded invoice, per table and key."""
    folded, raws = inv.state(), inv.raws
    issued = folded.issued
    assert issued is not None
    raw = raws.get(issued.event_id, {})
    out: dict[sa.Table, dict[tuple, dict[str, Any]]] = {table: {} for table in _PROJECTIONS}
    out[t.invoices][(inv_id,)] = {
        "id": inv_id, "customer_id": inv.customer_id, "issued_us": issued.at_us, "due_us": issued.due_us,
        "amount_cents": folded.amount_cents, "paid_cents": folded.paid_cents,
        "payment_terms_days": _terms(issued, raw), "paperless": bool(raw.get("paperless", False)),
        "payment_reference": raw.get("payment_reference"), "legal_entity_id": raw.get("legal_entity_id"),
        "status": folded.status, "paid_us": folded.paid_us, "written_off_us": folded.written_off_us,
        "disputed": folded.dispute is not None}
    for pay_id, at, amount, allocated in folded.payments:
        pay_raw = raws.get(pay_id, {})
        out[t.payments][(pay_id,)] = {
            "id": pay_id, "customer_id": inv.customer_id, "invoice_id": inv_id, "received_us": at,
            "amount_cents": amount, "allocated_cents": allocated, "reference": pay_raw.get("reference"),
            "iban": pay_raw.get("iban"), "source": pay_raw.get("source", "api")}
        if allocated:
            out[t.allocations][(pay_id, inv_id)] = {"payment_id": pay_id, "invoice_id": inv_id,
                                                    "amount_cents": allocated}
    for d in folded.disputes:
        out[t.disputes][(d["id"],)] = {**d, "invoice_id": inv_id, "customer_id": inv.customer_id,
                                       "reason": raws.get(d["id"], {}).get("reason", "other"),
                                       "owner": raws.get(d["id"], {}).get("owner")}
    return out


def _sync(conn: sa.Connection, table: sa.Table, before: Mapping[tuple, dict[str, Any]],
          after: Mapping[tuple, dict[str, Any]]) -> None:
    """Write the difference between two projections of one table: a changed or vanished row is deleted,
    a new or changed row is inserted (two set statements, whatever the mix)."""
    keys = _PROJECTIONS[table]
    stale = [k for k, row in before.items() if after.get(k) != row]
    if stale:
        where = (_among(conn, table.c[keys[0]], [k[0] for k in stale]) if len(keys) == 1 else
                 sa.tuple_(*(table.c[k] for k in keys)).in_(stale))
        conn.execute(sa.delete(table).where(where))
    insert_rows(conn, table, [row for k, row in after.items() if before.get(k) != row])


def insert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows of one shape; on PostgreSQL through ``COPY`` (a tenth of the CPU of a batched INSERT,
    inside the same transaction), elsewhere as one executemany."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(sa.insert(table), list(rows))
        return
    columns = list(rows[0])
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in columns)
    with conn.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {conn.dialect.identifier_preparer.format_table(table)} ({quoted}) FROM STDIN") \
                as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])


def _in_fold_order(where: sa.ColumnElement[bool], *columns: sa.ColumnElement[Any]) -> sa.Select:
    e = t.ledger_events.c
    rank = sa.case({kind: RANK[kind] for kind in EVENT_TYPES}, value=e.type)
    return (sa.select(e.body, *columns).where(where, e.type.in_(EVENT_TYPES))
            .order_by(e.at_us, rank, e.invoice_id, e.event_id))


def _invoices_of(parsed: Parsed) -> tuple[str, ...]:
    if isinstance(parsed, Event):
        return (parsed.invoice_id,)
    return parsed.invoice_ids if isinstance(parsed, Commitment) else ()


def _commits(parsed: Parsed) -> bool:
    """A customer's commitment the book keeps a row of: a ``promise_made`` event (which the features fold
    too) or a ``plan_agreed``."""
    return isinstance(parsed, Commitment) or isinstance(parsed, Event) and parsed.type == "promise_made"


@dataclass
class _Commitments:
    """The promises and active plans of the invoices a batch's commitments name: what a new one is judged by."""

    promised_for: dict[str, list[int]]       # invoice -> promised dates of its open promises
    planned: dict[str, str]                  # invoice -> the active plan covering it

    @classmethod
    def load(cls, conn: sa.Connection, invoice_ids: list[str]) -> _Commitments:
        out = cls({}, {})
        p, pi, pp = t.promises.c, t.plan_invoices.c, t.payment_plans.c
        if not invoice_ids:
            return out
        for invoice_id, promised in conn.execute(sa.select(p.invoice_id, p.promised_for_us)
                                                 .where(_among(conn, p.invoice_id, invoice_ids), p.status == "open")):
            out.promised_for.setdefault(invoice_id, []).append(promised)
        out.planned.update(conn.execute(sa.select(pi.invoice_id, pi.plan_id).join(t.payment_plans, pp.id == pi.plan_id)
                                        .where(_among(conn, pi.invoice_id, invoice_ids), pp.status == "active")).all())
        return out

    def judge(self, commitment: Event | Commitment, invoices: dict[str, _Booked]) -> None:
        """Refuse a promise or plan on invoices that are unknown, someone else's, closed, or already promised
        (a promise whose date has not passed) or planned; keep an accepted one for the rest of the batch."""
        field_name = "invoice_id" if commitment.type == "promise_made" else "invoice_ids"
        open_cents = 0
        for invoice_id in _invoices_of(commitment):
            booked = invoices.get(invoice_id)
            if booked is None or booked.state().issued is None:
                raise Refused("unknown_invoice", f"invoice {invoice_id} was never issued", field_name)
            if booked.customer_id != commitment.customer_id:
                raise Refused("customer_mismatch", f"invoice {invoice_id} belongs to customer {booked.customer_id}, "
                              f"not {commitment.customer_id}", "customer_id")
            before = booked.state(before=commitment)
            if before.issued is None:
                raise Refused("before_issue", f"{commitment.type} dated before invoice {invoice_id} was issued", "at")
            if before.status != "open":
                raise Refused("invoice_closed", f"invoice {invoice_id} was already {before.status.replace('_', ' ')}",
                              field_name)
            if invoice_id in self.planned:
                raise Refused("plan_active", f"invoice {invoice_id} is already under payment plan "
                              f"{self.planned[invoice_id]}", field_name)
            open_cents += before.amount_cents - before.paid_cents
        if isinstance(commitment, Event):
            day = commitment.at_us // US_PER_DAY
            if any(d // US_PER_DAY >= day for d in self.promised_for.get(commitment.invoice_id, ())):
                raise Refused("promise_open", f"invoice {commitment.invoice_id} has a promise to pay whose date "
                              "has not passed", "invoice_id")
            if cents(commitment.amount) > open_cents:
                raise Refused("invalid_field", f"the promise of EUR {commitment.amount:,.2f} is more than the open "
                              f"EUR {euros(open_cents):,.2f}", "amount")
            self.promised_for.setdefault(commitment.invoice_id, []).append(_promised_for_us(commitment))
            return
        planned = sum(cents(i.amount) for i in commitment.instalments)
        if planned < open_cents:
            raise Refused("invalid_field", f"the instalments add up to EUR {euros(planned):,.2f}, less than the open "
                          f"EUR {euros(open_cents):,.2f} of the invoices", "instalments")
        self.planned.update({i: commitment.event_id for i in commitment.invoice_ids})

    @staticmethod
    def write(conn: sa.Connection, accepted: list[Event | Commitment]) -> None:
        promises = [{"id": c.event_id, "customer_id": c.customer_id, "invoice_id": c.invoice_id,
                     "promised_for_us": _promised_for_us(c), "amount_cents": cents(c.amount), "status": "open",
                     "created_us": c.at_us} for c in accepted if isinstance(c, Event)]
        plans = [c for c in accepted if isinstance(c, Commitment)]
        for table, rows in (
                (t.promises, promises),
                (t.payment_plans, [{"id": c.event_id, "customer_id": c.customer_id, "status": "active",
                                    "created_us": c.at_us} for c in plans]),
                (t.plan_instalments, [{"plan_id": c.event_id, "number": n, "due_us": i.due_us,
                                       "amount_cents": cents(i.amount), "paid_cents": 0}
                                      for c in plans for n, i in enumerate(c.instalments, 1)]),
                (t.plan_invoices, [{"plan_id": c.event_id, "invoice_id": i} for c in plans for i in c.invoice_ids])):
            insert_rows(conn, table, rows)


def _promised_for_us(promise: Event) -> int:
    """The promised day of a ``promise_made`` (its ``due_us`` is the end of that day)."""
    return promise.due_us - US_PER_DAY


def sort_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events in the order they happened (time, then type rank, invoice, id): the features' fold order."""
    return sorted(events, key=lambda e: (to_us(e["at"]), RANK[e["type"]], e.get("invoice_id", ""), e["event_id"]))


def _contact_kind(event: Event, raw: Mapping[str, Any]) -> str:
    if event.type == "invoice_escalated":
        return "escalation"
    return "final_notice" if raw.get("final_notice") else "reminder"


def _terms(issued: Event, raw: Mapping[str, Any]) -> int:
    terms = raw.get("payment_terms_days")
    return int(terms) if isinstance(terms, int) else max(0, (issued.due_us - issued.at_us) // 86_400_000_000)


def _fold(events: Iterable[Event], customer_id: str) -> _Invoice:
    """An invoice's state after ``events`` (sorted by time): amounts in cents, disputes, allocations."""
    inv = _Invoice(customer_id)
    for e in events:
        if e.type == "invoice_issued":
            inv.issued, inv.amount_cents = e, cents(e.amount)
        elif e.type == "payment_received":
            amount = cents(e.amount)
            allocated = min(amount, max(0, inv.amount_cents - inv.paid_cents)) if inv.status == "open" else 0
            inv.paid_cents += allocated
            inv.payments.append((e.event_id, e.at_us, amount, allocated))
            if inv.status == "open" and inv.paid_cents >= inv.amount_cents:
                inv.status, inv.paid_us = "paid", e.at_us
        elif e.type == "invoice_written_off" and inv.status == "open":
            inv.status, inv.written_off_us = "written_off", e.at_us
        elif e.type == "dispute_opened" and inv.dispute is None:
            inv.dispute = (e.event_id, e.at_us)
            inv.disputes.append({"id": e.event_id, "status": "open", "opened_us": e.at_us, "resolved_us": None})
        elif e.type == "dispute_resolved" and inv.dispute is not None:
            inv.disputes[-1].update(status="resolved", resolved_us=e.at_us)
            inv.dispute = None
    return inv


def _master_data(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The columns a ``customer_updated`` event sets (only those it names), checked."""
    if not isinstance(raw.get("customer_id"), str) or not raw["customer_id"]:
        raise InvalidInput("customer_id is required", field="customer_id")
    out: dict[str, Any] = {}
    for name, kind in _MASTER_FIELDS.items():
        if name not in raw or raw[name] is None:
            continue
        value = raw[name]
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InvalidInput(f"{name} must be a finite amount >= 0", field=name)
            out["credit_limit_cents"] = cents(value, name)
        elif kind is list:
            if not isinstance(value, list) or not all(isinstance(v, str) and 15 <= len(v) <= 34 for v in value):
                raise InvalidInput(f"{name} must be a list of IBANs", field=name)
            out["ibans"] = " ".join(v.replace(" ", "").upper() for v in value)
        elif not isinstance(value, kind):
            raise InvalidInput(f"{name} must be {'true or false' if kind is bool else 'a string'}", field=name)
        elif name in _CHOICES and value not in _CHOICES[name]:
            raise InvalidInput(f"{name} must be one of {list(_CHOICES[name])}", field=name)
        elif name in _FORMATS and not _FORMATS[name][0].match(value):
            raise InvalidInput(f"{name} must be {_FORMATS[name][1]}", field=name)
        else:
            out[_COLUMN.get(name, name)] = value
    unknown = set(raw) - set(_MASTER_FIELDS) - {"event_id", "type", "customer_id", "at"}
    if unknown:
        raise Refused("unknown_field", f"customer_updated does not know {sorted(unknown)}", sorted(unknown)[0])
    return out


def _task_outcome(raw: Mapping[str, Any]) -> None:
    """Check a ``task_outcome`` event's own fields (the task itself is judged against the book)."""
    for name in ("event_id", "task_id", "customer_id"):
        if not isinstance(raw.get(name), str) or not 0 < len(raw[name]) <= 200:
            raise InvalidInput(f"{name} is required (1-200 characters)", field=name)
    if raw.get("outcome") not in TASK_OUTCOMES:
        raise InvalidInput(f"outcome must be one of {list(TASK_OUTCOMES)}", field="outcome")
    to_us(raw.get("at"), "at")
    if raw["outcome"] == "not_reached":
        to_us(raw.get("due_again"), "due_again")


def _judge_outcome(raw: Mapping[str, Any], tasks: dict[str, str]) -> None:
    status = tasks.get(raw["task_id"])
    if status is None:
        raise Refused("unknown_task", f"no task {raw['task_id']}", "task_id")
    if status != "open":
        raise Refused("task_closed", f"task {raw['task_id']} is already {status}", "task_id")
    tasks[raw["task_id"]] = "done" if raw["outcome"] != "not_reached" else "open"


def _write_outcomes(conn: sa.Connection, outcomes: list[Mapping[str, Any]]) -> None:
    """What a task's outcome does to the book: the task closed or due again, the contact it was. (A promise,
    a dispute or a payment plan it brings is its own event in the same batch, booked as one sent alone.)"""
    for raw in outcomes:
        at = to_us(raw["at"])
        values: dict[str, Any] = {"status": OUTCOME_STATUS.get(raw["outcome"], "done")}
        if raw["outcome"] == "not_reached":
            values["due_us"] = to_us(raw["due_again"])
        conn.execute(sa.update(t.tasks).where(t.tasks.c.id == raw["task_id"]).values(**values))
        conn.execute(sa.insert(t.contacts).values(
            id=raw["event_id"], customer_id=raw["customer_id"], invoice_id=raw.get("invoice_id"),
            kind="call" if raw.get("task_type") == "call" else "task", channel=raw.get("channel"), at_us=at,
            step=raw.get("task_type"), outcome=raw["outcome"], decision_id=None))


def add_tasks(engine: Engine, tasks: Sequence[Mapping[str, Any]]) -> int:
    """Open tasks for people (e.g. an unmatched bank payment), once per id; returns how many are new."""
    if not tasks:
        return 0
    with engine.begin() as conn:
        known = set(conn.execute(sa.select(t.tasks.c.id).where(t.tasks.c.id.in_([x["id"] for x in tasks]))).scalars())
        new = [dict(x) for x in tasks if x["id"] not in known]
        if new:
            conn.execute(sa.insert(t.tasks), new)
    return len(new)
