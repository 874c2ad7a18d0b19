"""The daily dunning run through the API: one consolidated reminder per customer, idempotent per day, the outbox
kept in step with disputes, promises and payment plans (SQLite and PostgreSQL ledgers)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger import schema as t
from ledger.events import US_PER_DAY, to_us
from ledger.outbox import contact_id
from tests.support.api import app_on, make_app, routed
from tests.support.collections import counts, customer, event, issued, messages, post, rows

DAY = "2026-11-02"           # a Monday; the run decides at 06:00 UTC
DUE = "2026-10-30T00:00:00"  # three days past due on DAY: a reminder in every segment's ladder


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, champion: dict[str, str], tmp_path: Path) -> Iterator:
    with app_on(request.param, request, champion, tmp_path) as application:
        yield application


@pytest.fixture()
def sqlite_app(champion: dict[str, str], tmp_path: Path) -> Iterator:
    application = make_app(champion, tmp_path)
    yield application
    application.extensions["kredo.runtime"].stop()


def engine_of(app) -> sa.Engine:  # noqa: ANN001
    return app.extensions["kredo.runtime"].book.engine


def run(client, day: str = DAY, dry_run: bool = False, status: int | None = None) -> dict:  # noqa: ANN001
    answer = client.post("/v1/dunning/runs", json={"date": day, "dry_run": dry_run})
    assert answer.status_code in ((200, 201) if status is None else (status,)), answer.get_data(as_text=True)
    return answer.get_json()


def five_overdue(client, cid: str = "C-5") -> list[str]:  # noqa: ANN001
    ids = [f"{cid}-INV-{n}" for n in range(1, 6)]
    post(client, customer(cid), *(issued(cid, i, DUE, amount=100.0 + n) for n, i in enumerate(ids)))
    return ids


def decision(app, invoice_id: str, day: str = DAY) -> dict:  # noqa: ANN001
    """The audit record of the run's decision on an invoice."""
    (row,) = rows(engine_of(app), t.decisions, t.decisions.c.request_id == f"run:{day}:{invoice_id}")
    return app.extensions["kredo.runtime"].audit.get(row["decision_id"]).payload


def test_five_overdue_invoices_get_one_consolidated_reminder(app) -> None:
    client = routed(app)
    ids = five_overdue(client)
    report = run(client, status=201)
    assert (report["created"], report["invoices"], report["messages"]) == (True, 5, 1)
    assert report["summary"]["actions"] == {"remind": 5} and report["summary"]["channels"] == {"email": 5}
    (message,) = messages(engine_of(app))
    assert (message["customer_id"], message["kind"], message["channel"], message["status"]) == (
        "C-5", "reminder", "email", "queued")
    assert [i["invoice_id"] for i in message["items"]] == ids
    assert sum(i["lead"] for i in message["items"]) == 1
    assert [i["amount_cents"] for i in message["items"]] == [10000, 10100, 10200, 10300, 10400]
    audit = app.extensions["kredo.runtime"].audit
    assert audit.count() == 5 and audit.verify().ok
    for item in message["items"]:  # each item carries out its own recorded decision
        record = audit.get(item["decision_id"])
        assert record.payload["response"]["action"] == "remind" and record.payload["run"] == f"run:{DAY}"


def test_a_second_run_on_the_same_day_creates_nothing(app) -> None:
    client = routed(app)
    five_overdue(client)
    post(client, customer("C-K", "business", key_account=True, account_manager="Anna de Vries", consent_phone=True),
         issued("C-K", "K-1", "2026-10-20T00:00:00", amount=5000.0))  # 13 days: the account manager calls
    first = run(client, status=201)
    before = counts(engine_of(app))
    audit = app.extensions["kredo.runtime"].audit
    records = audit.count()
    second = run(client, status=200)
    assert second["created"] is False and second["run_id"] == first["run_id"] == f"run:{DAY}"
    assert {k: v for k, v in second.items() if k != "created"} == {k: v for k, v in first.items() if k != "created"}
    assert counts(engine_of(app)) == before and audit.count() == records
    assert before["tasks"] >= 1 and before["outbox_messages"] == 1
    (call,) = rows(engine_of(app), t.tasks, t.tasks.c.type == "call")
    assert (call["owner"], call["customer_id"], call["invoice_id"]) == ("Anna de Vries", "C-K", "K-1")
    assert decision(app, "K-1")["response"]["task"]["id"] == call["id"]  # the answer names its worklist task


