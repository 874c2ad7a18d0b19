"""The decision index (``ledger.views.record_decisions``) on SQLite and PostgreSQL: plain INSERTs on the driver
connection in one transaction, read back by the decision search; a row indexed twice is kept once, and a driver
error is raised as SQLAlchemy's own."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

from ledger.database import WriterLock, open_ledger
from ledger.views import decision_row, record_decisions, search_decisions


@pytest.fixture()
def engine(ledger_url: str):  # noqa: ANN201 - both dialects (tests/ledger/conftest.py)
    made = open_ledger(ledger_url)
    yield made
    made.dispose()


def _row(decision_id: str, invoice_id: str | None = None, received_us: int = 2_000) -> tuple:
    return decision_row(decision_id, f"req-{decision_id}", "checkout", "C-1", invoice_id, "accept", 1_000,
                        received_us, ["Segment low: paid on time", "é ✓"])


def _record(engine: sa.Engine, decision_id: str, invoice_id: str | None = None, received_us: int = 2_000) -> None:
    record_decisions(engine, [_row(decision_id, invoice_id, received_us)])


def test_an_indexed_decision_is_found_with_every_column(engine) -> None:  # noqa: ANN001
    _record(engine, "dec_a", received_us=2_000)
    _record(engine, "dec_b", invoice_id="INV-1", received_us=3_000)
    found = search_decisions(engine, customer_id="C-1")
    assert [row["decision_id"] for row in found] == ["dec_b", "dec_a"]
    assert found[0] == {"decision_id": "dec_b", "request_id": "req-dec_b", "kind": "checkout", "customer_id": "C-1",
                        "invoice_id": "INV-1", "outcome": "accept", "at_us": 1_000, "received_us": 3_000,
                        "summary": '{"reasons":["Segment low: paid on time","\\u00e9 \\u2713"]}'}
    assert search_decisions(engine, invoice_id="INV-1")[0]["decision_id"] == "dec_b"


def test_a_batch_is_one_transaction_and_a_row_indexed_twice_is_kept_once(engine) -> None:  # noqa: ANN001
    record_decisions(engine, [_row("dec_a"), _row("dec_b", received_us=3_000)])
    record_decisions(engine, [_row("dec_a", received_us=9_000), _row("dec_c", received_us=4_000)])
    found = {row["decision_id"]: row["received_us"] for row in search_decisions(engine)}
    assert found == {"dec_a": 2_000, "dec_b": 3_000, "dec_c": 4_000}  # the first row of dec_a stays as it was


def test_a_driver_error_is_sqlalchemys_without_values_and_leaves_the_pool_usable(engine) -> None:  # noqa: ANN001
    _record(engine, "dec_a")
    broken = (*_row("dec_b")[:5], None, *_row("dec_b")[6:])  # no outcome: a NOT NULL column
    with pytest.raises(sa.exc.IntegrityError) as raised:
        record_decisions(engine, [_row("dec_c"), broken])
    assert "req-dec_b" not in str(raised.value)  # hide_parameters: a logged error carries no values
    _record(engine, "dec_d")  # the connection went back to the pool rolled back: dec_c went with the batch
    assert {row["decision_id"] for row in search_decisions(engine)} == {"dec_a", "dec_d"}


def test_an_index_write_behind_another_writer_wakes_when_it_lets_go(tmp_path) -> None:  # noqa: ANN001
    """Two gunicorn workers index decisions in one SQLite ledger. The writer that finds the other one holding
    the lock must start the moment it is released: SQLite's busy handler slept 1, 2, 5, 10, 15, 20, 25 ms
    between tries instead, so behind a 60-ms write this one started up to 25 ms late."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = open_ledger(url)
    _record(engine, "dec_warm")  # the pool holds an open connection: the timed write opens nothing
    held, released = threading.Event(), []

    def other_worker() -> None:  # another process's writer: its own lock file descriptor and connection
        lock, conn = WriterLock(str(tmp_path / "ledger.db")), sqlite3.connect(tmp_path / "ledger.db",
                                                                              isolation_level=None)
        with lock.held():
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE decisions SET outcome = outcome WHERE decision_id = 'dec_warm'")
            held.set()
            time.sleep(0.06)
            conn.execute("COMMIT")
            released.append(time.perf_counter())
        conn.close()
        lock.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    assert held.wait(5)
    _record(engine, "dec_waited")
    late_ms = (time.perf_counter() - released[0]) * 1e3
    thread.join()
    assert late_ms < 10, f"started {late_ms:.1f} ms after the other writer let go"
    assert {r["decision_id"] for r in search_decisions(engine, customer_id="C-1")} == {"dec_warm", "dec_waited"}
    engine.dispose()
