"""``POST /v1/decisions/checkout``, ``POST /v1/decisions/next-action``, ``GET /v1/decisions/{id}``.

Why this order of work on the request path: validate, decide (features, model,
SHAP, rules, bandit), then commit the audit record, then answer. The audit
commit stays on the request path on purpose: an answer whose record could
still be lost is an answer an auditor cannot explain. It is one short
serialised transaction (see ``serving.audit``), and it is also where
idempotency is settled: if another worker already recorded this
``request_id``, its stored answer is returned and nothing new is written.

Every answer carries a ``Server-Timing`` header (W3C) with this thread's CPU
milliseconds per stage: ``parse``, the decision's own stages (``features``,
``model``, ``shap``, ``rules``, ``bandit``; also in the audit record's
timings), ``audit`` (building and committing the record) and ``serialise``.
CPU, not wall time: it is what a stage costs, whatever else the machine runs.
"""
from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify

from engine.decisions import Decision, decide_checkout, decide_next_action
from engine.errors import NotFound
from serving.api._body import parse, request_digest
from serving.audit import AuditEntry, json_bytes
from serving.metrics import get_metrics
from serving.runtime import get_runtime
from serving.schemas import CheckoutRequest, NextActionRequest

bp = Blueprint("decisions", __name__, url_prefix="/v1/decisions")
_ID_PATTERN = re.compile(r"dec_[0-9a-f]{32}")


_DECISION_STAGES = ("features", "model", "shap", "rules", "bandit")


def _server_timing(parse_cpu: float, timings: dict[str, float], audit_cpu: float, serialise_cpu: float) -> str:
    decision = ", ".join(f"{stage};dur={timings[f'{stage}_cpu_ms']}" for stage in _DECISION_STAGES
                         if f"{stage}_cpu_ms" in timings)
    return (f"parse;dur={parse_cpu * 1e3:.4f}, {decision}, audit;dur={audit_cpu * 1e3:.4f}, "
            f"serialise;dur={serialise_cpu * 1e3:.4f}")


def _answer(body: CheckoutRequest | NextActionRequest, now: datetime, decision: Decision,
            parse_cpu: float) -> Response:
    cpu0 = time.thread_time()
    runtime = get_runtime()
    decision_id = f"dec_{uuid.uuid4().hex}"
    latency_ms = round((time.perf_counter() - g.t0) * 1e3, 3)
    answer: dict[str, Any] = {"decision_id": decision_id, "request_id": body.request_id, **decision.answer,
                              "latency_ms": latency_ms}
    request = body.model_dump(mode="json")
    payload = {"request": request, **decision.record, "outcome": decision.outcome, "response": answer}
    record, created = runtime.audit.append(AuditEntry(decision_id, body.request_id, decision.kind,
                                                      now.isoformat(), payload, request_digest(request)))
    cpu1 = time.thread_time()
    if not created:
        return Response(json_bytes(record.payload["response"]), mimetype="application/json",
                        headers={"Kredo-Replayed": "true"})
    get_metrics(current_app).decisions.labels(decision.kind, decision.outcome).inc()
    cpu2 = time.thread_time()
    data = json_bytes(answer)
    timing = _server_timing(parse_cpu, decision.record["timings"], cpu1 - cpu0, time.thread_time() - cpu2)
    return Response(data, mimetype="application/json", headers={"Server-Timing": timing})


@bp.post("/checkout")
def checkout() -> Response:
    cpu0 = time.thread_time()
    body = parse(CheckoutRequest)
    runtime = get_runtime()
    now = body.now or datetime.now(UTC)
    fields = body.model_dump()
    parse_cpu = time.thread_time() - cpu0
    decision = decide_checkout(fields, now, store=runtime.store, served=runtime.snapshot())
    return _answer(body, now, decision, parse_cpu)


@bp.post("/next-action")
def next_action() -> Response:
    cpu0 = time.thread_time()
    body = parse(NextActionRequest)
    runtime = get_runtime()
    fields = body.model_dump()
    parse_cpu = time.thread_time() - cpu0
    decision = decide_next_action(fields, body.now, store=runtime.store, served=runtime.snapshot())
    return _answer(body, body.now, decision, parse_cpu)


@bp.get("/<decision_id>")
def get_decision(decision_id: str) -> Response:
    """The full audit record, with its place in the hash chain (404 for an id that cannot exist, too)."""
    if not _ID_PATTERN.fullmatch(decision_id):
        raise NotFound(f"no decision {decision_id[:80]!r}", field="decision_id")
    return jsonify(get_runtime().audit.get(decision_id).to_dict())
