"""The audit log: append-only, hash-chained decision records in SQL.

Why: an auditor must be able to open any past decision and see exactly why it
was taken, in a record that cannot be altered unnoticed. Every record holds the
SHA-256 of its predecessor, so changing, deleting or re-ordering one record
breaks the chain at that point; ``verify`` walks the chain and names the first
record that no longer fits.

Retention without breaking the chain: a record's hash covers its columns and
the SHA-256 of its payload text (``payload_digest``), not the text itself, and
``verify`` checks the text against that digest. ``redact(before)`` (``kredo audit
redact``, ``AUDIT_RETENTION_DAYS``) replaces the payload of every record received
before a date (the request with its customer profile and account manager, the
features, scores, rules, SHAP, the answer) by ``{"redacted_at": ...}``; the
columns, digest and hashes stay, so the chain still verifies and whoever holds a
copy of a payload can prove it is the one that was decided on. Records written
before payload digests existed (``payload_digest`` NULL) hash the text itself:
they verify as before and are never redacted.

Several gunicorn workers (or hosts) append concurrently. The chain must never
fork, so one append is one transaction that reads the tip and inserts the next
sequence number under a unique constraint: SQLite takes its write lock up front
(``BEGIN IMMEDIATE``), PostgreSQL serialises on a transaction-scoped advisory
lock, and a lost race on ``seq`` is retried. SQLite writers of several
processes queue on an ``flock`` first (see ``ledger.database.WriterLock``). The same ``request_id`` twice
inserts nothing: the unique constraint on it turns the second append into a
lookup of the first (idempotency across workers). ``append_many`` chains a
batch (a dunning run's partition) in one such transaction.

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

import functools
import hashlib
import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from domain.errors import Conflict, KredoError, NotFound
from ledger.database import LOCK_TIMEOUT_S, WriterLock, insert_sql, postgres_args, probe, sqlite_path

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
    sa.Column("payload_digest", sa.String(64), nullable=True),  # NULL: a record from before digests (hash over text)
)
#: the one key of a redacted payload
REDACTED = "redacted_at"
_REDACTED_PREFIX = '{"redacted_at":'



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
class Prepared:
    """An entry whose payload is already the stored text (a batch serialises where it decides: in a
    dunning run's worker)."""

    decision_id: str
    request_id: str
    kind: str
    created_at: str
    request_digest: str
    payload_text: str

    @classmethod
    def of(cls, entry: AuditEntry) -> Prepared:
        return cls(entry.decision_id, entry.request_id, entry.kind, entry.created_at, entry.request_digest,
                   payload_json(entry.payload))


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
    payload_digest: str | None = None

    @property
    def redacted(self) -> bool:
        return set(self.payload) == {REDACTED}

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "decision_id": self.decision_id, "request_id": self.request_id,
                "kind": self.kind, "created_at": self.created_at, "request_digest": self.request_digest,
                "prev_hash": self.prev_hash, "hash": self.hash, "payload_digest": self.payload_digest,
                **self.payload}


def record_hash(seq: int, decision_id: str, request_id: str, kind: str, created_at: str,
                request_digest: str, payload_digest: str, prev_hash: str) -> str:
    """The chain link: every stored column except the hash and the payload text (its digest stands for it)."""
    return digest(canonical([seq, decision_id, request_id, kind, created_at, request_digest, prev_hash,
                             payload_digest]))


def text_record_hash(seq: int, decision_id: str, request_id: str, kind: str, created_at: str,
                     request_digest: str, payload_text: str, prev_hash: str) -> str:
    """The link of a record written before payload digests: the payload text itself is hashed."""
    head = canonical([seq, decision_id, request_id, kind, created_at, request_digest, prev_hash])
    return digest(head + "\n" + payload_text)


def is_redacted(payload_text: str) -> bool:
    """Whether a stored payload is the redaction stamp (exactly one key, ``redacted_at``)."""
    if not payload_text.startswith(_REDACTED_PREFIX):
        return False
    value = json.loads(payload_text)
    return isinstance(value, dict) and set(value) == {REDACTED} and isinstance(value[REDACTED], str)


@dataclass(frozen=True)
class VerifyReport:
    """``ok`` or the first record (by ``seq``) that breaks the chain and why."""

    ok: bool
    records: int
    first_bad: int | None = None
    decision_id: str | None = None
    reason: str | None = None
    tip_hash: str = GENESIS
    redacted: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "records": self.records, "first_bad_seq": self.first_bad,
                "decision_id": self.decision_id, "reason": self.reason, "tip_hash": self.tip_hash,
                "redacted": self.redacted}


