"""``GET /openapi.json``: an OpenAPI 3.1 document built from ``domain.contract`` and ``serving.schemas``.

Why: OpenAPI 3.1 uses JSON Schema 2020-12, which is what pydantic emits, so the
document is generated from the validating models with no hand-written copy.
Who may call an operation is read from its view's declaration
(``serving.access``): a ``bearer`` security requirement, the roles in the
description and in ``x-kredo-roles``, and the 401 and 403 answers.
"""
from __future__ import annotations

import re
from functools import cache
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from domain import contract as c
from domain.vocabulary import CHANNELS, ROLES, TASK_TYPES
from ledger.outbox import STATUSES
from ledger.receivables import BUCKETS, DISPUTE_AGES
from serving import schemas as s
from serving.access import Declaration, declaration_at, public
from serving.api.health import DETAILS

bp = Blueprint("openapi", __name__)

REF = "#/components/schemas/{model}"

Body = type[BaseModel] | tuple[type[BaseModel], ...] | None
# (path, method, summary, request model(s), {status: response model})
OPERATIONS: list[tuple[str, str, str, Body, dict[int, type[BaseModel] | None]]] = [
    ("/v1/decisions/checkout", "post", "Decide a checkout: accept, prepay, review or reject",
     c.CheckoutRequest, {200: c.CheckoutDecision}),
    ("/v1/decisions/next-action", "post", "Decide the next dunning action for an invoice: by invoice id from the "
     "ledger, or with the caller's own state (the ledger's truth wins where they differ)",
     (c.NextActionByInvoice, c.NextActionRequest), {200: c.NextActionDecision}),
    ("/v1/decisions", "get", "Search decisions (customer_id, invoice_id, outcome, from, to; cursor pages)",
     None, {200: s.DecisionPage}),
    ("/v1/decisions/{decision_id}", "get", "The full audit record of one decision",
     None, {200: s.AuditRecordOut}),
    ("/v1/customers/{customer_id}", "get", "A customer's standing: segment, credit limit, exposure, ageing, "
     "open items, last decisions", None, {200: s.CustomerOverview}),
    ("/v1/customers/{customer_id}/invoices", "get", "A customer's invoices (status: open, overdue, disputed, paid, "
     "written_off)", None, {200: s.InvoiceList}),
    ("/v1/invoices/{invoice_id}", "get", "An invoice and its timeline (issued, payments, disputes, contacts, "
     "decisions)", None, {200: s.InvoiceDetail}),
    ("/v1/tasks", "get", "A worklist: tasks by owner, type, due (on or before a day) and status, highest priority "
     "(amount at risk x P(>30 days late)) first; cursor pages", None, {200: s.TaskPage}),
    ("/v1/tasks/{task_id}", "get", "One task: type, owner, due day, priority explained, status", None,
     {200: s.TaskOut}),
    ("/v1/tasks/{task_id}/outcome", "post", "Book what happened (reached, not reached, promise to pay, dispute raised, "
     "payment plan agreed, wrong contact): closes or reschedules the task, idempotent by outcome_id",
     s.TaskOutcomeRequest, {200: s.TaskOutcomeResult}),
    ("/v1/forecast", "get", "Cash-in forecast: expected receipts per week for the next 12 weeks from the open "
     "invoices of a legal entity (entity; absent: consolidated) at a day (at; absent: today), the model's with "
     "a 90 % interval and the ageing-bucket baseline's, in cents; the forecast kept in the ledger, or, when the "
     "book moved on since, the newest kept one with current false while a new one is computed in the background",
     None, {200: s.ForecastOut}),
    ("/v1/events", "post", "Apply a batch of ledger and reminder events (idempotent by event_id)",
     s.EventsRequest, {200: s.EventsResponse}),
    ("/v1/dunning/runs", "post", "Run the day's dunning: every open invoice decided, one consolidated message per "
     "customer and channel queued in the outbox, tasks for people (201; 200 when the day had been run, or dry)",
     s.DunningRunRequest, {200: s.DunningRunReport, 201: s.DunningRunReport}),
    ("/v1/messages", "get", "The outbox: messages by customer, invoice, channel and status, each with its invoices "
     "and its history (every try, hold, retry and status with the receiver's answer); cursor pages", None,
     {200: s.MessagePage}),
    ("/v1/messages/{message_id}", "get", "One outbox message, its invoices and its history", None,
     {200: s.MessageOut}),
    ("/v1/reports/receivables", "get", "The receivables on the book's date (entity: a legal entity, '-' for none, "
     "absent for all): ageing, DSO (countback) and its 12-month trend, ADD, CEI, at-risk rate, disputes by type "
     "and age, per account manager and collector, largest exposures, customers getting worse", None,
     {200: s.ReceivablesReport}),
    ("/v1/reports/receivables/rows", "get", "The open invoices behind a figure of the receivables report "
     "(entity, bucket, manager, collector, dispute_type, dispute_age, customer, overdue), largest first", None,
     {200: s.ReceivableRows}),
    ("/v1/admin/reload", "post", "Reload model and policy now; a broken one is refused", None, {200: None}),
    ("/healthz", "get", "Liveness: the process answers", None, {200: None}),
    ("/readyz", "get", "Readiness: model, policy and stores loaded", None, {200: None}),
    ("/metrics", "get", "Prometheus metrics (text exposition format)", None, {200: None}),
]
#: answers that are not JSON objects: (path, status) -> media type
MEDIA = {("/metrics", 200): "text/plain"}
#: statuses an operation has besides 200 and the common ``_ERRORS`` of /v1/
EXTRA = {"/readyz": {503: "Not ready (the details say which part, to a key of role admin or auditor)"}}
#: the one security scheme: ``Authorization: Bearer <key>``
SCHEMES = {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "kredo_<id>_<secret>",
                      "description": "an API key made with `kredo keys create --role ROLE`"}}
