"""What went out, visible: ``GET /v1/messages`` and ``/v1/messages/{id}`` with every status a message went
through, and the messages on the invoice's timeline; bad filters are a 422 naming the field."""
from __future__ import annotations

import time
from datetime import timedelta

from tests.serving.delivery.test_sender import SEND, day_with_sms, engine_of, reachable
from tests.serving.test_dunning_run import DUE, run
from tests.support.api import client, routed
from tests.support.collections import issued, messages, post


def test_the_messages_and_their_history_are_listed(app, sender, smtp) -> None:
    api = routed(app)
    day_with_sms(api)
    smtp.inbox.fail_next = 1
    sender.run_once(SEND)
    sender.run_once(SEND + timedelta(minutes=5))
    page = api.get("/v1/messages", query_string={"customer": "C-5"}).get_json()
    (message,) = page["messages"]
    assert page["next_cursor"] is None and message["status"] == "sent" and message["channel"] == "email"
    assert [i["amount"] for i in message["items"]] == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert [(h["status"], h["attempt"]) for h in message["history"]] in ([("queued", 0), ("sent", 1)],
                                                                          [("queued", 0), ("retry", 1), ("sent", 2)])
    assert api.get(f"/v1/messages/{message['id']}").get_json() == message
    tried = api.get(f"/v1/messages/{smtp.inbox.target}").get_json()  # the e-mail the server refused once
    assert [(h["status"], h["attempt"]) for h in tried["history"]] == [("queued", 0), ("retry", 1), ("sent", 2)]
    assert "451" in tried["history"][1]["detail"] and tried["template_version"].startswith("tpl-")
    assert tried["attempts"] == 2 and tried["next_attempt_at"] is not None and len(tried["content_digest"]) == 64
    sent = api.get("/v1/messages", query_string={"status": "sent", "limit": 2}).get_json()
    assert len(sent["messages"]) == 2 and sent["next_cursor"] == sent["messages"][-1]["id"]
    rest = api.get("/v1/messages", query_string={"status": "sent", "cursor": sent["next_cursor"]}).get_json()
    assert len(rest["messages"]) == 5 and rest["messages"][0]["id"] > sent["next_cursor"]
    sms = api.get("/v1/messages", query_string={"channel": "sms"}).get_json()["messages"]
    assert sms and {m["channel"] for m in sms} == {"sms"}
    by_invoice = api.get("/v1/messages", query_string={"invoice": "C-5-INV-3"}).get_json()["messages"]
    assert [m["id"] for m in by_invoice] == [message["id"]]


def test_the_invoice_timeline_shows_what_became_of_its_message(app, sender) -> None:
    api = routed(app)
    post(api, reachable("T-1"), issued("T-1", "T-1-INV", DUE))
    run(api, status=201)
    sender.run_once(SEND)
    timeline = api.get("/v1/invoices/T-1-INV").get_json()["timeline"]
    (message_id,) = [m["id"] for m in messages(engine_of(app))]
    shown = [e for e in timeline if e["kind"] == "message"]
    assert sorted(e["text"].split(" (")[0].split(":")[0] for e in shown) == ["message by email queued",
                                                                              "message by email sent"]
    assert {e["ref"] for e in shown} == {message_id}
    assert any(e["kind"] == "reminder" and "by email" in e["text"] and e["text"].endswith("(sent)")
               for e in timeline)  # the booked contact, with what the receiver answered


def test_bad_filters_are_refused_naming_the_field(app) -> None:
    api = routed(app)
    for query, field in (({"status": "lost"}, "status"), ({"channel": "pigeon"}, "channel"),
                         ({"limit": "0"}, "limit"), ({"cursor": "a b"}, "cursor"),
                         ({"customer": "x" * 129}, "customer"), ({"sort": "id"}, "sort")):
        answer = api.get("/v1/messages", query_string=query)
        assert answer.status_code == 422 and answer.mimetype == "application/problem+json", query
        assert answer.get_json()["field"] == field
    missing = api.get("/v1/messages/msg:none")
    assert missing.status_code == 404 and missing.get_json()["field"] == "message_id"


def test_the_roles_that_may_read_the_outbox(app) -> None:
    for role, status in (("dunning", 200), ("auditor", 200), ("checkout", 403), ("analyst", 403)):
        assert client(app, role).get("/v1/messages").status_code == status, role


def test_the_outbox_is_in_the_metrics(app, sender, smtp) -> None:  # noqa: ANN001
    """What an operator alerts on: messages per status (dead letters) and the age of the oldest due one."""
    api = routed(app)
    day_with_sms(api)
    smtp.inbox.fail_next = 100
    smtp.inbox.target = next(m["id"] for m in messages(engine_of(app)) if m["channel"] == "email")
    sender.run_once(SEND)
    text = client(app, "auditor").get("/metrics").get_data(as_text=True)
    assert 'kredo_outbox_messages{status="sent"} 6.0' in text and 'kredo_outbox_messages{status="queued"} 1.0' in text
    assert 'kredo_outbox_messages{status="failed"} 0.0' in text
    (age,) = [float(line.split()[-1]) for line in text.splitlines() if line.startswith("kredo_outbox_oldest_due")]
    (waiting,) = messages(engine_of(app), "queued")  # its retry is due by the real clock: it waits since its send time
    assert abs(age - (time.time() - waiting["send_at_us"] / 1e6)) < 60
