"""The decision index written behind the answers (``serving.decision_index``): batched, shown at once by the worker
that decided, kept through a failed write, and recovered from the audit log after a worker died with rows queued."""
from __future__ import annotations

import time

import sqlalchemy as sa

from ledger.views import search_decisions
from serving.decision_index import recover
from serving.records import index_row
from tests.support.api import CHECKOUT, Clients, make_app


def _ids(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT decision_id FROM decisions")).scalars())


def _checkouts(api: Clients, prefix: str, n: int) -> list[str]:
    answers = [api.checkout.post("/v1/decisions/checkout", json={**CHECKOUT, "request_id": f"{prefix}-{i}"})
               for i in range(n)]
    assert all(a.status_code == 200 for a in answers), answers[0].get_json()
    return [a.get_json()["decision_id"] for a in answers]


def test_a_serving_worker_writes_the_index_behind_its_answers_and_shows_its_own_at_once(champion, tmp_path) -> None:  # noqa: ANN001
    app = make_app(champion, tmp_path, INDEX_INTERVAL_S=3600)  # the thread never wakes by itself in this test
    runtime = app.extensions["kredo.runtime"]
    runtime.start_background()
    api = Clients(app)
    decided = _checkouts(api, "behind", 5)
    assert runtime.index.queued == 5 and not _ids(runtime.book.engine) & set(decided)  # answered, not yet indexed
    found = api.auditor.get("/v1/decisions?customer_id=C-1").get_json()["decisions"]
    assert {d["decision_id"] for d in found} >= set(decided)  # a GET of this worker writes the queue first
    assert runtime.index.queued == 0
    more = _checkouts(api, "exit", 3)
    runtime.stop()  # a worker's graceful exit writes what it has queued
    assert _ids(runtime.book.engine) >= set(more)


def test_the_writer_thread_writes_within_its_interval(champion, tmp_path) -> None:  # noqa: ANN001
    app = make_app(champion, tmp_path, INDEX_INTERVAL_S=0.05)
    runtime = app.extensions["kredo.runtime"]
    runtime.start_background()
    decided = set(_checkouts(Clients(app), "tick", 3))
    deadline = time.monotonic() + 5
    while not decided <= _ids(runtime.book.engine) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert decided <= _ids(runtime.book.engine)
    runtime.stop()


def test_a_failed_write_keeps_the_rows_for_the_next_round(champion, tmp_path) -> None:  # noqa: ANN001
    app = make_app(champion, tmp_path, INDEX_INTERVAL_S=3600)
    runtime = app.extensions["kredo.runtime"]
    runtime.start_background()
    decided = _checkouts(Clients(app), "refused", 2)
    with runtime.book.engine.begin() as conn:
        conn.execute(sa.text("CREATE TRIGGER refuse BEFORE INSERT ON decisions BEGIN SELECT RAISE(ABORT, 'full'); END"))
    runtime.index.flush()
    assert runtime.index.queued == 2 and not _ids(runtime.book.engine) & set(decided)
    with runtime.book.engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER refuse"))
    runtime.index.flush()
    assert runtime.index.queued == 0 and _ids(runtime.book.engine) >= set(decided)
    runtime.stop()


def test_rows_a_dead_worker_never_wrote_are_indexed_from_the_audit_log_when_a_worker_starts(champion, tmp_path) -> None:  # noqa: ANN001
    """The first app's queue is lost as a killed worker's would be; the next app on the same stores (a new worker)
    indexes those decisions from their audit records, row for row what the request path would have written."""
    dead = make_app(champion, tmp_path, INDEX_INTERVAL_S=3600)
    dead_runtime = dead.extensions["kredo.runtime"]
    _checkouts(Clients(dead), "written", 2)  # before the thread starts: written at once
    dead_runtime.start_background()
    lost = _checkouts(Clients(dead), "lost", 4)
    expected = {row[0]: row for row in dead_runtime.index._rows}  # what the request path queued
    assert set(expected) == set(lost) and not _ids(dead_runtime.book.engine) & set(lost)

    started = make_app(champion, tmp_path)  # its start runs ``recover``
    engine = started.extensions["kredo.runtime"].book.engine
    rows = {r["decision_id"]: tuple(r.values()) for r in search_decisions(engine, customer_id="C-1", limit=50)}
    assert {k: rows[k] for k in lost} == expected
    assert recover(started.extensions["kredo.runtime"].audit, started.extensions["kredo.runtime"].index) == 0
    started.extensions["kredo.runtime"].stop()


def test_the_index_row_is_the_same_from_the_entry_and_from_the_stored_record(app) -> None:  # noqa: ANN001
    runtime = app.extensions["kredo.runtime"]
    answer = Clients(app).checkout.post("/v1/decisions/checkout", json={**CHECKOUT, "request_id": "same-row"})
    record = runtime.audit.get(answer.get_json()["decision_id"])
    stored = search_decisions(runtime.book.engine, customer_id="C-1", limit=500)
    assert tuple(next(r for r in stored if r["decision_id"] == record.decision_id).values()) == index_row(record)