def test_the_runs_call_is_the_task_next_action_names_and_takes_the_calls_outcome(sqlite_app) -> None:
    """The run opens each decision's own task (``engine.tasks``, as next-action by invoice id does): the
    recorded answer names the worklist task, next-action on the same invoice and day finds it (no second call),
    a promise the call brought is booked on it, and every task the run opens can be asked for by its type."""
    client = routed(sqlite_app)
    post(client, customer("C-K", "business", key_account=True, account_manager="Anna de Vries", consent_phone=True),
         issued("C-K", "K-1", "2026-10-20T00:00:00", amount=5000.0), issued("C-K", "K-2", "2026-10-20T00:00:00",
                                                                           amount=3000.0))
    post(client, customer("P-C"), issued("P-C", "P-1", "2026-10-20T00:00:00"),
         event("d-p1", "dispute_opened", "P-C", "P-1", "2026-10-21T09:00:00", reason="price"))  # past its SLA
    run(client, status=201)
    calls = {r["invoice_id"]: r for r in rows(engine_of(sqlite_app), t.tasks, t.tasks.c.type == "call")}
    assert sorted(calls) == ["K-1", "K-2"] and {r["owner"] for r in calls.values()} == {"Anna de Vries"}
    for invoice_id, row in calls.items():
        assert decision(sqlite_app, invoice_id)["response"]["task"]["id"] == row["id"]
    by_id = client.post("/v1/decisions/next-action", json={"request_id": "again-K-1", "invoice_id": "K-1",
                                                           "now": f"{DAY}T08:00:00+00:00"}).get_json()
    assert by_id["task"]["id"] == calls["K-1"]["id"]
    assert len(rows(engine_of(sqlite_app), t.tasks, t.tasks.c.type == "call")) == 2
    done = client.post(f"/v1/tasks/{calls['K-1']['id']}/outcome", json={
        "outcome_id": "call-1", "outcome": "promise_to_pay", "at": f"{DAY}T10:00:00+00:00",
        "promise": {"date": "2026-11-06", "amount": 5000.0}})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert [(r["invoice_id"], r["amount_cents"]) for r in rows(engine_of(sqlite_app), t.promises)] == [
        ("K-1", 500000)]
    kinds = {r["type"] for r in rows(engine_of(sqlite_app), t.tasks)}
    assert {"call", "dispute"} <= kinds
    for kind in sorted(kinds):
        listed = client.get("/v1/tasks", query_string={"type": kind})
        assert listed.status_code == 200 and listed.get_json()["tasks"], (kind, listed.get_data(as_text=True))


def test_a_dry_run_decides_and_writes_nothing(sqlite_app) -> None:
    client = routed(sqlite_app)
    five_overdue(client)
    report = run(client, dry_run=True, status=200)
    assert (report["dry_run"], report["created"], report["invoices"], report["messages"]) == (True, False, 5, 1)
    assert counts(engine_of(sqlite_app))["outbox_messages"] == 0
    assert sqlite_app.extensions["kredo.runtime"].audit.count() == 0
    assert run(client, status=201)["created"] is True  # the day was not taken by the dry run


