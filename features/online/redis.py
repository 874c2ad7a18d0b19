"""The Redis online store: one set of aggregates shared by all service workers.

Why: gunicorn runs N workers on N hosts; they must fold every event exactly
once and read the same state. Each event is applied by one Lua script
(``apply.lua``, the same steps as :func:`features.aggregates.fold`), so the
duplicate check, the ordering check and every update happen atomically on
the server. Batches of events go out pipelined; a read is one round trip
(``MULTI``/``EXEC`` of two ``HGETALL``: a consistent snapshot).

Keys (``{id}`` is a Redis Cluster hash tag: one customer's keys share a slot):

* ``{ns}:cust:{id}``           hash: counts, sums, recent days late, pending and broken promises, watermark
* ``{ns}:cust:{id}:open``      hash: invoice id -> "amount|paid|due_us|issued_us|disputed|escalated"
* ``{ns}:cust:{id}:disputes``  set of invoices with an open dispute
* ``{ns}:cust:{id}:invoices``  set of invoice ids ever issued (validates payments)
* ``{ns}:cust:{id}:seen``      set of applied event ids (idempotency)

Example::

    store = RedisStore.from_url("redis://127.0.0.1:6379/0")
    store.apply(events); store.customer_features("C-00000001", request)
"""
from __future__ import annotations

from collections.abc import Sequence

import redis

from domain.resources import REDIS_FOLD_SCRIPT, read_text

from features.aggregates import EWM_HALFLIFE_US, EWM_ORIGIN_US, CustomerAggregates, OpenInvoice, refusal
from features.definitions import PAID_TOLERANCE, RECENT_K
from ledger.events import US_PER_DAY, Event
from features.online.base import EventResult, OnlineStore

_SCRIPT = read_text(REDIS_FOLD_SCRIPT)
_CONSTANTS = [str(RECENT_K), repr(PAID_TOLERANCE), str(EWM_ORIGIN_US), str(EWM_HALFLIFE_US), str(US_PER_DAY)]
BATCH = 2_000


class RedisStore(OnlineStore):
    """Online store in Redis; ``namespace`` prefixes every key (default ``kredo``)."""

    def __init__(self, client: redis.Redis, namespace: str = "kredo") -> None:
        self._client = client
        self._ns = namespace
        self._apply_script = client.register_script(_SCRIPT)

    @classmethod
    def from_url(cls, url: str, namespace: str = "kredo") -> "RedisStore":
        return cls(redis.Redis.from_url(url), namespace)

    def _key(self, customer_id: str, suffix: str = "") -> str:
        return f"{self._ns}:cust:{{{customer_id}}}{suffix}"

    def _keys(self, customer_id: str) -> list[str]:
        return [self._key(customer_id, s) for s in ("", ":open", ":disputes", ":invoices", ":seen")]

    def _fold_in(self, pipe: redis.client.Pipeline, e: Event) -> None:
        self._apply_script(keys=self._keys(e.customer_id), client=pipe, args=[
            e.event_id, e.type, e.invoice_id, str(e.at_us), repr(e.amount), str(e.due_us), *_CONSTANTS])

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
            results += self._results(chunk, pipe.execute())
        return results

    def _replace(self, customer_id: str, events: Sequence[Event]) -> list[EventResult]:
        """DEL and the whole fold in one MULTI/EXEC: other clients see the old state or the new one."""
        pipe = self._client.pipeline(transaction=True)
        pipe.delete(*self._keys(customer_id))
        for e in events:
            self._fold_in(pipe, e)
        return self._results(events, pipe.execute()[1:])

    def aggregates_many(self, customer_ids: Sequence[str]) -> list[CustomerAggregates]:
        pipe = self._client.pipeline(transaction=True)
        for c in customer_ids:
            pipe.hgetall(self._key(c))
            pipe.hgetall(self._key(c, ":open"))
        replies = pipe.execute()
        return [_aggregates(replies[2 * i], replies[2 * i + 1]) for i in range(len(customer_ids))]

    def close(self) -> None:
        self._client.close()


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
