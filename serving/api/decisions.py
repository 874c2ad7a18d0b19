"""``POST /v1/decisions/checkout``, ``POST /v1/decisions/next-action``, ``GET /v1/decisions/{id}``.

Why this order of work on the request path: validate, decide (features, model,
SHAP, rules, bandit), then commit the audit record, then answer. The audit
commit stays on the request path on purpose: an answer whose record could
still be lost is an answer an auditor cannot explain. It is one short
serialised transaction (see ``serving.audit``), and it is also where
idempotency is settled: if another worker already recorded this
``request_id``, its stored answer is returned and nothing new is written.
"""
from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, g, jsonify
from pydantic_core import to_json
from werkzeug.routing import BaseConverter

from domain.contract import CheckoutDecision, CheckoutRequest, NextActionDecision, NextActionRequest
from domain.errors import NotFound
from engine.decisions import Decision, decide_checkout, decide_next_action
from serving.api._body import parse, request_digest
from serving.audit import AuditEntry
from serving.metrics import get_metrics
from serving.runtime import get_runtime

bp = Blueprint("decisions", __name__, url_prefix="/v1/decisions")
_ID_PATTERN = re.compile(r"dec_[0-9a-f]{32}")


class _DecisionId(BaseConverter):
    """Any path segment but the two decision routes: so ``/v1/decisions/checkout`` allows only POST (``Allow``)."""

    regex = r"(?!(?:checkout|next-action)$)[^/]+"


@bp.record_once
def _register_converter(state) -> None:  # noqa: ANN001 - Flask's BlueprintSetupState
    state.app.url_map.converters["decision_id"] = _DecisionId


_RESPONSES = {"checkout": CheckoutDecision, "next_action": NextActionDecision}


def _answer(body: CheckoutRequest | NextActionRequest, now: datetime, decision: Decision) -> Response:
    runtime = get_runtime()
    decision_id = f"dec_{uuid.uuid4().hex}"
    latency_ms = round((time.perf_counter() - g.t0) * 1e3, 3)
    answer = _RESPONSES[decision.kind].model_construct(**decision.answer.__dict__, decision_id=decision_id,
                                                       request_id=body.request_id, latency_ms=latency_ms)
    request, response = body.model_dump(mode="json"), answer.model_dump(mode="json")
    payload = {"request": request, **decision.record.to_dict(), "outcome": decision.outcome, "response": response}
    record, created = runtime.audit.append(AuditEntry(decision_id, body.request_id, decision.kind,
                                                      now.isoformat(), payload, request_digest(request)))
    if not created:
        return Response(to_json(record.payload["response"]), mimetype="application/json",
                        headers={"Kredo-Replayed": "true"})
    get_metrics(current_app).decisions.labels(decision.kind, decision.outcome).inc()
    return Response(to_json(response), mimetype="application/json")


@bp.post("/checkout")
def checkout() -> Response:
    body = parse(CheckoutRequest)
    runtime = get_runtime()
    now = body.now or datetime.now(UTC)
    decision = decide_checkout(body, now, store=runtime.store, served=runtime.snapshot())
    return _answer(body, now, decision)


@bp.post("/next-action")
def next_action() -> Response:
    body = parse(NextActionRequest)
    runtime = get_runtime()
    decision = decide_next_action(body, store=runtime.store, served=runtime.snapshot())
    return _answer(body, body.now, decision)


@bp.get("/<decision_id:decision_id>")
def get_decision(decision_id: str) -> Response:
    """The full audit record, with its place in the hash chain (404 for an id that cannot exist, too)."""
    if not _ID_PATTERN.fullmatch(decision_id):
        raise NotFound(f"no decision {decision_id[:80]!r}", field="decision_id")
    return jsonify(get_runtime().audit.get(decision_id).to_dict())
