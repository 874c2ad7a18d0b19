"""Redis down, restarted empty, flushed: the service degrades honestly (issue 15, F4).

F4, as found: Redis killed for 6 s under load, 908 checkouts and 122 event batches answered 500
``internal``; after the restart the store was empty (no persistence), the events acknowledged before
the kill were gone, and the service said ready and answered a customer "accept, open_exposure 0.0"
instead of "prepay, 293.27".

Each test runs its own redis-server (``tests.support.services.RedisServer``) on a fixed port, kills
it and starts it again on the same port, under an app whose ledger holds the small simulated
ledger and the customer of F4: three disputed invoices of EUR 293.27 in all (three open disputes put
the customer in the high risk segment: prepay).
"""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.api import CHECKOUT, Clients, make_app
from tests.support.services import RedisServer

PROBLEM = "application/problem+json"
CUSTOMER = {"id": "C-F4", "type": "consumer", "country": "NL"}
AMOUNTS = (100.0, 100.0, 93.27)


def f4_events() -> list[dict]:
    """The F4 customer's book: master data, three overdue invoices (EUR 293.27) and a dispute on each."""
    events = [{"event_id": "f4-master", "type": "customer_updated", "customer_id": CUSTOMER["id"],
               "customer_type": CUSTOMER["type"], "country": CUSTOMER["country"]}]
    for i, amount in enumerate(AMOUNTS):
        invoice = f"INV-F4-{i}"
        events += [{"event_id": f"f4-issue-{i}", "type": "invoice_issued", "customer_id": CUSTOMER["id"],
                    "invoice_id": invoice, "at": f"2026-09-0{i + 1}T10:00:00", "due_at": f"2026-10-0{i + 1}T10:00:00",
                    "amount": amount, "payment_terms_days": 30, "paperless": True},
                   {"event_id": f"f4-dispute-{i}", "type": "dispute_opened", "customer_id": CUSTOMER["id"],
                    "invoice_id": invoice, "at": f"2026-10-1{i}T10:00:00", "reason": "quality"}]
    return events


def late_invoice(event_id: str = "f4-issue-outage", amount: float = 10.0) -> dict:
    return {"event_id": event_id, "type": "invoice_issued", "customer_id": CUSTOMER["id"],
            "invoice_id": f"INV-{event_id}", "at": "2026-11-20T10:00:00", "due_at": "2026-12-20T10:00:00",
            "amount": amount, "payment_terms_days": 30, "paperless": True}


_ids = iter(range(1_000_000))


def checkout(api: Clients, customer: dict = CUSTOMER, amount: float = 50.0):  # noqa: ANN201
    body = {**CHECKOUT, "request_id": f"f4-{next(_ids)}", "customer": customer,
            "order": {**CHECKOUT["order"], "amount": amount}}
    return api.checkout.post("/v1/decisions/checkout", json=body)


def assert_unavailable(r, code: str = "store_unavailable") -> dict:  # noqa: ANN001
    """A 503 problem document with Retry-After, never a 500 ``internal``."""
    assert r.status_code == 503, r.get_data(as_text=True)
    assert r.mimetype == PROBLEM
    assert int(r.headers["Retry-After"]) >= 1
    body = r.get_json()
    assert body["code"] == code and body["error_id"].startswith("err_")
    assert "127.0.0.1" not in r.get_data(as_text=True)
    return body


