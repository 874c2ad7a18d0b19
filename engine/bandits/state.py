"""Where a bandit's learned state lives: the ``BanditState`` protocol and its in-process store.

Why: policy settings are immutable values; what a bandit learns is plain sums
and counts (successes and trials per arm, or the sufficient statistics of a
linear model), kept in named hashes of float fields. That maps one to one onto
Redis hashes and ``HINCRBYFLOAT``, so several workers and hosts share one
bandit (``features.online.bandit_redis.RedisBanditState``), while one process
needs nothing but :class:`InProcessState`. The same test suite runs against both.

Two guarantees every implementation gives:

* ``increment(key, deltas, once=event_id)`` applies all deltas atomically and
  at most once per ``once`` id: an update delivered twice counts once.
* pending reminders (awaiting their delayed reward) are stored per invoice;
  ``put_pending`` is idempotent per reminder id, ``take_pending`` and
  ``take_expired`` remove atomically, so two workers never pay one reminder twice.

Example::

    state = InProcessState()
    state.increment("ts:thompson:high|student", {"email|morning|weekday:n": 1.0}, once="REM-1")
    state.read("ts:thompson:high|student")   # {'email|morning|weekday:n': 1.0}
"""
from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable



@runtime_checkable
class BanditState(Protocol):
    """Storage for bandit statistics and pending rewards (in-process or Redis)."""

    def read(self, key: str) -> dict[str, float]:
        """All fields of hash ``key`` (empty when never written)."""

    def increment(self, key: str, deltas: Mapping[str, float], once: str | None = None) -> bool:
        """Add ``deltas`` to the fields of ``key`` atomically; with ``once``, only the first time.

        Returns False when ``once`` was already applied (nothing changed).
        """

    def put_pending(self, invoice_id: str, record: Mapping[str, Any], deadline: float) -> tuple[bool, dict | None]:
        """Store ``record`` (with a ``reminder_id``) as the invoice's pending reminder until ``deadline``.

        Returns ``(stored, displaced)``: ``stored`` is False when this reminder id
        was seen before (a replay: nothing changes); ``displaced`` is the
        invoice's previous pending record, now removed, or None.
        """

    def get_pending(self, invoice_id: str) -> dict | None:
        """The invoice's pending record, or None."""

    def awaiting(self, invoice_ids: Sequence[str]) -> set[str]:
        """Those of ``invoice_ids`` that have a pending record (one round trip for a batch)."""

    def take_pending(self, invoice_id: str, reminder_id: str) -> dict | None:
        """Remove and return the invoice's pending record if it is ``reminder_id``'s."""

    def take_expired(self, now: float, limit: int = 1000) -> list[dict]:
        """Remove and return up to ``limit`` pending records whose deadline is <= ``now``."""


class InProcessState:
    """Thread-safe in-memory :class:`BanditState` (the embedded default).

    One lock guards everything, so each method is atomic with respect to other
    threads of the process. Event ids applied are remembered for the life of
    the process (a restart forgets them, and the statistics with them).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hashes: dict[str, dict[str, float]] = {}
        self._seen: set[str] = set()
        self._pending: dict[str, tuple[dict, float]] = {}

    def read(self, key: str) -> dict[str, float]:
        with self._lock:
            return dict(self._hashes.get(key, {}))

    def increment(self, key: str, deltas: Mapping[str, float], once: str | None = None) -> bool:
        with self._lock:
            if once is not None:
                if once in self._seen:
                    return False
                self._seen.add(once)
            h = self._hashes.setdefault(key, {})
            for field, delta in deltas.items():
                h[field] = h.get(field, 0.0) + float(delta)
            return True

    def put_pending(self, invoice_id: str, record: Mapping[str, Any], deadline: float) -> tuple[bool, dict | None]:
        marker = f"reminder:{record['reminder_id']}"
        with self._lock:
            if marker in self._seen:
                return False, None
            self._seen.add(marker)
            previous = self._pending.get(invoice_id)
            self._pending[invoice_id] = (dict(record), float(deadline))
            return True, (dict(previous[0]) if previous else None)

    def get_pending(self, invoice_id: str) -> dict | None:
        with self._lock:
            found = self._pending.get(invoice_id)
            return dict(found[0]) if found else None

    def awaiting(self, invoice_ids: Sequence[str]) -> set[str]:
        with self._lock:
            return {i for i in invoice_ids if i in self._pending}

    def take_pending(self, invoice_id: str, reminder_id: str) -> dict | None:
        with self._lock:
            found = self._pending.get(invoice_id)
            if found is None or found[0]["reminder_id"] != reminder_id:
                return None
            del self._pending[invoice_id]
            return dict(found[0])

    def take_expired(self, now: float, limit: int = 1000) -> list[dict]:
        with self._lock:
            due = sorted((d, inv) for inv, (_, d) in self._pending.items() if d <= now)[:limit]
            return [dict(self._pending.pop(inv)[0]) for _, inv in due]