def test_a_dispute_after_the_reminder_was_queued_cancels_it(app) -> None:
    client = routed(app)
    ids = five_overdue(client)
    post(client, customer("C-1"), issued("C-1", "ONE-1", DUE))
    run(client)
    (consolidated, single) = sorted(messages(engine_of(app), "queued"), key=lambda m: len(m["items"]), reverse=True)
    assert len(consolidated["items"]) == 5 and len(single["items"]) == 1
    answer = post(client, event("d-3", "dispute_opened", "C-5", ids[2], f"{DAY}T07:00:00", reason="price"),
                  event("d-1", "dispute_opened", "C-1", "ONE-1", f"{DAY}T07:00:00", reason="not_received"))
    assert answer["applied"] == 2
    after = {m["id"]: m for m in messages(engine_of(app))}
    assert after[consolidated["id"]]["status"] == after[single["id"]]["status"] == "cancelled"
    assert after[consolidated["id"]]["reason"] == "disputed"
    (reissued,) = [m for m in after.values() if m["status"] == "queued"]
    assert reissued["replaces"] == consolidated["id"] and reissued["channel"] == consolidated["channel"]
    assert [i["invoice_id"] for i in reissued["items"]] == [i for i in ids if i != ids[2]]
    tasks = {r["invoice_id"]: r for r in rows(engine_of(app), t.tasks, t.tasks.c.type == "dispute")}
    assert (tasks[ids[2]]["owner"], tasks["ONE-1"]["owner"]) == ("sales", "logistics")  # the policy's routes
    assert tasks[ids[2]]["due_us"] == to_us(f"{DAY}T07:00:00") + 10 * US_PER_DAY  # price: 10 days' SLA
    by_id = client.post("/v1/decisions/next-action", json={"request_id": "after-dispute", "invoice_id": ids[2],
                                                           "now": f"{DAY}T08:00:00+00:00"}).get_json()
    assert by_id["action"] == "pause" and by_id["task"]["name"] == "resolve_dispute"
    assert by_id["task"]["id"] == tasks[ids[2]]["id"]  # the task opened when the dispute was booked


def test_a_payment_takes_the_paid_invoice_off_a_queued_reminder(sqlite_app) -> None:
    client = routed(sqlite_app)
    ids = five_overdue(client)
    run(client)
    post(client, event("p-1", "payment_received", "C-5", ids[0], f"{DAY}T06:30:00", amount=100.0))
    (queued,) = messages(engine_of(sqlite_app), "queued")
    assert [i["invoice_id"] for i in queued["items"]] == ids[1:]
    assert not any(i["lead"] for i in queued["items"]) or ids[0] not in [i["invoice_id"] for i in queued["items"]]


def sent(app, message: dict, at: str) -> None:  # noqa: ANN001
    """What a sender does: mark the message sent and book each invoice's contact (the id the outbox names)."""
    with engine_of(app).begin() as conn:
        conn.execute(sa.update(t.outbox_messages).where(t.outbox_messages.c.id == message["id"]).values(status="sent"))
    post(routed(app), *(event(contact_id(message["id"], i["invoice_id"]), "reminder_sent", message["customer_id"],
                                    i["invoice_id"], at, channel=message["channel"], step=i["step"],
                                    final_notice=i["action"] == "final_notice") for i in message["items"]))


def test_a_resolved_dispute_resumes_where_it_stood_with_no_second_14_day_letter(sqlite_app) -> None:
    client = routed(sqlite_app)
    post(client, customer("C-F", consent_email=False), issued("C-F", "F-1", "2026-10-01T00:00:00", amount=200.0))
    run(client, "2026-10-31")  # 30 days past due: the 14-day letter
    (letter,) = messages(engine_of(sqlite_app), "queued")
    assert (letter["kind"], letter["channel"]) == ("final_notice", "letter") and letter["items"][0]["collection_costs_cents"]
    sent(sqlite_app, letter, "2026-10-31T09:00:00")
    post(client, event("dF", "dispute_opened", "C-F", "F-1", "2026-11-02T10:00:00", reason="quality"))
    assert run(client, "2026-11-05")["summary"]["actions"] == {"pause": 1}
    post(client, event("dF-r", "dispute_resolved", "C-F", "F-1", "2026-11-20T10:00:00"))
    after = run(client, "2026-11-21")
    record = decision(sqlite_app, "F-1", "2026-11-21")
    assert after["summary"]["actions"] != {"final_notice": 1} and record["response"]["step"] != "final_notice"
    assert record["decided_on"]["invoice"]["days_in_resolved_disputes"] == 18
    assert not any(r.startswith("ladder.") and r.endswith(("reminder_1", "pre_due_nudge")) for r in record["rules_fired"])
    assert len(messages(engine_of(sqlite_app))) == 1 + (after["messages"])  # no second letter queued
    assert all(m["kind"] != "final_notice" for m in messages(engine_of(sqlite_app))[1:])


