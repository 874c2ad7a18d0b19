"""The Redis online store: one set of aggregates shared by all service workers.

Why: gunicorn runs N workers on N hosts; they must fold every event exactly
once and read the same state. Each event is applied by one Lua script
(``apply.lua``, the same steps as :func:`features.aggregates.fold`), so the
duplicate check, the ordering check and every update happen atomically on
the server. Batches of events go out pipelined; a read is one round trip:
one script (``_READ``) returns both hashes of each customer and the epoch,
atomically (a consistent snapshot, as ``MULTI``/``EXEC`` of the same commands
was, at half its client CPU: one command and one reply instead of five).

Keys (``{id}`` is a Redis Cluster hash tag: one customer's keys share a slot):

* ``{ns}:cust:{id}``           hash: counts, sums, recent days late, pending and broken promises, watermark
* ``{ns}:cust:{id}:open``      hash: invoice id -> "amount|paid|due_us|issued_us|disputed|escalated"
* ``{ns}:cust:{id}:disputes``  set of invoices with an open dispute
* ``{ns}:cust:{id}:invoices``  set of invoice ids ever issued (validates payments)
* ``{ns}:cust:{id}:seen``      set of applied event ids (idempotency)
* ``{ns}:epoch``               the token of the fill from the ledger this content comes from
* ``{ns}:warming``             the warm lock: which process is filling the store now (expires)

The epoch is checked without a round trip of its own: once the store knows its
``epoch`` (``serving.keeper`` sets it), every write pipeline carries a ``GET`` of
the epoch key and every read script returns it. A missing key (Redis restarted empty, flushed) is
:class:`StoreEmptied`, so no decision is answered from an empty store; on a
write, a missing or changed key means the write may have raced a re-warm, and
the caller marks the customers for a refold from the ledger. Every command
has a socket timeout and one retry (a pooled connection that died with a
restarted server is replaced once), so a dead or hung Redis costs a request at
most two timeouts, and is :class:`~domain.errors.StoreUnavailable`.

Example::

    store = RedisStore.from_url("redis://127.0.0.1:6379/0")
    store.apply(events); store.customer_features("C-00000001", request)
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from domain.errors import StoreUnavailable
from domain.resources import REDIS_FOLD_SCRIPT, read_text

from features.aggregates import EWM_HALFLIFE_US, EWM_ORIGIN_US, CustomerAggregates, OpenInvoice, refusal
from features.definitions import PAID_TOLERANCE, RECENT_K
from ledger.events import US_PER_DAY, Event
from features.online.base import EventResult, OnlineStore, StoreEmptied, check_owner

#: The fold script with its constants as its first line (the same text Lua's ``tonumber`` read from ARGV
#: before: the same doubles), so an event's call carries only the event's own six arguments.
_SCRIPT = (f"local K, TOL, ORIGIN, HALF, DAY = {RECENT_K}, {PAID_TOLERANCE!r}, {EWM_ORIGIN_US}, {EWM_HALFLIFE_US}, "
           f"{US_PER_DAY}\n" + read_text(REDIS_FOLD_SCRIPT))
BATCH = 2_000
#: Socket timeout of every command (connect and read): far above a healthy round trip (< 1 ms on a LAN),
#: far below the request timeout.
TIMEOUT_S = 0.5
#: redis-py's errors that mean "cannot talk to the server now" (``BusyLoadingError``, a server still
#: reading its append-only file, is a ``ConnectionError``); a ``ResponseError`` (a script bug) is not one.
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
#: a read: HGETALL of every key but the last (flat field/value lists), then GET of the last (the epoch)
_READ = ("local out = {} for i = 1, #KEYS - 1 do out[i] = redis.call('HGETALL', KEYS[i]) end "
         "out[#KEYS] = redis.call('GET', KEYS[#KEYS]) return out")
_HOLD = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"


def client_for(url: str, timeout_s: float = TIMEOUT_S) -> redis.Redis:
    """A client with bounded waits: socket timeouts and one immediate retry (see the module docstring)."""
    return redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                retry=Retry(NoBackoff(), 1))


class RedisStore(OnlineStore):
    """Online store in Redis; ``namespace`` prefixes every key (default ``kredo``)."""

    shared = True

    def __init__(self, client: redis.Redis, namespace: str = "kredo") -> None:
        self._client = client
        self._ns = namespace
        self._apply_script = client.register_script(_SCRIPT)
        self._release = client.register_script(_RELEASE)
        self._hold = client.register_script(_HOLD)
        self._read = client.register_script(_READ)
        self._held = threading.local()  # this thread's read connection (``_read_script``)
        self._epoch_key, self._warm_key = f"{namespace}:epoch", f"{namespace}:warming"
        #: the epoch this process knows (None: not checked; ``serving.keeper`` sets it)
        self.epoch: str | None = None
        #: called with the error when the store could not be used (the keeper takes note and looks at once)
        self.on_fault: Callable[[StoreUnavailable], None] = lambda error: None

    @classmethod
    def from_url(cls, url: str, namespace: str = "kredo", timeout_s: float = TIMEOUT_S) -> "RedisStore":
        return cls(client_for(url, timeout_s), namespace)

    def _execute(self, pipe: redis.client.Pipeline, checked: bool, reading: bool) -> list[Any]:
        """Run a pipeline (with the epoch's ``GET`` last when ``checked``); a dead server is StoreUnavailable."""
        known = self.epoch
        if checked and known is not None:
            pipe.get(self._epoch_key)
        replies = self._reach(pipe.execute)
        if checked and known is not None:
            self._check_epoch(replies.pop(), known, reading)
        return replies

    def _reach(self, call: Callable[[], Any]) -> Any:  # noqa: ANN401 - whatever the command answers
        try:
            return call()
        except UNREACHABLE as exc:
            error = StoreUnavailable(f"the online store cannot be reached ({type(exc).__name__})")
            self.on_fault(error)
            raise error from exc

    def _read_script(self, keys: list[str]) -> list[Any]:
        """``EVALSHA`` of the read script on a connection this thread keeps out of the pool.

        Why: every decision reads one customer; redis-py's way there (``Script``, ``execute_command``, its
        retry wrapper, a pool checkout and release) cost 35-50 us of CPU around a round trip of about 20
        (2026-12-02, 2 cores). The same guarantees by hand: a connection that fails is dropped and the
        command sent once more on a new one (the client's one retry), a server that lost its scripts
        (restarted) gets the script loaded again; ``close`` disconnects it with the pool.
        """
        conn = getattr(self._held, "conn", None)
        if conn is None:
            conn = self._held.conn = self._client.connection_pool.get_connection()
        args = ("EVALSHA", self._read.sha, len(keys), *keys)
        try:
            return _command(conn, args)
        except UNREACHABLE:
            conn.disconnect()  # the next send connects afresh
        except redis.exceptions.NoScriptError:
            self._client.script_load(_READ)
        return _command(conn, args)

    def _check_epoch(self, epoch: bytes | None, known: str, reading: bool) -> None:
        if epoch is None:
            error = StoreEmptied("the online store lost its content (restarted empty or flushed) and is being "
                                 "re-warmed from the ledger")
            self.on_fault(error)
            raise error
        if epoch.decode() != known:
            self.epoch = epoch.decode()  # another worker re-warmed it: its content is the ledger's again
            if not reading:  # this write may have raced that warm: the caller refolds these customers
                raise StoreEmptied("the online store was re-warmed while this write ran")

    # -- the epoch protocol (serving.keeper) --------------------------------------------------
    def read_epoch(self) -> str | None:
        """The epoch written by the last fill from the ledger, or None (empty or never filled)."""
        pipe = self._client.pipeline(transaction=False)
        pipe.get(self._epoch_key)
        (epoch,) = self._execute(pipe, checked=False, reading=True)
        return None if epoch is None else epoch.decode()

    def claim_warm(self, owner: str, ttl_s: float) -> bool:
        """Take the warm lock (``SET NX PX``): one process fills the store, the others wait for the epoch."""
        pipe = self._client.pipeline(transaction=False)
        pipe.set(self._warm_key, owner, nx=True, px=int(ttl_s * 1000))
        return bool(self._execute(pipe, checked=False, reading=False)[0])

    def hold_warm(self, owner: str, ttl_s: float) -> bool:
        """Extend the warm lock while filling; False if it expired and another process took it."""
        pipe = self._client.pipeline(transaction=False)
        self._hold(keys=[self._warm_key], args=[owner, int(ttl_s * 1000)], client=pipe)
        return bool(self._execute(pipe, checked=False, reading=False)[0])

    def release_warm(self, owner: str) -> None:
        pipe = self._client.pipeline(transaction=False)
        self._release(keys=[self._warm_key], args=[owner], client=pipe)
        self._execute(pipe, checked=False, reading=False)

    def publish_epoch(self) -> str:
        """Mark the content as a complete fill from the ledger with a new epoch; returns it (and knows it)."""
        epoch = uuid.uuid4().hex
        pipe = self._client.pipeline(transaction=False)
        pipe.set(self._epoch_key, epoch)
        self._execute(pipe, checked=False, reading=False)
        self.epoch = epoch
        return epoch

    def _key(self, customer_id: str, suffix: str = "") -> str:
        return f"{self._ns}:cust:{{{customer_id}}}{suffix}"

    def _keys(self, customer_id: str) -> list[str]:
        return [self._key(customer_id, s) for s in ("", ":open", ":disputes", ":invoices", ":seen")]

    def _fold_in(self, pipe: redis.client.Pipeline, e: Event) -> None:
        self._apply_script(keys=self._keys(e.customer_id), client=pipe, args=[
            e.event_id, e.type, e.invoice_id, str(e.at_us), repr(e.amount), str(e.due_us)])

    @staticmethod
    def _results(events: Sequence[Event], replies: Sequence[list[bytes]]) -> list[EventResult]:
        results: list[EventResult] = []
        for e, reply in zip(events, replies):
            status = reply[0].decode()
            if status == "refused":
                watermark = int(float(reply[2])) if len(reply) > 2 else None
                results.append(EventResult.refused(e.event_id, refusal(reply[1].decode(), e, watermark)))
            else:
                results.append(EventResult(e.event_id, status))
        return results

    def _apply_valid(self, events: Sequence[Event]) -> list[EventResult]:
        results: list[EventResult] = []
        for start in range(0, len(events), BATCH):
            chunk = events[start:start + BATCH]
            pipe = self._client.pipeline(transaction=False)
            for e in chunk:
                self._fold_in(pipe, e)
            results += self._results(chunk, self._execute(pipe, checked=True, reading=False))
        return results

    def _replace(self, customer_id: str, events: Sequence[Event]) -> list[EventResult]:
        """DEL and the whole fold in one MULTI/EXEC: other clients see the old state or the new one."""
        pipe = self._client.pipeline(transaction=True)
        self._queue_replace(pipe, customer_id, events)
        return self._results(events, self._execute(pipe, checked=True, reading=False)[1:])

    def _queue_replace(self, pipe: redis.client.Pipeline, customer_id: str, events: Sequence[Event]) -> None:
        pipe.delete(*self._keys(customer_id))
        for e in events:
            self._fold_in(pipe, e)

    def refold_many(self, histories: Iterable[tuple[str, Sequence[Event]]]) -> list[EventResult]:
        """Whole customers per MULTI/EXEC, about ``BATCH`` events each (see ``OnlineStore.refold_many``)."""
        results: list[EventResult] = []
        pending: list[tuple[str, Sequence[Event]]] = []
        size = 0
        for customer_id, events in histories:
            check_owner(customer_id, events)
            pending.append((customer_id, events))
            size += len(events) + 1
            if size >= BATCH:
                results += self._replace_all(pending)
                pending, size = [], 0
        return results + (self._replace_all(pending) if pending else [])

    def _replace_all(self, histories: list[tuple[str, Sequence[Event]]]) -> list[EventResult]:
        pipe = self._client.pipeline(transaction=True)
        for customer_id, events in histories:
            self._queue_replace(pipe, customer_id, events)
        replies = iter(self._execute(pipe, checked=False, reading=False))
        results: list[EventResult] = []
        for _, events in histories:
            next(replies)  # the DEL
            results += self._results(events, [next(replies) for _ in events])
        return results

    def aggregates_many(self, customer_ids: Sequence[str]) -> list[CustomerAggregates]:
        known = self.epoch
        keys = [key for c in customer_ids for key in (self._key(c), self._key(c, ":open"))]
        *hashes, epoch = self._reach(lambda: self._read_script([*keys, self._epoch_key]))
        if known is not None:
            self._check_epoch(epoch, known, reading=True)
        return [_aggregates(_pairs(hashes[2 * i]), _pairs(hashes[2 * i + 1])) for i in range(len(customer_ids))]

    def watermarks(self, customer_ids: Sequence[str]) -> list[int | None]:
        pipe = self._client.pipeline(transaction=False)
        for c in customer_ids:
            pipe.hget(self._key(c), "watermark")
        return [None if mark is None else int(float(mark)) for mark in self._execute(pipe, checked=True, reading=True)]

    def close(self) -> None:
        self._client.close()


def _command(conn: redis.connection.AbstractConnection, args: tuple[Any, ...]) -> Any:  # noqa: ANN401
    conn.send_command(*args)
    return conn.read_response()


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    """A hash as a script returns it (field, value, field, value, ...)."""
    return dict(zip(flat[::2], flat[1::2]))


def _aggregates(main: dict[bytes, bytes], open_: dict[bytes, bytes]) -> CustomerAggregates:
    """Decode the two hashes (numbers were written with 17 significant digits: exact)."""
    num = lambda k: float(main[k]) if k in main else 0.0  # noqa: E731
    opt = lambda k: int(float(main[k])) if k in main else None  # noqa: E731
    recent = []
    for entry in main.get(b"recent", b"").decode().split(";") if b"recent" in main else ():
        at, invoice, days = entry.split(",")
        recent.append((int(float(at)), invoice, float(days)))
    open_invoices = {}
    for invoice, rec in open_.items():
        amount, paid, due, issued, *flags = rec.decode().split("|")
        disputed, escalated = (flags[0] == "1", flags[1] == "1") if flags else (False, False)
        open_invoices[invoice.decode()] = OpenInvoice(float(amount), float(paid), int(float(due)), int(float(issued)),
                                                      disputed, escalated)
    promises = []
    for entry in main[b"promises"].decode().split(";") if b"promises" in main else ():
        deadline, target, invoice = entry.split(",", 2)
        promises.append((int(float(deadline)), float(target), invoice))
    return CustomerAggregates(
        invoices_issued=int(num(b"n_issued")), amount_sum=num(b"amount_sum"), first_issued_us=opt(b"first_issued"),
        invoices_paid=int(num(b"n_paid")), paid_late=int(num(b"n_late")), days_late_sum=num(b"dl_sum"),
        ewm_num=num(b"ewm_num"), ewm_den=num(b"ewm_den"), recent=recent, last_payment_us=opt(b"last_payment"),
        write_offs=int(num(b"write_offs")), disputes_opened=int(num(b"disputes_opened")),
        open_disputes=int(num(b"open_disputes")), open_invoices=open_invoices, promises=promises,
        broken_promises=int(num(b"broken_promises")), watermark_us=opt(b"watermark"))
