"""``POST /v1/decisions/checkout``, ``POST /v1/decisions/next-action``, ``GET /v1/decisions/{id}``.

Why this order of work on the request path: validate, decide (features, model,
SHAP, rules, bandit), then commit the audit record, then answer. The audit
commit stays on the request path on purpose: an answer whose record could
still be lost is an answer an auditor cannot explain. It is one short
serialised transaction (see ``serving.audit``), and it is also where
idempotency is settled: if another worker already recorded this
``request_id``, its stored answer is returned and nothing new is written.

Every answer carries a ``Server-Timing`` header (W3C) with this thread's CPU
milliseconds per stage: ``parse``, ``ledger`` (next-action: reading and
checking the invoice in the ledger), the decision's own stages (``features``,
``model``, ``shap``, ``rules``, ``bandit``; also in the audit record's
timings), ``audit`` (building and committing the record, indexing it in the
ledger) and ``serialise``.
CPU, not wall time: it is what a stage costs, whatever else the machine runs.

While the online store is down (or being re-warmed) a decision answers 503
with ``Retry-After``; with ``DEGRADED_MODE=rules_only`` a checkout is decided
by the credit policy alone instead (``engine.degraded``), flagged in the
answer and the audit record. Next-action always waits for the store: dunning
can wait a few seconds, a checkout cannot.
"""
from __future__ import annotations

import re
import time
import uuid
from datetime import datetime

from flask import Blueprint, Response, current_app, g, jsonify, request
from pydantic_core import to_json
from werkzeug.routing import BaseConverter

from domain.contract import (CheckoutDecision, CheckoutRequest, NextActionByInvoice, NextActionDecision,
                             NextActionRequest, Reason)
from domain.errors import InvalidInput, NotFound, StoreUnavailable
from engine.decisions import Decision, decide_checkout, decide_next_action, order_request
from features.online import MemoryStore
from engine.degraded import decide_checkout_rules_only
from serving.access import requires
from serving.api._body import cursor_parts, parse, time_arg
from ledger.views import customer_row, invoice_view, search_decisions
from serving.api.book import decision_summary
from serving.api.tasks import open_decision_task
from serving.audit import json_bytes
from serving.dunning_view import corrected, from_ledger, micros
from serving.metrics import get_metrics
from serving.records import decision_entry, index_row
from serving.runtime import get_runtime
from serving.schemas import DecisionPage

bp = Blueprint("decisions", __name__, url_prefix="/v1/decisions")
_ID_PATTERN = re.compile(r"dec_[0-9a-f]{32}")


class _DecisionId(BaseConverter):
    """Any path segment but the two decision routes: so ``/v1/decisions/checkout`` allows only POST (``Allow``)."""

    regex = r"(?!(?:checkout|next-action)$)[^/]+"


@bp.record_once
def _register_converter(state) -> None:  # noqa: ANN001 - Flask's BlueprintSetupState
    state.app.url_map.converters["decision_id"] = _DecisionId


_DECISION_STAGES = ("features", "model", "shap", "rules", "bandit")


def _server_timing(before: dict[str, float], timings: dict[str, float], after: dict[str, float]) -> str:
    """The ``Server-Timing`` value: the request path's own stages (CPU seconds) around the decision's."""
    return ", ".join([*(f"{name};dur={cpu * 1e3:.4f}" for name, cpu in before.items()),
                      *(f"{stage};dur={timings[f'{stage}_cpu_ms']}" for stage in _DECISION_STAGES
                        if f"{stage}_cpu_ms" in timings),
                      *(f"{name};dur={cpu * 1e3:.4f}" for name, cpu in after.items())])


def _answer(body: CheckoutRequest | NextActionRequest | NextActionByInvoice, now: datetime, decision: Decision,
            before: dict[str, float], decided_on: NextActionRequest | None = None) -> Response:
    """Audit, index and send one decision. ``decided_on``: the request as the ledger completed or corrected it;
    ``before``: CPU seconds of the request path's stages before the decision (for ``Server-Timing``).

    The record keeps the server's receipt time beside the business ``now`` the
    caller sent, so a decision cannot be backdated unnoticed, and the key that
    asked (``caller``: its public id and role, never the secret).
    """
    cpu0 = time.thread_time()
    runtime = get_runtime()
    decision_id = f"dec_{uuid.uuid4().hex}"
    latency_ms = round((time.perf_counter() - g.t0) * 1e3, 3)
    entry, response = decision_entry(body, decision, decision_id, latency_ms, g.received, now, decided_on,
                                     caller={"key_id": g.caller.id, "role": g.caller.role})
    record, created = runtime.audit.append(entry)
    if not created:
        return Response(json_bytes(record.payload["response"]), mimetype="application/json",
                        headers={"Kredo-Replayed": "true"})
    runtime.index.add(index_row(entry))
    get_metrics(current_app).decisions.labels(decision.kind, decision.outcome).inc()
    cpu1 = time.thread_time()
    data = json_bytes(response)
    timing = _server_timing(before, decision.record.timings,
                            {"audit": cpu1 - cpu0, "serialise": time.thread_time() - cpu1})
    return Response(data, mimetype="application/json", headers={"Server-Timing": timing})


