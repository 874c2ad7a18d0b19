"""The dunning run decides as next-action does, and decides the same on a Dask cluster as in process.

The run's own partition step (``decide_partition``, the batch path: bulk ledger reads, one store read, batch
scores and SHAP) against ``POST /v1/decisions/next-action`` by invoice id for the same invoice, day and request
id; then the whole run in process and on a local cluster of two workers, on two copies of one ledger.
"""
from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from domain.contract import NextActionDecision
from engine.decisions import decide_next_action, decide_next_actions
from ledger import schema as t
from ledger.database import open_ledger
from serving.audit import AuditLog
from ledger.views import invoice_views
from serving.dunning_run import (Deciding, RunSpec, _requests, decide_partition, decided_from, partitions, request_id,
                                  run_day, run_moment)
from serving.dunning_view import from_ledger
from tests.support.api import make_app, routed
from tests.support.collections import rows

DAY = date(2025, 1, 2)  # the day after the small ledger's last month
IGNORED = {"decision_id", "latency_ms"}


def test_the_run_decides_each_invoice_as_next_action_by_id(champion, small_ledger_db, tmp_path: Path) -> None:
    app = make_app(champion, tmp_path, history=small_ledger_db)
    runtime = app.extensions["kredo.runtime"]
    ctx = Deciding(runtime.book.engine, runtime.audit, runtime.snapshot(), runtime.store)
    parts = partitions(runtime.book.engine, size=400)
    assert len(parts) >= 3
    received = datetime.now(UTC)
    results = [decide_partition(ctx, DAY, part, received) for part in parts[:2]]
    decided = [json.loads(e.payload_text) for r in results for e in r.entries]
    assert len(decided) >= 600
    client, actions, arms = routed(app), set(), 0
    for payload in decided[::4]:
        body = {"request_id": payload["request"]["request_id"], "invoice_id": payload["request"]["invoice_id"],
                "now": run_moment(DAY).isoformat()}
        answer = client.post("/v1/decisions/next-action", json=body).get_json()
        run = payload["response"]
        assert {k: v for k, v in answer.items() if k not in IGNORED} == {
            k: v for k, v in run.items() if k not in IGNORED}, body  # the task too: the same worklist row
        recorded = runtime.audit.by_request_id(body["request_id"]).payload
        assert recorded["decided_on"] == payload["decided_on"] and recorded["features"] == payload["features"]
        assert recorded["shap"] == payload["shap"]
        actions.add(run["action"])
        arms += run["bandit"]["arm"] is not None
    assert len(actions) >= 4 and arms >= 5, (actions, arms)
    runtime.stop()


def test_the_batch_decides_every_invoice_as_one_decision_does(champion, small_ledger_db, tmp_path: Path) -> None:
    """``decide_next_actions`` (one store read, a customer's history once, one model call, one SHAP call, one sort
    of the SHAP rows) gives every request of a partition the answer and the audit record ``decide_next_action``
    gives it alone, field by field (the timings aside: the batch's are shared)."""
    app = make_app(champion, tmp_path, history=small_ledger_db)
    runtime = app.extensions["kredo.runtime"]
    served, store, engine = runtime.snapshot(), runtime.store, runtime.book.engine
    part, now = partitions(engine, size=400)[0], run_moment(DAY)
    i = t.invoices.c
    with engine.connect() as conn:
        views = invoice_views(conn, sa.and_(i.status == "open", i.customer_id >= part.first,
                                            i.customer_id <= part.last))
    requests, _ = _requests(views, DAY, now, served.rules.policy)
    assert len(requests) > len({r.customer.id for r in requests}) >= 50  # customers with several invoices
    batch = decide_next_actions(requests, store=store, served=served)
    for request, together in zip(requests, batch):
        alone = decide_next_action(request, store=store, served=served)
        assert together.answer.model_dump(mode="json") == alone.answer.model_dump(mode="json"), request.request_id
        assert together.answer.model_fields_set == alone.answer.model_fields_set
        assert {k: v for k, v in together.record.to_dict().items() if k != "timings"} == {
            k: v for k, v in alone.record.to_dict().items() if k != "timings"}, request.request_id
        assert list(together.record.timings) == list(alone.record.timings)  # the same stages, in order
    # the thread CPU of every stage is the batch's, shared (one clock read per stage, not per decision);
    # the wall time of the rules and the bandit stays each decision's own
    for stage in ("features", "model", "shap", "rules", "bandit"):
        assert len({d.record.timings[f"{stage}_cpu_ms"] for d in batch}) == 1, stage
    assert len({d.record.timings["rules_ms"] for d in batch}) > 1
    runtime.stop()


