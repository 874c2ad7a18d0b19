"""``POST /v1/events``: a batch of ledger and reminder events, idempotent by ``event_id``.

Why: the online features and the bandit learn from the same stream. Each event
is applied to the feature store (which answers applied / duplicate / refused
with a reason), then:

* an applied ``reminder_sent`` that names the ``decision_id`` it carried out
  becomes the invoice's pending reminder, with the arm, propensity and context
  read back from that decision's audit record as a typed ``BanditFeedback``
  (the one source of truth);
* an applied ``payment_received`` pays the invoice's pending reminder its reward;
* reminders whose 7-day window ended before the batch's latest event time
  are settled with reward 0.

A refused event never stops the batch: the answer lists a result per event
(a time outside the date window or an amount past ``MAX_AMOUNT`` is refused
alone). A batch of more than ``MAX_EVENTS`` is a 422 naming ``events``: the
body limit of this endpoint is ``MAX_EVENTS_BODY_BYTES``, so a long batch is
read and counted rather than cut off as a 413.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from domain.errors import KredoError
from engine.bandits import Choice
from engine.decisions import BanditFeedback
from features.events import to_us
from serving.api._body import date_window, parse
from serving.runtime import Runtime, get_runtime
from serving.schemas import MAX_EVENTS_BODY_BYTES, EventsRequest

bp = Blueprint("events", __name__, url_prefix="/v1")


@bp.post("/events")
def post_events() -> Response:
    body = parse(EventsRequest, max_bytes=MAX_EVENTS_BODY_BYTES)
    runtime = get_runtime()
    events = [e.model_dump() for e in body.events]
    results = runtime.store.apply(events, date_window())
    out, rewards, latest = [], 0, None
    for event, result in zip(events, results):
        row = {"event_id": event["event_id"], "status": result.status, "code": result.code,
               "reason": result.reason, "detail": result.detail, "field": result.field}
        if result.status == "applied":
            try:
                rewards += _pay_bandit(runtime, event)
                latest = max(latest or 0.0, to_us(event["at"]) / 1e6)
            except KredoError as exc:
                row.update(code=exc.code, reason="bandit_skipped", detail=f"applied to features; bandit skipped: {exc.detail}")
        out.append(row)
    if latest is not None:  # event time, not the wall clock: a replayed history settles as it did live
        rewards += len(runtime.bandit.attribution.expire(latest))
    counts = {s: sum(r["status"] == s for r in out) for s in ("applied", "duplicate", "refused")}
    return jsonify({"results": out, **counts, "rewards": rewards})


def _pay_bandit(runtime: Runtime, event: dict[str, Any]) -> int:
    """Feed one applied event to the reward bookkeeping; returns the number of rewards settled.

    Times are the event's own (business time, as epoch seconds), so a replayed
    history settles rewards exactly as it did live.
    """
    attribution = runtime.bandit.attribution
    at = to_us(event["at"]) / 1e6
    if event["type"] == "reminder_sent" and event.get("decision_id"):
        feedback = BanditFeedback.from_record(runtime.audit.get(str(event["decision_id"])).payload)
        if feedback is None:
            return 0
        choice = Choice(feedback.arm, feedback.propensity, feedback.policy, feedback.experiment, feedback.group)
        settled = attribution.record_reminder(event["event_id"], feedback.invoice_id, at, feedback.context, choice)
        return len(settled)
    if event["type"] == "payment_received":
        still_open = event["invoice_id"] in runtime.store.aggregates(event["customer_id"]).open_invoices
        settled = attribution.payment_received(event["event_id"], event["invoice_id"], at,
                                               invoice_settled=not still_open)
        return int(settled is not None)
    return 0
