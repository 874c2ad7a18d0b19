"""The audit log: append-only, hash-chained decision records in SQL.

Why: an auditor must be able to open any past decision and see exactly why it
was taken, in a record that cannot be altered unnoticed. Every record holds the
SHA-256 of its predecessor, so changing, deleting or re-ordering one record
breaks the chain at that point; ``verify`` walks the chain and names the first
record that no longer fits.

Several gunicorn workers (or hosts) append concurrently. The chain must never
fork, so one append is one transaction that reads the tip and inserts the next
sequence number under a unique constraint: SQLite takes its write lock up front
(``BEGIN IMMEDIATE``), PostgreSQL serialises on a transaction-scoped advisory
lock, and a lost race on ``seq`` is retried. SQLite writers of several
processes queue on an ``flock`` first (see ``_WriterLock``). The same ``request_id`` twice
inserts nothing: the unique constraint on it turns the second append into a
lookup of the first (idempotency across workers).

SQLite file by default, PostgreSQL with a ``postgresql+psycopg://`` URL; the
same code path for both: SQLAlchemy creates the table, pools connections and
reads; the append (on every request path) runs two plain SQL statements on
the pooled driver connection.

Example::

    log = AuditLog.from_url("sqlite:///var/audit.db")
    rec = log.append(AuditEntry("dec-1", "ord-1", "checkout", "2026-01-01T00:00:00+00:00", {...}))
    log.verify()          # VerifyReport(ok=True, records=1, first_bad=None, ...)
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from domain.errors import Conflict, KredoError, NotFound
from ledger.database import LOCK_TIMEOUT_S, postgres_args, probe

GENESIS = "0" * 64
_ADVISORY_KEY = 0x4B5245444F  # "KREDO": the PostgreSQL advisory lock that serialises appends
_MAX_RETRIES = 50
#: ``/readyz`` reports the audit log unready this long after an append was refused (e.g. a lock held elsewhere).
REFUSED_WINDOW_S = 5.0

metadata = sa.MetaData()
records = sa.Table(
    "audit_records",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=False),
    sa.Column("decision_id", sa.String(64), nullable=False, unique=True),
    sa.Column("request_id", sa.String(128), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("request_digest", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)



class AuditError(KredoError):
    """The audit store cannot be written (a decision without its record is not given out)."""

    code = "audit_unavailable"
    title = "Audit log unavailable"
    status = 503


def canonical(value: Any) -> str:
    """The one JSON spelling that is hashed: sorted keys, no spaces, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def json_bytes(value: Any) -> bytes:
    """JSON of an answer or a record: orjson, numpy scalars written as numbers (as pydantic-core did)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def payload_json(payload: dict[str, Any]) -> str:
    """The stored text of a record's payload (orjson: the largest JSON per request, 6-7 KB, in a
    quarter of pydantic-core's time).

    Key order is the builder's; the hash covers this exact text, so verifying
    never re-serialises and the order need not be canonical.
    """
    return json_bytes(payload).decode()


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """What the caller appends; ``payload`` is the whole record (inputs, features, model, rules...)."""

    decision_id: str
    request_id: str
    kind: str
    created_at: str
    payload: dict[str, Any]
    request_digest: str = ""


@dataclass(frozen=True)
class AuditRecord:
    """A stored record: the entry plus its place and hashes in the chain."""

    seq: int
    decision_id: str
    request_id: str
    kind: str
    created_at: str
    request_digest: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "decision_id": self.decision_id, "request_id": self.request_id,
                "kind": self.kind, "created_at": self.created_at, "request_digest": self.request_digest,
                "prev_hash": self.prev_hash, "hash": self.hash, **self.payload}


def record_hash(seq: int, decision_id: str, request_id: str, kind: str, created_at: str,
                request_digest: str, payload_text: str, prev_hash: str) -> str:
    """The chain link: every stored column except the hash itself, in a fixed order."""
    head = canonical([seq, decision_id, request_id, kind, created_at, request_digest, prev_hash])
    return digest(head + "\n" + payload_text)


@dataclass(frozen=True)
class VerifyReport:
    """``ok`` or the first record (by ``seq``) that breaks the chain and why."""

    ok: bool
    records: int
    first_bad: int | None = None
    decision_id: str | None = None
    reason: str | None = None
    tip_hash: str = GENESIS

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "records": self.records, "first_bad_seq": self.first_bad,
                "decision_id": self.decision_id, "reason": self.reason, "tip_hash": self.tip_hash}


class AuditLog:
    """Append-only, hash-chained store of decision records (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        columns = [c.name for c in records.columns]
        self._sql_tip = "SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1"
        self._sql_insert = (f"INSERT INTO audit_records ({', '.join(columns)}) "
                            f"VALUES ({', '.join([mark] * len(columns))})")
        self._sql_lock = f"SELECT pg_advisory_xact_lock({mark})"
        database = engine.url.database if self.dialect == "sqlite" else None
        self._writers = _WriterLock(database if database and database != ":memory:" else None)
        self.refused_at: float | None = None  # monotonic time of the last refused append (readiness reads it)
        self._create_schema()

    def _create_schema(self, attempts: int = 5) -> None:
        """Create the table once, although every gunicorn worker starts at the same moment.

        ``create_all`` checks, then creates: two workers on a fresh database can both see no
        table, and the second CREATE fails ("already exists" on SQLite, a unique violation in
        PostgreSQL's catalogue). The loser checks again and finds the table.
        """
        for attempt in range(attempts):
            try:
                metadata.create_all(self.engine)
                return
            except sa.exc.DBAPIError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    @classmethod
    def from_url(cls, url: str, lock_timeout_s: float = LOCK_TIMEOUT_S) -> AuditLog:
        """Open (and create) the store; SQLite gets WAL and a bounded busy timeout, PostgreSQL a bounded
        ``lock_timeout`` (``lock_timeout_s``: a lock held elsewhere makes an append an ``AuditError``, a 503,
        after that long, not a hang)."""
        if url.startswith("sqlite"):
            path = sa.engine.make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, connect_args={"timeout": lock_timeout_s})
            sa.event.listen(engine, "connect",
                            functools.partial(_sqlite_connect, busy_ms=int(lock_timeout_s * 1000)))
        else:
            engine = sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2,
                                      connect_args=postgres_args(lock_timeout_s))
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()
        self._writers.close()

    # -- writing -----------------------------------------------------------------------------
    def append(self, entry: AuditEntry) -> tuple[AuditRecord, bool]:
        """Append ``entry`` at the tip; returns ``(record, created)``.

        ``created`` is False when a record with the same ``request_id`` already
        exists: that record is returned and nothing is written (idempotency).
        The same ``request_id`` with a different request body is a ``Conflict``.
        """
        payload_text = payload_json(entry.payload)
        dbapi = self.engine.dialect.dbapi
        for _ in range(_MAX_RETRIES):
            try:
                with self._write_transaction() as cur:
                    cur.execute(self._sql_tip)
                    tip = cur.fetchone()
                    seq, prev = (tip[0] + 1, tip[1]) if tip else (1, GENESIS)
                    h = record_hash(seq, entry.decision_id, entry.request_id, entry.kind, entry.created_at,
                                    entry.request_digest, payload_text, prev)
                    cur.execute(self._sql_insert, (seq, entry.decision_id, entry.request_id, entry.kind,
                                                   entry.created_at, entry.request_digest, payload_text, prev, h))
                return AuditRecord(seq, entry.decision_id, entry.request_id, entry.kind, entry.created_at,
                                   entry.request_digest, entry.payload, prev, h), True
            except dbapi.IntegrityError:
                existing = self.by_request_id(entry.request_id)
                if existing is not None:
                    return self._replayed(existing, entry), False
                # lost the race for this seq to another writer: read the new tip and try again
            except dbapi.OperationalError as exc:
                self.refused_at = time.monotonic()
                raise AuditError(f"audit store not writable: {exc}") from exc
        self.refused_at = time.monotonic()
        raise AuditError(f"could not append after {_MAX_RETRIES} attempts (write contention)")

    @staticmethod
    def _replayed(existing: AuditRecord, entry: AuditEntry) -> AuditRecord:
        if entry.request_digest and existing.request_digest != entry.request_digest:
            raise Conflict("request_id was already used for a different request", field="request_id",
                           extra={"decision_id": existing.decision_id})
        return existing

    @contextmanager
    def _write_transaction(self) -> Iterator[Any]:
        """One serialised write transaction on a pooled driver connection (a DBAPI cursor).

        The append is the one statement pair on every request path, so it skips
        SQLAlchemy's per-statement machinery: plain SQL, driver cursor, explicit
        transaction. SQLite: ``BEGIN IMMEDIATE`` (the write lock before the tip
        is read); PostgreSQL: a transaction-scoped advisory lock.
        """
        with self._writers.held():
            raw = self.engine.raw_connection()
            try:
                cur = raw.cursor()
                if self.dialect == "sqlite":
                    cur.execute("BEGIN IMMEDIATE")
                elif self.dialect == "postgresql":
                    cur.execute(self._sql_lock, (_ADVISORY_KEY,))
                try:
                    yield cur
                except BaseException:
                    raw.rollback() if self.dialect != "sqlite" else cur.execute("ROLLBACK")
                    raise
                raw.commit() if self.dialect != "sqlite" else cur.execute("COMMIT")
            finally:
                raw.close()

    # -- reading -----------------------------------------------------------------------------
    def by_request_id(self, request_id: str) -> AuditRecord | None:
        return self._one(records.c.request_id == request_id)

    def get(self, decision_id: str) -> AuditRecord:
        found = self._one(records.c.decision_id == decision_id)
        if found is None:
            raise NotFound(f"no decision {decision_id!r}", field="decision_id")
        return found

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one())

    def probe(self, window_s: float = REFUSED_WINDOW_S) -> None:
        """Raise unless the store answers a read within ``PROBE_TIMEOUT_S`` and took every append of the last
        ``window_s`` seconds (a write lock held elsewhere leaves reads free but refuses appends)."""
        if self.refused_at is not None and time.monotonic() - self.refused_at < window_s:
            raise AuditError(f"an append was refused in the last {window_s:g} s")
        probe(self.engine, records.name)

    def _one(self, where: sa.ColumnElement[bool]) -> AuditRecord | None:
        try:
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(records).where(where)).first()
        except OperationalError as exc:
            raise AuditError(f"audit store not readable: {exc.orig}") from exc
        return None if row is None else _to_record(row)

    def iter_rows(self, batch: int = 1000) -> Iterator[sa.Row]:
        """All rows in ``seq`` order, in pages (the chain can be long)."""
        last = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.select(records).where(records.c.seq > last)
                                    .order_by(records.c.seq).limit(batch)).all()
            if not rows:
                return
            yield from rows
            last = rows[-1].seq

    def verify(self) -> VerifyReport:
        """Walk the chain; report the first record whose hash, link or sequence does not fit."""
        prev, expected_seq, n = GENESIS, 1, 0
        for row in self.iter_rows():
            n += 1
            problem = None
            if row.seq != expected_seq:
                problem = f"sequence jumps from {expected_seq - 1} to {row.seq} (record deleted)"
            elif row.prev_hash != prev:
                problem = "prev_hash does not match the previous record's hash (chain broken)"
            elif record_hash(row.seq, row.decision_id, row.request_id, row.kind, row.created_at,
                             row.request_digest, row.payload, row.prev_hash) != row.hash:
                problem = "content does not match its hash (record altered)"
            if problem:
                return VerifyReport(False, n, row.seq, row.decision_id, problem, prev)
            prev, expected_seq = row.hash, row.seq + 1
        return VerifyReport(True, n, tip_hash=prev)