_REFUSED = {401: "Missing, malformed, unknown, revoked or wrong API key", 403: "The key's role may not call this"}

_TIME = {"type": "string", "format": "date-time"}
QUERY: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("/v1/decisions", "get"): {"customer_id": {"type": "string"}, "invoice_id": {"type": "string"},
                               "outcome": {"type": "string"}, "from": _TIME, "to": _TIME,
                               "cursor": {"type": "string", "pattern": r"^[0-9]{1,18}\.dec_[0-9a-f]{32}$"},
                               "limit": {"type": "integer", "minimum": 1,
                                                                        "maximum": 500}},
    ("/v1/tasks", "get"): {"owner": {"type": "string", "maxLength": 64},
                           "type": {"type": "string", "enum": list(TASK_TYPES)},
                           "due": {"type": "string", "format": "date"},
                           "status": {"type": "string", "enum": ["open", "done"]},
                           "cursor": {"type": "string", "pattern": r"^[0-9]{1,15}\.[A-Za-z0-9_.:@/+-]{1,200}$"},
                           "limit": {"type": "integer", "minimum": 1, "maximum": 500}},
    ("/v1/messages", "get"): {"customer": {"type": "string", "minLength": 1, "maxLength": 128},
                              "invoice": {"type": "string", "minLength": 1, "maxLength": 128},
                              "channel": {"type": "string", "enum": list(CHANNELS)},
                              "status": {"type": "string", "enum": list(STATUSES)},
                              "cursor": {"type": "string", "pattern": r"^[A-Za-z0-9_.:@/+-]{1,200}$"},
                              "limit": {"type": "integer", "minimum": 1, "maximum": 500}},
    ("/v1/forecast", "get"): {"entity": {"type": "string", "maxLength": 128}, "at": {"type": "string",
                                                                                     "format": "date"}},
    ("/v1/customers/{customer_id}", "get"): {"at": _TIME},
    ("/v1/reports/receivables", "get"): {"entity": {"type": "string", "maxLength": 128}},
    ("/v1/reports/receivables/rows", "get"): {
        "entity": {"type": "string", "maxLength": 128}, "bucket": {"type": "string", "enum": list(BUCKETS)},
        "manager": {"type": "string", "maxLength": 128}, "collector": {"type": "string", "maxLength": 128},
        "dispute_type": {"type": "string", "maxLength": 128}, "customer": {"type": "string", "maxLength": 128},
        "dispute_age": {"type": "string", "enum": [name for name, _ in DISPUTE_AGES]},
        "overdue": {"type": "string", "enum": ["0", "1"]}},
    ("/v1/customers/{customer_id}/invoices", "get"): {
        "status": {"type": "string", "enum": ["open", "overdue", "disputed", "paid", "written_off"]}},
}


