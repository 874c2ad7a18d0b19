"""Opening the ledger's database and bringing its schema to the current revision.

Why: the ledger runs on a SQLite file by default and on PostgreSQL in
production, with one code path. The schema is Alembic's alone: ``open_ledger``
upgrades the database to head (an empty one, or one at an earlier revision)
before anything reads or writes, under a lock, so several gunicorn workers
starting at once migrate it exactly once: a ``flock`` beside a SQLite file, a
session advisory lock on PostgreSQL.

Example::

    engine = open_ledger("sqlite:///var/ledger.db")   # created and migrated
    current_revision(engine)                          # '0004'
"""
from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from domain.resources import Resource, locate

MIGRATIONS = Resource("ledger", "migrations")
VERSION_TABLE = "kredo_ledger_version"
HEAD = "head"
_ADVISORY_KEY = 0x4C4544474552  # "LEDGER": serialises migrations across PostgreSQL clients
SQLITE_BUSY_TIMEOUT_S = 5.0


def engine_for(url: str) -> Engine:
    """An engine on ``url``; SQLite gets its folder, WAL and a bounded busy timeout."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(locate(MIGRATIONS)))
    config.attributes["connection"] = connection
    return config


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[sa.Connection]:
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        fd = os.open(f"{path}.migrate.lock", os.O_RDWR | os.O_CREAT, 0o644) if path and path != ":memory:" else None
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            with engine.connect() as connection:
                yield connection
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        return
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_KEY})
        connection.commit()
        try:
            yield connection
        finally:
            connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_KEY})
            connection.commit()


def upgrade(engine: Engine, revision: str = HEAD) -> None:
    """Migrate the database to ``revision`` (default: the newest), once, whoever else is starting."""
    with _migration_lock(engine) as connection:
        command.upgrade(alembic_config(connection), revision)
        connection.commit()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def insert_new(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert the rows whose primary key (one column) is not there yet; returns the new keys.

    Why: the dunning run and the event reactions write rows with deterministic ids, so running
    them again (or resuming a run) adds nothing; ``ON CONFLICT DO NOTHING`` also covers a row
    another writer added between the look-up and the insert.
    """
    if not rows:
        return set()
    (key,) = table.primary_key.columns
    wanted = [r[key.name] for r in rows]
    known: set[str] = set()
    for part in range(0, len(wanted), 500):
        known |= set(conn.execute(sa.select(key).where(key.in_(wanted[part:part + 500]))).scalars())
    new = [r for r in rows if r[key.name] not in known]
    if new:
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        conn.execute(dialect.insert(table).on_conflict_do_nothing(), new)
    return {r[key.name] for r in new}


def open_ledger(url: str) -> Engine:
    """An engine on a ledger database migrated to the current schema."""
    engine = engine_for(url)
    upgrade(engine)
    return engine