@bp.post("/checkout")
@requires("checkout")
def checkout() -> Response:
    cpu0 = time.thread_time()
    body = parse(CheckoutRequest)
    runtime = get_runtime()
    now = body.now or g.received
    parse_cpu = time.thread_time() - cpu0
    served = runtime.snapshot()
    try:
        decision = decide_checkout(body, now, store=runtime.store, served=served)
    except StoreUnavailable as exc:
        if runtime.config["DEGRADED_MODE"] != "rules_only":
            raise
        decision = decide_checkout_rules_only(body, now, rules=served.rules, reason=exc.code,
                                              ledger_features=ledger_features(runtime, body, now))
        get_metrics(current_app).degraded.labels(decision.kind, exc.code).inc()
    return _answer(body, now, decision, {"parse": parse_cpu})


def ledger_features(runtime, body: CheckoutRequest, now: datetime) -> dict[str, float]:  # noqa: ANN001
    """The customer's features folded from the ledger's booked events (the online store's fold and transform,
    in a store of this request's own): what a degraded checkout reads instead of the online store."""
    customer, order = body.customer, body.order
    store = MemoryStore()
    store.refold_many(runtime.book.customer_histories([customer.id]))
    return store.customer_features(customer.id, order_request(customer, order.amount, order.payment_terms_days,
                                                               order.paperless, now), now)


@bp.post("/next-action")
@requires("dunning")
def next_action() -> Response:
    cpu0 = time.thread_time()
    body = parse(NextActionRequest, NextActionByInvoice)
    cpu1 = time.thread_time()
    runtime = get_runtime()
    served = runtime.snapshot()
    policy = served.rules.policy
    invoice_id = body.invoice_id if isinstance(body, NextActionByInvoice) else body.invoice.id
    view = invoice_view(runtime.book.engine, invoice_id)
    known: list[Reason] = []
    if isinstance(body, NextActionByInvoice):
        if view is None:
            raise NotFound(f"the ledger has no invoice {invoice_id!r}", field="invoice_id")
        request = from_ledger(view, body.request_id, body.now or g.received, policy)
    elif view is None:
        if customer_row(runtime.book.engine, body.customer.id) is not None:
            raise NotFound(f"the ledger keeps customer {body.customer.id}'s book and has no invoice "
                           f"{invoice_id!r}", field="invoice.id")
        request = body  # a caller that keeps its own state for a customer the ledger does not know
    else:
        request, known = corrected(body, view, policy)
    closed = None if view is None or view.invoice["status"] == "open" else view.invoice["status"]
    before = {"parse": cpu1 - cpu0, "ledger": time.thread_time() - cpu1}
    decision = decide_next_action(request, store=runtime.store, served=served, known=known, closed=closed)
    task = decision.answer.task
    if task is not None and view is not None:  # the ledger keeps the invoice: the task goes on the worklist
        task.id = open_decision_task(runtime.book.engine, task, request.customer.id, request.invoice.id, request.now)
    return _answer(body, request.now, decision, before, decided_on=request)


@bp.get("")
@requires("auditor")
def list_decisions() -> Response:
    """Decisions newest first, filtered by customer, invoice, outcome and business time; cursor pages."""
    args = request.args
    unknown = set(args) - {"customer_id", "invoice_id", "outcome", "from", "to", "cursor", "limit"}
    if unknown:
        raise InvalidInput(f"unknown query parameter {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    limit = _int_arg("limit", 50, 1, 500)
    bounds = {name: _time_arg(name) for name in ("from", "to")}
    after = _cursor(args.get("cursor"))
    given = lambda name: args.get(name) or None  # noqa: E731 - an empty filter is no filter
    rows = search_decisions(get_runtime().book.engine, customer_id=given("customer_id"),
                            invoice_id=given("invoice_id"), outcome=given("outcome"), from_us=bounds["from"],
                            to_us=bounds["to"], after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = f"{rows[-1]['received_us']}.{rows[-1]['decision_id']}" if more else None
    return Response(to_json(DecisionPage(decisions=[decision_summary(r) for r in rows], next_cursor=cursor)),
                    mimetype="application/json")


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter; left out, ``default``; empty or out of range, a 422 (the schema's integer)."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidInput(f"{name} must be an integer from {low} to {high}", field=name)
    return int(raw)


def _time_arg(name: str) -> int | None:
    when = time_arg(name)
    return None if when is None else micros(when)


CURSOR = re.compile(r"([0-9]{1,18})\.(dec_[0-9a-f]{32})")


def _cursor(raw: str | None) -> tuple[int, str] | None:
    """The position after which the next page starts: ``<receipt time in us>.<decision id>``."""
    parts = cursor_parts(raw, CURSOR)
    return None if parts is None else (int(parts[0]), parts[1])


@bp.get("/<decision_id:decision_id>")
@requires("auditor")
def get_decision(decision_id: str) -> Response:
    """The full audit record, with its place in the hash chain (404 for an id that cannot exist, too)."""
    if not _ID_PATTERN.fullmatch(decision_id):
        raise NotFound(f"no decision {decision_id[:80]!r}", field="decision_id")
    return jsonify(get_runtime().audit.get(decision_id).to_dict())