class _WriterLock:
    """Queue SQLite writers on a kernel lock instead of SQLite's busy handler.

    SQLite's busy handler *sleeps* (1, 2, 5, 10 ms...) while another process
    holds the write lock, which under two gunicorn workers turned a 0.2 ms
    append into tens of milliseconds of tail latency. ``flock`` on a side file
    wakes the next writer the moment the lock is released; a thread lock first
    serialises the threads of one process (``flock`` is per open file).
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


WAL_CHECKPOINT_PAGES = 10_000


def _sqlite_connect(dbapi_conn, _record, busy_ms: int) -> None:  # noqa: ANN001
    """WAL lets readers run beside the writer; NORMAL sync survives process crashes.

    The driver's own transaction handling is switched off: appends run
    ``BEGIN IMMEDIATE``/``COMMIT`` themselves, reads run in autocommit.
    The WAL is checkpointed every ``WAL_CHECKPOINT_PAGES`` pages instead of
    SQLite's 1,000: an append touches ~5 pages, so the default copied the log
    back inside one request every ~190 decisions (5-7 ms, which the other
    workers wait for behind the write lock). Appends rewrite the same index
    pages, so a longer log costs little more to copy and is copied ten times
    less often (a WAL of at most ~40 MB).
    """
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={busy_ms}")
    cur.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    cur.close()


def _to_record(row: sa.Row) -> AuditRecord:
    return AuditRecord(row.seq, row.decision_id, row.request_id, row.kind, row.created_at,
                       row.request_digest, json.loads(row.payload), row.prev_hash, row.hash)
