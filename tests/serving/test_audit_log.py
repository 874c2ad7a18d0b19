"""The audit log on real SQLite and real PostgreSQL: chain, tamper evidence, idempotency, concurrency."""
from __future__ import annotations

import multiprocessing as mp
import uuid

import pytest
import sqlalchemy as sa

from domain.errors import Conflict, NotFound
from serving.audit import GENESIS, AuditEntry, AuditLog, records


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/audit.db"
    url = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS audit_records"))
    engine.dispose()
    return url


@pytest.fixture()
def log(audit_url: str):
    store = AuditLog.from_url(audit_url)
    yield store
    store.close()


def entry(i: int, digest: str = "d") -> AuditEntry:
    return AuditEntry(f"dec-{i}", f"req-{i}", "checkout", "2026-01-01T00:00:00+00:00",
                      {"outcome": "accept", "shap": [0.1, -0.2], "i": i}, digest)


def fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.append(entry(i))


def tamper(log: AuditLog, sql: str) -> None:
    with log.engine.begin() as conn:
        conn.execute(sa.text(sql))


def test_chain_links_every_record_to_its_predecessor(log: AuditLog) -> None:
    fill(log, 5)
    rows = list(log.iter_rows())
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:]))
    report = log.verify()
    assert report.ok and report.records == 5 and report.tip_hash == rows[-1].hash


def test_same_request_id_returns_first_record_and_writes_nothing(log: AuditLog) -> None:
    first, created = log.append(entry(1))
    again, created_again = log.append(AuditEntry("dec-other", "req-1", "checkout", "x", {"other": 1}, "d"))
    assert created and not created_again
    assert again.decision_id == first.decision_id == "dec-1"
    assert log.count() == 1


def test_same_request_id_with_other_body_is_a_conflict(log: AuditLog) -> None:
    log.append(entry(1, digest="aaa"))
    with pytest.raises(Conflict) as err:
        log.append(entry(1, digest="bbb"))
    assert err.value.field == "request_id"
    assert log.by_request_id("req-1").decision_id == "dec-1" and log.count() == 1
    assert log.by_request_id("req-404") is None


def test_get_unknown_decision_is_not_found(log: AuditLog) -> None:
    with pytest.raises(NotFound):
        log.get("dec-missing")
    fill(log, 1)
    assert log.get("dec-0").payload["outcome"] == "accept"


@pytest.mark.parametrize("sql, seq, words", [
    ("UPDATE audit_records SET payload = replace(payload, 'accept', 'reject') WHERE seq = 3", 3, "altered"),
    ("UPDATE audit_records SET created_at = '2020-01-01' WHERE seq = 4", 4, "altered"),
    ("DELETE FROM audit_records WHERE seq = 2", 3, "deleted"),
    ("UPDATE audit_records SET prev_hash = '" + "1" * 64 + "' WHERE seq = 5", 5, "chain broken"),
])
def test_verify_names_the_first_altered_record(log: AuditLog, sql: str, seq: int, words: str) -> None:
    fill(log, 6)
    tamper(log, sql)
    report = log.verify()
    assert not report.ok
    assert report.first_bad == seq and words in report.reason


def test_recomputing_one_hash_still_breaks_the_next_link(log: AuditLog) -> None:
    from serving.audit import record_hash

    fill(log, 4)
    row = next(r for r in log.iter_rows() if r.seq == 2)
    forged_payload = row.payload.replace("accept", "reject")
    forged = record_hash(row.seq, row.decision_id, row.request_id, row.kind, row.created_at,
                         row.request_digest, forged_payload, row.prev_hash)
    with log.engine.begin() as conn:
        conn.execute(records.update().where(records.c.seq == 2).values(payload=forged_payload, hash=forged))
    report = log.verify()
    assert not report.ok and report.first_bad == 3


def _writer(url: str, worker: int, n: int, shared: int) -> None:
    store = AuditLog.from_url(url)
    for i in range(n):
        store.append(AuditEntry(uuid.uuid4().hex, f"w{worker}-{i}", "checkout", "t", {"w": worker, "i": i}, "d"))
    for i in range(shared):  # every worker races for the same request ids: only one record each
        store.append(AuditEntry(uuid.uuid4().hex, f"shared-{i}", "checkout", "t", {"i": i}, "d"))
    store.close()


def test_concurrent_writers_never_fork_the_chain(log: AuditLog, audit_url: str) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(audit_url, w, 40, 10)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert log.count() == 4 * 40 + 10
    report = log.verify()
    assert report.ok, report
    seqs = [r.seq for r in log.iter_rows()]
    assert seqs == list(range(1, len(seqs) + 1))


def test_kredo_audit_verify_names_the_altered_record(log: AuditLog, audit_url: str, capsys) -> None:
    from serving.cli import main

    fill(log, 3)
    assert main(["audit", "verify", "--url", audit_url]) == 0
    assert "intact: 3 records" in capsys.readouterr().out
    tamper(log, "UPDATE audit_records SET payload = replace(payload, 'accept', 'prepay') WHERE seq = 2")
    assert main(["audit", "verify", "--url", audit_url]) == 1
    out = capsys.readouterr().out
    assert "ALTERED at record 2" in out and "dec-1" in out


def _open_at(url: str, start, results) -> None:  # noqa: ANN001 - multiprocessing primitives
    start.wait()
    try:
        AuditLog.from_url(url).close()
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - the test reports what a worker saw
        results.put(f"{type(exc).__name__}: {exc}")


def test_workers_starting_together_on_a_fresh_database_all_open_it(audit_url: str) -> None:
    """gunicorn starts every worker at once; each creates the schema if missing, none may crash."""
    ctx = mp.get_context("fork")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_open_at, args=(audit_url, start, results)) for _ in range(6)]
    for p in procs:
        p.start()
    start.set()
    outcomes = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert outcomes == ["ok"] * 6
