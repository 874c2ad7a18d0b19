"""Digests of what an ingest leaves behind, to hold a faster path to the same results as the one it replaces.

PostgreSQL: ``invoices``, ``payments``, ``allocations``, ``disputes``, ``receivable_days`` and ``ledger_events``
rows, sorted, without what the server's clock or the commit order decides (``received_us``, ``seq``);
Redis: every key with its type and content (hash fields, set members sorted), but the epoch and the warm lock
(a new token each fill).
"""
from __future__ import annotations

import hashlib

import redis
import sqlalchemy as sa

from ledger import schema as t

_VOLATILE = {"received_us", "seq"}
_TABLES = (t.invoices, t.payments, t.allocations, t.disputes, t.receivable_days)


def book_digest(engine: sa.Engine) -> str:
    """sha256 of the projections and the event log (see the module docstring)."""
    h = hashlib.sha256()
    with engine.connect() as conn:
        for table in (*_TABLES, t.ledger_events):
            columns = [c for c in table.c if not (table is t.ledger_events and c.name in _VOLATILE)]
            for row in sorted(map(repr, conn.execute(sa.select(*columns)).all())):
                h.update(row.encode())
    return h.hexdigest()


def redis_digest(client: redis.Redis) -> str:
    """sha256 of every key and its content (see the module docstring)."""
    h = hashlib.sha256()
    for key in sorted(client.scan_iter(count=10_000)):
        if key.endswith((b":epoch", b":warming")):
            continue
        kind = client.type(key)
        if kind == b"hash":
            value = sorted(client.hgetall(key).items())
        elif kind == b"set":
            value = sorted(client.smembers(key))
        elif kind == b"zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"list":
            value = client.lrange(key, 0, -1)
        else:
            value = client.get(key)
        h.update(repr((key, kind, value)).encode())
    return h.hexdigest()
