"""Opening the ledger's database and bringing its schema to the current revision.

Why: the ledger runs on a SQLite file by default and on PostgreSQL in
production, with one code path. The schema is Alembic's alone: ``open_ledger``
upgrades the database to head (an empty one, or one at an earlier revision)
before anything reads or writes, under a lock, so several gunicorn workers
starting at once migrate it exactly once: a ``flock`` beside a SQLite file, a
session advisory lock on PostgreSQL.

Example::

    engine = open_ledger("sqlite:///var/ledger.db")   # created and migrated
    current_revision(engine)                          # '0002'
"""
from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from domain.resources import Resource, locate

MIGRATIONS = Resource("ledger", "migrations")
VERSION_TABLE = "kredo_ledger_version"
HEAD = "head"
_ADVISORY_KEY = 0x4C4544474552  # "LEDGER": serialises migrations across PostgreSQL clients
SQLITE_BUSY_TIMEOUT_S = 5.0


def engine_for(url: str) -> Engine:
    """An engine on ``url``; SQLite gets its folder, WAL and a bounded busy timeout.

    ``hide_parameters``: a failed statement's error names the SQL but never its values, so
    a logged database error carries no customer's name, account manager or reasons.
    """
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, hide_parameters=True)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4, hide_parameters=True)


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


def open_ledger(url: str) -> Engine:
    """An engine on a ledger database migrated to the current schema."""
    engine = engine_for(url)
    upgrade(engine)
    return engine
