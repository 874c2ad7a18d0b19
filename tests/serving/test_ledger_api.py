"""Kredo keeps the book: every finding of the integrator's month (webshop, bank, dunning system against the
API only) as a test. Each app here starts on an empty ledger of its own."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from features.online import MemoryStore
from features.transform import InvoiceRequest
from tests.support.api import NEXT_ACTION, Clients, client, make_app

CUSTOMER = {"event_id": "cu-1", "type": "customer_updated", "customer_id": "C-1", "customer_type": "consumer",
            "country": "NL", "profile": "adult", "size": "consumer", "consent_email": True, "consent_sms": True}


def issued(eid: str, inv: str, at: str, amount: float = 100.0, due: str = "2026-10-31T00:00:00",
           cust: str = "C-1") -> dict:
    return {"event_id": eid, "type": "invoice_issued", "customer_id": cust, "invoice_id": inv, "at": at,
            "amount": amount, "due_at": due, "payment_terms_days": 30, "paperless": True}


def event(eid: str, kind: str, inv: str, at: str, cust: str = "C-1", **extra) -> dict:
    return {"event_id": eid, "type": kind, "customer_id": cust, "invoice_id": inv, "at": at, **extra}


@pytest.fixture()
def app(champion: dict[str, str], tmp_path: Path) -> Iterator:
    application = make_app(champion, tmp_path)
    yield application
    application.extensions["kredo.runtime"].stop()


@pytest.fixture()
def api(app) -> Clients:
    return Clients(app)


def post(api: Clients, *events: dict) -> dict:
    answer = api.dunning.post("/v1/events", json={"events": list(events)})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def verdicts(answer: dict) -> list[tuple]:
    return [(r["event_id"], r["status"], r["code"], r["field"]) for r in answer["results"]]


def full_body(invoice_id: str = "INV-1", **invoice) -> dict:
    body = {**NEXT_ACTION, "request_id": f"na-{invoice_id}-{len(invoice)}"}
    body["invoice"] = {**NEXT_ACTION["invoice"], "id": invoice_id, "amount": 100.0, **invoice}
    return body


def test_next_action_reads_the_dispute_the_ledger_knows(api) -> None:
    post(api, CUSTOMER, issued("e1", "INV-1", "2026-10-01T09:00:00"),
         event("e2", "dispute_opened", "INV-1", "2026-11-10T09:00:00", reason="quality"))
    answer = api.dunning.post("/v1/decisions/next-action", json=full_body(disputed=False)).get_json()
    assert answer["action"] == "pause"
    corrections = [r["text"] for r in answer["reasons"] if r["code"] == "ledger.correction"]
    assert corrections and "disputed is true in the ledger" in corrections[0]
    by_id = api.dunning.post("/v1/decisions/next-action", json={"request_id": "by-id-1", "invoice_id": "INV-1",
                                                           "now": "2026-11-23T10:00:00+01:00"}).get_json()
    assert by_id["action"] == "pause" and not any(r["code"] == "ledger.correction" for r in by_id["reasons"])


def test_a_paid_invoice_gets_none_never_remind(api) -> None:
    post(api, CUSTOMER, issued("e1", "INV-1", "2026-10-01T09:00:00"),
         event("e2", "payment_received", "INV-1", "2026-11-02T09:00:00", amount=100.0))
    for body in (full_body(), {"request_id": "paid-by-id", "invoice_id": "INV-1", "now": "2026-11-23T10:00:00Z"}):
        answer = api.dunning.post("/v1/decisions/next-action", json=body).get_json()
        assert answer["action"] == "none" and answer["channel"] is None, answer
        assert answer["reasons"][0]["code"] == "ledger.invoice_paid"


def test_an_invoice_never_issued_is_404(api) -> None:
    post(api, CUSTOMER, issued("e1", "INV-1", "2026-10-01T09:00:00"))
    by_id = api.dunning.post("/v1/decisions/next-action", json={"request_id": "ghost", "invoice_id": "INV-404"})
    assert by_id.status_code == 404 and by_id.get_json()["field"] == "invoice_id"
    assert by_id.mimetype == "application/problem+json"
    body = api.dunning.post("/v1/decisions/next-action", json=full_body("INV-404"))
    assert body.status_code == 404 and body.get_json()["field"] == "invoice.id"


def test_a_late_bank_payment_is_booked_and_the_features_refolded(api, app) -> None:
    first = post(api, CUSTOMER, issued("e1", "INV-1", "2026-09-01T09:00:00", due="2026-09-15T00:00:00"),
                 issued("e2", "INV-2", "2026-09-20T09:00:00", due="2026-10-04T00:00:00"),
                 event("e3", "payment_received", "INV-2", "2026-10-01T09:00:00", amount=100.0))
    assert first["applied"] == 4
    late = post(api, event("bank-1", "payment_received", "INV-1", "2026-09-28T09:00:00", amount=100.0))
    assert verdicts(late) == [("bank-1", "applied", None, None)]
    assert verdicts(post(api, event("bank-1", "payment_received", "INV-1", "2026-09-28T09:00:00",
                                       amount=100.0))) == [("bank-1", "duplicate", None, None)]
    in_order = MemoryStore()
    history = [issued("e1", "INV-1", "2026-09-01T09:00:00", due="2026-09-15T00:00:00"),
               issued("e2", "INV-2", "2026-09-20T09:00:00", due="2026-10-04T00:00:00"),
               event("bank-1", "payment_received", "INV-1", "2026-09-28T09:00:00", amount=100.0),
               event("e3", "payment_received", "INV-2", "2026-10-01T09:00:00", amount=100.0)]
    assert all(r.status == "applied" for r in in_order.apply(history))
    request = InvoiceRequest(amount=50.0, payment_terms_days=14, issued_at="2026-11-01T09:00:00")
    served = app.extensions["kredo.runtime"].store
    assert served.customer_features("C-1", request) == in_order.customer_features("C-1", request)
    assert served.customer_features("C-1", request)["mean_days_late"] > 0  # the late payment counts as late


def test_poison_dates_are_refused_and_the_customer_still_decides(api) -> None:
    typo = post(api, CUSTOMER, issued("p1", "INV-P", "0026-12-03T10:00:00+01:00"),
                event("p2", "payment_received", "INV-P", "0026-12-03T10:00:00+01:00", amount=10.0))
    assert verdicts(typo)[1:] == [("p1", "refused", "date_out_of_range", "at"),
                                  ("p2", "refused", "date_out_of_range", "at")]
    checkout = api.checkout.post("/v1/decisions/checkout", json={
        "request_id": "after-poison", "customer": {"id": "C-1", "type": "consumer", "country": "NL"},
        "order": {"amount": 80.0, "currency": "EUR"}})
    assert checkout.status_code == 200
    next_action = api.dunning.post("/v1/decisions/next-action", json={**full_body("INV-X"), "customer": {
        **NEXT_ACTION["customer"], "id": "C-NEW"}})
    assert next_action.status_code == 200


def test_an_invoice_dated_a_year_ahead_does_not_wipe_waiting_rewards(api) -> None:
    """Rewards settle by event time, but never past the server's clock: a future date expires nothing."""
    today = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    iso = lambda when: when.isoformat(timespec="seconds")  # noqa: E731
    issue, due, sent = today - timedelta(days=35), today - timedelta(days=5), today - timedelta(days=1)
    post(api, issued("r0", "INV-R", iso(issue), cust="C-R", due=iso(due)))
    body = full_body("INV-R", issue_date=issue.date().isoformat(), due_date=due.date().isoformat())
    body.update(now=f"{iso(sent)}+00:00", customer={**NEXT_ACTION["customer"], "id": "C-R"})
    decision = api.dunning.post("/v1/decisions/next-action", json=body).get_json()
    assert decision["action"] == "remind" and decision["bandit"]["arm"] is not None, decision
    post(api, event("r1", "reminder_sent", "INV-R", iso(sent), cust="C-R", decision_id=decision["decision_id"]))
    ahead = iso(today + timedelta(days=365))
    future = post(api, issued("r2", "INV-FUT", ahead, cust="C-R", due=ahead))
    assert future["applied"] == 1 and future["rewards"] == 0
    paid = post(api, event("r3", "payment_received", "INV-R", iso(today), cust="C-R", amount=100.0))
    assert paid["rewards"] == 1  # still pending, and paid within its window


