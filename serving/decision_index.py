"""The ledger's decision index written behind the answers: one ledger transaction per batch, not one per decision.

Why: a checkout's answer waits for its audit record (the decision's proof), not for the ledger's index of it
(the decision search and the timelines), which the audit log can always rebuild. Indexed one row per commit,
the index was a second SQLite transaction on every checkout: a pool checkout, the writers' lock, six B-trees
and seven pages through the write-ahead log, 0.12 ms of a checkout's 1.34 ms of CPU in a gunicorn worker.
A serving worker (``Runtime.start_background``) instead queues each row and writes what is queued every
``INDEX_INTERVAL_S`` in one transaction: 0.07-0.09 ms less CPU per checkout (``bench/serving.py``).

What that costs and how it is bounded:

- *Visibility.* A worker flushes its queue before it serves any ``GET`` (``serving.runtime``), so what it decided it
  shows at once; another worker's decisions appear at most one interval (50 ms by default) later.
- *A worker that dies* before its next write leaves at most an interval of rows unindexed; their records are
  in the audit log. Every runtime that starts re-indexes the API decisions among the newest
  ``RECOVER_RECORDS`` audit records that the index lacks (``recover``); the rows are built from the records
  by the same function as on the request path (``serving.records.index_row``).
- *A failed write* (the ledger locked elsewhere or down) keeps the rows for the next round and is logged at
  most once a minute; past ``MAX_QUEUED`` rows the oldest are dropped with an error (the audit log keeps them).
- Writing a row twice changes nothing (``ON CONFLICT DO NOTHING``): a recovering worker may index a row
  that another worker still has queued.

A process that never starts the writer's thread (a test's app, the CLI) writes each row at once, as before.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from domain.errors import KredoError
from ledger.views import indexed, record_decisions
from serving.audit import AuditLog
from serving.records import index_row

log = logging.getLogger(__name__)

#: How many of the newest audit records a starting runtime checks against the index.
RECOVER_RECORDS = 20_000
#: Queued rows kept while the ledger cannot be written; past this the oldest are dropped (and logged).
MAX_QUEUED = 200_000


class IndexWriter:
    """This process's queue of decision-index rows and the thread that writes them (see the module docstring)."""

    def __init__(self, engine: Engine, interval_s: float) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self._rows: list[tuple[Any, ...]] = []
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()  # one batch at a time, oldest first
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._logged = float("-inf")

    def add(self, row: tuple[Any, ...]) -> None:
        """Queue one row (written at once where no thread writes behind; a failure there is logged: the decision
        is taken and recorded, only the index misses it until a worker's start recovers it)."""
        if self._thread is None:
            try:
                record_decisions(self.engine, [row])
            except sa.exc.DBAPIError:
                log.exception("decision %s is in the audit log but not in the ledger's decision index", row[0])
            return
        with self._queue_lock:
            self._rows.append(row)

    @property
    def queued(self) -> int:
        return len(self._rows)

    def flush(self) -> None:
        """Write every queued row now, in one transaction; on failure keep them for the next round."""
        if not self._rows:
            return
        with self._write_lock:
            with self._queue_lock:
                rows, self._rows = self._rows, []
            if not rows:
                return
            try:
                record_decisions(self.engine, rows)
            except sa.exc.DBAPIError:
                with self._queue_lock:
                    self._rows = rows + self._rows
                    dropped = len(self._rows) - MAX_QUEUED
                    if dropped > 0:
                        del self._rows[:dropped]
                        log.error("decision index: %d queued rows dropped (their records are in the audit log)",
                                  dropped)
                if time.monotonic() - self._logged >= 60:
                    log.exception("decision index: %d rows not written; the next round tries again", len(rows))
                    self._logged = time.monotonic()

    def start(self) -> bool:
        """The thread that writes every ``interval_s`` seconds (none for an interval of 0: rows are written at once)."""
        if self.interval_s <= 0 or self._thread is not None:
            return False

        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                self.flush()

        self._thread = threading.Thread(target=loop, name="kredo-decision-index", daemon=True)
        self._thread.start()
        return True

    def close(self) -> None:
        """Stop the thread and write what is queued (a worker's graceful exit)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()


def recover(audit: AuditLog, writer: IndexWriter, records: int = RECOVER_RECORDS) -> int:
    """Index the API decisions among the newest ``records`` audit records that the index lacks (rows a worker
    queued and never wrote); the number indexed. Records of a dunning run are the run's to index (it writes
    them in its own ledger transaction) and so are left alone, as are redacted ones."""
    try:
        newest = audit.newest_ids(records)
        missing = set(newest) - indexed(writer.engine, newest)
        rows = list(_rows(audit.get(decision_id) for decision_id in sorted(missing)))
        if rows:
            record_decisions(writer.engine, rows)
    except (sa.exc.DBAPIError, KredoError):  # a worker starts anyway; the next one to start tries again
        log.exception("decision index: the audit log's newest decisions could not be checked against the index")
        return 0
    if rows:
        log.warning("decision index: %d decisions of the audit log were not indexed; indexed them now", len(rows))
    return len(rows)


def _rows(records: Iterable[Any]) -> Iterable[tuple[Any, ...]]:
    for record in records:
        if "caller" in record.payload and not record.redacted:
            yield index_row(record)
