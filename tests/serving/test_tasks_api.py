"""Tasks and worklists through the API: next-action opens the task, the worklist lists it by priority,
the outcome is booked in the ledger (idempotent, in the timeline, read by the next decision)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger import schema as t
from tests.support.api import make_app, routed

NOW = "2026-11-23T10:00:00+01:00"  # a Monday


def customer(cid: str, **extra) -> dict:
    return {"event_id": f"cu-{cid}", "type": "customer_updated", "customer_id": cid, "country": "NL",
            "consent_email": True, **extra}


def issued(cid: str, inv: str, amount: float) -> dict:
    return {"event_id": f"i-{inv}", "type": "invoice_issued", "customer_id": cid, "invoice_id": inv,
            "at": "2026-10-01T09:00:00", "amount": amount, "due_at": "2026-11-01T00:00:00",
            "payment_terms_days": 31, "paperless": True}


@pytest.fixture()
def app(champion: dict[str, str], tmp_path: Path) -> Iterator:
    application = make_app(champion, tmp_path)
    yield application
    application.extensions["kredo.runtime"].stop()


@pytest.fixture()
def client(app):  # noqa: ANN201
    c = routed(app)
    booked = c.post("/v1/events", json={"events": [
        customer("C-K", customer_type="business", profile="sme", size="small", key_account=True,
                 account_manager="Anna de Vries", consent_phone=True),
        customer("C-P", customer_type="consumer", profile="adult", size="consumer", consent_phone=True),
        customer("C-N", customer_type="consumer", profile="adult", size="consumer"),
        issued("C-K", "INV-K", 4000.0), issued("C-P", "INV-P", 300.0), issued("C-N", "INV-N", 200.0)]}).get_json()
    assert booked["refused"] == 0, booked
    return c


def next_action(client, invoice_id: str, now: str = NOW, rid: str = "") -> dict:  # noqa: ANN001
    answer = client.post("/v1/decisions/next-action",
                         json={"request_id": f"na-{invoice_id}-{rid or now[:10]}", "invoice_id": invoice_id, "now": now})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def outcome(client, task_id: str, status: int = 200, **body) -> dict:  # noqa: ANN001
    answer = client.post(f"/v1/tasks/{task_id}/outcome", json=body)
    assert answer.status_code == status, answer.get_data(as_text=True)
    return answer.get_json()


def test_calls_become_tasks_owned_by_the_account_manager_or_the_segments_queue(client) -> None:
    key = next_action(client, "INV-K")
    plain = next_action(client, "INV-P")
    assert (key["action"], key["task"]["type"], key["task"]["owner"]) == ("call", "call", "Anna de Vries")
    assert (plain["action"], plain["task"]["type"]) == ("call", "call")
    assert plain["task"]["owner"] == f"collectors-{plain['segment']}"  # the queue of its risk segment
    for answer, amount in ((key, 4000.0), (plain, 300.0)):
        task = answer["task"]
        assert task["priority"] == pytest.approx(round(amount * answer["risk"]["p_late_30"], 2), abs=0.01)
        assert f"EUR {amount:,.2f} at risk" in task["reason"] and task["due"] == "2026-11-23"
        assert client.get(f"/v1/tasks/{task['id']}").get_json()["priority"] == task["priority"]
    again = next_action(client, "INV-P", "2026-11-24T10:00:00+01:00")  # the call is still to be made
    assert again["task"]["id"] == plain["task"]["id"]
    # a consumer without phone consent gets a letter, not a call without a channel, and no task
    letter = next_action(client, "INV-N")
    assert (letter["action"], letter["step"], letter["task"]) == ("remind", "call", None)
    assert letter["channel"] in ("letter", "email")  # the policy's fallbacks of phone
    assert letter["send_at"] is not None


def test_the_worklist_filters_pages_and_orders_by_priority(client) -> None:
    ids = {inv: next_action(client, inv)["task"]["id"] for inv in ("INV-K", "INV-P")}
    page = client.get("/v1/tasks?type=call&status=open&due=2026-11-23").get_json()
    assert [x["id"] for x in page["tasks"]] == [ids["INV-K"], ids["INV-P"]]  # EUR 4,000 before EUR 300
    assert page["tasks"][0]["priority"] >= page["tasks"][1]["priority"] and page["next_cursor"] is None
    first = client.get("/v1/tasks?limit=1").get_json()
    second = client.get(f"/v1/tasks?limit=1&cursor={first['next_cursor']}").get_json()
    assert [x["id"] for x in first["tasks"] + second["tasks"]] == [ids["INV-K"], ids["INV-P"]]
    assert client.get("/v1/tasks?owner=Anna de Vries").get_json()["tasks"][0]["id"] == ids["INV-K"]
    assert client.get("/v1/tasks?due=2026-11-22").get_json()["tasks"] == []
    assert client.get("/v1/tasks?owner=").get_json()["tasks"]  # an empty owner is no filter
    for query, field in (("type=fax", "type"), ("status=maybe", "status"), ("due=tomorrow", "due"),
                         ("cursor=bm9wZQ", "cursor"), ("owner=" + "x" * 65, "owner"), ("limit=0", "limit"), ("colour=red", "colour"), ("type=", "type"), ("due=", "due")):
        answer = client.get(f"/v1/tasks?{query}")
        assert answer.status_code == 422 and answer.mimetype == "application/problem+json", query
        assert answer.get_json()["field"] == field, query
    missing = client.get("/v1/tasks/call:INV-X:20261123")
    assert missing.status_code == 404 and missing.get_json()["field"] == "task_id"


def test_not_reached_reschedules_then_a_promise_is_booked_once_and_read(client, app) -> None:
    task = next_action(client, "INV-P")["task"]
    again = outcome(client, task["id"], outcome_id="o-1", outcome="not_reached", at="2026-11-27T16:00:00+01:00")
    assert again["task"]["status"] == "open" and again["task"]["due"] == "2026-11-30"  # Friday -> Monday
    body = {"outcome_id": "o-2", "outcome": "promise_to_pay", "at": "2026-11-30T11:00:00+01:00",
            "promise": {"date": "2026-12-04", "amount": 300.0}, "by": "collector-7"}
    done = outcome(client, task["id"], **body)
    assert done["task"]["status"] == "done" and [e["status"] for e in done["events"]] == ["applied", "applied"]
    replay = outcome(client, task["id"], **body)  # the same outcome twice books nothing new
    assert [e["status"] for e in replay["events"]] == ["duplicate", "duplicate"]
    engine = app.extensions["kredo.runtime"].book.engine
    with engine.connect() as conn:
        promises = conn.execute(sa.select(t.promises.c.invoice_id, t.promises.c.amount_cents)).all()
        contacts = conn.execute(sa.select(t.contacts.c.kind, t.contacts.c.outcome)
                                .where(t.contacts.c.invoice_id == "INV-P").order_by(t.contacts.c.at_us)).all()
    assert promises == [("INV-P", 30000)]
    assert contacts == [("call", "not_reached"), ("call", "promise_to_pay")]
    timeline = client.get("/v1/invoices/INV-P").get_json()["timeline"]
    assert [e["kind"] for e in timeline].count("call") == 2
    closed = client.post(f"/v1/tasks/{task['id']}/outcome", json={"outcome_id": "o-3", "outcome": "reached"})
    assert closed.status_code == 409 and closed.get_json()["field"] == "task_id"
    # the promise is not kept: a week later checkout hears of it
    record = client.get(f"/v1/decisions/{next_action(client, 'INV-P', '2026-12-07T10:00:00+01:00')['decision_id']}")
    assert record.get_json()["features"]["broken_promises"] == 1.0


def test_a_dispute_raised_on_the_phone_pauses_dunning_and_goes_to_its_department(client) -> None:
    task = next_action(client, "INV-K")["task"]
    outcome(client, task["id"], outcome_id="o-1", outcome="dispute_raised", dispute_type="quality",
            at="2026-11-23T11:00:00+01:00")
    after = next_action(client, "INV-K", "2026-11-24T10:00:00+01:00")
    assert after["action"] == "pause"
    assert (after["task"]["type"], after["task"]["owner"]) == ("dispute", "customer_service")  # disputes.types
    assert after["task"]["due"] == "2026-12-07"  # opened 23 November + the quality route's 14 days' SLA
    assert client.get("/v1/invoices/INV-K").get_json()["disputed"] is True


def test_a_payment_plan_and_a_wrong_contact(client, app) -> None:
    key, plain = next_action(client, "INV-K")["task"], next_action(client, "INV-P")["task"]
    plan = [{"due_date": "2026-12-15", "amount": 2000.0}, {"due_date": "2027-01-15", "amount": 2000.0}]
    outcome(client, key["id"], outcome_id="o-1", outcome="payment_plan_agreed", instalments=plan)
    with app.extensions["kredo.runtime"].book.engine.connect() as conn:
        rows = conn.execute(sa.select(t.plan_instalments.c.number, t.plan_instalments.c.amount_cents)).all()
    assert rows == [(1, 200000), (2, 200000)]
    wrong = outcome(client, plain["id"], outcome_id="o-2", outcome="wrong_contact")
    assert wrong["task"]["status"] == "done"
    assert (wrong["follow_up"]["type"], wrong["follow_up"]["owner"]) == ("review", "credit_desk")


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"outcome_id": "o-1", "outcome": "promise_to_pay"}, 422, "promise_to_pay.promise"),
    ({"outcome_id": "o-1", "outcome": "reached", "dispute_type": "price"}, 422, "reached.dispute_type"),
    ({"outcome_id": "o-1", "outcome": "reached", "retry_on": "2026-12-01"}, 422, "reached.retry_on"),
    ({"outcome_id": "o-1", "outcome": "called"}, 422, "outcome"),
    ({"outcome_id": "o-1"}, 422, "outcome"),
    ({"outcome_id": "o-1", "outcome": "payment_plan_agreed", "instalments": []}, 422,
     "payment_plan_agreed.instalments"),
    ({"outcome_id": "o-1", "outcome": "promise_to_pay", "at": "2026-11-30T10:00:00+01:00",
      "promise": {"date": "2026-11-20", "amount": 10.0}}, 409, "promise.date"),
    ({"outcome": "reached"}, 422, "reached.outcome_id"),
])
def test_bad_outcomes_are_problems_naming_the_field(client, body: dict, status: int, field: str) -> None:
    task = next_action(client, "INV-P")["task"]
    answer = client.post(f"/v1/tasks/{task['id']}/outcome", json=body)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json" and answer.get_json()["field"] == field
    assert client.get(f"/v1/tasks/{task['id']}").get_json()["status"] == "open"  # nothing was booked