def test_events_that_contradict_the_ledger_are_refused_precisely(api) -> None:
    post(api, CUSTOMER, issued("e1", "INV-1", "2026-10-01T09:00:00"), issued("e2", "INV-2", "2026-10-01T09:00:00"))
    decision = api.dunning.post("/v1/decisions/next-action", json={"request_id": "d-2", "invoice_id": "INV-2",
                                                               "now": "2026-11-23T10:00:00+01:00"}).get_json()
    answer = post(api,
                  event("o1", "payment_received", "INV-1", "2026-11-01T09:00:00", amount=1000.0),
                  event("o2", "dispute_opened", "INV-1", "2026-11-05T09:00:00"),
                  event("o3", "reminder_sent", "INV-1", "2026-11-23T10:00:00", decision_id=decision["decision_id"]))
    assert verdicts(answer) == [("o1", "applied", "overpayment", "amount"),
                                ("o2", "refused", "dispute_on_paid_invoice", "invoice_id"),
                                ("o3", "refused", "decision_of_other_invoice", "decision_id")]
    assert "unallocated credit" in answer["results"][0]["reason"]


def test_each_refusal_names_its_own_cause_and_one_bad_event_spares_the_batch(api) -> None:
    answer = post(api, CUSTOMER,
                  {**issued("t1", "INV-T", "2026-10-01T09:00:00"), "type": "invoice_isued"},
                  {k: v for k, v in event("t2", "payment_received", "INV-1", "2026-10-02T09:00:00").items()},
                  {**issued("t3", "INV-D", "2026-10-01T09:00:00"), "due_at": "2026-10-31"},
                  {**issued("t4", "INV-E", "2026-10-01T09:00:00"), "event_id": ""},
                  issued("t5", "INV-1", "2026-10-01T09:00:00"))
    got = verdicts(answer)
    assert got[1] == ("t1", "refused", "unknown_type", "type")
    assert got[2][1:] == ("refused", "missing_field", "amount")
    assert got[3] == ("t3", "applied", None, None)  # a date-only due date is a due date at midnight
    assert got[4][1] == "refused" and got[4][3] == "event_id"
    assert got[5] == ("t5", "applied", None, None)
    assert answer["applied"] == 3 and answer["refused"] == 3


