"""The SQLite write-ahead logs are copied back by a worker's own thread, not inside a request's commit.

A commit that fills the log past ``wal_autocheckpoint`` pages copies it back itself: on a checkout's path
that stalled the worker, and every worker waiting for the write lock, 100-190 ms every ~2 s at 800
checkouts/s. ``Runtime.start_background`` (each gunicorn worker) keeps the logs short instead.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa

from ledger.database import checkpoint_wal
from tests.support.api import make_app

PAGE = 4096  # SQLite's page: each small commit adds one (and a frame header) to the log


def _writer(path: Path) -> sqlite3.Connection:
    """A writer that never checkpoints itself: what grows its log is ours to see."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, text TEXT)")
    return conn


def _write_for(conn: sqlite3.Connection, seconds: float) -> int:
    """One small transaction every 5 ms for ``seconds``; how many. The log starts over only at a
    transaction that finds all of it copied, so a checkpoint must fit between two commits now and
    then (a commit every millisecond left that to the machine's load: too few restarts under CI)."""
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        conn.execute("INSERT INTO filler (text) VALUES (?)", ("x" * 200,))
        n += 1
        time.sleep(0.005)
    return n


def _growth(path: Path, write) -> tuple[int, int]:  # noqa: ANN001
    """What ``write()`` returns and how many bytes the log file grew meanwhile (a log that starts over
    writes from its beginning again: the file keeps its size)."""
    wal = Path(f"{path}-wal")
    before = wal.stat().st_size if wal.exists() else 0
    n = write()
    return n, wal.stat().st_size - before


def test_checkpoint_wal_copies_the_whole_log_back(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    conn = _writer(path)
    for _ in range(200):
        conn.execute("INSERT INTO filler (text) VALUES ('x')")
    engine = sa.create_engine(f"sqlite:///{path}")
    checkpoint_wal(engine)
    busy, log, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and log == copied and log > 0  # nothing was left to copy: the helper did it all
    engine.dispose()


def test_a_workers_checkpoint_thread_keeps_the_logs_short(champion, tmp_path: Path) -> None:
    """With the thread a writer's log starts over again and again; without it, it grows with every commit."""
    app = make_app(champion, tmp_path, CHECKPOINT_INTERVAL_S=0.05)
    runtime = app.extensions["kredo.runtime"]
    try:
        audit = Path(runtime.audit.engine.url.database)
        ledger = Path(runtime.book.engine.url.database)
        for path in (audit, ledger):  # nothing runs the thread yet: the log grows by a page a commit
            conn = _writer(path)
            n, grown = _growth(path, lambda: _write_for(conn, 1.0))
            assert grown >= n * PAGE
            conn.close()
        runtime.start_background()
        for path in (audit, ledger):  # the log starts over again and again: the file no longer grows
            conn = _writer(path)
            n, grown = _growth(path, lambda: _write_for(conn, 2.0))
            assert n > 100 and grown < n * PAGE / 4, (n, grown)
            conn.close()
    finally:
        runtime.stop()
