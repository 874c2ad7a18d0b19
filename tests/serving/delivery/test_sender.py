"""The dunning day's messages really go out: a run, then the sender, against a real SMTP server and an HTTP
gateway; exactly one delivery per message from the receiver's point of view, with the right amounts, and the
last look (a payment, a dispute, a withdrawn consent, the quiet hours) stops or holds what is moot."""
from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger import schema as t
from ledger.outbox import contact_id
from tests.serving.test_dunning_run import DAY, DUE, run
from serving.bandit import build
from serving.delivery.sender import Sender, bandit_payer
from serving.delivery.settings import SMTP_PASSWORD, WEBHOOK_SECRET
from tests.serving.delivery.conftest import sender_config
from tests.support.api import make_app, routed
from tests.support.receivers import PASSWORD, SECRET
from tests.support.collections import customer, event, issued, messages, post, rows

SEND = datetime(2026, 11, 9, 9, 0, tzinfo=UTC)  # the Monday after the run, 10:00 in Amsterdam: every message is
# due (the bandit chose send times up to the Saturday evening) and inside the contact hours


def engine_of(app) -> sa.Engine:  # noqa: ANN001
    return app.extensions["kredo.runtime"].book.engine


def reachable(cid: str, **extra: object) -> dict:
    """A Dutch consumer with an e-mail address and a phone number (and consent for e-mail)."""
    return customer(cid, name=f"Klant {cid}", email=f"{cid.lower()}@example.nl", phone="+31612345678",
                    postal_address="Laan 2\n3500 AB Utrecht", language="nl", **extra)


def day_with_sms(client) -> list[str]:  # noqa: ANN001
    """Five overdue invoices of one customer (one consolidated e-mail) and six customers who consent to SMS."""
    ids = [f"C-5-INV-{n}" for n in range(1, 6)]
    post(client, reachable("C-5"), *(issued("C-5", i, DUE, amount=100.0 + n) for n, i in enumerate(ids)))
    for n in range(1, 7):
        post(client, reachable(f"S-{n}", consent_sms=True), issued(f"S-{n}", f"S-{n}-INV", DUE, amount=200.0 + n))
    run(client, status=201)
    return ids


@pytest.mark.parametrize("app", ["sqlite", "postgresql"], indirect=True)
def test_one_email_per_consolidated_reminder_and_one_webhook_call_per_sms(app, sender, smtp, gateway) -> None:
    client = routed(app)
    ids = day_with_sms(client)
    queued = messages(engine_of(app), "queued")
    by_channel = {ch: [m for m in queued if m["channel"] == ch] for ch in ("email", "sms")}
    assert by_channel["sms"] and by_channel["email"] and len(queued) == 7, [m["channel"] for m in queued]
    report = sender.run_once(SEND)
    assert report.claimed == 7 and report.outcomes["sent"] == 7, report.to_dict()

    mails = smtp.inbox.messages
    assert sorted(smtp.inbox.ids()) == sorted(m["id"] for m in by_channel["email"])  # one e-mail per message
    consolidated = next(m for m in mails if m["To"] == "c-5@example.nl")
    body = consolidated.get_content()
    for n, invoice_id in enumerate(ids):
        assert f"factuur {invoice_id}: € {100 + n},00" in body
    assert "Totaal openstaand: € 510,00" in body and "a=51000" in body
    assert consolidated["List-Unsubscribe"] == "<https://example.invalid/unsubscribe/C-5>"
    assert consolidated["Message-ID"].endswith("@voorbeeld.nl>")

    _, record = gateway
    assert sorted(record.kept) == sorted(m["id"] for m in by_channel["sms"])  # one call per SMS
    assert len(record.requests) == len(by_channel["sms"]) and all(r["signed"] for r in record.requests)
    for m in by_channel["sms"]:
        (item,) = m["items"]
        text = record.kept[m["id"]]["text"]
        assert f"€ {item['amount_cents'] // 100},00" in text and record.kept[m["id"]]["to"] == "+31612345678"

    sent = messages(engine_of(app), "sent")
    assert len(sent) == 7 and all(m["template_version"].startswith("tpl-") for m in sent)
    contacts = {r["id"]: r for r in rows(engine_of(app), t.contacts)}  # the contact history has each invoice
    for m in sent:
        for item in m["items"]:
            c = contacts[contact_id(m["id"], item["invoice_id"])]  # the lead's decision chose channel and time
            assert (c["kind"], c["channel"], c["outcome"]) == ("reminder", m["channel"], "sent")
            assert c["decision_id"] == (item["decision_id"] if item["lead"] else None)
    assert sender.run_once(SEND + timedelta(hours=1)).claimed == 0  # nothing is sent twice


