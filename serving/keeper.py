"""The online store's keeper: does the store hold the ledger's state, and if not, put it back.

Why: the ledger is the system of record and the online store (Redis, shared by
every worker) is derived from it. Redis can be unreachable for a while, restart
empty (no persistence), be flushed or be replaced; a service that answers from
such a store says "accept, open exposure 0.0" about a customer who owes 293.27
(issue 15, F4). The keeper makes the store's state a fact the service knows:

* ``ready``: the store holds a complete fill from the ledger (its epoch is the
  one this worker knows, or a newer one another worker published);
* ``warming``: the epoch is missing (the store is empty or was flushed): one
  worker takes the warm lock, refolds every customer from the ledger and
  publishes a new epoch; the others wait for it;
* ``unavailable``: the store cannot be reached.

``/readyz`` is ready only in ``ready``. The keeper looks every
``STORE_CHECK_INTERVAL_S`` (one ``GET`` and, when Redis is fine, one small
query of the ledger's store backlog) and at once when a request found the store
failing (``RedisStore.on_fault``). Decisions pay nothing for it: their read
carries the epoch's ``GET`` in its own pipeline (``features.online.redis``),
so even between two rounds no decision is answered from an emptied store.

Events are booked in the ledger first; when the store cannot follow them (down,
warming, or re-warmed under the write), their customers are marked in the
ledger's store backlog (``ledger.backlog``), and the keeper refolds them from
the ledger when the store is back and clears the marks. A mark that cannot be
written (the database failed right after the commit) is kept in memory and
written on a later round.

The in-process store needs none of this: it lives and dies with the worker and
is warmed from the ledger once, at start.

Example::

    keeper = StoreKeeper(store, book, interval_s=1.0)
    keeper.start(watch=True)      # warms or adopts; then checks every second
    keeper.ready, keeper.state, keeper.detail
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from domain.errors import StoreUnavailable
from features.online import OnlineStore, StoreEmptied
from ledger import backlog
from ledger.book import Book
from serving.bootstrap import warm_store

log = logging.getLogger(__name__)
State = Literal["starting", "ready", "warming", "unavailable"]
#: The warm lock expires this long after its last extension (a warmer that died frees it).
WARM_LOCK_TTL_S = 30.0


def _now_us() -> int:
    return time.time_ns() // 1000


@dataclass
class StoreKeeper:
    """Watches one online store against the ledger (see the module docstring)."""

    store: OnlineStore
    book: Book
    interval_s: float = 1.0
    state: State = "starting"
    detail: str = "starting"
    #: the last warm from the ledger: customers, events, applied, seconds (empty until one ran)
    warmed: dict[str, float] = field(default_factory=dict)
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    _unsaved: set[str] = field(default_factory=set)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)          # one round at a time
    _marks_lock: threading.Lock = field(default_factory=threading.Lock)    # the unsaved marks (request threads)

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def start(self, watch: bool) -> None:
        """The first check now (it warms the store when needed); then, for a shared store, a daemon thread."""
        if self.store.shared:
            self.store.on_fault = self.fault
        self.check()
        if watch and self.store.shared:
            threading.Thread(target=self._watch, name="kredo-store-keeper", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the keeper must outlive every fault; the next round retries
                log.exception("online store check failed")
            self._stop.wait(0.05)  # many failing requests wake it at once: at most 20 rounds a second

    def check(self) -> None:
        """One round: warm or adopt, then drain the backlog (see the module docstring)."""
        with self._lock:
            if not self.store.shared:
                if not self.ready:
                    self.warmed = warm_store(self.store, self.book)
                    self._set("ready", "warmed from the ledger")
                return
            try:
                epoch = self.store.read_epoch()
                if epoch is None:
                    self._set("warming", "the online store is empty (restarted without its data, flushed or new): "
                              "re-warming it from the ledger")
                    if not self._warm():
                        return
                else:
                    self.store.epoch = epoch
                self._drain()
                self._set("ready", "the online store holds the ledger's state")
            except StoreUnavailable as exc:
                self._set("unavailable", exc.detail)

    def _warm(self) -> bool:
        """Fill the empty store from the ledger under the warm lock; False when another worker holds it."""
        if not self.store.claim_warm(self.owner, WARM_LOCK_TTL_S):
            return False
        try:
            marks = backlog.pending(self.book.engine)  # covered by the warm, which reads the ledger after them
            self.warmed = warm_store(self.store, self.book,
                                     hold=lambda: self.store.hold_warm(self.owner, WARM_LOCK_TTL_S))
            backlog.clear(self.book.engine, marks)
            self.store.publish_epoch()
        finally:
            self.store.release_warm(self.owner)
        log.warning("online store re-warmed from the ledger: %s", self.warmed)
        return True

    def _drain(self) -> None:
        """Refold the customers the store fell behind on (marked in the ledger), then clear their marks."""
        self._save(())
        marks = backlog.pending(self.book.engine)
        if not marks:
            return
        self.store.refold_many(self.book.customer_histories([customer_id for customer_id, _ in marks]))
        backlog.clear(self.book.engine, marks)
        log.info("online store caught up with %d customers from the ledger", len(marks))

    def fault(self, error: StoreUnavailable) -> None:
        """A request found the store failing: not ready from now on (``/readyz``), and look at once."""
        if self.ready:
            self._set("warming" if isinstance(error, StoreEmptied) else "unavailable", error.detail)
        self._wake.set()

    def behind(self, customer_ids: Iterable[str]) -> None:
        """The store could not follow these customers' booked events: mark them for a refold from the ledger."""
        self._save(customer_ids)
        self._wake.set()

    def _save(self, customer_ids: Iterable[str]) -> None:
        with self._marks_lock:
            marks, self._unsaved = self._unsaved | set(customer_ids), set()
        if not marks:
            return
        try:
            backlog.mark(self.book.engine, marks, _now_us())
        except Exception:  # noqa: BLE001 - kept in memory; the next round writes them
            with self._marks_lock:
                self._unsaved |= marks
            log.exception("store backlog not writable; %d customers kept in memory", len(marks))

    def _set(self, state: State, detail: str) -> None:
        if state != self.state:
            (log.info if state == "ready" else log.warning)("online store %s: %s", state, detail)
        self.state, self.detail = state, detail

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "detail": self.detail}