def test_the_service_starts_from_the_ledgers_history(champion, small_ledger, small_ledger_db, tmp_path) -> None:
    app = make_app(champion, tmp_path, history=small_ledger_db)
    try:
        busiest = small_ledger.invoices["customer_id"].value_counts()
        customer = small_ledger.customers.set_index("customer_id").loc[busiest.index[0]]
        answer = client(app, "checkout").post("/v1/decisions/checkout", json={
            "request_id": "history-1", "order": {"amount": 100.0, "currency": "EUR"},
            "customer": {"id": busiest.index[0], "type": customer.type, "country": customer.country}}).get_json()
        assert not any(rule.startswith("limit.new_") for rule in answer["rules_fired"]), answer["rules_fired"]
        assert app.extensions["kredo.runtime"].keeper.warmed["applied"] > busiest.iloc[0]
    finally:
        app.extensions["kredo.runtime"].stop()


def test_serve_refuses_to_split_the_in_process_store_over_workers(monkeypatch, capsys) -> None:
    from serving.cli import main

    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["serve", "--workers", "2"]) == 2
    assert "would split the online features" in capsys.readouterr().err


def _valid(answer, name: str) -> dict:  # noqa: ANN001
    import jsonschema

    from tests.support.api import schema_of

    assert answer.status_code == 200, answer.get_data(as_text=True)
    jsonschema.validate(answer.get_json(), schema_of(name))
    return answer.get_json()