def test_a_dispute_past_its_sla_is_escalated_and_resumes_or_stays_paused_per_type(sqlite_app) -> None:
    client = routed(sqlite_app)
    post(client, customer("C-P", "business"), issued("C-P", "P-1", "2026-10-10T00:00:00"),
         issued("C-P", "P-2", "2026-10-10T00:00:00"),
         event("dp", "dispute_opened", "C-P", "P-1", "2026-10-20T09:00:00", reason="price"),
         event("dq", "dispute_opened", "C-P", "P-2", "2026-10-20T09:00:00", reason="quality"))
    run(client)  # 13 days after both were opened: past the price SLA (10) and not the quality one (14)
    assert decision(sqlite_app, "P-1")["response"]["action"] != "pause"
    assert decision(sqlite_app, "P-2")["response"]["action"] == "pause"
    overdue = rows(engine_of(sqlite_app), t.tasks, t.tasks.c.type == "dispute_overdue")
    assert [(r["invoice_id"], r["owner"]) for r in overdue] == [("P-1", "credit_manager")]
    run(client, "2026-11-05")  # 16 days: quality is past its SLA too, and stays paused
    assert decision(sqlite_app, "P-2", "2026-11-05")["response"]["action"] == "pause"
    assert {r["invoice_id"] for r in rows(engine_of(sqlite_app), t.tasks, t.tasks.c.type == "dispute_overdue")} == \
        {"P-1", "P-2"}


def test_a_promise_pauses_dunning_and_a_broken_one_is_a_task_and_a_risk_fact(sqlite_app) -> None:
    client = routed(sqlite_app)
    post(client, customer("C-PR"), issued("C-PR", "PR-1", DUE), issued("C-PR", "PR-2", DUE),
         event("pm-1", "promise_made", "C-PR", "PR-1", "2026-11-01T12:00:00", promised_for="2026-11-05", amount=100.0),
         event("pm-2", "promise_made", "C-PR", "PR-2", "2026-11-01T12:00:00", promised_for="2026-11-05", amount=100.0))
    run(client)
    for inv in ("PR-1", "PR-2"):
        record = decision(sqlite_app, inv)
        assert record["response"]["action"] == "wait" and "constraint.promise_pause" in record["rules_fired"]
    post(client, event("pay-2", "payment_received", "C-PR", "PR-2", "2026-11-07T10:00:00", amount=100.0))  # in grace
    report = run(client, "2026-11-09")  # the 5th plus 3 days' grace has passed: PR-1 is broken, PR-2 was kept
    assert report["promises"] == {"broken": 1, "kept": 1}
    status = {r["id"]: r["status"] for r in rows(engine_of(sqlite_app), t.promises)}
    assert status == {"pm-1": "broken", "pm-2": "kept"}
    (task,) = rows(engine_of(sqlite_app), t.tasks, t.tasks.c.type == "broken_promise")
    assert task["invoice_id"] == "PR-1"
    record = decision(sqlite_app, "PR-1", "2026-11-09")
    # the risk fact is the feature (one fold online and offline): a promise whose day ended unpaid counts,
    # PR-2 paid within the grace too; the grace decides the promise row's verdict (kept above)
    assert record["features"]["broken_promises"] == 2
    assert record["decided_on"]["invoice"]["promise"]["status"] == "broken"
    assert "dunning.promise_broken" in record["rules_fired"] and record["response"]["tone"] == "firm"


def test_dunning_follows_a_payment_plan_until_an_instalment_is_missed(sqlite_app) -> None:
    client = routed(sqlite_app)
    post(client, customer("C-PL"), issued("C-PL", "PL-1", "2026-10-13T00:00:00", amount=300.0),
         event("plan-1", "plan_agreed", "C-PL", None, "2026-11-01T10:00:00", invoice_ids=["PL-1"],
               instalments=[{"due_at": "2026-11-03T00:00:00", "amount": 150.0},
                            {"due_at": "2026-12-01T00:00:00", "amount": 150.0}]))
    assert decision_of_day(sqlite_app, client, DAY)["rules_fired"][1] == "constraint.plan_on_track"
    post(client, event("pay-i1", "payment_received", "C-PL", "PL-1", "2026-11-03T09:00:00", amount=150.0))
    assert decision_of_day(sqlite_app, client, "2026-11-20")["response"]["action"] == "wait"
    missed = decision_of_day(sqlite_app, client, "2026-12-05")  # due the 1st, 3 days' grace: missed since the 5th
    assert (missed["response"]["action"], missed["response"]["step"]) == ("remind", "plan_instalment")
    report = run(client, "2026-12-12")  # still unpaid a week later: the plan is cancelled, the ladder resumes
    assert report["plans"] == {"cancelled": 1}
    record = decision(sqlite_app, "PL-1", "2026-12-12")
    assert "constraint.plan_cancelled" in record["rules_fired"] and record["response"]["step"] != "plan_instalment"
    (plan,) = rows(engine_of(sqlite_app), t.payment_plans)
    assert plan["status"] == "cancelled"
    instalments = rows(engine_of(sqlite_app), t.plan_instalments)
    assert sorted(i["paid_cents"] for i in instalments) == [0, 15000]
    after = decision_of_day(sqlite_app, client, "2026-12-20")
    assert after["decided_on"]["invoice"]["payment_plan"] is None and not any(
        r.startswith("constraint.plan") for r in after["rules_fired"])


