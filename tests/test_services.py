"""The real-service fixtures start what they promise."""
from __future__ import annotations

import sqlalchemy as sa


def test_redis_fixture_is_a_real_server(redis_client) -> None:
    redis_client.set("k", "v")
    assert redis_client.get("k") == b"v"
    assert "redis_version" in redis_client.info("server")


def test_postgres_fixture_is_a_real_database(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select version()")).scalar().startswith("PostgreSQL")
    engine.dispose()
