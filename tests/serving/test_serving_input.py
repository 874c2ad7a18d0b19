"""No input that crashes: each poison input of the tester's findings, then a normal decision (both stores).

F1: a number Python prints with an exponent (``1e-05``, a model score of ``3e-05``) crashed
durable-rules (error 204): a 500. F2: ``now`` near year 9999 and one such ``at`` in an events batch:
``OverflowError``, a 500, nothing of the batch applied. F3: two ``invoice_issued`` of ``1e308`` made
the customer's ``amount_sum`` infinite in Redis and every later checkout of that customer a 500.
Each poison input is replayed on the in-process and on the Redis store, and the same customer then
gets a normal checkout and next-action: no input may make a later request fail.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import logging
import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from tests.support.api import CHECKOUT, NEXT_ACTION, Clients, make_app

CUSTOMER = {"id": "C-POISON", "type": "business", "country": "NL"}


@pytest.fixture(scope="module", params=["memory", "redis"])
def poison_app(request: pytest.FixtureRequest, champion, tmp_path_factory) -> Iterator:  # noqa: ANN001
    """An app on the in-process store, or on a flushed Redis (one per module and store: apps are slow to build)."""
    redis_url = None
    if request.param == "redis":
        import redis

        redis_url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(redis_url).flushdb()
    app = make_app(champion, tmp_path_factory.mktemp("poison"), REDIS_URL=redis_url)
    yield app
    app.extensions["kredo.runtime"].stop()


def rid(tag: str) -> str:
    """A fresh request id (the app lives for the module; a reused id would replay the first answer)."""
    return f"{tag}-{uuid.uuid4().hex[:12]}"


def issued(event_id: str, **fields) -> dict:  # noqa: ANN003
    event_id = rid(event_id)
    return {"event_id": event_id, "type": "invoice_issued", "customer_id": CUSTOMER["id"],
            "invoice_id": f"I-{event_id}", "at": "2026-01-05T10:00:00", "due_at": "2026-02-04T10:00:00",
            "amount": 100.0, "payment_terms_days": 30, "paperless": False, **fields}


def checkout(api: Clients, request_id: str, **order) -> object:
    body = {**CHECKOUT, "request_id": rid(request_id), "customer": CUSTOMER, "order": {**CHECKOUT["order"], **order}}
    return api.checkout.post("/v1/decisions/checkout", json=body)


def next_action(api: Clients, request_id: str, **fields) -> object:  # noqa: ANN003
    """A full-body next-action for a customer the ledger does not keep (the caller keeps its own state)."""
    body = copy.deepcopy(NEXT_ACTION)
    body.update(request_id=rid(request_id), **fields)
    body["customer"].update(id=f"{CUSTOMER['id']}-OWN", type="business")
    return api.dunning.post("/v1/decisions/next-action", json=body)


def assert_normal_decisions(api: Clients, tag: str) -> None:
    """The same customer still gets a normal checkout, and a next-action for an invoice the ledger keeps
    (asked by invoice id, and with a full body)."""
    invoice = issued(f"normal-{tag}")
    master = {"event_id": rid("master"), "type": "customer_updated", "customer_id": CUSTOMER["id"],
              "customer_type": CUSTOMER["type"], "country": CUSTOMER["country"]}
    assert api.dunning.post("/v1/events", json={"events": [master, invoice]}).get_json()["applied"] == 2
    by_id = api.dunning.post("/v1/decisions/next-action", json={"request_id": rid(f"by-id-{tag}"),
                                                                "invoice_id": invoice["invoice_id"]})
    full = next_action(api, f"after-na-{tag}")
    for r in (checkout(api, f"after-{tag}"), by_id, full):
        assert r.status_code == 200, r.get_data(as_text=True)


def test_f1_numbers_python_prints_with_an_exponent(poison_app) -> None:  # noqa: ANN001
    api = Clients(poison_app)
    for i, amount in enumerate((1e-05, 3e-05, 5e-324, 1e-300, 99_999_999.99999999)):
        r = checkout(api, f"f1-{i}", amount=amount)
        assert r.status_code == 200, r.get_data(as_text=True)
    assert_normal_decisions(api, "f1")


class Confident:
    """The served model with extreme, exponent-printed scores (a very confident model)."""

    def __init__(self, model, scores: dict[str, float]) -> None:  # noqa: ANN001
        self.model, self.scores = model, scores

    def predict_one(self, x: np.ndarray) -> dict[str, float]:
        return {**self.model.predict_one(x), **self.scores}

    def explain_probability_one(self, x: np.ndarray):  # noqa: ANN201
        return self.model.explain_probability_one(x)


@pytest.mark.parametrize("scores", [
    {"p_late_30": 3e-05, "p_late": 1e-300, "expected_days_late": 1e-07},
    {"p_late_30": 1 - 1e-12, "p_late": 1 - 1e-12, "expected_days_late": 1e20},
])
def test_f1_a_confident_model_decides(poison_app, scores: dict[str, float], monkeypatch) -> None:  # noqa: ANN001
    runtime = poison_app.extensions["kredo.runtime"]
    monkeypatch.setattr(runtime, "served", dataclasses.replace(runtime.served,
                                                              model=Confident(runtime.served.model, scores)))
    api = Clients(poison_app)
    for r in (checkout(api, "confident"), next_action(api, "confident-na")):
        assert r.status_code == 200, r.get_data(as_text=True)


@pytest.mark.parametrize("field, value", [
    ("now", "9999-12-31T23:59:59-14:00"), ("now", "0001-01-01T00:00:00+14:00"), ("now", "1999-12-31T23:59:59Z"),
])
def test_f2_checkout_now_outside_the_window_is_a_422_naming_now(poison_app, field: str, value: str) -> None:  # noqa: ANN001
    api = Clients(poison_app)
    body = {**CHECKOUT, "request_id": rid("f2-c"), "customer": CUSTOMER, field: value}
    r = api.checkout.post("/v1/decisions/checkout", json=body)
    assert r.status_code == 422 and r.get_json()["field"] == field, r.get_data(as_text=True)
    assert "2000-01-01" in r.get_json()["detail"] or "days after the server clock" in r.get_json()["detail"]
    assert_normal_decisions(api, "f2-c")


@pytest.mark.parametrize("path, value", [
    (("now",), "9999-12-31T23:00:00+00:00"),
    (("invoice", "due_date"), "9999-12-31"),
    (("invoice", "issue_date"), "1999-12-31"),
    (("invoice", "dispute_opened"), "9999-12-31"),
    (("invoice", "reminders"), [{"sent_at": "9999-12-31T23:59:59-14:00", "channel": "email"}]),
])
def test_f2_next_action_dates_outside_the_window_are_a_422_naming_the_field(poison_app, path: tuple,
                                                                           value: object) -> None:  # noqa: ANN001
    api = Clients(poison_app)
    body = copy.deepcopy(NEXT_ACTION)
    body.update(request_id=rid("f2-na"))
    body["customer"]["id"] = CUSTOMER["id"]
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    r = api.dunning.post("/v1/decisions/next-action", json=body)
    expected = ".".join(path) + (".0.sent_at" if path[-1] == "reminders" else "")
    assert r.status_code == 422 and r.get_json()["field"] == expected, r.get_data(as_text=True)
    assert_normal_decisions(api, "f2-na")


def test_f2_one_bad_at_is_refused_alone_and_the_batch_applied(poison_app) -> None:  # noqa: ANN001
    api = Clients(poison_app)
    store = poison_app.extensions["kredo.runtime"].store
    before = store.aggregates(CUSTOMER["id"]).invoices_issued
    batch = [issued("a"), issued("b", at="9999-12-31T23:59:59-14:00"), issued("c")]
    r = api.dunning.post("/v1/events", json={"events": batch})
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert [x["status"] for x in body["results"]] == ["applied", "refused", "applied"]
    assert body["results"][1]["field"] == "at" and "days after the server clock" in body["results"][1]["detail"]
    assert store.aggregates(CUSTOMER["id"]).invoices_issued == before + 2
    assert_normal_decisions(api, "f2-ev")


def test_f3_two_invoices_of_1e308_leave_the_customer_decidable(poison_app) -> None:  # noqa: ANN001
    api = Clients(poison_app)
    r = api.dunning.post("/v1/events", json={"events": [issued("x", amount=1e308), issued("y", amount=1e308)]})
    assert [x["status"] for x in r.get_json()["results"]] == ["refused", "refused"]
    assert {x["field"] for x in r.get_json()["results"]} == {"amount"}
    assert_normal_decisions(api, "f3")
    assert api.dunning.post("/v1/events", json={"events": [issued("z")]}).get_json()["applied"] == 1
    assert_normal_decisions(api, "f3-again")


def test_too_many_events_is_a_422_naming_events(poison_app) -> None:  # noqa: ANN001
    """1,001 events of ~360 bytes: past the 256 KB body limit of a decision, still counted (was a 413)."""
    events = [issued(f"n{i}", invoice_id=f"I-{i}", customer_id=f"C-{i:04d}-" + "x" * 110) for i in range(1001)]
    assert len(json.dumps({"events": events})) > 256 * 1024
    r = Clients(poison_app).dunning.post("/v1/events", json={"events": events})
    assert r.status_code == 422 and r.get_json()["field"] == "events", r.get_data(as_text=True)[:300]


def test_a_5xx_is_generic_with_an_error_id_that_finds_the_log_line(poison_app, monkeypatch, caplog) -> None:  # noqa: ANN001
    """Force an internal error whose text names a host, a port and a path: none of it reaches the client."""
    import serving.api.decisions as decisions
    from serving.audit import AuditError

    secret = "Error 111 connecting to redis.internal.example:6379; /var/lib/kredo/audit.db is locked"
    api = Clients(poison_app)
    for exc in (ConnectionError(secret), AuditError(f"audit store not writable: {secret}")):
        def boom(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            raise exc
        monkeypatch.setattr(decisions, "decide_checkout", boom)
        with caplog.at_level(logging.ERROR):
            r = checkout(api, f"boom-{type(exc).__name__}")
        assert r.status_code in (500, 503) and r.mimetype == "application/problem+json"
        body = r.get_json()
        assert set(body) == {"type", "title", "status", "detail", "code", "error_id"}
        text = r.get_data(as_text=True)
        for leak in ("redis.internal.example", "6379", "/var/lib", "Error 111", type(exc).__name__, "Traceback"):
            assert leak not in text, (leak, text)
        assert body["error_id"].startswith("err_") and body["error_id"] in body["detail"]
        logged = [rec for rec in caplog.records if body["error_id"] in rec.getMessage()]
        assert logged and logged[0].exc_info is not None and secret in str(logged[0].exc_info[1])
        caplog.clear()