def wait_ready(api: Clients, timeout_s: float = 90.0) -> float:
    """Seconds until /readyz says 200; every checkout of the F4 customer on the way is a 503 or the truth."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        r = checkout(api)
        if r.status_code == 200:
            assert (r.get_json()["outcome"], r.get_json()["open_exposure"]) != ("accept", 0.0), r.get_json()
        else:
            assert_unavailable(r)
        if api.anonymous.get("/readyz").status_code == 200:
            return time.monotonic() - t0
        time.sleep(0.1)
    raise AssertionError(f"not ready {timeout_s} s after Redis came back")


@pytest.fixture()
def redis_server_() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


def app_on(champion, tmp_path, history, server: RedisServer, **overrides):  # noqa: ANN001, ANN201
    """An app on ``server`` and a copy of ``history`` (a ledger database, or None: only the F4 customer)."""
    app = make_app(champion, tmp_path, history=history, **{"REDIS_URL": server.url,
                                                                   "STORE_CHECK_INTERVAL_S": 0.2, **overrides})
    api = Clients(app)
    answer = api.dunning.post("/v1/events", json={"events": f4_events()}).get_json()
    assert answer["applied"] == len(f4_events()), answer
    return app, api


def test_f4_redis_killed_then_restarted_empty(champion, tmp_path, small_ledger_db, redis_server_) -> None:
    app, api = app_on(champion, tmp_path, small_ledger_db, redis_server_)
    try:
        before = checkout(api).get_json()
        assert (before["outcome"], before["open_exposure"]) == ("prepay", 293.27)

        redis_server_.stop(kill=True)
        t0 = time.monotonic()
        assert_unavailable(checkout(api))
        assert time.monotonic() - t0 < 3.0
        t0 = time.monotonic()
        ready = api.admin.get("/readyz")
        assert time.monotonic() - t0 < 1.0
        assert ready.status_code == 503 and ready.get_json()["checks"]["store"] is False
        # the ledger is the durable store: an event booked while Redis is down is acknowledged (it is durable)
        during = api.dunning.post("/v1/events", json={"events": [late_invoice()]})
        assert during.status_code == 200 and during.get_json()["applied"] == 1, during.get_data(as_text=True)

        redis_server_.start()  # empty: no RDB, no AOF
        waited = wait_ready(api)
        after = checkout(api).get_json()
        assert (after["outcome"], after["open_exposure"]) == ("prepay", 303.27), after
        runtime = app.extensions["kredo.runtime"]
        assert runtime.keeper.warmed["customers"] > 1_000, runtime.keeper.warmed
        print(f"ready {waited:.1f} s after the restart; warm: {runtime.keeper.warmed}")
    finally:
        app.extensions["kredo.runtime"].stop()


def test_an_emptied_store_is_caught_on_the_read_itself(champion, tmp_path, small_ledger_db,
                                                       redis_server_) -> None:
    """No timer: the epoch read with the features sees the flushed store, the request is a 503 (not
    "accept, 0.0") and wakes the re-warm."""
    import redis

    app, api = app_on(champion, tmp_path, small_ledger_db, redis_server_, STORE_CHECK_INTERVAL_S=3600)
    try:
        first = checkout(api)
        assert first.status_code == 200 and first.get_json()["outcome"] == "prepay", first.get_data(as_text=True)
        redis.Redis.from_url(redis_server_.url).flushall()
        assert_unavailable(checkout(api))
        wait_ready(api)
        after = checkout(api).get_json()
        assert (after["outcome"], after["open_exposure"]) == ("prepay", 293.27)
    finally:
        app.extensions["kredo.runtime"].stop()


def test_events_booked_while_redis_is_down_reach_a_persistent_redis(champion, tmp_path) -> None:
    """Redis comes back with its data (append-only file): no re-warm, but what was booked meanwhile
    is refolded from the ledger (the store backlog) before the customer is read again."""
    server = RedisServer(persistent=True).start()
    try:
        app, api = app_on(champion, tmp_path, None, server)
    except BaseException:
        server.close()
        raise
    try:
        server.stop(kill=True)
        for i in range(3):
            answer = api.dunning.post("/v1/events", json={"events": [late_invoice(f"outage-{i}", 10.0)]})
            assert answer.status_code == 200 and answer.get_json()["applied"] == 1
        again = api.dunning.post("/v1/events", json={"events": [late_invoice("outage-0", 10.0)]}).get_json()
        assert again["duplicate"] == 1  # acknowledged once, never twice
        server.start()
        wait_ready(api)
        for _ in range(50):  # the backlog is drained on the keeper's next round
            after = checkout(api).get_json()
            if after["open_exposure"] == 323.27:
                break
            time.sleep(0.1)
        assert (after["outcome"], after["open_exposure"]) == ("prepay", 323.27), after
        # its epoch came back with its data: adopted, not re-warmed (the one warm was the start's, of an empty ledger)
        assert app.extensions["kredo.runtime"].keeper.warmed["customers"] == 0
    finally:
        app.extensions["kredo.runtime"].stop()
        server.close()


def test_rules_only_mode_decides_conservatively_and_says_so(champion, tmp_path, redis_server_) -> None:
    """``DEGRADED_MODE=rules_only``: while the store is down, checkouts are decided by the policy's rules
    alone on the customer's history folded from the ledger, with a new customer's credit (the
    new-customer caps); flagged in the answer and in the audit record. Next-action still answers 503."""
    app, api = app_on(champion, tmp_path, None, redis_server_, DEGRADED_MODE="rules_only")
    try:
        normal = checkout(api).get_json()
        assert normal["degraded"] is None and normal["risk"] is not None
        redis_server_.stop(kill=True)

        known = checkout(api)
        assert known.status_code == 200, known.get_data(as_text=True)
        body = known.get_json()
        assert body["degraded"]["mode"] == "rules_only" and body["risk"] is None
        assert (body["outcome"], body["open_exposure"]) == ("prepay", 293.27)  # the ledger's exposure > 250 cap
        assert body["reasons"][0]["code"] == "degraded.rules_only"
        record = api.auditor.get(f"/v1/decisions/{body['decision_id']}").get_json()
        assert record["degraded"]["mode"] == "rules_only" and record["model"] is None and record["shap"] is None
        ledger = record["degraded"]["ledger"]
        assert (ledger["open_exposure"], ledger["overdue_amount"], ledger["open_disputes"]) == (293.27, 293.27, 3)
        assert ledger["max_days_overdue"] > 30 and ledger["disputed_share"] == 1.0  # folded from the ledger

        small = checkout(api, {"id": "C-F4-NEW", "type": "consumer", "country": "NL"}, 100.0).get_json()
        assert (small["outcome"], small["credit_limit"]) == ("accept", 250.0) and small["degraded"]
        large = checkout(api, {"id": "C-F4-NEWB", "type": "business", "country": "NL"}, 3000.0).get_json()
        assert (large["outcome"], large["credit_limit"]) == ("prepay", 2500.0)

        na = api.dunning.post("/v1/decisions/next-action", json={"request_id": "f4-na", "invoice_id": "INV-F4-0"})
        assert_unavailable(na)
    finally:
        app.extensions["kredo.runtime"].stop()


def test_an_unknown_degraded_mode_is_refused_at_start(champion, tmp_path) -> None:
    from domain.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        make_app(champion, tmp_path, DEGRADED_MODE="optimistic")
    assert caught.value.field == "DEGRADED_MODE"
