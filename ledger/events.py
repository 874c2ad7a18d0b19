"""Ledger events: the one input of the online store, validated at the door.

Why: the online store is a fold over events, so an event must be exactly
what it claims before it touches state. Events are plain dicts (JSON on the
wire); :func:`parse_event` checks one and returns a typed :class:`Event` or
raises :class:`domain.errors.InvalidInput` naming the offending field.
:func:`ledger_to_events` turns a ledger into the time-ordered stream used for
replay, parity tests and the serving tests.

Every event has ``event_id``, ``type``, ``customer_id``, ``invoice_id`` and
``at`` (ISO-8601; naive = the ledger's business time, aware = converted to
UTC like the ledger contract does). Every time is inside the
:class:`domain.contract.DateWindow` (2000-01-01 to the horizon after the server
clock) and every amount at most ``MAX_AMOUNT``: an aggregate of such events
stays finite, and no date arithmetic overflows. Per type:

* ``invoice_issued``: ``amount`` (>= 0), ``due_at`` (>= ``at``),
  ``payment_terms_days`` (int >= 0), ``paperless`` (bool)
* ``payment_received``: ``amount`` (> 0)
* ``invoice_written_off``, ``dispute_opened``, ``dispute_resolved``: nothing more
* ``promise_made``: ``amount`` (> 0) the customer promised to pay by ``promised_for``
  (an ISO date, not before the day of ``at``); kept when that much is paid before the
  promised day ends, broken otherwise
* ``invoice_escalated``: the invoice was handed over to collections (an agency or a
  lawyer); open escalations are a risk fact until the invoice is paid or written off
* ``reminder_sent``: known, does not change features (extra fields allowed)

Example::

    parse_event({"event_id": "e1", "type": "payment_received", "customer_id": "C-1",
                 "invoice_id": "INV-1", "at": "2024-03-01T10:00:00", "amount": 120.0})
"""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd

from domain.contract import EARLIEST, MAX_AMOUNT, DateWindow
from domain.errors import InvalidInput
from ledger.tables import Ledger

EVENT_TYPES = ("invoice_issued", "dispute_opened", "dispute_resolved", "payment_received",
               "invoice_written_off", "promise_made", "invoice_escalated", "reminder_sent")
"""Known types, in the order they are applied when several share one timestamp."""
_RANK = {t: i for i, t in enumerate(EVENT_TYPES)}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,127}$")
_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)
US_PER_DAY = 86_400_000_000
_EARLIEST_US = (datetime.combine(EARLIEST, time()) - _EPOCH) // _US


@dataclass(frozen=True)
class Event:
    """A validated event; times are integer microseconds since 1970-01-01 (naive)."""

    event_id: str
    type: str
    customer_id: str
    invoice_id: str
    at_us: int
    amount: float = 0.0
    due_us: int = 0
    """``invoice_issued``: the due time; ``promise_made``: the promise's deadline (the end of the promised day)."""


def to_us(value: Any, field: str = "at") -> int:
    """A timestamp (ISO string, datetime, pandas/numpy time) as integer microseconds.

    Integer microseconds are exact in float64 too (< 2**53), so the Python,
    numpy and Redis Lua code paths compute identical day differences.
    """
    if isinstance(value, str):  # the common case (every event's times), straight to the arithmetic
        try:
            return _iso_us(value) if len(value) <= _ISO_CACHED else _parse_iso_us(value)
        except ValueError:
            raise InvalidInput(f"{field} is not an ISO-8601 timestamp: {value!r}", field=field) from None
    if value is pd.NaT or value is None:
        raise InvalidInput(f"{field} is empty", field=field)
    elif isinstance(value, np.datetime64):
        if np.isnat(value):
            raise InvalidInput(f"{field} is empty", field=field)
        return int(value.astype("datetime64[us]").astype(np.int64))
    if isinstance(value, pd.Timestamp):
        value = value.to_datetime64() if value.tzinfo is None else value.to_pydatetime()
        return to_us(value, field)
    if not isinstance(value, datetime):
        raise InvalidInput(f"{field} must be an ISO-8601 timestamp, got {type(value).__name__}", field=field)
    return _datetime_us(value)


#: The longest string whose parse is remembered: an ISO timestamp with microseconds and an offset is 32
#: characters; a longer one (padded with spaces: still valid) is parsed every time, so the cache's memory
#: stays bounded (16,384 x 40 characters) whatever a client sends.
_ISO_CACHED = 40


