"""The decision API end to end on real parts: a trained model in a real MLflow store,
the default policy, the in-process feature store replayed from a simulated ledger,
and a SQLite audit file (fixtures in ``conftest.py``).
"""
from __future__ import annotations

import json

import jsonschema

from tests.support.api import CHECKOUT, NEXT_ACTION, client, known_customer, make_app, schema_of


def test_minimal_checkout_body_from_the_issue(api) -> None:
    r = api.checkout.post("/v1/decisions/checkout", json=CHECKOUT)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    jsonschema.validate(body, schema_of("CheckoutDecision"))
    assert body["outcome"] in {"accept", "prepay", "review", "reject"}
    assert body["available_credit"] <= body["credit_limit"]
    assert body["risk"]["version"] and 0 <= body["risk"]["p_late"] <= 1
    assert any(r["source"] == "model" and "(" in r["text"] for r in body["reasons"])
    assert body["rules_fired"]


def test_unknown_customer_is_a_new_customer(api) -> None:
    body = api.checkout.post("/v1/decisions/checkout", json={**CHECKOUT, "request_id": "ord-new"}).get_json()
    record = api.auditor.get(f"/v1/decisions/{body['decision_id']}").get_json()
    assert record["features"]["invoices_issued"] == 0


def test_known_customer_uses_online_features(api, small_ledger) -> None:
    req = {**CHECKOUT, "request_id": "ord-known", "customer": known_customer(small_ledger)}
    body = api.checkout.post("/v1/decisions/checkout", json=req).get_json()
    record = api.auditor.get(f"/v1/decisions/{body['decision_id']}").get_json()
    assert record["features"]["invoices_issued"] > 0


def test_same_request_id_returns_same_decision_and_one_record(api, app) -> None:
    req = {**CHECKOUT, "request_id": "ord-idem"}
    audit = app.extensions["kredo.runtime"].audit
    before = audit.count()
    first = api.checkout.post("/v1/decisions/checkout", json=req)
    again = api.checkout.post("/v1/decisions/checkout", json=req)
    assert again.get_json() == first.get_json()
    assert again.headers["Kredo-Replayed"] == "true" and "Kredo-Replayed" not in first.headers
    assert audit.count() == before + 1


def test_same_request_id_with_another_body_is_409(api) -> None:
    api.checkout.post("/v1/decisions/checkout", json={**CHECKOUT, "request_id": "ord-409"})
    other = {**CHECKOUT, "request_id": "ord-409", "order": {**CHECKOUT["order"], "amount": 99.0}}
    r = api.checkout.post("/v1/decisions/checkout", json=other)
    assert r.status_code == 409 and r.get_json()["field"] == "request_id"


def test_audit_record_holds_everything_an_auditor_needs(api) -> None:
    body = api.checkout.post("/v1/decisions/checkout", json={**CHECKOUT, "request_id": "ord-audit"}).get_json()
    record = api.auditor.get(f"/v1/decisions/{body['decision_id']}").get_json()
    jsonschema.validate(record, schema_of("AuditRecordOut"))
    for key in ("request", "features", "scores", "model", "policy", "rules_fired", "shap", "timings",
                "response", "hash", "prev_hash"):
        assert key in record, key
    assert record["response"] == body
    assert record["model"]["version"] == body["risk"]["version"]
    assert set(record["shap"]["contributions"]) == set(record["features"])


def test_minimal_next_action_body_from_the_issue(api) -> None:
    r = api.dunning.post("/v1/decisions/next-action", json=NEXT_ACTION)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    jsonschema.validate(body, schema_of("NextActionDecision"))
    assert body["action"] in {"wait", "remind", "call", "pause", "payment_plan", "final_notice", "escalate"}
    if body["channel"] is not None:
        assert body["channel"] != "whatsapp"  # no consent
    if body["bandit"]["arm"] is not None:
        assert 0 < body["bandit"]["propensity"] <= 1
        assert body["bandit"]["group"] in {"bandit", "control"}
        assert body["send_at"] >= NEXT_ACTION["now"][:10]


def test_disputed_invoice_pauses_dunning(api) -> None:
    req = json.loads(json.dumps(NEXT_ACTION))
    req["request_id"] = "na-dispute"
    req["invoice"].update(disputed=True, dispute_opened="2026-11-20")
    body = api.dunning.post("/v1/decisions/next-action", json=req).get_json()
    assert body["action"] == "pause"


def test_events_apply_once_and_report_per_event(api) -> None:
    events = {"events": [
        {"event_id": "e-1", "type": "invoice_issued", "customer_id": "C-9", "invoice_id": "I-9",
         "at": "2026-01-05T10:00:00", "amount": 100.0, "due_at": "2026-02-04T10:00:00",
         "payment_terms_days": 30, "paperless": True},
        {"event_id": "e-2", "type": "payment_received", "customer_id": "C-9", "invoice_id": "I-9",
         "at": "2026-02-10T10:00:00", "amount": 100.0},
        {"event_id": "e-3", "type": "payment_received", "customer_id": "C-9", "invoice_id": "I-9",
         "at": "2026-02-11T10:00:00", "amount": -5.0},
    ]}
    first = api.dunning.post("/v1/events", json=events).get_json()
    assert [r["status"] for r in first["results"]] == ["applied", "applied", "refused"]
    assert first["results"][2]["code"]
    again = api.dunning.post("/v1/events", json=events).get_json()
    assert [r["status"] for r in again["results"]][:2] == ["duplicate", "duplicate"]
    req = {**CHECKOUT, "request_id": "ord-c9", "customer": {"id": "C-9", "type": "business", "country": "NL"}}
    body = api.checkout.post("/v1/decisions/checkout", json=req).get_json()
    record = api.auditor.get(f"/v1/decisions/{body['decision_id']}").get_json()
    assert record["features"]["invoices_paid"] == 1


