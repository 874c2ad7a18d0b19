"""The in-process online store: the embedded default (one process, zero set-up).

Why: a demo or a single-worker deployment needs no Redis. It runs the
reference fold (:func:`features.aggregates.fold`) under one lock, so it is
safe for the threads of one process; several processes need Redis.
"""
from __future__ import annotations

import copy
import threading
from collections.abc import Sequence

from features.aggregates import CustomerAggregates, CustomerState, fold
from ledger.events import Event
from features.online.base import EventResult, FeatureQuery, OnlineStore
from features.transform import invoice_features_many

_NEW = CustomerAggregates()


class MemoryStore(OnlineStore):
    """Thread-safe in-process store. Example: ``MemoryStore().apply(ledger_to_events(ledger))``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, CustomerState] = {}
        self._seen: dict[str, set[str]] = {}

    def _apply_valid(self, events: Sequence[Event]) -> list[EventResult]:
        results = []
        with self._lock:
            for event in events:
                seen = self._seen.setdefault(event.customer_id, set())
                if event.event_id in seen:
                    results.append(EventResult(event.event_id, "duplicate"))
                    continue
                state = self._states.setdefault(event.customer_id, CustomerState())
                refusal = fold(state, event)
                if refusal is not None:
                    results.append(EventResult.refused(event.event_id, refusal))
                    continue
                seen.add(event.event_id)
                results.append(EventResult(event.event_id, "applied"))
        return results

    def _replace(self, customer_id: str, events: Sequence[Event]) -> list[EventResult]:
        state, seen, results = CustomerState(), set(), []
        for event in events:
            refusal = fold(state, event)
            if refusal is None:
                seen.add(event.event_id)
                results.append(EventResult(event.event_id, "applied"))
            else:
                results.append(EventResult.refused(event.event_id, refusal))
        with self._lock:
            self._states[customer_id], self._seen[customer_id] = state, seen
        return results

    def aggregates_many(self, customer_ids: Sequence[str]) -> list[CustomerAggregates]:
        with self._lock:
            return [copy.deepcopy(self._states[c].aggregates) if c in self._states else CustomerAggregates()
                    for c in customer_ids]

    def watermarks(self, customer_ids: Sequence[str]) -> list[int | None]:
        with self._lock:
            return [self._states[c].aggregates.watermark_us if c in self._states else None for c in customer_ids]

    def customer_features_many(self, queries: Sequence[FeatureQuery]) -> list[dict[str, float]]:
        """Computed under the lock on the live state: no copy per read (a customer's history part once per
        moment, ``invoice_features_many``)."""
        with self._lock:
            return invoice_features_many([(c, self._states[c].aggregates if c in self._states else _NEW, request, now)
                                          for c, request, now in queries])