def test_the_read_api_answers_what_the_integrator_kept_on_its_side(api) -> None:
    today = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    iso = lambda when: when.isoformat(timespec="seconds")  # noqa: E731
    post(api, CUSTOMER,
         issued("i1", "INV-A", iso(today - timedelta(days=70)), 120.0, due=iso(today - timedelta(days=40))),
         issued("i2", "INV-B", iso(today - timedelta(days=20)), 80.0, due=iso(today + timedelta(days=10))),
         issued("i3", "INV-C", iso(today - timedelta(days=50)), 50.0, due=iso(today - timedelta(days=20))),
         event("p1", "payment_received", "INV-C", iso(today - timedelta(days=5)), amount=50.0),
         event("p2", "payment_received", "INV-A", iso(today - timedelta(days=3)), amount=20.0),
         event("d1", "dispute_opened", "INV-A", iso(today - timedelta(days=2)), reason="price", owner="sales"))
    for i in range(3):
        api.dunning.post("/v1/decisions/next-action", json={"request_id": f"look-{i}", "invoice_id": "INV-A"})
    overview = _valid(api.dunning.get("/v1/customers/C-1"), "CustomerOverview")
    assert overview["customer_type"] == "consumer" and overview["consent"]["email"] is True
    assert overview["exposure"] == 180.0 and overview["overdue"] == 100.0 and overview["open_items"] == 2
    assert overview["ageing"] == {"current": 80.0, "1_30": 0.0, "31_60": 100.0, "61_90": 0.0, "90_plus": 0.0}
    assert overview["standing"]["segment"] in ("low", "medium", "high") and overview["standing"]["credit_limit"] > 0
    assert overview["open_disputes"] == 1 and len(overview["last_decisions"]) == 3
    assert api.dunning.get("/v1/customers/C-404").status_code == 404
    lists = {status: [i["id"] for i in _valid(api.dunning.get(f"/v1/customers/C-1/invoices?status={status}"),
                                              "InvoiceList")["invoices"]]
             for status in ("open", "overdue", "disputed", "paid")}
    assert lists == {"open": ["INV-B", "INV-A"], "overdue": ["INV-A"], "disputed": ["INV-A"], "paid": ["INV-C"]}
    assert api.dunning.get("/v1/customers/C-1/invoices?status=late").get_json()["field"] == "status"
    detail = _valid(api.dunning.get("/v1/invoices/INV-A"), "InvoiceDetail")
    assert [e["kind"] for e in detail["timeline"]][:3] == ["issued", "payment", "dispute_opened"]
    assert sum(e["kind"] == "decision" for e in detail["timeline"]) == 3 and detail["open_amount"] == 100.0
    assert "pause" in [e["text"] for e in detail["timeline"] if e["kind"] == "decision"][0]
    page = _valid(api.auditor.get("/v1/decisions?customer_id=C-1&limit=2"), "DecisionPage")
    assert len(page["decisions"]) == 2 and page["next_cursor"]
    rest = _valid(api.auditor.get(f"/v1/decisions?customer_id=C-1&limit=2&cursor={page['next_cursor']}"), "DecisionPage")
    ids = [d["decision_id"] for d in page["decisions"] + rest["decisions"]]
    assert len(ids) == len(set(ids)) == 3 and rest["next_cursor"] is None
    assert api.auditor.get("/v1/decisions?cursor=nonsense").get_json()["field"] == "cursor"
    assert api.auditor.get("/v1/decisions?limit=").get_json()["field"] == "limit"  # Schemathesis: an integer, not empty
    assert api.auditor.get("/v1/decisions?outcome=remind&invoice_id=INV-A").get_json()["decisions"] == []


