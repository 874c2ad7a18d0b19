"""The audit log on real SQLite and real PostgreSQL: chain, tamper evidence, idempotency, concurrency,
and retention (payloads redacted, chain still verifiable)."""
from __future__ import annotations

import json
import multiprocessing as mp
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from domain.errors import Conflict, NotFound
from serving.audit import GENESIS, AuditEntry, AuditLog, digest, records


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


def entry(i: int, request_digest: str = "d", received_at: str = "2026-01-01T00:00:00+00:00") -> AuditEntry:
    return AuditEntry(f"dec-{i}", f"req-{i}", "checkout", "2026-01-01T00:00:00+00:00",
                      {"outcome": "accept", "shap": [0.1, -0.2], "i": i, "received_at": received_at,
                       "request": {"customer": {"account_manager": "Anna de Vries", "profile": "60_plus"}}},
                      request_digest)


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
    log.append(entry(1, request_digest="aaa"))
    with pytest.raises(Conflict) as err:
        log.append(entry(1, request_digest="bbb"))
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
                         row.request_digest, digest(forged_payload), row.prev_hash)
    with log.engine.begin() as conn:
        conn.execute(records.update().where(records.c.seq == 2).values(payload=forged_payload, hash=forged,
                                                                      payload_digest=digest(forged_payload)))
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


def _received(day: int) -> str:
    return datetime(2026, 1, day, 12, tzinfo=UTC).isoformat()


def test_redaction_blanks_old_payloads_and_the_chain_still_verifies(log: AuditLog) -> None:
    for i in range(6):
        log.append(entry(i, received_at=_received(i + 1)))
    originals = {row.seq: row.payload for row in log.iter_rows()}
    report = log.redact(datetime(2026, 1, 4, tzinfo=UTC))  # received on the 1st, 2nd, 3rd
    assert (report.redacted, report.kept_text_hashed) == (3, 0)
    rows = {row.seq: row for row in log.iter_rows()}
    for seq in (1, 2, 3):
        assert set(json.loads(rows[seq].payload)) == {"redacted_at"} and "Anna" not in rows[seq].payload
        assert rows[seq].payload_digest == digest(originals[seq])  # a kept copy still proves what was decided
    assert all(rows[seq].payload == originals[seq] for seq in (4, 5, 6))
    verified = log.verify()
    assert verified.ok and verified.records == 6 and verified.redacted == 3
    record = log.get("dec-0")
    assert record.redacted and record.to_dict()["payload_digest"] == digest(originals[1])
    assert log.redact(datetime(2026, 1, 4, tzinfo=UTC)).redacted == 0  # idempotent
    log.append(entry(9, received_at=_received(9)))
    assert log.verify().ok


def test_a_redacted_record_still_shows_tampering(log: AuditLog) -> None:
    for i in range(4):
        log.append(entry(i, received_at=_received(i + 1)))
    log.redact(datetime(2026, 1, 3, tzinfo=UTC))
    tamper(log, "UPDATE audit_records SET kind = 'next_action' WHERE seq = 2")
    report = log.verify()
    assert not report.ok and report.first_bad == 2 and "altered" in report.reason
    tamper(log, "UPDATE audit_records SET kind = 'checkout' WHERE seq = 2")
    tamper(log, "UPDATE audit_records SET payload_digest = '" + "0" * 64 + "' WHERE seq = 1")
    assert log.verify().first_bad == 1


def test_the_request_id_of_a_redacted_record_is_a_conflict(log: AuditLog) -> None:
    log.append(entry(1, received_at=_received(1)))
    log.redact(datetime(2026, 2, 1, tzinfo=UTC))
    with pytest.raises(Conflict, match="retention") as err:
        log.append(entry(1))
    assert err.value.field == "request_id"


def test_a_log_from_before_payload_digests_is_upgraded_verified_and_kept_whole(audit_url: str) -> None:
    """Records hashed over their payload text (the old format) verify as before and are never redacted."""
    from serving.audit import text_record_hash

    engine = sa.create_engine(audit_url)
    old = sa.MetaData()
    sa.Table("audit_records", old, *[sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                                     for c in records.columns if c.name != "payload_digest"])
    old.create_all(engine)
    prev = GENESIS
    with engine.begin() as conn:
        for seq in (1, 2):
            payload = json.dumps({"outcome": "accept", "received_at": _received(seq)})
            h = text_record_hash(seq, f"dec-old-{seq}", f"req-old-{seq}", "checkout", "t", "d", payload, prev)
            conn.execute(sa.text("INSERT INTO audit_records (seq, decision_id, request_id, kind, created_at, "
                                 "request_digest, payload, prev_hash, hash) VALUES (:s, :d, :r, 'checkout', 't', "
                                 "'d', :p, :prev, :h)"),
                         {"s": seq, "d": f"dec-old-{seq}", "r": f"req-old-{seq}", "p": payload, "prev": prev, "h": h})
            prev = h
    engine.dispose()
    log = AuditLog.from_url(audit_url)
    try:
        assert log.verify().ok
        log.append(entry(3, received_at=_received(3)))
        report = log.redact(datetime(2026, 2, 1, tzinfo=UTC))
        assert (report.redacted, report.kept_text_hashed) == (1, 2)
        verified = log.verify()
        assert verified.ok and verified.records == 3 and verified.redacted == 1
        tamper(log, "UPDATE audit_records SET payload = replace(payload, 'accept', 'reject') WHERE seq = 1")
        assert log.verify().first_bad == 1
    finally:
        log.close()


def test_kredo_audit_redact_then_verify_says_intact(log: AuditLog, audit_url: str, capsys, monkeypatch) -> None:
    from serving.cli import main

    log.append(entry(1, received_at="2020-01-01T00:00:00+00:00"))
    log.append(entry(2, received_at=datetime.now(UTC).isoformat()))
    monkeypatch.delenv("KREDO_AUDIT_RETENTION_DAYS", raising=False)
    assert main(["audit", "redact", "--url", audit_url]) == 2  # neither --before nor a retention
    assert "KREDO_AUDIT_RETENTION_DAYS" in capsys.readouterr().err
    monkeypatch.setenv("KREDO_AUDIT_RETENTION_DAYS", "365")
    assert main(["audit", "redact", "--url", audit_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["redacted"] == 1
    assert main(["audit", "redact", "--url", audit_url, "--before", "2030-01-01"]) == 0
    assert "payloads of 1 records" in capsys.readouterr().out
    assert main(["audit", "verify", "--url", audit_url]) == 0
    assert "intact: 2 records (2 redacted past retention)" in capsys.readouterr().out