def test_a_receiver_that_fails_twice_then_succeeds_gets_exactly_one_message(app, sender, smtp, gateway) -> None:
    client = routed(app)
    day_with_sms(client)
    _, record = gateway
    queued = messages(engine_of(app), "queued")
    emails, sms = ([m["id"] for m in queued if m["channel"] == ch] for ch in ("email", "sms"))
    smtp.inbox.fail_next = 2             # the mail server answers 451 to the first e-mail, twice
    record.script = ["500", "timeout"]   # the gateway fails the first SMS, then keeps it but answers too late
    first = sender.run_once(SEND)
    assert first.outcomes == {"retry": 2, "sent": 5}, first.to_dict()
    assert sender.run_once(SEND + timedelta(seconds=30)).claimed == 0    # the backoff is not over yet
    second = sender.run_once(SEND + timedelta(minutes=3))
    assert second.outcomes == {"retry": 2}, second.to_dict()
    third = sender.run_once(SEND + timedelta(minutes=10))
    assert third.outcomes == {"sent": 2}, third.to_dict()

    assert sorted(smtp.inbox.ids()) == sorted(emails) and smtp.inbox.refused == 2  # one e-mail each
    assert sorted(record.kept) == sorted(sms)                                      # one SMS each
    keys = [r["key"] for r in record.requests]
    assert keys.count(record.target) == 3 and len(keys) == len(sms) + 2  # the same idempotency key on each try
    attempts = {m["id"]: m["attempts"] for m in messages(engine_of(app), "sent")}
    assert attempts[smtp.inbox.target] == attempts[record.target] == 3
    retries = rows(engine_of(app), t.outbox_history, t.outbox_history.c.status == "retry")
    assert sorted((h["message_id"], h["attempt"]) for h in retries) == sorted(
        (m, n) for m in (smtp.inbox.target, record.target) for n in (1, 2))


def test_a_receiver_that_never_recovers_makes_a_dead_letter(app, sender, smtp, gateway) -> None:
    client = routed(app)
    post(client, reachable("C-1"), issued("C-1", "C-1-INV", DUE))
    run(client, status=201)
    smtp.inbox.fail_next = 100
    now, passes = SEND, Counter()
    while not messages(engine_of(app), "failed") and sum(passes.values()) < 40:
        passes.update(sender.run_once(now).outcomes)
        now += timedelta(hours=7)  # past the longest backoff (6 h); some passes fall in the night: held
    assert passes["retry"] == 7 and passes["failed"] == 1 and passes["held"] >= 1, passes
    (message,) = messages(engine_of(app))
    assert (message["status"], message["attempts"]) == ("failed", 8) and "dead after 8 attempts" in message["reason"]
    assert smtp.inbox.refused == 8 and not smtp.inbox.messages
    assert not rows(engine_of(app), t.contacts)  # nothing was sent: no contact booked


def test_a_payment_or_dispute_between_queueing_and_sending_stops_the_message(app, sender, smtp) -> None:
    client = routed(app)
    post(client, reachable("P-1"), issued("P-1", "P-1-INV", DUE), reachable("D-1"), issued("D-1", "D-1-INV", DUE))
    run(client, status=201)
    post(client, event("pay-1", "payment_received", "P-1", "P-1-INV", f"{DAY}T07:30:00", amount=100.0),
         event("dis-1", "dispute_opened", "D-1", "D-1-INV", f"{DAY}T07:40:00", reason="price"))
    assert sender.run_once(SEND).claimed == 0 and not smtp.inbox.messages
    assert {m["status"] for m in messages(engine_of(app))} == {"cancelled"}