def _models(body: Body) -> tuple[type[BaseModel], ...]:
    return () if body is None else body if isinstance(body, tuple) else (body,)


_ERRORS = {400: "Malformed JSON", 404: "Unknown id or route", 405: "Method not allowed",
           409: "request_id reused for a different request", 413: "Body too large",
           415: "Content type is not application/json", 422: "A field is invalid",
           503: "Not ready (model, policy or a store unavailable)"}


@cache
def components() -> dict[str, Any]:
    """The JSON Schemas of every request, answer and the problem document (built once per process)."""
    bodies = {m for _, _, _, req, _ in OPERATIONS for m in _models(req)}
    models = (bodies | {m for _, _, _, _, resp in OPERATIONS for m in resp.values() if m is not None} | {s.Problem}
              | set(s.EVENT_SCHEMAS))
    _, defs = models_json_schema([(m, "validation" if m in bodies else "serialization")
                                  for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF)
    return {"schemas": defs["$defs"], "securitySchemes": SCHEMES}


def _security(op: dict[str, Any], path: str, declared: Declaration) -> dict[int, str]:
    """Write the operation's security requirement and roles; returns the refusals to document."""
    if declared.public:
        if path == "/readyz":  # open, a key only adds the details
            op["security"] = [{}, {"bearer": []}]
            op["description"] = f"Open; the details need a key of role {' or '.join(DETAILS)}."
        else:
            op["security"] = []
            op["description"] = "Open: no key."
        return {}
    roles = [role for role in ROLES if role in declared.roles]
    op["security"] = [{"bearer": []}]
    op["description"] = f"Roles: {', '.join(roles)}."
    op["x-kredo-roles"] = roles
    return _REFUSED


def document(app: Flask) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document of ``app`` (built once per app: the roles come from its URL map)."""
    built = app.extensions.get("kredo.openapi")
    if built is None:
        built = app.extensions["kredo.openapi"] = _build(app)
    return built


def _build(app: Flask) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for path, method, summary, req, responses in OPERATIONS:
        op: dict[str, Any] = {"summary": summary, "operationId": f"{method}_{path.strip('/').replace('/', '_')}",
                              "responses": {}}
        refusals = _security(op, path, declaration_at(app, path, method))
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 128}}
                  for name in re.findall(r"{(\w+)}", path)]
        params += [{"name": name, "in": "query", "required": False, "schema": schema}
                   for name, schema in QUERY.get((path, method), {}).items()]
        if params:
            op["parameters"] = params
        if req is not None:
            refs = [{"$ref": REF.format(model=m.__name__)} for m in _models(req)]
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": refs[0] if len(refs) == 1 else {"oneOf": refs}}}}
        for status, model in responses.items():
            schema = {"$ref": REF.format(model=model.__name__)} if model is not None else {"type": "object"}
            if (path, status) in MEDIA:
                schema = {"type": "string"}
            op["responses"][str(status)] = {"description": "Created" if status == 201 else "OK",
                                            "content": {MEDIA.get((path, status), "application/json"): {
                                                "schema": schema}}}
        errors = {**refusals, **(_ERRORS if path.startswith("/v1/") else {}), **EXTRA.get(path, {})}
        for status, text in errors.items():
            media = "application/json" if path == "/readyz" else "application/problem+json"
            schema = {"type": "object"} if path == "/readyz" else {"$ref": REF.format(model="Problem")}
            op["responses"][str(status)] = {"description": text, "content": {media: {"schema": schema}}}
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Kredo decision API", "version": "1",
                 "description": "Checkout credit acceptance and dunning next-best-action, with reasons "
                                "and a tamper-evident audit log."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": components(),
    }


@bp.get("/openapi.json")
@public
def openapi_json():  # noqa: ANN201
    return jsonify(document(current_app))
