"""Online-store fixtures: every store test runs against each backend (in-process and Redis)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from features.online import MemoryStore, OnlineStore
from features.online.redis import RedisStore


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[OnlineStore]:
    """An empty online store: in-process, or Redis on a flushed database."""
    if request.param == "memory":
        yield MemoryStore()
    else:
        yield RedisStore(request.getfixturevalue("redis_client"))


@pytest.fixture()
def make_store(request: pytest.FixtureRequest, store: OnlineStore):
    """Another store of the same kind as ``store`` (a fresh memory store, or a second Redis namespace)."""
    def make(namespace: str) -> OnlineStore:
        if isinstance(store, MemoryStore):
            return MemoryStore()
        return RedisStore(request.getfixturevalue("redis_client"), namespace=namespace)
    return make
