"""Redis implementation of ``engine.bandits.state.BanditState``: one bandit shared by all workers.

Why: gunicorn runs N workers on N hosts; they must learn into one set of
statistics and never pay a reminder twice. Every write is one Lua script, so
it is atomic on the server: the at-most-once marker (``SET NX EX``) and the
``HINCRBYFLOAT`` of every field happen together or not at all; a pending
reminder is swapped, taken or expired in one step.

Keys (``namespace`` defaults to ``kredo:bandit``):

* ``{ns}:h:{key}``       hash of float fields (per-arm sums and counts, linear-model statistics)
* ``{ns}:seen:{id}``     marker of an applied event / reminder id (expires after ``seen_ttl_s``)
* ``{ns}:pending``       hash invoice id -> JSON of the pending reminder
* ``{ns}:deadline``      sorted set invoice id -> reward deadline (epoch seconds)

A server that cannot be reached is :class:`~domain.errors.StoreUnavailable` (the
events endpoint books the event and skips the bandit's bookkeeping; a decision
answers 503), never a client library's exception.

Example::

    state = RedisBanditState(redis.Redis.from_url("redis://127.0.0.1:6379/0"))
    policy = ThompsonSampling(state=state)
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import redis

from domain.errors import StoreUnavailable
from domain.vocabulary import BANDIT_SEEN_TTL_S

T = TypeVar("T")


def _reachable(method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return method(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"the bandit state cannot be reached ({type(exc).__name__})") from exc
    return call

_INCREMENT = """
if ARGV[1] ~= '' then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then return 0 end
end
for i = 3, #ARGV, 2 do
  redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
"""

_PUT_PENDING = """
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[4]) then return {0, false} end
local previous = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return {1, previous}
"""

_TAKE_PENDING = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return false end
if cjson.decode(current)['reminder_id'] ~= ARGV[2] then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return current
"""

_TAKE_EXPIRED = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  local record = redis.call('HGET', KEYS[1], id)
  if record then table.insert(out, record) end
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return out
"""


class RedisBanditState:
    """:class:`~engine.bandits.state.BanditState` on Redis; pass a ``redis.Redis`` client."""

    def __init__(self, client: Any, namespace: str = "kredo:bandit", seen_ttl_s: int = BANDIT_SEEN_TTL_S) -> None:
        self._r = client
        self._ns = namespace
        self._ttl = int(seen_ttl_s)
        self._increment = client.register_script(_INCREMENT)
        self._put = client.register_script(_PUT_PENDING)
        self._take = client.register_script(_TAKE_PENDING)
        self._expired = client.register_script(_TAKE_EXPIRED)
        self._pending_keys = [f"{namespace}:pending", f"{namespace}:deadline"]

    @_reachable
    def read(self, key: str) -> dict[str, float]:
        raw = self._r.hgetall(f"{self._ns}:h:{key}")
        return {k.decode() if isinstance(k, bytes) else k: float(v) for k, v in raw.items()}

    @_reachable
    def increment(self, key: str, deltas: Mapping[str, float], once: str | None = None) -> bool:
        args: list[Any] = [once or "", self._ttl]
        for field, delta in deltas.items():
            args += [field, repr(float(delta))]
        keys = [f"{self._ns}:h:{key}", f"{self._ns}:seen:{once or ''}"]
        return bool(self._increment(keys=keys, args=args))

    @_reachable
    def put_pending(self, invoice_id: str, record: Mapping[str, Any], deadline: float) -> tuple[bool, dict | None]:
        marker = f"{self._ns}:seen:reminder:{record['reminder_id']}"
        stored, previous = self._put(keys=[*self._pending_keys, marker],
                                     args=[invoice_id, json.dumps(dict(record)), repr(float(deadline)), self._ttl])
        return bool(stored), (json.loads(previous) if previous else None)

    @_reachable
    def get_pending(self, invoice_id: str) -> dict | None:
        raw = self._r.hget(self._pending_keys[0], invoice_id)
        return json.loads(raw) if raw else None

    @_reachable
    def awaiting(self, invoice_ids: Sequence[str]) -> set[str]:
        ids = list(dict.fromkeys(invoice_ids))
        if not ids:
            return set()
        return {i for i, found in zip(ids, self._r.hmget(self._pending_keys[0], ids)) if found}

    @_reachable
    def take_pending(self, invoice_id: str, reminder_id: str) -> dict | None:
        raw = self._take(keys=self._pending_keys, args=[invoice_id, reminder_id])
        return json.loads(raw) if raw else None

    @_reachable
    def take_expired(self, now: float, limit: int = 1000) -> list[dict]:
        return [json.loads(r) for r in self._expired(keys=self._pending_keys, args=[repr(float(now)), int(limit)])]