def test_a_payment_booked_while_the_sender_holds_the_message_stops_it(app, sender, smtp) -> None:
    """The last look: the message is claimed, then paid, then the sender re-reads the invoice and stops."""
    client = routed(app)
    post(client, reachable("P-2"), issued("P-2", "P-2-INV", DUE, amount=80.0),
         issued("P-2", "P-2-INV-B", DUE, amount=20.0))
    run(client, status=201)
    claimed = sender.claim(SEND)
    assert len(claimed) == 1
    post(client, event("pay-2", "payment_received", "P-2", "P-2-INV", f"{DAY}T08:30:00", amount=80.0))
    report = sender.deliver(claimed, SEND)
    assert report.outcomes == {"cancelled": 1} and not smtp.inbox.messages
    after = messages(engine_of(app))
    reissued = [m for m in after if m["status"] == "queued"]  # the rest of its invoices, under a new id
    assert [i["invoice_id"] for m in reissued for i in m["items"]] == ["P-2-INV-B"]
    sender.run_once(SEND + timedelta(minutes=1))
    (mail,) = smtp.inbox.messages
    assert "P-2-INV-B" in mail.get_content() and "P-2-INV:" not in mail.get_content()


def test_a_withdrawn_consent_stops_the_message(app, sender, gateway) -> None:
    client = routed(app)
    day_with_sms(client)
    sms = [m for m in messages(engine_of(app), "queued") if m["channel"] == "sms"]
    withdrawn = sms[0]["customer_id"]
    post(client, {"event_id": f"cu-{withdrawn}-2", "type": "customer_updated", "customer_id": withdrawn,
                  "consent_sms": False})
    sender.run_once(SEND)
    _, record = gateway
    assert sms[0]["id"] not in record.kept and len(record.kept) == len(sms) - 1
    (stopped,) = [m for m in messages(engine_of(app)) if m["id"] == sms[0]["id"]]
    assert stopped["status"] == "cancelled" and stopped["reason"].startswith("consent_withdrawn")


def test_quiet_hours_hold_a_message_until_the_window_opens(app, sender, smtp) -> None:
    client = routed(app)
    post(client, reachable("Q-1"), issued("Q-1", "Q-1-INV", DUE))
    run(client, status=201)
    sunday = datetime(2026, 11, 8, 10, 0, tzinfo=UTC)  # the NL contact days are Monday to Saturday
    assert sender.run_once(sunday).outcomes == {"held": 1} and not smtp.inbox.messages
    (held,) = messages(engine_of(app))
    assert held["status"] == "queued" and held["attempts"] == 0
    monday = datetime(2026, 11, 9, 7, 0, tzinfo=UTC)   # 08:00 in Amsterdam
    assert held["next_attempt_us"] == int(monday.timestamp() * 1e6)
    assert sender.run_once(monday - timedelta(minutes=1)).claimed == 0
    assert sender.run_once(monday).outcomes == {"sent": 1} and len(smtp.inbox.messages) == 1


def test_two_senders_never_both_send_a_message(app, sender, smtp) -> None:
    client = routed(app)
    day_with_sms(client)
    first = sender.claim(SEND)
    other = type(sender)(sender.engine, sender.connectors, sender.templates, sender.policy, sender.config,
                         owner="other-host:1")
    assert first and other.claim(SEND) == []                                  # held by the first
    later = SEND + timedelta(seconds=float(sender.config["OUTBOX_LEASE_S"]) + 1)
    again = other.claim(later)                                                  # the first sender died: lease over
    assert sorted(c.id for c in again) == sorted(c.id for c in first)
    assert other.deliver(again, later).outcomes == {"sent": len(first)}
    assert len(smtp.inbox.messages) == sum(c.row.channel == "email" for c in first)


def test_the_bandit_is_paid_for_the_lead_of_each_reminder_that_went_out(champion, redis_client, redis_url, smtp,
                                                                         gateway, tmp_path) -> None:  # noqa: ANN001
    """On the shared Redis state: the reminder the sender booked is the invoice's pending reminder, for the
    lead's arm only (a rider went on the lead's channel and time); one that did not go out is not."""
    application = make_app(champion, tmp_path, REDIS_URL=redis_url)
    try:
        api = routed(application)
        day_with_sms(api)
        runtime = application.extensions["kredo.runtime"]
        config = sender_config(smtp, gateway[0], tmp_path / "letters", REDIS_URL=redis_url,
                               AUDIT_URL=runtime.config["AUDIT_URL"])
        smtp.inbox.fail_next = 100  # one single-invoice e-mail never gets through in this test
        smtp.inbox.target = next(m["id"] for m in messages(engine_of(application), "queued")
                                 if m["channel"] == "email" and len(m["items"]) == 1)
        built = Sender.from_config(runtime.book.engine, config, policy=lambda: runtime.policy.current,
                                   environ={SMTP_PASSWORD: PASSWORD, WEBHOOK_SECRET: SECRET},
                                   on_booked=bandit_payer(config))
        built.run_once(SEND)
        built.close()
        attribution = build(config).attribution
        sent = messages(engine_of(application), "sent")
        leads = [i["invoice_id"] for m in sent for i in m["items"] if i["lead"]]
        riders = [i["invoice_id"] for m in sent for i in m["items"] if not i["lead"]]
        unsent = [i["invoice_id"] for m in messages(engine_of(application), "queued") for i in m["items"]]
        assert leads and riders and unsent
        assert attribution.awaiting(leads + riders + unsent) == set(leads)
    finally:
        application.extensions["kredo.runtime"].stop()


