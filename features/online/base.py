"""The online store interface: per-customer aggregates fed by events, read per decision.

Why: serving reads a customer's history in one cheap call and never cares
whether it lives in this process or in Redis shared by many workers. Every
backend implements :class:`OnlineStore`; one test suite runs against all of
them. Validation happens here, once, at the public surface; backends fold
only validated events.

Guarantees of every backend:

* ``apply`` is idempotent by ``event_id``: a second delivery reports
  ``duplicate`` and changes nothing.
* A customer's events must come in time order: an event earlier than the
  customer's last applied event is ``refused`` (reason ``out_of_order``),
  never folded in the wrong place. Events of the same instant may come in any
  order. ``reminder_sent`` is accepted at any time and changes no feature.
* An unknown customer reads as a new customer (all defaults), not an error.
* A store that cannot be reached raises ``domain.errors.StoreUnavailable``
  (a 503 for the caller), never a client library's exception.

A *shared* store (Redis) lives outside the process: it can restart empty, be
flushed or be replaced while the service runs. It carries an *epoch*, a token
written when the store was last filled from the ledger; a missing or changed
epoch means its content is not the one this process knows
(``serving.keeper`` re-warms it from the ledger). The in-process store lives and
dies with its process, is warmed once at start and has no epoch.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from domain.contract import DateWindow
from domain.errors import InvalidInput, StoreUnavailable
from features.aggregates import CustomerAggregates, Refusal
from ledger.events import Event, parse_event
from features.transform import InvoiceRequest, invoice_features_many

Status = Literal["applied", "duplicate", "refused"]


class StoreEmptied(StoreUnavailable):
    """A shared store lost its content (restarted empty, flushed) or is being re-warmed from the ledger."""


@dataclass(frozen=True)
class EventResult:
    """What happened to one event: ``applied``, ``duplicate`` or ``refused`` (with code and reason)."""

    event_id: str | None
    status: Status
    code: str | None = None
    reason: str | None = None
    detail: str | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def refused(cls, event_id: str | None, refusal: Refusal) -> "EventResult":
        return cls(event_id, "refused", refusal.error.code, refusal.reason, refusal.detail)


FeatureQuery = tuple[str, InvoiceRequest, "datetime | str | None"]


class OnlineStore(ABC):
    """Per-customer aggregates, updated by events and read by decisions."""

    def apply(self, events: Iterable[Mapping[str, Any]], window: DateWindow | None = None) -> list[EventResult]:
        """Validate and apply events in the given order; one result per event, same order.

        Invalid events (a time outside ``window``, an amount past ``MAX_AMOUNT``
        included) are ``refused`` with code ``invalid_input``, reason
        ``invalid_event`` and the offending ``field``; they do not stop the
        others. Applying the same list twice reports every event ``duplicate``.
        """
        results: list[EventResult | None] = []
        valid: list[Event] = []
        for raw in events:
            try:
                valid.append(parse_event(raw, window))
                results.append(None)
            except InvalidInput as exc:
                event_id = raw.get("event_id") if isinstance(raw, Mapping) else None
                results.append(EventResult(event_id if isinstance(event_id, str) else None, "refused",
                                           exc.code, "invalid_event", exc.detail, exc.field))
        applied = iter(self._apply_valid(valid)) if valid else iter(())
        return [r if r is not None else next(applied) for r in results]

    def apply_booked(self, events: Sequence[Event]) -> list[EventResult]:
        """Fold events the ledger booked, given as the ``Event`` values they were validated into when booked
        (``ledger.book.Book.booked_events``): in order, idempotent, with no second parse."""
        return self._apply_valid(events) if events else []

    @abstractmethod
    def _apply_valid(self, events: Sequence[Event]) -> list[EventResult]:
        """Fold validated events in order (atomically per event); one result each."""

    def refold(self, customer_id: str, events: Iterable[Mapping[str, Any]]) -> list[EventResult]:
        """Replace one customer's state by the fold of ``events`` (the ledger's, in time order).

        A late event cannot be folded in after later ones (the fold is order-dependent),
        so the ledger books it and the customer is folded again from its full history,
        in one atomic swap: a reader sees the old state or the new one.
        """
        valid = [parse_event(raw) for raw in events]
        check_owner(customer_id, valid)
        return self._replace(customer_id, valid)

    @abstractmethod
    def _replace(self, customer_id: str, events: Sequence[Event]) -> list[EventResult]:
        """Atomically swap the customer's state for the fold of ``events``."""

    def refold_many(self, histories: Iterable[tuple[str, Sequence[Event]]]) -> list[EventResult]:
        """Replace each customer's state by the fold of its booked events (``ledger.book.Book.customer_histories``):
        how a store is warmed from the ledger, customer by customer, so a write of another worker between
        two customers can never be folded out of order.

        Unlike ``refold`` it does not check the shared store's epoch: the warm runs while the epoch is
        not yet published (``serving.keeper``).
        """
        return self.refold_booked(histories)

    def refold_booked(self, histories: Iterable[tuple[str, Sequence[Event]]]) -> list[EventResult]:
        """``refold`` of each customer from its booked events (``ledger.book.Book.customer_histories``),
        with no second parse: how the customers a batch reached late are caught up. Each customer is one
        atomic swap, checked against the shared store's epoch like any write."""
        results: list[EventResult] = []
        for customer_id, events in histories:
            check_owner(customer_id, events)
            results += self._replace(customer_id, events)
        return results

    #: True for a store outside the process (it has an epoch, see the module docstring).
    shared = False

    @abstractmethod
    def aggregates_many(self, customer_ids: Sequence[str]) -> list[CustomerAggregates]:
        """Aggregates of several customers in one round trip (new customers: defaults)."""

    def watermarks(self, customer_ids: Sequence[str]) -> list[int | None]:
        """Each customer's time of its last folded event (None: nothing folded yet), in one round trip."""
        return [a.watermark_us for a in self.aggregates_many(customer_ids)]

    def aggregates(self, customer_id: str) -> CustomerAggregates:
        """One customer's aggregates (a copy; a new customer gets defaults)."""
        return self.aggregates_many([customer_id])[0]

    def customer_features(self, customer_id: str, request: InvoiceRequest,
                          now: datetime | str | None = None) -> dict[str, float]:
        """Features of ``request`` for ``customer_id`` at ``now`` (default: the request's issue time).

        One read of the store (one round trip for Redis), then the shared
        transform :func:`features.transform.invoice_features`.
        """
        return self.customer_features_many([(customer_id, request, now)])[0]

    def customer_features_many(self, queries: Sequence[FeatureQuery]) -> list[dict[str, float]]:
        """Features of several (customer, request, now) queries with one read of the store."""
        aggs = self.aggregates_many([q[0] for q in queries])
        return invoice_features_many([(c, agg, request, now) for agg, (c, request, now) in zip(aggs, queries)])

    def close(self) -> None:
        """Release connections (no-op for the in-process store)."""


def check_owner(customer_id: str, events: Sequence[Event]) -> None:
    """A refold replaces one customer's state: every event must be that customer's."""
    if any(e.customer_id != customer_id for e in events):
        raise InvalidInput(f"refold of {customer_id} got another customer's event", field="customer_id")
