"""Every bad request is a problem document with a code and the offending field; never a 5xx."""
from __future__ import annotations

import json

import pytest

from tests.support.api import CHECKOUT

PROBLEM = "application/problem+json"


def problem(r, status: int, code: str, field: str | None = None) -> dict:  # noqa: ANN001
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == PROBLEM
    body = r.get_json()
    assert body["status"] == status and body["code"] == code and body["title"] and body["type"]
    if field is not None:
        assert body["field"] == field, body
    return body


def test_malformed_json_is_400(api) -> None:  # noqa: F811
    r = api.checkout.post("/v1/decisions/checkout", data=b'{"request_id": ', content_type="application/json")
    problem(r, 400, "malformed_json")


def test_unknown_route_and_unknown_decision_are_404(api) -> None:  # noqa: F811
    problem(api.anonymous.get("/v1/nothing-here"), 404, "not_found")
    problem(api.auditor.get("/v1/decisions/dec_0000"), 404, "not_found", "decision_id")
    problem(api.auditor.get("/v1/decisions/" + "x" * 300), 404, "not_found", "decision_id")
    problem(api.auditor.get("/v1/decisions/dec_" + "0" * 32), 404, "not_found", "decision_id")


def test_wrong_method_is_405(api) -> None:  # noqa: F811
    for r in (api.dunning.get("/v1/events"), api.checkout.put("/v1/decisions/checkout", json=CHECKOUT)):
        problem(r, 405, "method_not_allowed")
        assert "POST" in r.headers["Allow"]


def test_oversized_body_is_413(api) -> None:  # noqa: F811
    body = json.dumps({**CHECKOUT, "pad": "x" * 400_000})
    problem(api.checkout.post("/v1/decisions/checkout", data=body, content_type="application/json"), 413,
            "body_too_large")


def test_wrong_content_type_is_415(api) -> None:  # noqa: F811
    r = api.checkout.post("/v1/decisions/checkout", data=json.dumps(CHECKOUT), content_type="text/plain")
    problem(r, 415, "unsupported_media_type", "Content-Type")


@pytest.mark.parametrize("path, value, field", [
    (("order", "amount"), -5.0, "order.amount"),
    (("order", "amount"), 0, "order.amount"),
    (("order", "amount"), 1e12, "order.amount"),
    (("order", "amount"), "1250", "order.amount"),
    (("order", "currency"), "USD", "order.currency"),
    (("customer", "type"), "alien", "customer.type"),
    (("customer", "country"), "Netherlands", "customer.country"),
    (("customer", "id"), "x" * 65, "customer.id"),
    (("request_id",), "", "request_id"),
    (("now",), "2026-11-23T10:00:00", "now"),
    (("order", "payment_terms_days"), 30.5, "order.payment_terms_days"),
    (("customer", "typo_field"), 1, "customer.typo_field"),
])
def test_invalid_field_is_422_naming_it(api, path: tuple[str, ...], value, field: str) -> None:  # noqa: F811
    body = json.loads(json.dumps(CHECKOUT))
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    problem(api.checkout.post("/v1/decisions/checkout", json=body), 422, "invalid_input", field)


def test_missing_field_is_422(api) -> None:  # noqa: F811
    body = {k: v for k, v in CHECKOUT.items() if k != "order"}
    problem(api.checkout.post("/v1/decisions/checkout", json=body), 422, "invalid_input", "order")



@pytest.mark.parametrize("text, kept, gone", [
    ("cannot resolve the alias (OperationalError: unable to open sqlite:////srv/kredo/mlruns/mlflow.db)",
     "sqlite://…", "/srv/kredo"),
    ("postgresql+psycopg://kredo:s3cret@db.internal:5432/kredo refused", "postgresql+psycopg://…", "s3cret"),
    ('connection to server at "db.internal" (10.0.0.5), port 5432 failed', "<host>", "db.internal"),
    ("Error 111 connecting to redis.internal.example:6379. Connection refused.", "<host>", "6379"),
    ("/etc/kredo/policies/policy.yaml: line 4: unknown field", "…/policy.yaml", "/etc/kredo"),
    ("models:/payment-delay@champion has no version 7", "models:/payment-delay@champion", "…"),
    ("send 'Content-Type: application/json', not 'text/plain'", "application/json", "…"),
])
def test_problem_documents_name_no_host_port_or_path(text: str, kept: str, gone: str) -> None:
    """F6: 409s and ``/readyz`` quoted loaders' words with file paths, URLs and database hosts."""
    from serving.problems import redact

    redacted = redact({"type": "https://kredo.dev/problems/reload_refused", "detail": text,
                       "errors": [{"detail": text}]})
    assert redacted["type"] == "https://kredo.dev/problems/reload_refused"
    for value in (redacted["detail"], redacted["errors"][0]["detail"]):
        assert kept in value and gone not in value, value