def test_the_loop_sends_until_it_is_stopped(app, sender, smtp) -> None:  # noqa: ANN001
    """``kredo outbox send --loop`` / ``kredo worker``: passes on the clock until the stop signal."""
    client = routed(app)
    post(client, reachable("W-1"), issued("W-1", "W-1-INV", DUE))
    run(client, status=201)
    checks, passes = iter(range(3)), []
    sender.run(stop=lambda: next(checks, 2) >= 2, interval_s=0.01, passed=passes.append)  # two passes, then stop
    assert [p.claimed for p in passes] == [1]  # the second pass found nothing: not reported
    (message,) = messages(engine_of(app))  # the real clock decides: inside the contact hours sent, else held
    history = [h["status"] for h in rows(engine_of(app), t.outbox_history,
                                          t.outbox_history.c.message_id == message["id"])]
    if history == ["queued", "sent"]:
        assert message["status"] == "sent" and len(smtp.inbox.messages) == 1
    else:
        assert history == ["queued", "held"] and message["next_attempt_us"] and not smtp.inbox.messages


def test_a_promise_booked_while_the_sender_holds_the_message_stops_it(app, sender, smtp) -> None:  # noqa: ANN001
    client = routed(app)
    post(client, reachable("P-3"), issued("P-3", "P-3-INV", DUE))
    run(client, status=201)
    claimed = sender.claim(SEND)
    post(client, event("pr-3", "promise_made", "P-3", "P-3-INV", f"{DAY}T08:30:00", amount=100.0,
                       promised_for="2026-11-12"))
    assert sender.deliver(claimed, SEND).outcomes == {"cancelled": 1} and not smtp.inbox.messages
    (message,) = messages(engine_of(app))
    assert message["status"] == "cancelled" and not rows(engine_of(app), t.contacts)


def test_a_sender_inside_the_service_delivers_and_pays_its_bandit(champion, smtp, gateway, tmp_path,
                                                                   monkeypatch) -> None:  # noqa: ANN001
    """``OUTBOX_IN_SERVICE``: the worker's own sender thread, on the real clock (a country whose contact
    window is always open and that has no public holidays, so the test does not depend on the hour)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(Path("rules/default.yaml").read_text().replace(
        "  quiet_hours:\n", "  quiet_hours:\n    XX: {timezone: UTC, from: 0, until: 24, "
        "days: [mon, tue, wed, thu, fri, sat, sun]}\n", 1))
    monkeypatch.setenv(SMTP_PASSWORD, PASSWORD)
    config = sender_config(smtp, gateway[0], tmp_path / "letters")
    application = make_app(champion, tmp_path, POLICY_PATH=str(policy), OUTBOX_IN_SERVICE=True,
                           OUTBOX_INTERVAL_S=0.05, **{k: config[k] for k in (
                               "SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_CA_FILE", "MAIL_FROM")})
    try:
        api = routed(application)
        post(api, reachable("X-1", country="XX"), issued("X-1", "X-1-INV", DUE))
        run(api, status=201)
        deadline = time.monotonic() + 20
        while not messages(engine_of(application), "sent") and time.monotonic() < deadline:
            time.sleep(0.1)
        (sent,) = messages(engine_of(application), "sent")
        assert smtp.inbox.ids() == [sent["id"]]
        runtime = application.extensions["kredo.runtime"]
        assert runtime.bandit.attribution.awaiting(["X-1-INV"]) == {"X-1-INV"}  # this process's bandit learns
    finally:
        application.extensions["kredo.runtime"].stop()