def test_health_ready_openapi_and_metrics(api) -> None:
    assert api.anonymous.get("/healthz").status_code == 200
    ready = api.admin.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["ready"]
    doc = api.anonymous.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert {"/v1/decisions/checkout", "/v1/decisions/next-action", "/v1/events",
            "/v1/decisions/{decision_id}"} <= set(doc["paths"])
    api.checkout.post("/v1/decisions/checkout", json=CHECKOUT)
    text = api.admin.get("/metrics").get_data(as_text=True)
    assert 'kredo_decisions_total{kind="checkout"' in text
    assert "kredo_model_info{" in text
    assert 'kredo_http_request_seconds_bucket{endpoint="/v1/decisions/checkout"' in text


def test_minimal_bodies_validate_against_the_published_request_schemas() -> None:
    jsonschema.validate(CHECKOUT, schema_of("CheckoutRequest"))
    jsonschema.validate(NEXT_ACTION, schema_of("NextActionRequest"))


def test_decisions_are_audited_on_postgresql_too(champion, postgres_url, tmp_path) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS audit_records"))
    engine.dispose()
    app = make_app(champion, tmp_path, AUDIT_URL=postgres_url)
    c = client(app, "checkout")
    bodies = [c.post("/v1/decisions/checkout", json={**CHECKOUT, "request_id": f"pg-{i}"}).get_json()
              for i in range(3)]
    again = c.post("/v1/decisions/checkout", json={**CHECKOUT, "request_id": "pg-0"}).get_json()
    assert again["decision_id"] == bodies[0]["decision_id"]
    record = client(app, "auditor").get(f"/v1/decisions/{bodies[2]['decision_id']}").get_json()
    assert record["seq"] == 3 and record["response"] == bodies[2]
    audit = app.extensions["kredo.runtime"].audit
    assert audit.count() == 3 and audit.verify().ok
    audit.close()


def test_unpaid_reminder_window_settles_with_reward_zero(api, app) -> None:
    req = json.loads(json.dumps(NEXT_ACTION))
    req.update(request_id="na-expire", now="2026-11-04T10:00:00+01:00")
    req["customer"]["id"] = "C-EXP"
    req["invoice"].update(id="INV-EXP")
    decision = api.dunning.post("/v1/decisions/next-action", json=req).get_json()
    assert decision["action"] == "remind" and decision["bandit"]["arm"] is not None
    base = {"customer_id": "C-EXP", "invoice_id": "INV-EXP"}
    events = [{"event_id": "x-1", "type": "invoice_issued", "at": "2026-10-01T09:00:00", "amount": 300.0,
               "due_at": "2026-10-31T09:00:00", "payment_terms_days": 30, "paperless": True, **base},
              {"event_id": "x-2", "type": "reminder_sent", "at": "2026-11-04T10:00:00",
               "decision_id": decision["decision_id"], **base}]
    assert api.dunning.post("/v1/events", json={"events": events}).get_json()["rewards"] == 0
    late = [{"event_id": "x-3", "type": "payment_received", "at": "2026-11-20T10:00:00", "amount": 300.0, **base}]
    assert api.dunning.post("/v1/events", json={"events": late}).get_json()["rewards"] == 1
    group = decision["bandit"]["group"]
    stats = app.extensions["kredo.runtime"].bandit.attribution.group_stats("dunning", group)
    assert stats["n"] >= 1 and stats["s"] == 0


def _server_timing(response) -> dict[str, float]:  # noqa: ANN001
    entries = [entry.split(";dur=") for entry in response.headers["Server-Timing"].split(", ")]
    return {name: float(ms) for name, ms in entries}


def test_every_answer_states_its_cpu_per_stage_in_server_timing(api) -> None:
    r = api.checkout.post("/v1/decisions/checkout", json={**CHECKOUT, "request_id": "timing-co"})
    stages = _server_timing(r)
    assert list(stages) == ["parse", "features", "model", "shap", "rules", "audit", "serialise"]
    assert all(ms >= 0 for ms in stages.values()) and stages["audit"] > 0
    # the decision's own stages are the audit record's thread-CPU timings
    timings = api.auditor.get(f"/v1/decisions/{r.get_json()['decision_id']}").get_json()["timings"]
    assert {s: stages[s] for s in ("features", "model", "shap", "rules")} == {
        s: timings[f"{s}_cpu_ms"] for s in ("features", "model", "shap", "rules")}
    assert all(timings[f"{s}_ms"] >= 0 for s in ("features", "model", "shap", "rules"))
    na = api.dunning.post("/v1/decisions/next-action", json={**NEXT_ACTION, "request_id": "timing-na"})
    assert list(_server_timing(na)) == ["parse", "ledger", "features", "model", "shap", "rules", "bandit", "audit",
                                        "serialise"]
