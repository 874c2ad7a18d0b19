"""The database connections' session settings."""
from __future__ import annotations

import sqlalchemy as sa

from ledger.database import TOAST_COMPRESSION, engine_for


def test_postgres_sessions_compress_long_values_with_lz4(postgres_url: str) -> None:
    """An audit record's payload (6-7 KB) is compressed on insert: with lz4, not the server's pglz, which cost
    four times the server's CPU (``ledger.database.TOAST_COMPRESSION``)."""
    engine = engine_for(postgres_url)
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SHOW default_toast_compression").scalar_one() == TOAST_COMPRESSION == "lz4"
        conn.exec_driver_sql("CREATE TEMP TABLE long_values (payload text)")
        conn.exec_driver_sql("INSERT INTO long_values SELECT string_agg(md5(g::text), ',') FROM generate_series(1, 300) g")
        assert conn.execute(sa.text("SELECT pg_column_compression(payload) FROM long_values")).scalar_one() == "lz4"
    engine.dispose()
