"""Online feature stores: in-process (the embedded default) and Redis (``REDIS_URL``).

Example::

    store = from_url(os.environ.get("REDIS_URL"))   # None -> in-process
    store.apply(ledger_to_events(ledger))
    store.customer_features("C-00000001", InvoiceRequest(...))
"""
from __future__ import annotations

from domain.errors import InvalidInput
from features.online.base import EventResult, OnlineStore, StoreEmptied
from features.online.memory import MemoryStore


def from_url(url: str | None, namespace: str = "kredo", timeout_s: float | None = None) -> OnlineStore:
    """``None``/``""``/``memory://`` -> :class:`MemoryStore`; ``redis://``/``rediss://``/``unix://`` -> Redis
    (``timeout_s``: the socket timeout of every command, default ``features.online.redis.TIMEOUT_S``)."""
    if not url or url.startswith("memory://"):
        return MemoryStore()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from features.online.redis import TIMEOUT_S, RedisStore

        return RedisStore.from_url(url, namespace, TIMEOUT_S if timeout_s is None else timeout_s)
    raise InvalidInput(f"unknown online store URL {url!r}; use memory:// or redis://host:port/db", field="url")


__all__ = ["EventResult", "MemoryStore", "OnlineStore", "StoreEmptied", "from_url"]
