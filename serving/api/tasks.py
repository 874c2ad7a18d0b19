"""The worklist: ``GET /v1/tasks``, ``GET /v1/tasks/{id}``, ``POST /v1/tasks/{id}/outcome``.

Why: the collectors, the account managers and the dispute departments work from
Kredo: a next-action that leaves work to a person opens a task (one per invoice
and type while open), the worklist lists them by priority (amount at risk x
P(> 30 days late)), and the outcome of a call is booked in the ledger through
the same ``Book.apply`` as ``POST /v1/events``: one ``task_outcome`` event, plus
the ledger event it brings (``promise_made`` for a promise to pay,
``dispute_opened`` for a dispute), all in one transaction or none. So an outcome
is idempotent (the same ``outcome_id`` and body books once), it is in the
invoice's timeline, and the next decision reads it: a promise pauses nothing by
itself but counts when broken, a dispute pauses dunning, a payment plan is on
the book. ``not_reached`` keeps the task open, due again on the next business
day; ``wrong_contact`` closes it and opens a review to fix the contact details.

Role: ``dunning`` (declared where roles are enforced).
"""
from __future__ import annotations

import re
from datetime import date, datetime, time as dtime, timedelta

from flask import Blueprint, Response, g, request
from pydantic_core import to_json

from domain.contract import Task
from domain.errors import Conflict, InvalidInput, NotFound
from domain.vocabulary import TASK_TYPES
from engine.calendar import next_business_day
from ledger.tasks import TASK_STATUSES, decision_task_row, open_task, task_row, worklist
from serving.access import requires
from serving.api._body import cursor_parts, parse
from serving.api.book import iso
from serving.api.events import follow
from serving.dunning_view import micros, moment
from ledger.views import customer_row
from serving.runtime import get_runtime
from serving.schemas import (DisputeRaised, EventResult, NotReached, Outcome, PaymentPlanAgreed, PromiseToPay, TaskOut,
                             TaskOutcomeRequest, TaskOutcomeResult, TaskPage)

bp = Blueprint("tasks", __name__, url_prefix="/v1/tasks")
FILTERS = ("owner", "type", "due", "status", "cursor", "limit")


def task_out(row: dict) -> TaskOut:
    return TaskOut(id=row["id"], type=row["type"], owner=row["owner"], customer_id=row["customer_id"],
                   invoice_id=row["invoice_id"], due=moment(row["due_us"]).date().isoformat(),
                   priority=row["priority"], status=row["status"], reason=row["reason"],
                   created_at=iso(row["created_us"]))


def _json(model) -> Response:  # noqa: ANN001
    return Response(to_json(model), mimetype="application/json")


@bp.get("")
@requires("dunning")
def list_tasks() -> Response:
    """A worklist: tasks by owner, type, due (on or before a day) and status, highest priority first."""
    args = request.args
    unknown = sorted(set(args) - set(FILTERS))
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}", field=unknown[0])
    kind, status = args.get("type"), args.get("status")
    if kind is not None and kind not in TASK_TYPES:
        raise InvalidInput(f"type must be one of {list(TASK_TYPES)}", field="type")
    if status is not None and status not in TASK_STATUSES:
        raise InvalidInput(f"status must be one of {list(TASK_STATUSES)}", field="status")
    due = _day(args.get("due"), "due")
    owner = args.get("owner") or None  # an empty owner is no filter; the other filters are checked values
    if owner is not None and len(owner) > 64:
        raise InvalidInput("owner is at most 64 characters", field="owner")
    limit = args.get("limit")
    if limit is not None and (not limit.isdigit() or not 1 <= int(limit) <= 500):
        raise InvalidInput("limit must be an integer from 1 to 500", field="limit")
    size = int(limit or 50)
    rows = worklist(get_runtime().book.engine, owner=owner, kind=kind, status=status,
                    due_us=None if due is None else micros(_midnight(due + timedelta(days=1))) - 1,
                    after=_cursor(args.get("cursor")), limit=size + 1)
    more = len(rows) > size
    rows = rows[:size]
    cursor = _encode(rows[-1]["priority"], rows[-1]["id"]) if more else None
    return _json(TaskPage(tasks=[task_out(r) for r in rows], next_cursor=cursor))


@bp.get("/<task_id>")
@requires("dunning")
def get_task(task_id: str) -> Response:
    row = task_row(get_runtime().book.engine, task_id)
    if row is None:
        raise NotFound(f"no task {task_id[:80]!r}", field="task_id")
    return _json(task_out(row))


@bp.post("/<task_id>/outcome")
@requires("dunning")
def post_outcome(task_id: str) -> Response:
    return _json(record_outcome(task_id, parse(TaskOutcomeRequest).root, g.received))


