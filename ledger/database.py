"""Opening the ledger's database and bringing its schema to the current revision.

Why: the ledger runs on a SQLite file by default and on PostgreSQL in
production, with one code path. The schema is Alembic's alone: ``open_ledger``
upgrades the database to head (an empty one, or one at an earlier revision)
before anything reads or writes, under a lock, so several gunicorn workers
starting at once migrate it exactly once: a ``flock`` beside a SQLite file, a
session advisory lock on PostgreSQL.

Example::

    engine = open_ledger("sqlite:///var/ledger.db")   # created and migrated
    current_revision(engine)                          # '0005'
"""
from __future__ import annotations

import fcntl
import functools
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine

from domain.resources import Resource, locate

log = logging.getLogger(__name__)

MIGRATIONS = Resource("ledger", "migrations")
VERSION_TABLE = "kredo_ledger_version"
HEAD = "head"
_ADVISORY_KEY = 0x4C4544474552  # "LEDGER": serialises migrations across PostgreSQL clients
#: How long a statement waits for a lock before it gives up (the request then answers 503 with
#: Retry-After): SQLite's busy timeout, PostgreSQL's ``lock_timeout``. Far above a healthy wait (a batch
#: of events holds the lock for well under 0.5 s), far below the request timeout (30 s), so a lock held
#: elsewhere costs a bounded wait, not a hang.
LOCK_TIMEOUT_S = 2.0
#: PostgreSQL: seconds to wait for a connection (an unreachable host would otherwise wait for TCP's timeout).
CONNECT_TIMEOUT_S = 2
#: How long a readiness probe may wait for a lock: ``/readyz`` answers in well under a second whatever holds it.
PROBE_TIMEOUT_S = 0.25


def engine_for(url: str, lock_timeout_s: float = LOCK_TIMEOUT_S) -> Engine:
    """An engine on ``url``; SQLite gets its folder, WAL and a bounded busy timeout, PostgreSQL a connect
    timeout and a ``lock_timeout`` (both ``lock_timeout_s``).

    ``hide_parameters``: a failed statement's error names the SQL but never its values, so
    a logged database error carries no customer's name, account manager or reasons.
    """
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": lock_timeout_s}, hide_parameters=True)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4, hide_parameters=True,
                            connect_args=postgres_args(lock_timeout_s))


#: PostgreSQL (14+): how this session's writes compress a long value (an audit record's payload, 6-7 KB). The
#: server's default, pglz, cost 204-229 us of server CPU per 6 KB payload inserted, lz4 46-51 (2026-12-01,
#: 10,000 rows, PostgreSQL 15): in a dunning run on two cores the server's CPU is the run's. Values written
#: before keep their own method and read as before.
TOAST_COMPRESSION = "lz4"


def postgres_args(lock_timeout_s: float) -> dict[str, object]:
    """psycopg's connect arguments: a bounded connect, a session ``lock_timeout`` (see ``LOCK_TIMEOUT_S``) and
    the session's compression of long values (``TOAST_COMPRESSION``)."""
    return {"connect_timeout": CONNECT_TIMEOUT_S,
            "options": f"-c lock_timeout={int(lock_timeout_s * 1000)} -c default_toast_compression={TOAST_COMPRESSION}"}