def _parse_iso_us(text: str) -> int:
    return _datetime_us(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))


@functools.lru_cache(maxsize=16_384)
def _iso_us(text: str) -> int:
    """An ISO string as microseconds, remembered: a booked event's times are read twice a batch (the
    server's date check, then the book's parse) and a touched invoice's due date again from its body,
    so half the parses were repeats (a pure function of the string; a bad one raises every time)."""
    return _parse_iso_us(text)


def _datetime_us(value: datetime) -> int:
    offset = value.utcoffset()  # subtracted as microseconds: 9999-12-31 -14:00 does not overflow
    return (value.replace(tzinfo=None) - _EPOCH) // _US - (offset // _US if offset else 0)


def iso(us: int) -> str:
    """Integer microseconds back to an ISO-8601 string (for messages and events)."""
    return (_EPOCH + _US * us).isoformat()


def _ident(raw: Mapping[str, Any], field: str) -> str:
    value = raw.get(field)
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidInput(
            f"{field} must be 1-128 characters of letters, digits and _.:@/+- (got {value!r})", field=field)
    return value


def _amount(raw: Mapping[str, Any], positive: bool) -> float:
    value = raw.get("amount")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
        raise InvalidInput(f"amount must be a finite number (got {value!r})", field="amount")
    if value < 0 or (positive and value == 0) or value > MAX_AMOUNT:
        raise InvalidInput(f"amount must be {'> 0' if positive else '>= 0'} and at most {MAX_AMOUNT:,.0f} "
                           f"(got {value!r})", field="amount")
    return float(value)


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int past the double range
        return False


def _time(raw: Mapping[str, Any], field: str, window: DateWindow) -> int:
    """``raw[field]`` as microseconds, refused outside ``window`` (naive times count as UTC)."""
    us, latest = to_us(raw[field], field), window.latest()
    if not _EARLIEST_US <= us <= _datetime_us(latest):
        raise InvalidInput(f"{field} {window.rule(us < _EARLIEST_US, latest)} (got {raw[field]!r})", field=field)
    return us