def record_outcome(task_id: str, body: Outcome, received: datetime) -> TaskOutcomeResult:
    """Book ``body`` on the task: the one code path of the API and of the worklist page's buttons
    (``received``: the server's clock, the default ``at``)."""
    runtime = get_runtime()
    engine = runtime.book.engine
    row = task_row(engine, task_id)
    if row is None:
        raise NotFound(f"no task {task_id[:80]!r}", field="task_id")
    if row["customer_id"] is None:
        raise Conflict(f"task {task_id} has no customer: close it where it was opened", field="task_id")
    at = body.at or received
    country = (customer_row(engine, row["customer_id"]) or {}).get("country") or ""
    events = _events(row, body, at, next_business_day(runtime.calendar, country, at.date() + timedelta(days=1)))
    with engine.begin() as conn:  # the outcome and the event it brings, or nothing
        applied = runtime.book.apply(events, micros(received), conn=conn)
        refused = next((v for v in applied.verdicts if v.status == "refused"), None)
        if refused is not None:
            raise Conflict(f"outcome not booked: {refused.reason}", field=_field(refused.field))
    follow(runtime, applied.verdicts)
    results = [EventResult(event_id=v.event_id, status=v.status, code=v.code, field=v.field, reason=v.reason,
                           detail=v.reason) for v in applied.verdicts]
    follow_up = None
    if body.outcome == "wrong_contact" and applied.verdicts[0].status == "applied":
        follow_up = _review_contact(engine, row, at, runtime.calendar)
    return TaskOutcomeResult(task=task_out(task_row(engine, task_id)), outcome=body.outcome, events=results,
                             follow_up=follow_up)


def _events(row: dict, body: Outcome, at: datetime, next_day: date) -> list[dict]:
    """The ledger events of one outcome: the ``task_outcome`` itself and the event it brings
    (``next_day``: the business day after ``at``, when an unreached call is due again)."""
    base = f"task_outcome:{row['id']}:{body.outcome_id}"
    common = {"customer_id": row["customer_id"], "at": at.isoformat()}
    outcome = {"event_id": base, "type": "task_outcome", "task_id": row["id"], "task_type": row["type"],
               "invoice_id": row["invoice_id"], "outcome": body.outcome, "by": body.by, "note": body.note, **common}
    if isinstance(body, NotReached):
        outcome["due_again"] = _midnight(body.retry_on or next_day).isoformat()
    events = [outcome]
    if row["invoice_id"] is not None and isinstance(body, PromiseToPay):
        events.append({"event_id": f"{base}:promise", "type": "promise_made", "invoice_id": row["invoice_id"],
                       "amount": body.promise.amount, "promised_for": body.promise.date.isoformat(), **common})
    if row["invoice_id"] is not None and isinstance(body, DisputeRaised):
        events.append({"event_id": f"{base}:dispute", "type": "dispute_opened", "invoice_id": row["invoice_id"],
                       "reason": body.dispute_type, **common})
    if row["invoice_id"] is not None and isinstance(body, PaymentPlanAgreed):  # the same as one sent as an event
        events.append({"event_id": f"{base}:plan", "type": "plan_agreed", "invoice_ids": [row["invoice_id"]],
                       "instalments": [{"due_at": _midnight(i.due_date).isoformat(), "amount": i.amount}
                                       for i in body.instalments], **common})
    if body.outcome in ("promise_to_pay", "dispute_raised", "payment_plan_agreed") and row["invoice_id"] is None:
        raise Conflict(f"task {row['id']} is about no invoice: a {body.outcome.replace('_', ' ')} needs one",
                       field="outcome")
    return [{k: v for k, v in e.items() if v is not None} for e in events]


def _review_contact(engine, row: dict, at: datetime, calendar) -> TaskOut:  # noqa: ANN001
    """A wrong contact: the credit desk fixes the customer's contact details before anyone calls again."""
    country = (customer_row(engine, row["customer_id"]) or {}).get("country") or ""
    review = {"id": f"review:{row['id']}:contact", "type": "review", "owner": get_runtime().snapshot().rules.policy
              .dunning.worklists.review, "customer_id": row["customer_id"], "invoice_id": row["invoice_id"],
              "due_us": micros(_midnight(next_business_day(calendar, country, at.date()))),
              "priority": row["priority"], "status": "open", "created_us": micros(at),
              "reason": f"wrong contact details found on task {row['id']}: correct them; {row['reason']}"}
    return task_out(task_row(engine, open_task(engine, review)))


def _field(name: str | None) -> str:
    """A refused event's field as the request names it."""
    name = (name or "").replace(".due_at", ".due_date")
    return {"reason": "dispute_type", "promised_for": "promise.date", "amount": "promise.amount",
            "invoice_ids": "outcome"}.get(name, name or "outcome")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, dtime(), tzinfo=moment(0).tzinfo)


def _day(raw: str | None, name: str) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO date (YYYY-MM-DD)", field=name) from None


CURSOR = re.compile(r"([0-9]{1,15})\.([A-Za-z0-9_.:@/+-]{1,200})")


def _encode(priority: float, task_id: str) -> str:
    """``<priority in cents>.<task id>``: priorities are EUR rounded to the cent, so this is exact."""
    return f"{round(priority * 100)}.{task_id}"


def _cursor(raw: str | None) -> tuple[float, str] | None:
    """The (priority, id) after which the next page starts: ``<priority in cents>.<task id>``."""
    parts = cursor_parts(raw, CURSOR)
    return None if parts is None else (int(parts[0]) / 100, parts[1])


def open_decision_task(engine, task: Task, customer_id: str, invoice_id: str, now: datetime) -> str:  # noqa: ANN001
    """Put a decision's task on the worklist (once per invoice and type while open); its id."""
    return open_task(engine, decision_task_row(task, customer_id, invoice_id, micros(now)))