def decision_of_day(app, client, day: str) -> dict:  # noqa: ANN001
    run(client, day)
    return decision(app, "PL-1", day)


def test_promise_and_plan_events_are_judged_one_by_one(sqlite_app) -> None:
    client = routed(sqlite_app)
    post(client, customer("C-J"), customer("C-O"), issued("C-J", "J-1", DUE), issued("C-J", "J-2", DUE),
         issued("C-O", "O-1", DUE))
    answer = post(client,
                  event("ok", "promise_made", "C-J", "J-1", "2026-11-01T10:00:00", promised_for="2026-11-10",
                        amount=50.0),
                  event("twice", "promise_made", "C-J", "J-1", "2026-11-02T10:00:00", promised_for="2026-11-12",
                        amount=50.0),
                  event("early", "promise_made", "C-J", "J-2", "2026-11-02T10:00:00", promised_for="2026-11-01",
                        amount=50.0),
                  event("much", "promise_made", "C-J", "J-2", "2026-11-02T10:00:00", promised_for="2026-11-09",
                        amount=500.0),
                  event("ghost", "promise_made", "C-J", "J-9", "2026-11-02T10:00:00", promised_for="2026-11-09",
                        amount=5.0),
                  event("theirs", "plan_agreed", "C-J", None, "2026-11-02T10:00:00", invoice_ids=["J-2", "O-1"],
                        instalments=[{"due_at": "2026-12-01T00:00:00", "amount": 300.0}]),
                  event("short", "plan_agreed", "C-J", None, "2026-11-02T10:00:00", invoice_ids=["J-2"],
                        instalments=[{"due_at": "2026-12-01T00:00:00", "amount": 10.0}]),
                  event("plan", "plan_agreed", "C-J", None, "2026-11-02T10:00:00", invoice_ids=["J-2"],
                        instalments=[{"due_at": "2026-12-01T00:00:00", "amount": 100.0}]),
                  event("again", "plan_agreed", "C-J", None, "2026-11-02T11:00:00", invoice_ids=["J-2"],
                        instalments=[{"due_at": "2026-12-01T00:00:00", "amount": 100.0}]),
                  event("order", "plan_agreed", "C-J", None, "2026-11-02T11:00:00", invoice_ids=["J-1"],
                        instalments=[{"due_at": "2026-12-01T00:00:00", "amount": 50.0},
                                     {"due_at": "2026-11-20T00:00:00", "amount": 50.0}]))
    assert [(r["event_id"], r["status"], r["code"], r["field"]) for r in answer["results"]] == [
        ("ok", "applied", None, None),
        ("twice", "refused", "promise_open", "invoice_id"),
        ("early", "refused", "invalid_field", "promised_for"),
        ("much", "refused", "invalid_field", "amount"),
        ("ghost", "refused", "unknown_invoice", "invoice_id"),
        ("theirs", "refused", "customer_mismatch", "customer_id"),
        ("short", "refused", "invalid_field", "instalments"),
        ("plan", "applied", None, None),
        ("again", "refused", "plan_active", "invoice_ids"),
        ("order", "refused", "invalid_field", "instalments[1].due_at")]
    assert post(client, event("ok", "promise_made", "C-J", "J-1", "2026-11-01T10:00:00", promised_for="2026-11-10",
                              amount=50.0))["duplicate"] == 1