def parse_event(raw: Any, window: DateWindow | None = None) -> Event:
    """Validate one event dict; raises ``InvalidInput`` with the offending field.

    ``window`` bounds ``at`` and ``due_at`` (default: five years after the server clock).
    """
    window = window or DateWindow()
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"an event must be an object, got {type(raw).__name__}", field="event")
    event_id = raw.get("event_id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 200:
        raise InvalidInput(f"event_id must be a non-empty string of at most 200 characters (got {event_id!r})",
                           field="event_id")
    kind = raw.get("type")
    if kind not in _RANK:
        raise InvalidInput(f"unknown event type {kind!r}; expected one of {list(EVENT_TYPES)}", field="type")
    customer_id, invoice_id = _ident(raw, "customer_id"), _ident(raw, "invoice_id")
    if "at" not in raw:
        raise InvalidInput("at is required", field="at")
    at_us = _time(raw, "at", window)
    if kind == "invoice_issued":
        amount = _amount(raw, positive=False)
        if "due_at" not in raw:
            raise InvalidInput("due_at is required for invoice_issued", field="due_at")
        due_us = _time(raw, "due_at", window)
        if due_us < at_us:
            raise InvalidInput("due_at is before at (the issue time)", field="due_at")
        terms = raw.get("payment_terms_days")
        if isinstance(terms, bool) or not isinstance(terms, int) or terms < 0:
            raise InvalidInput(f"payment_terms_days must be an integer >= 0 (got {terms!r})",
                               field="payment_terms_days")
        if not isinstance(raw.get("paperless"), bool):
            raise InvalidInput(f"paperless must be true or false (got {raw.get('paperless')!r})", field="paperless")
        return Event(event_id, kind, customer_id, invoice_id, at_us, amount, due_us)
    if kind == "payment_received":
        return Event(event_id, kind, customer_id, invoice_id, at_us, _amount(raw, positive=True))
    if kind == "promise_made":
        amount = _amount(raw, positive=True)
        if "promised_for" not in raw:
            raise InvalidInput("promised_for is required for promise_made", field="promised_for")
        promised = _time(raw, "promised_for", window)
        promised_day = promised - promised % US_PER_DAY
        if promised_day < at_us - at_us % US_PER_DAY:
            raise InvalidInput("promised_for is before the day the promise was made", field="promised_for")
        return Event(event_id, kind, customer_id, invoice_id, at_us, amount, promised_day + US_PER_DAY)
    return Event(event_id, kind, customer_id, invoice_id, at_us)


#: Commitments the book keeps and the features do not fold: payment plans. (A ``promise_made`` is an
#: ``Event``: the features fold it, and the book keeps its promise row too.)
COMMITMENT_TYPES = ("plan_agreed",)
MAX_PLAN_INVOICES = 100
MAX_INSTALMENTS = 120


@dataclass(frozen=True)
class Instalment:
    due_us: int
    amount: float


@dataclass(frozen=True)
class Commitment:
    """A validated ``plan_agreed``: its invoices and instalments in due order; the book judges it against
    the invoices' state at ``at``."""

    event_id: str
    type: str
    customer_id: str
    invoice_ids: tuple[str, ...]
    at_us: int
    instalments: tuple[Instalment, ...] = ()


def parse_commitment(raw: Mapping[str, Any], window: DateWindow | None = None) -> Commitment:
    """Validate a ``plan_agreed``; raises ``InvalidInput`` naming the field.

    ``plan_agreed``: ``invoice_ids`` (1-100, distinct), ``at`` and ``instalments`` (1-120 of
    ``{"due_at", "amount" > 0}``, due dates not before ``at`` and in order).
    """
    window = window or DateWindow()
    kind = raw.get("type")
    if kind not in COMMITMENT_TYPES:
        raise InvalidInput(f"unknown commitment type {kind!r}", field="type")
    event_id, customer_id = raw.get("event_id"), _ident(raw, "customer_id")
    if "at" not in raw:
        raise InvalidInput("at is required", field="at")
    at_us = _time(raw, "at", window)
    ids = raw.get("invoice_ids")
    if not isinstance(ids, list) or not 0 < len(ids) <= MAX_PLAN_INVOICES:
        raise InvalidInput(f"invoice_ids must be a list of 1-{MAX_PLAN_INVOICES} invoice ids", field="invoice_ids")
    invoice_ids = tuple(_ident({"invoice_ids": i}, "invoice_ids") for i in ids)
    if len(set(invoice_ids)) != len(invoice_ids):
        raise InvalidInput("invoice_ids lists an invoice twice", field="invoice_ids")
    rows = raw.get("instalments")
    if not isinstance(rows, list) or not 0 < len(rows) <= MAX_INSTALMENTS:
        raise InvalidInput(f"instalments must be a list of 1-{MAX_INSTALMENTS} {{due_at, amount}}", field="instalments")
    instalments: list[Instalment] = []
    for i, row in enumerate(rows):
        name = f"instalments[{i}]"
        if not isinstance(row, Mapping) or set(row) - {"due_at", "amount"} or "due_at" not in row:
            raise InvalidInput(f"{name} must be an object with due_at and amount", field=name)
        try:
            due, amount = _time(row, "due_at", window), _amount(row, positive=True)
        except InvalidInput as exc:
            raise InvalidInput(exc.detail, field=f"{name}.{exc.field}") from None
        if due < at_us or instalments and due < instalments[-1].due_us:
            raise InvalidInput(f"{name}.due_at is before the plan was agreed or before the instalment ahead of it",
                               field=f"{name}.due_at")
        instalments.append(Instalment(due, amount))
    return Commitment(str(event_id), kind, customer_id, invoice_ids, at_us, instalments=tuple(instalments))


def check_event(raw: Any) -> InvalidInput | None:
    """The validation error of ``raw`` as a value, or ``None`` when it is valid."""
    try:
        parse_event(raw)
    except InvalidInput as exc:
        return exc
    return None


def _iso_array(values: np.ndarray) -> np.ndarray:
    us = values.astype("datetime64[us]")
    whole = (us.astype(np.int64) % 1_000_000 == 0).all()
    return np.datetime_as_string(us, unit="s" if whole else "us").astype(object)


def ledger_event_frame(ledger: Ledger, include_reminders: bool = True) -> pd.DataFrame:
    """All ledger events as one DataFrame in application order.

    Order: ``at``, then type (:data:`EVENT_TYPES`), then invoice id, then event
    id. The offline table breaks ties the same way, so a replay of this stream
    reproduces it exactly. Columns: event_id, type, customer_id, invoice_id,
    at (datetime64[us]), amount, due_at (a promise's promised day), payment_terms_days, paperless.
    """
    inv, pay, dis = ledger.invoices, ledger.payments, ledger.disputes
    parts = [
        pd.DataFrame({"event_id": "invoice_issued:" + inv["invoice_id"], "type": "invoice_issued",
                      "customer_id": inv["customer_id"], "invoice_id": inv["invoice_id"],
                      "at": inv["issued_at"], "amount": inv["amount"], "due_at": inv["due_at"],
                      "payment_terms_days": inv["payment_terms_days"], "paperless": inv["paperless"]}),
        pd.DataFrame({"event_id": "payment_received:" + pay["payment_id"], "type": "payment_received",
                      "customer_id": pay["customer_id"], "invoice_id": pay["invoice_id"],
                      "at": pay["paid_at"], "amount": pay["amount"]}),
    ]
    off = inv[inv["written_off_at"].notna()]
    parts.append(pd.DataFrame({"event_id": "invoice_written_off:" + off["invoice_id"],
                               "type": "invoice_written_off", "customer_id": off["customer_id"],
                               "invoice_id": off["invoice_id"], "at": off["written_off_at"]}))
    parts.append(pd.DataFrame({"event_id": "dispute_opened:" + dis["dispute_id"], "type": "dispute_opened",
                               "customer_id": dis["customer_id"], "invoice_id": dis["invoice_id"],
                               "at": dis["opened_at"]}))
    res = dis[dis["resolved_at"].notna()]
    parts.append(pd.DataFrame({"event_id": "dispute_resolved:" + res["dispute_id"], "type": "dispute_resolved",
                               "customer_id": res["customer_id"], "invoice_id": res["invoice_id"],
                               "at": res["resolved_at"]}))
    pro, esc = ledger.promises, ledger.escalations
    parts.append(pd.DataFrame({"event_id": "promise_made:" + pro["promise_id"], "type": "promise_made",
                               "customer_id": pro["customer_id"], "invoice_id": pro["invoice_id"],
                               "at": pro["made_at"], "amount": pro["amount"], "due_at": pro["promised_for"]}))
    parts.append(pd.DataFrame({"event_id": "invoice_escalated:" + esc["escalation_id"], "type": "invoice_escalated",
                               "customer_id": esc["customer_id"], "invoice_id": esc["invoice_id"],
                               "at": esc["escalated_at"]}))
    if include_reminders:
        rem = ledger.reminders
        parts.append(pd.DataFrame({"event_id": "reminder_sent:" + rem["reminder_id"], "type": "reminder_sent",
                                   "customer_id": rem["customer_id"], "invoice_id": rem["invoice_id"],
                                   "at": rem["sent_at"]}))
    frame = pd.concat([p for p in parts if len(p)], ignore_index=True)
    frame["at"] = frame["at"].astype("datetime64[us]")
    frame["rank"] = frame["type"].map(_RANK).astype(np.int64)
    frame = frame.sort_values(["at", "rank", "invoice_id", "event_id"], kind="stable", ignore_index=True)
    return frame.drop(columns="rank")


def frame_to_events(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of :func:`ledger_event_frame` as event dicts (ISO timestamps, only the relevant fields)."""
    at = _iso_array(frame["at"].to_numpy())
    due = frame["due_at"].to_numpy()
    due_iso = np.full(len(frame), None, dtype=object)
    has_due = ~np.isnat(due.astype("datetime64[us]"))
    due_iso[has_due] = _iso_array(due[has_due])
    out: list[dict[str, Any]] = []
    cols = zip(frame["event_id"], frame["type"], frame["customer_id"], frame["invoice_id"], at,
               frame["amount"].to_numpy(), due_iso, frame["payment_terms_days"].to_numpy(),
               frame["paperless"].to_numpy())
    for event_id, kind, cust, inv, when, amount, due_at, terms, paperless in cols:
        event: dict[str, Any] = {"event_id": event_id, "type": kind, "customer_id": cust,
                                 "invoice_id": inv, "at": when}
        if kind == "invoice_issued":
            event.update(amount=float(amount), due_at=due_at, payment_terms_days=int(terms),
                         paperless=bool(paperless))
        elif kind == "payment_received":
            event["amount"] = float(amount)
        elif kind == "promise_made":
            event.update(amount=float(amount), promised_for=due_at[:10])
        out.append(event)
    return out


def ledger_to_events(ledger: Ledger, include_reminders: bool = True) -> list[dict[str, Any]]:
    """The ledger as a time-ordered list of event dicts (see :func:`ledger_event_frame`)."""
    return frame_to_events(ledger_event_frame(ledger, include_reminders))