def probe(engine: Engine, table: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Read one row of ``table``, waiting at most ``timeout_s`` for a lock (raises ``OperationalError``).

    Why not a plain query: a readiness check that waits for a lock as long as a
    request does (or longer: ``count(*)`` scans the table) hangs ``/readyz`` with it.
    SQLite: the connection's busy timeout is lowered for the probe; PostgreSQL:
    ``lock_timeout`` and ``statement_timeout`` for its transaction.
    """
    ms = max(1, int(timeout_s * 1000))
    select = f"SELECT 1 FROM {table} LIMIT 1"
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            (restore,) = cur.execute("PRAGMA busy_timeout").fetchone()
            cur.execute(f"PRAGMA busy_timeout={ms}")
            try:
                cur.execute(select).fetchall()
            finally:
                cur.execute(f"PRAGMA busy_timeout={int(restore)}")
        finally:
            raw.close()
        return
    with engine.begin() as conn:
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")
        conn.exec_driver_sql(select).fetchall()


@functools.cache
def insert_sql(engine: Engine, table: sa.Table) -> str:
    """``INSERT INTO table (every column) VALUES (...)`` in the driver's own placeholders, for ``execute_raw``
    (made once per engine and table: it is on every decision's path)."""
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    return f"INSERT INTO {table.name} ({', '.join(c.name for c in table.columns)}) " \
           f"VALUES ({', '.join([mark] * len(table.columns))})"


class WriterLock:
    """Queue SQLite writers on a kernel lock instead of SQLite's busy handler.

    SQLite's busy handler *sleeps* (1, 2, 5, 10 ms...) while another process
    holds the write lock, which under two gunicorn workers turned a 0.2 ms
    append into tens of milliseconds of tail latency. ``flock`` on a side file
    wakes the next writer the moment the lock is released; a thread lock first
    serialises the threads of one process (``flock`` is per open file). The audit log's appends queue
    on the lock beside its file; the ledger's one-statement writes on a request's path (``execute_raw``:
    the decision index) on the ledger's (``writers_of``).
    """

    def __init__(self, db_path: str | None) -> None:
        self._thread_lock = threading.Lock()
        self._fd = os.open(f"{db_path}.lock", os.O_RDWR | os.O_CREAT, 0o644) if db_path else None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._fd is None:
                yield
                return
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def sqlite_path(engine: Engine) -> str | None:
    """The file of a SQLite engine (None: another database, or SQLite in memory)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    return path if path and path != ":memory:" else None


_WRITERS: dict[str, WriterLock] = {}
_WRITERS_GUARD = threading.Lock()


def writers_of(engine: Engine) -> WriterLock:
    """This process's one ``WriterLock`` of ``engine``'s SQLite file; for any other database a lock of its
    own each time, which no other writer waits for (PostgreSQL queues its writers without sleeping)."""
    path = sqlite_path(engine)
    if path is None:
        return WriterLock(None)
    with _WRITERS_GUARD:
        if path not in _WRITERS:
            _WRITERS[path] = WriterLock(path)
        return _WRITERS[path]


def checkpoint_wal(engine: Engine) -> None:
    """Copy a SQLite database's write-ahead log back into it, waiting for no reader or writer (``PASSIVE``);
    nothing on another database.

    Why: SQLite checkpoints inside the commit that fills the log past ``wal_autocheckpoint`` pages. On a
    request's path that commit then copies thousands of pages while its worker, and every worker waiting
    for the write lock, stalls: every ~2 s, 100-190 ms on the checkout tail at 800/s. A server calls this
    from a thread of its own (the driver lets go of the GIL while SQLite copies) often enough that a commit
    which still fills the log finds nearly all of it copied already, and the log starts over whenever a
    checkpoint finishes between two commits.
    """
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        raw.close()


#: How often a process that writes much (a server's worker, a dunning run's) checkpoints in the background.
CHECKPOINT_INTERVAL_S = 0.1


def checkpoint_in_background(engines: Sequence[Engine], interval_s: float, stop: threading.Event) -> bool:
    """A daemon thread that runs ``checkpoint_wal`` on the SQLite ones of ``engines`` every ``interval_s``
    seconds until ``stop`` is set; False (no thread) when there are none or ``interval_s`` is 0. A failure
    is logged at most once a minute (a loop of 0.1 s must not fill the log) and the next round tries again."""
    sqlite = [e for e in engines if e.dialect.name == "sqlite"]
    if interval_s <= 0 or not sqlite:
        return False

    def loop() -> None:
        logged = float("-inf")
        while not stop.wait(interval_s):
            for engine in sqlite:
                try:
                    checkpoint_wal(engine)
                except Exception:  # noqa: BLE001 - the next round tries again
                    if time.monotonic() - logged >= 60:
                        log.exception("checkpoint of %s failed", engine.url.database)
                        logged = time.monotonic()

    threading.Thread(target=loop, name="kredo-checkpoint", daemon=True).start()
    return True


def execute_raw(engine: Engine, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """One statement for each of ``rows`` in one transaction on a pooled driver connection.

    Why: on a request's path SQLAlchemy's per-statement machinery (connection events,
    compiled cache lookup, result set) costs several times the database's own work for
    a few-row insert. A driver error is raised as SQLAlchemy's, so callers handle one kind. On SQLite
    the writers of all processes queue on ``writers_of`` first: under two gunicorn workers SQLite's busy
    handler slept 1, 2, 5 ... ms whenever the other worker's index write held the lock.
    """
    with writers_of(engine).held():
        raw = engine.raw_connection()
        try:
            try:
                raw.cursor().executemany(sql, rows)
                raw.commit()
            except engine.dialect.dbapi.Error as exc:
                raw.rollback()
                raise sa.exc.DBAPIError.instance(sql, None, _first_line(exc), engine.dialect.dbapi.Error,
                                                 hide_parameters=True, dialect=engine.dialect) from None
        finally:
            raw.close()


def _first_line(exc: Exception) -> Exception:
    """The driver's error with its first line only: PostgreSQL's DETAIL line quotes the failing row ("Failing row
    contains (dec_..., C-1, ...)"), which ``hide_parameters`` does not hide and a logged error must not carry."""
    text = str(exc).split("\n", 1)[0]
    try:
        return type(exc)(text)
    except TypeError:  # a driver error that is not made from a message: its class name alone
        return Exception(type(exc).__name__)


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
        connection.execute(sa.text("SET lock_timeout = 0"))  # a worker waits for another's migration, however long
        connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_KEY})
        connection.commit()
        try:
            yield connection
        finally:
            connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_KEY})
            connection.execute(sa.text("RESET lock_timeout"))
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
    insert_or_skip(conn, table, new)
    return {r[key.name] for r in new}


def insert_or_skip(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert the rows, skipping any whose key is there already (``ON CONFLICT DO NOTHING``): for a writer
    that need not know which were new (the dunning run's decision index), no look-up first."""
    if rows:
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        conn.execute(dialect.insert(table).on_conflict_do_nothing(), rows)


def open_ledger(url: str, lock_timeout_s: float = LOCK_TIMEOUT_S) -> Engine:
    """An engine on a ledger database migrated to the current schema."""
    engine = engine_for(url, lock_timeout_s)
    upgrade(engine)
    return engine


def among(conn: sa.Connection, column: sa.Column, values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """``column IN values``; on PostgreSQL one array parameter (``= ANY``), so the statement's text, and
    the driver's parse of it, is the same whatever the number of values."""
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)
