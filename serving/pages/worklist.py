"""The collector's worklist: today's tasks of a queue in priority order with their reason, the customer's
context beside them, and one-click outcomes booked through the tasks API's own code path.

Why through ``serving.api.tasks.record_outcome``: an outcome from this page is
the same ``task_outcome`` event (plus the promise, dispute or plan it brings) as
one posted to ``POST /v1/tasks/{id}/outcome``, idempotent by its ``outcome_id``
(made when the form is drawn, so a double click books once), in the invoice's
timeline and read by the next decision. The page works without JavaScript (each
task is a link, each outcome a form that redirects back); htmx (``hx-boost``)
only swaps the page in place.

"Today" is the book's date (``ledger.receivables.book_date_us``), as on the
dashboard; an outcome happens at the server's clock, as one posted to the API.
"""
from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import g, redirect, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import ValidationError

from domain.errors import KredoError
from domain.vocabulary import DISPUTE_TYPES
from ledger import schema as t
from ledger.events import US_PER_DAY
from ledger.receivables import book_date_us
from ledger.tasks import task_row, worklist
from serving.access import caller, requires
from serving.api.book import invoice_detail, overview
from serving.api.tasks import record_outcome
from serving.dunning_view import moment
from serving.pages.exports import Column, Table, page_args, respond
from serving.pages.layout import blueprint, url_with
from serving.runtime import get_runtime
from serving.schemas import TaskOutcomeRequest

bp = blueprint("pages_worklist", __name__)
WORKERS = ("collector", "credit_manager")
SHOWN = 200
OUTCOME_NAMES = {"reached": _l("reached"), "not_reached": _l("not reached"), "promise_to_pay": _l("promise to pay"),
                 "dispute_raised": _l("dispute raised"), "payment_plan_agreed": _l("payment plan agreed"),
                 "wrong_contact": _l("wrong contact")}


def today_us() -> int:
    """The end of the book's day: tasks due by then are today's."""
    at = book_date_us(get_runtime().book.engine) or 0
    return at - at % US_PER_DAY + US_PER_DAY - 1


def queues(due_us: int) -> list[tuple[str, int]]:
    """The owners with open tasks due by ``due_us`` and how many, largest first."""
    k = t.tasks.c
    with get_runtime().book.engine.connect() as conn:
        rows = conn.execute(sa.select(k.owner, sa.func.count()).where(k.status == "open", k.due_us <= due_us)
                            .group_by(k.owner)).all()
    return sorted(((o, int(n)) for o, n in rows), key=lambda x: (-x[1], x[0]))


def _context(task_id: str | None, owner: str | None) -> dict[str, Any] | None:
    """The chosen task with its customer's standing and its invoice's timeline, on the book's date."""
    if task_id is None:
        return None
    row = task_row(get_runtime().book.engine, task_id)
    if row is None or row["customer_id"] is None:
        return None
    now_us = today_us()
    customer = overview(row["customer_id"], moment(now_us))
    invoice = None if row["invoice_id"] is None else invoice_detail(row["invoice_id"], now_us)
    soon = moment(now_us).date() + timedelta(days=7)
    return {"task": row, "customer": customer, "invoice": invoice, "outcome_id": f"page-{uuid.uuid4().hex}",
            "promise_date": soon.isoformat(), "dispute_types": DISPUTE_TYPES, "owner": owner,
            "open_amount": invoice.open_amount if invoice is not None else None}


@bp.get("/worklist")
@requires(*WORKERS)
def worklist_page() -> Any:  # noqa: ANN401 - a page or a CSV
    args = page_args()
    booked = args.get("booked")
    return _page(args.get("owner") or None, args.get("task"), booked if booked in OUTCOME_NAMES else None)


def _page(owner: str | None, task_id: str | None, booked: str | None = None, error: str | None = None,
          status: int = 200) -> Any:  # noqa: ANN401 - a page or a CSV
    due = today_us()
    found = queues(due)
    owner = owner or (found[0][0] if found else None)
    rows = worklist(get_runtime().book.engine, owner=owner, status="open", due_us=due, limit=SHOWN) if owner else []
    link = lambda r: url_with("/worklist", owner=owner, task=r["id"])  # noqa: E731
    tasks = Table("tasks", _("Today's tasks"), [
        Column("priority", _("Priority"), "money", href=link), Column("type", _("Type")),
        Column("reason", _("Why"), href=link), Column("customer_id", _("Customer"),
                                                      href=lambda r: f"/customers/{r['customer_id']}"),
        Column("invoice_id", _("Invoice")), Column("due", _("Due"), "date")],
        [{**r, "due": moment(r["due_us"]).date().isoformat()} for r in rows],
        note=_("Highest priority first: amount at risk x probability of paying more than 30 days late."))
    return respond("pages/worklist.html", [tasks], status=status, title=_("Worklist"), queues=found, owner=owner,
                   today=moment(due).date().isoformat(), context=_context(task_id, owner), booked=booked,
                   error=error, outcome_names=OUTCOME_NAMES)


@bp.post("/worklist/tasks/<task_id>/outcome")
@requires(*WORKERS)
def book_outcome(task_id: str) -> Any:  # noqa: ANN401 - a redirect or the page with the error
    form, owner = request.form, request.form.get("owner") or None
    try:  # judged as the API judges a body: the same schema, from JSON
        body = TaskOutcomeRequest.model_validate_json(json.dumps(outcome_body(form, caller().name))).root
        result = record_outcome(task_id, body, g.received)
    except (KredoError, ValidationError) as exc:
        message = exc.detail if isinstance(exc, KredoError) else "; ".join(
            f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors(include_url=False))
        return _page(owner, task_id, error=message, status=422)
    return redirect(url_with("/worklist", owner=owner, task=task_id, booked=result.outcome), 303)


def outcome_body(form: Any, by: str) -> dict[str, Any]:  # noqa: ANN401 - a request form
    """The tasks API's request body from the page's outcome form (the same schema judges it)."""
    outcome = form.get("outcome", "")
    body: dict[str, Any] = {"outcome": outcome, "outcome_id": form.get("outcome_id", ""), "by": by[:64]}
    if form.get("note"):
        body["note"] = form["note"]
    if outcome == "promise_to_pay":
        body["promise"] = {"date": form.get("promise_date", ""), "amount": _amount(form.get("promise_amount"))}
    elif outcome == "dispute_raised":
        body["dispute_type"] = form.get("dispute_type", "")
    elif outcome == "payment_plan_agreed":
        body["instalments"] = _instalments(form.get("plan_amount"), form.get("plan_first"), form.get("plan_count"))
    return body


def _amount(raw: str | None) -> Any:  # noqa: ANN401 - the schema judges what is left
    try:
        return float((raw or "").replace(",", "."))
    except ValueError:
        return raw


def _instalments(total: str | None, first: str | None, count: str | None) -> list[dict[str, Any]] | str:
    """Equal monthly instalments of ``total`` (the last takes the cents left), from ``first``."""
    try:
        cents, n = round(float((total or "").replace(",", ".")) * 100), int(count or "")
        start = date.fromisoformat(first or "")
    except ValueError:
        return "instalments need an amount, a first due date and a number"
    if not 1 <= n <= 60 or cents <= 0:
        return "instalments need a positive amount and 1 to 60 instalments"
    share = cents // n
    out = []
    for i in range(n):
        month = start.month - 1 + i
        due = start.replace(year=start.year + month // 12, month=month % 12 + 1, day=min(start.day, 28))
        out.append({"due_date": due.isoformat(), "amount": (share if i < n - 1 else cents - share * (n - 1)) / 100})
    return out