@dataclass(frozen=True)
class RedactReport:
    """What one ``redact`` did: payloads blanked, and old-format records kept whole (their hash needs the text)."""

    before: str
    redacted: int
    kept_text_hashed: int

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before, "redacted": self.redacted, "kept_text_hashed": self.kept_text_hashed}


class AuditLog:
    """Append-only, hash-chained store of decision records (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._sql_tip = "SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1"
        self._sql_insert = insert_sql(engine, records)
        self._sql_lock = f"SELECT pg_advisory_xact_lock({mark})"
        self._writers = WriterLock(sqlite_path(engine))
        self._kept = threading.local()  # SQLite: the connection each writing thread keeps (``_write_transaction``)
        self.refused_at: float | None = None  # monotonic time of the last refused append (readiness reads it)
        self._create_schema()

    def _create_schema(self, attempts: int = 5) -> None:
        """Create the table once, although every gunicorn worker starts at the same moment.

        ``create_all`` checks, then creates: two workers on a fresh database can both see no
        table, and the second CREATE fails ("already exists" on SQLite, a unique violation in
        PostgreSQL's catalogue). The loser checks again and finds the table. A table from
        before payload digests gains its ``payload_digest`` column the same way.
        """
        for attempt in range(attempts):
            try:
                metadata.create_all(self.engine)
                if "payload_digest" not in {c["name"] for c in sa.inspect(self.engine).get_columns("audit_records")}:
                    with self.engine.begin() as conn:
                        conn.execute(sa.text("ALTER TABLE audit_records ADD COLUMN payload_digest VARCHAR(64)"))
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
            engine = sa.create_engine(url, connect_args={"timeout": lock_timeout_s}, hide_parameters=True)
            sa.event.listen(engine, "connect",
                            functools.partial(_sqlite_connect, busy_ms=int(lock_timeout_s * 1000)))
        else:  # hide_parameters: a failed statement's error (logged) never carries a payload's personal data
            engine = sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2, hide_parameters=True,
                                      connect_args=postgres_args(lock_timeout_s))
        return cls(engine)

    def close(self) -> None:
        raw = getattr(self._kept, "raw", None)
        if raw is not None:
            del self._kept.raw
            raw.close()
        self.engine.dispose()
        self._writers.close()

    # -- writing -----------------------------------------------------------------------------
    def append_many(self, entries: Sequence[Prepared]) -> list[AuditRecord]:
        """Append a batch at the tip in one serialised transaction (the dunning run's decisions), in order.

        Idempotent like ``append``: an entry whose ``request_id`` is already recorded is not written
        again; those records are returned (a resumed run keeps what it recorded before). The same
        ``request_id`` with another request is a ``Conflict``.
        """
        if not entries:
            return []
        dbapi = self.engine.dialect.dbapi
        for _ in range(_MAX_RETRIES):
            try:
                with self._write_transaction() as cur:
                    known = self._known(cur, [e.request_id for e in entries])
                    cur.execute(self._sql_tip)
                    tip = cur.fetchone()
                    seq, prev = (tip[0], tip[1]) if tip else (0, GENESIS)
                    rows, seen = [], set(known)
                    for e in entries:
                        if e.request_id in seen:
                            continue
                        seen.add(e.request_id)
                        seq += 1
                        payload_digest = digest(e.payload_text)
                        h = record_hash(seq, e.decision_id, e.request_id, e.kind, e.created_at, e.request_digest,
                                        payload_digest, prev)
                        rows.append((seq, e.decision_id, e.request_id, e.kind, e.created_at, e.request_digest,
                                     e.payload_text, prev, h, payload_digest))
                        prev = h
                    if rows:
                        cur.executemany(self._sql_insert, rows)
                break
            except dbapi.IntegrityError:
                continue  # another writer took the tip (or one of the ids) first: look again
            except dbapi.OperationalError as exc:
                self.refused_at = time.monotonic()
                raise AuditError(f"audit store not writable: {exc}") from exc
        else:
            self.refused_at = time.monotonic()
            raise AuditError(f"could not append after {_MAX_RETRIES} attempts (write contention)")
        replayed = [self.by_request_id(request_id) for request_id in known]
        digests = {e.request_id: e.request_digest for e in entries}
        for record in replayed:
            if record is not None and digests[record.request_id] and record.request_digest != digests[record.request_id]:
                raise Conflict("request_id was already used for a different request", field="request_id",
                               extra={"decision_id": record.decision_id})
        return [r for r in replayed if r is not None]

    def _known(self, cur: Any, request_ids: list[str]) -> list[str]:
        """Which of ``request_ids`` are recorded already (inside the write transaction)."""
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        found: list[str] = []
        for part in range(0, len(request_ids), 500):
            chunk = request_ids[part:part + 500]
            cur.execute(f"SELECT request_id FROM audit_records WHERE request_id IN ({', '.join([mark] * len(chunk))})",
                        tuple(chunk))
            found += [row[0] for row in cur.fetchall()]
        return found

    def append(self, entry: AuditEntry) -> tuple[AuditRecord, bool]:
        """Append ``entry`` at the tip; returns ``(record, created)``.

        ``created`` is False when a record with the same ``request_id`` already
        exists: that record is returned and nothing is written (idempotency).
        The same ``request_id`` with a different request body, or for a record
        whose payload has been redacted, is a ``Conflict``.
        """
        payload_text = payload_json(entry.payload)
        payload_digest = digest(payload_text)
        dbapi = self.engine.dialect.dbapi
        for _ in range(_MAX_RETRIES):
            try:
                with self._write_transaction() as cur:
                    cur.execute(self._sql_tip)
                    tip = cur.fetchone()
                    seq, prev = (tip[0] + 1, tip[1]) if tip else (1, GENESIS)
                    h = record_hash(seq, entry.decision_id, entry.request_id, entry.kind, entry.created_at,
                                    entry.request_digest, payload_digest, prev)
                    cur.execute(self._sql_insert, (seq, entry.decision_id, entry.request_id, entry.kind,
                                                   entry.created_at, entry.request_digest, payload_text, prev, h,
                                                   payload_digest))
                return AuditRecord(seq, entry.decision_id, entry.request_id, entry.kind, entry.created_at,
                                   entry.request_digest, entry.payload, prev, h, payload_digest), True
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
        if existing.redacted:
            raise Conflict("request_id was used for a decision whose record is past the audit retention; "
                           "send a new request_id", field="request_id", extra={"decision_id": existing.decision_id})
        return existing

    @contextmanager
    def _write_transaction(self) -> Iterator[Any]:
        """One serialised write transaction on a driver connection (a DBAPI cursor).

        The append is the one statement pair on every request path, so it skips
        SQLAlchemy's per-statement machinery: plain SQL, driver cursor, explicit
        transaction. SQLite: ``BEGIN IMMEDIATE`` (the write lock before the tip
        is read), on a connection this thread keeps checked out of the pool (its
        checkout and return, with the pool's reset, cost 20-25 us of an append's
        160; one that fails is invalidated and the next append takes a new one);
        PostgreSQL: a transaction-scoped advisory lock, on a pooled connection
        (the pool's pre-ping finds one a restarted server dropped).
        """
        with self._writers.held():
            kept = self.dialect == "sqlite"
            raw = getattr(self._kept, "raw", None) if kept else None
            if raw is None:
                raw = self.engine.raw_connection()
                if kept:
                    self._kept.raw = raw
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
            except self.engine.dialect.dbapi.IntegrityError:
                raise  # a lost race for the tip or a known request_id, rolled back: the connection is sound
            except self.engine.dialect.dbapi.Error:
                if kept:
                    del self._kept.raw
                    raw.invalidate()
                    kept = False
                raise
            finally:
                if not kept:
                    raw.close()

    # -- reading -----------------------------------------------------------------------------
    def by_request_id(self, request_id: str) -> AuditRecord | None:
        return self._one(records.c.request_id == request_id)

    def get(self, decision_id: str) -> AuditRecord:
        found = self._one(records.c.decision_id == decision_id)
        if found is None:
            raise NotFound(f"no decision {decision_id!r}", field="decision_id")
        return found

    def newest_ids(self, n: int) -> list[str]:
        """The decision ids of the newest ``n`` records, newest first (one indexed column read, no payloads)."""
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(records.c.decision_id).order_by(records.c.seq.desc())
                                     .limit(n)).scalars())

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
        """Walk the chain; report the first record whose hash, link, sequence or payload does not fit.

        A redacted payload has no text to check against its digest; the digest itself is
        still covered by the record's hash, as is everything else.
        """
        prev, expected_seq, n, redacted = GENESIS, 1, 0, 0
        for row in self.iter_rows():
            n += 1
            problem = None
            if row.seq != expected_seq:
                problem = f"sequence jumps from {expected_seq - 1} to {row.seq} (record deleted)"
            elif row.prev_hash != prev:
                problem = "prev_hash does not match the previous record's hash (chain broken)"
            elif _link(row) != row.hash:
                problem = "content does not match its hash (record altered)"
            elif row.payload_digest is not None and digest(row.payload) != row.payload_digest:
                if is_redacted(row.payload):
                    redacted += 1
                else:
                    problem = "payload does not match its digest (record altered)"
            if problem:
                return VerifyReport(False, n, row.seq, row.decision_id, problem, prev, redacted)
            prev, expected_seq = row.hash, row.seq + 1
        return VerifyReport(True, n, tip_hash=prev, redacted=redacted)

    def check_record(self, seq: int) -> str | None:
        """Whether record ``seq`` holds its place in the chain (its hash, its payload, the links to the records
        before and after it): None when it does, else what breaks. Three rows read, not the whole chain
        (``verify`` walks that)."""
        with self.engine.connect() as conn:
            rows = {r.seq: r for r in conn.execute(sa.select(records)
                                                   .where(records.c.seq.in_((seq - 1, seq, seq + 1))))}
        row = rows.get(seq)
        if row is None:
            return f"record {seq} is missing"
        if _link(row) != row.hash:
            return "content does not match its hash (record altered)"
        altered = row.payload_digest is not None and digest(row.payload) != row.payload_digest
        if altered and not is_redacted(row.payload):
            return "payload does not match its digest (record altered)"
        before = rows.get(seq - 1)
        if (before.hash if before is not None else GENESIS if seq == 1 else None) != row.prev_hash:
            return "prev_hash does not match the previous record's hash (chain broken)"
        after = rows.get(seq + 1)
        if after is not None and after.prev_hash != row.hash:
            return "the next record does not link to this one (chain broken)"
        return None

    def redact(self, before: datetime, batch: int = 500) -> RedactReport:
        """Replace the payload of every record received before ``before`` by ``{"redacted_at": now}``.

        "Received" is the server's receipt time kept in the payload (``received_at``), not
        the caller's business ``now``. Pages of ``batch`` records, one short write
        transaction each, so appends wait for at most one page.
        """
        stamp = canonical({REDACTED: datetime.now(UTC).isoformat()})
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        update = f"UPDATE audit_records SET payload = {mark} WHERE seq = {mark} AND payload_digest IS NOT NULL"
        live = sa.func.substr(records.c.payload, 1, len(_REDACTED_PREFIX)) != _REDACTED_PREFIX
        last, redacted, kept = 0, 0, 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.select(records.c.seq, records.c.created_at, records.c.payload,
                                              records.c.payload_digest)
                                    .where(records.c.seq > last, live).order_by(records.c.seq).limit(batch)).all()
            if not rows:
                return RedactReport(before.isoformat(), redacted, kept)
            last = rows[-1].seq
            due = [row for row in rows if _received(row) < before]
            kept += sum(row.payload_digest is None for row in due)
            due = [(stamp, row.seq) for row in due if row.payload_digest is not None]
            if due:
                with self._write_transaction() as cur:
                    cur.executemany(update, due)
                redacted += len(due)


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
                       row.request_digest, json.loads(row.payload), row.prev_hash, row.hash, row.payload_digest)


def _link(row: sa.Row) -> str:
    """The hash a stored row must carry (by digest, or by text for a record from before digests)."""
    if row.payload_digest is None:
        return text_record_hash(row.seq, row.decision_id, row.request_id, row.kind, row.created_at,
                                row.request_digest, row.payload, row.prev_hash)
    return record_hash(row.seq, row.decision_id, row.request_id, row.kind, row.created_at, row.request_digest,
                       row.payload_digest, row.prev_hash)


def _received(row: sa.Row) -> datetime:
    """When the service received the request: the payload's ``received_at`` (else the record's ``created_at``)."""
    when = datetime.fromisoformat(orjson.loads(row.payload).get("received_at") or row.created_at)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