def test_a_late_shuffled_stream_gives_exactly_the_in_order_features(api, app) -> None:
    """Each invoice's events arrive late by a lag of its own (the bank's batch days), so a customer's events
    arrive out of order all the time; the ledger books them and the online features equal an in-order fold."""
    from ledger.imports import customer_events
    from tests.support.streams import assert_in_order_features, late_stream
    from training.simulation import SimulationConfig, simulate

    ledger = simulate(SimulationConfig(customers=80, months=6, seed=3))
    history, stream = late_stream(ledger, 5)
    assert stream != history
    post(api, *customer_events(ledger))
    booked = 0
    for start in range(0, len(stream), 400):
        answer = post(api, *stream[start:start + 400])
        assert answer["refused"] == 0, [r for r in answer["results"] if r["status"] == "refused"][:3]
        booked += answer["applied"]
    assert booked == len(history)
    assert_in_order_features(app.extensions["kredo.runtime"].store, ledger, history)


def test_the_integrators_month_keeps_no_state_but_its_own_ids(api) -> None:
    """A webshop, a bank and a dunning system play one simulated month against the API only: the webshop
    sends its customers and invoices, the bank its payments a few days late in daily batches, and the dunning
    system asks Kredo which invoices are overdue and what to do next, reporting the reminders it sends."""
    import numpy as np

    from ledger.events import ledger_to_events, to_us
    from ledger.imports import customer_events
    from training.simulation import SimulationConfig, simulate

    world = simulate(SimulationConfig(customers=40, months=3, seed=9, start="2026-08-01"))
    rng = np.random.default_rng(9)
    history = ledger_to_events(world, include_reminders=False)
    bank_lag = {e["event_id"]: int(rng.integers(1, 4)) for e in history if e["type"] == "payment_received"}
    day_us = 86_400_000_000
    arrive = lambda e: to_us(e["at"]) + bank_lag.get(e["event_id"], 0) * day_us  # noqa: E731
    assert all(r["status"] == "applied" for r in post(api, *customer_events(world))["results"])
    customer_ids = list(world.customers["customer_id"])  # the integrator's own ids: all it keeps
    start, end = to_us("2026-09-01T00:00:00"), to_us("2026-10-01T00:00:00")
    backlog = sorted((e for e in history if arrive(e) < start), key=arrive)
    assert post(api, *backlog)["refused"] == 0
    month = sorted((e for e in history if start <= arrive(e) < end), key=arrive)
    reminders, asked = 0, 0
    for day in range(30):
        today = start + day * day_us
        due_today = [e for e in month if today <= arrive(e) < today + day_us]
        if due_today:
            answer = post(api, *due_today)
            assert answer["refused"] == 0, [r for r in answer["results"] if r["status"] == "refused"][:3]
        if day % 7 != 3:
            continue
        now = datetime(2026, 9, 1, 10, tzinfo=UTC) + timedelta(days=day)
        for customer_id in customer_ids:
            overdue = api.dunning.get(f"/v1/customers/{customer_id}/invoices?status=overdue").get_json()["invoices"]
            for invoice in overdue:
                asked += 1
                decision = api.dunning.post("/v1/decisions/next-action", json={
                    "request_id": f"dun-{invoice['id']}-{day}", "invoice_id": invoice["id"],
                    "now": now.isoformat()}).get_json()
                assert decision["action"] != "none", decision  # overdue means open
                if decision["action"] == "remind":
                    reminders += 1
                    sent = post(api, event(f"rem-{invoice['id']}-{day}", "reminder_sent", invoice["id"],
                                              now.replace(tzinfo=None).isoformat(), cust=customer_id,
                                              decision_id=decision["decision_id"], channel=decision["channel"]))
                    assert sent["applied"] == 1, sent
    assert asked > 20 and reminders > 5
    paid = world.invoices[world.invoices["paid_at"].notna()]
    for invoice_id in paid["invoice_id"].head(30):
        if api.dunning.get(f"/v1/invoices/{invoice_id}").get_json()["status"] == "paid":
            answer = api.dunning.post("/v1/decisions/next-action", json={"request_id": f"after-{invoice_id}",
                                                                    "invoice_id": invoice_id}).get_json()
            assert answer["action"] == "none"
