"""Engine fixtures: every bandit-state test runs against the in-process and the Redis state."""
from __future__ import annotations

import uuid

import pytest
import redis

from engine.bandits import InProcessState
from features.online.bandit_redis import RedisBanditState


@pytest.fixture(params=["inprocess", "redis"])
def bandit_state(request):
    """Fresh state of each kind; the Redis one on the real throwaway server."""
    if request.param == "inprocess":
        return InProcessState()
    client = request.getfixturevalue("redis_client")
    return RedisBanditState(client, namespace=f"test:{uuid.uuid4().hex[:8]}")


@pytest.fixture(params=["inprocess", "redis"])
def shared_states(request):
    """A factory of states that share one store (one per 'worker')."""
    if request.param == "inprocess":
        state = InProcessState()
        return lambda: state
    url = request.getfixturevalue("redis_url")
    request.getfixturevalue("redis_client")  # flushed
    clients: list = []
    request.addfinalizer(lambda: [c.close() for c in clients])

    def make():
        clients.append(redis.Redis.from_url(url))
        return RedisBanditState(clients[-1], namespace="test:shared")
    return make