def _tables(engine: sa.Engine) -> dict[str, list[tuple]]:
    out = {}
    for table, drop in ((t.outbox_messages, {"status_us", "created_us"}), (t.outbox_items, set()),
                        (t.tasks, {"created_us"}), (t.decisions, {"received_us"})):
        out[table.name] = sorted(tuple(sorted((k, v) for k, v in r.items() if k not in drop))
                                 for r in rows(engine, table))
    return out


@pytest.mark.slow
def test_the_run_on_dask_workers_gives_the_in_process_result(champion, small_ledger_db, tmp_path: Path) -> None:
    results = {}
    for workers in (0, 2):
        work = tmp_path / f"w{workers}"
        work.mkdir()
        shutil.copy(small_ledger_db, work / "ledger.db")
        spec = RunSpec(f"sqlite:///{work}/ledger.db", f"sqlite:///{work}/audit.db", "rules/default.yaml",
                       champion["uri"], champion["tracking"], None, "dunning", 0.1)
        engine, audit = open_ledger(spec.ledger_url), AuditLog.from_url(spec.audit_url)
        report = run_day(DAY, engine=engine, spec=spec, workers=workers, partition_size=500)
        responses = sorted((r.request_id, json.dumps({k: v for k, v in r.payload["response"].items()
                                                      if k != "latency_ms"}, sort_keys=True))
                           for r in map(_record(audit), range(1, audit.count() + 1)))
        assert audit.verify().ok and report.partitions >= 3
        results[workers] = (report.to_dict(), _tables(engine), responses)
        audit.close()
        engine.dispose()
    (local, tables0, responses0), (dask, tables2, responses2) = results[0], results[2]
    timing = ("workers", "seconds", "partition_p50_s", "cpu_seconds")
    assert {k: v for k, v in local.items() if k not in timing} == {k: v for k, v in dask.items() if k not in timing}
    assert tables0 == tables2 and responses0 == responses2
    assert local["messages"] > 0 and local["tasks"] > 0


def _record(audit: AuditLog):  # noqa: ANN202
    with audit.engine.connect() as conn:
        ids = dict(conn.execute(sa.text("SELECT seq, decision_id FROM audit_records")).all())
    return lambda seq: audit.get(ids[seq])


def test_the_partitions_shortcuts_give_what_the_one_builders_give(champion, small_ledger_db, tmp_path: Path) -> None:
    """The run builds each customer once (``_requests``) and its ``Decided`` from the answer (``decided_of``):
    the same requests as ``from_ledger`` per invoice and the same decisions as read back from the records."""
    app = make_app(champion, tmp_path, history=small_ledger_db)
    runtime = app.extensions["kredo.runtime"]
    ctx = Deciding(runtime.book.engine, runtime.audit, runtime.snapshot(), runtime.store)
    policy, now, i = ctx.served.rules.policy, run_moment(DAY), t.invoices.c
    parts = partitions(runtime.book.engine, size=400)
    checked = tasks = 0
    for part in parts[:2]:
        with runtime.book.engine.connect() as conn:
            views = invoice_views(conn, sa.and_(i.status == "open", i.customer_id >= part.first,
                                                i.customer_id <= part.last))
        built, skipped = _requests(views, DAY, now, policy)
        assert [r.model_dump() for r in built] == [
            from_ledger(v, request_id(DAY, v.invoice["id"]), now, policy).model_dump() for v in views
            if v.invoice["id"] not in skipped]
        result = decide_partition(ctx, DAY, part, datetime.now(UTC))
        payloads = [json.loads(e.payload_text) for e in result.entries]
        read_back = [decided_from(p) for p in payloads]
        assert result.decided == read_back
        for p in payloads:  # the response as its model dumps it, keys in its order (``serving.records``)
            dumped = NextActionDecision.model_validate(p["response"]).model_dump(mode="json")
            assert list(p["response"].items()) == list(dumped.items())
        checked += len(read_back)
        tasks += sum(d.task is not None for d in read_back)
    assert checked >= 600 and tasks > 0
    runtime.stop()
