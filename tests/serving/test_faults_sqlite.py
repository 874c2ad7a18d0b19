"""A database lock held elsewhere: bounded waits, 503 with Retry-After, /readyz never blocks.

As found (issue 15): the audit log's SQLite write lock held by another process for 15 s made
requests wait 15 s, and ``/readyz`` hung for over 10 s. Here another process takes the write lock
of the audit log (or of the ledger) for 15 s; the service must answer within its lock timeout
(``LOCK_TIMEOUT_S``, 2 s), ``/readyz`` within a second, and all works again once the lock is gone.
The same on PostgreSQL, where a table lock (a long ``ALTER TABLE``) blocks readers too.
(Through gunicorn, where ``/readyz`` can queue behind a request that waits for the lock, see
``test_faults_gunicorn.py``.)
"""
from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from serving.audit import REFUSED_WINDOW_S
from tests.support.api import CHECKOUT, Clients, make_app

HOLD_S = 15
LOCK_S = 2.0
_HOLDER = """
import sqlite3, sys, time
db, seconds = sys.argv[1], float(sys.argv[2])
conn = sqlite3.connect(db, isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("CREATE TABLE IF NOT EXISTS lock_holder (at REAL)")
conn.execute("INSERT INTO lock_holder VALUES (?)", (time.time(),))
print("held", flush=True)
time.sleep(seconds)
"""


@contextmanager
def lock_held(db: Path) -> Iterator[None]:
    """Another process holds ``db``'s write lock for ``HOLD_S`` seconds (ended early when the test is done)."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(db), str(HOLD_S)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait(timeout=10)


def timed(call):  # noqa: ANN001, ANN201
    t0 = time.monotonic()
    result = call()
    return result, time.monotonic() - t0


_ids = iter(range(1_000_000))


def checkout(api: Clients):  # noqa: ANN201
    return api.checkout.post("/v1/decisions/checkout", json={**CHECKOUT, "request_id": f"lock-{next(_ids)}"})


def invoice(event_id: str) -> dict:
    return {"event_id": event_id, "type": "invoice_issued", "customer_id": "C-LOCK", "invoice_id": f"I-{event_id}",
            "at": "2026-11-02T10:00:00", "due_at": "2026-12-02T10:00:00", "amount": 120.0,
            "payment_terms_days": 30, "paperless": True}


def assert_503(r, code: str) -> None:  # noqa: ANN001
    assert r.status_code == 503, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json" and r.get_json()["code"] == code
    assert int(r.headers["Retry-After"]) >= 1
    assert r.get_json()["error_id"].startswith("err_") and ".db" not in r.get_data(as_text=True)


@pytest.fixture(scope="module")
def app(champion, tmp_path_factory):  # noqa: ANN001, ANN201
    application = make_app(champion, tmp_path_factory.mktemp("locks"))
    yield application
    application.extensions["kredo.runtime"].stop()


def paths(app) -> tuple[Path, Path]:  # noqa: ANN001
    config = app.config
    return (Path(config["AUDIT_URL"].removeprefix("sqlite:///")), Path(config["LEDGER_URL"].removeprefix("sqlite:///")))


def test_audit_write_lock_held_elsewhere(app) -> None:  # noqa: ANN001
    api = Clients(app)
    assert checkout(api).status_code == 200
    with lock_held(paths(app)[0]):
        r, seconds = timed(lambda: checkout(api))
        assert_503(r, "audit_unavailable")
        assert seconds < LOCK_S + 1.5, seconds
        ready, seconds = timed(lambda: api.admin.get("/readyz"))
        assert seconds < 1.0, seconds
        assert ready.status_code == 503 and ready.get_json()["checks"]["audit"] is False
    time.sleep(REFUSED_WINDOW_S)  # readiness forgives a refused append after a few seconds
    assert checkout(api).status_code == 200
    assert api.admin.get("/readyz").status_code == 200


def test_ledger_write_lock_held_elsewhere(app) -> None:  # noqa: ANN001
    api = Clients(app)
    for role in ("checkout", "dunning", "admin"):  # the keys live in the ledger: made before it is locked
        getattr(api, role)
    batch = {"events": [invoice("lock-sqlite")]}
    with lock_held(paths(app)[1]):
        r, seconds = timed(lambda: api.dunning.post("/v1/events", json=batch))
        assert_503(r, "database_unavailable")  # not acknowledged: nothing of it is booked
        assert seconds < LOCK_S + 1.5, seconds
        ready, seconds = timed(lambda: api.admin.get("/readyz"))
        assert seconds < 1.0 and ready.get_json()["checks"]["ledger"], (seconds, ready.get_json())
        # the decision is taken and recorded in the audit log; only its index in the ledger waits
        r, seconds = timed(lambda: checkout(api))
        assert r.status_code == 200 and seconds < LOCK_S + 1.5, (r.status_code, seconds)
    answer = api.dunning.post("/v1/events", json=batch).get_json()
    assert answer["applied"] == 1 and answer["duplicate"] == 0  # booked now, and only now
    assert api.admin.get("/readyz").status_code == 200


@pytest.fixture()
def postgres_app(champion, postgres_url, tmp_path):  # noqa: ANN001, ANN201
    """Audit log and ledger in a fresh PostgreSQL database."""
    import sqlalchemy as sa

    name = f"locks_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = str(sa.engine.make_url(postgres_url).set(database=name))
    application = make_app(champion, tmp_path, AUDIT_URL=url, LEDGER_URL=url)
    yield application, sa.create_engine(url)
    application.extensions["kredo.runtime"].stop()


@contextmanager
def table_locked(engine, table: str) -> Iterator[None]:  # noqa: ANN001
    """Another backend holds ``ACCESS EXCLUSIVE`` on ``table`` (what a long ALTER TABLE does): readers wait too."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        conn.execute(sa.text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            conn.rollback()


def test_postgres_table_locks_are_bounded_too(postgres_app) -> None:  # noqa: ANN001
    app, engine = postgres_app
    api = Clients(app)
    assert checkout(api).status_code == 200
    with table_locked(engine, "audit_records"):
        r, seconds = timed(lambda: checkout(api))
        assert_503(r, "audit_unavailable")
        assert seconds < LOCK_S + 1.5, seconds
        ready, seconds = timed(lambda: api.admin.get("/readyz"))
        assert seconds < 1.0 and ready.status_code == 503 and ready.get_json()["checks"]["audit"] is False
    batch = {"events": [invoice("lock-pg")]}
    with table_locked(engine, "ledger_events"):
        r, seconds = timed(lambda: api.dunning.post("/v1/events", json=batch))
        assert_503(r, "database_unavailable")
        assert seconds < LOCK_S + 1.5, seconds
    assert api.dunning.post("/v1/events", json=batch).get_json()["applied"] == 1
    time.sleep(REFUSED_WINDOW_S)
    assert api.admin.get("/readyz").status_code == 200
