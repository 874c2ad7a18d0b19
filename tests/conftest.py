"""Shared fixtures: real Redis and PostgreSQL servers, small simulated ledgers."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from features.ledger import Ledger
from tests.support.services import postgres_database, redis_server
from training.simulation import SimulationConfig, simulate


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port (whole session)."""
    with redis_server() as url:
        yield url


@pytest.fixture()
def redis_client(redis_url: str):
    """A client on a flushed database, so every test starts empty."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL database (``DATABASE_URL`` or a throwaway cluster)."""
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def small_ledger() -> Ledger:
    """A 1,500-customer, 12-month simulated ledger (seed 11), shared read-only."""
    return simulate(SimulationConfig(customers=1_500, months=12, seed=11))


@pytest.fixture(scope="session")
def demo_ledger() -> Ledger:
    """A ledger of ``kredo demo``'s default size (5,000 customers, 24 months, seed 7), shared read-only."""
    return simulate(SimulationConfig(customers=5_000, months=24, seed=7))
