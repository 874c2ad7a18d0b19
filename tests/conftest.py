"""Shared fixtures: real Redis and PostgreSQL servers, small simulated ledgers, a small champion model."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.tables import Ledger
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
def champion(tmp_path_factory: pytest.TempPathFactory, small_ledger) -> dict[str, str]:
    """A small model trained on ``small_ledger``, registered and promoted to champion.

    Session-scoped: every test module of the suite shares one trained store.
    """
    from serving.bootstrap import ensure_champion
    from training.pipeline import TrainConfig

    work = tmp_path_factory.mktemp("mlflow")
    tracking = f"sqlite:///{work}/mlflow.db"
    info = ensure_champion(small_ledger, tracking, TrainConfig(n_estimators=40, max_depth=4))
    return {"tracking": tracking, "uri": info["uri"], "version": info["version"], "dir": str(work)}


@pytest.fixture(scope="session")
def small_ledger_db(tmp_path_factory: pytest.TempPathFactory, small_ledger: Ledger) -> Path:
    """``small_ledger`` imported into a ledger database once (SQLite file); apps get a copy of it."""
    from ledger.book import Book
    from ledger.database import open_ledger
    from ledger.imports import import_ledger

    path = tmp_path_factory.mktemp("ledger") / "ledger.db"
    book = Book(open_ledger(f"sqlite:///{path}"))
    import_ledger(book, small_ledger)
    book.engine.dispose()
    return path


@pytest.fixture(scope="session")
def demo_ledger() -> Ledger:
    """A ledger of ``kredo demo``'s default size (5,000 customers, 24 months, seed 7), shared read-only."""
    return simulate(SimulationConfig(customers=5_000, months=24, seed=7))
