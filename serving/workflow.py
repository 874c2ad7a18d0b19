"""The collections workflow's bookkeeping: a dispute's task when it is booked, and what the dunning run finds of
promises, payment plans and disputes past their SLA.

Why here: a dispute's task is the one its next-action decision carries (``engine.tasks``: the department of its
type, due at the end of its SLA), so the events API opens it the moment the dispute is booked by taking that
decision, without recording it; the run then asks the same decision and finds the task open. What no single
decision carries, the run opens from the day's state: a promise found broken (a task for the collector) and a
dispute past its SLA (escalated to the policy's ``disputes.escalate_to``), once per invoice while open; and it
writes what it found of promises (kept, broken) and plans (completed, or cancelled after a missed instalment).

Example::

    state = day_state(views, policy, now_us, created_us, segments)
    state.promises, state.plans, state.tasks
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.errors import KredoError
from engine.decisions import decide_next_action
from engine.rules import CreditPolicy
from ledger.collections import PlanStanding, PromiseStanding, day_of, plan_standing, promise_standing
from ledger.events import US_PER_DAY, iso
from ledger.tasks import decision_task_row, open_task
from ledger.views import InvoiceView, invoice_view
from serving.dunning_view import from_ledger, micros


def open_dispute_tasks(runtime: Any, disputed: Mapping[str, datetime]) -> int:  # noqa: ANN401
    """The tasks of invoices just disputed (invoice -> when), opened as their next-action decision at that
    moment opens them (the decision is taken for its task, not recorded); a model or policy not loaded yet
    leaves it to the next decision."""
    if not disputed:
        return 0
    try:
        served = runtime.snapshot()
    except KredoError:
        return 0
    opened = 0
    for invoice_id, now in disputed.items():
        view = invoice_view(runtime.book.engine, invoice_id)
        if view is None or view.open_dispute is None:
            continue
        try:
            request = from_ledger(view, f"dispute-task:{invoice_id}", now, served.rules.policy)
            task = decide_next_action(request, store=runtime.store, served=served).answer.task
        except KredoError:  # a customer without master data, a store or model fault: the next decision opens it
            continue
        if task is not None:
            open_task(runtime.book.engine, decision_task_row(task, request.customer.id, invoice_id, micros(now)))
            opened += 1
    return opened


def task_row(kind: str, key: str, owner: str, customer_id: str, invoice_id: str, due_us: int, priority: float,
             reason: str, created_us: int) -> dict[str, Any]:
    """A task the day's state opens (``<kind>:<invoice>:<key>``, hashed where it would not fit the column)."""
    text = f"{kind}:{invoice_id}:{key}"
    task_id = text if len(text) <= 128 else f"{kind}:{hashlib.sha256(text.encode()).hexdigest()[:40]}"
    return {"id": task_id, "type": kind, "owner": owner[:64], "customer_id": customer_id, "invoice_id": invoice_id,
            "due_us": due_us, "priority": round(float(priority), 2), "status": "open", "reason": reason,
            "created_us": created_us}


@dataclass
class DayState:
    """What the run found on its day beside the decisions: promises newly kept or broken, plans whose
    instalments or status changed, and the tasks that follow from them and from disputes past their SLA."""

    promises: dict[str, PromiseStanding] = field(default_factory=dict)
    plans: dict[str, tuple[PlanStanding, str | None]] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)


def day_state(views: Sequence[InvoiceView], policy: CreditPolicy, now_us: int, created_us: int,
              segments: Mapping[str, str]) -> DayState:
    """The state of the views' promises, plans and disputes on ``now``'s day (the run writes it); ``segments``:
    the risk segment each invoice was decided in (a broken promise goes to its collector queue)."""
    state, today, d = DayState(), day_of(now_us), policy.dunning
    for view in {v.customer["id"]: v for v in views}.values():
        c = view.customer
        for record in view.promises:
            standing = promise_standing(record, today, d.promise_grace_days)
            if record.row["status"] != "open" or standing.status == "pending":
                continue
            state.promises[standing.promise_id] = standing
            if standing.status == "broken" and standing.invoice_id in segments:  # still open, decided today
                owner = c["account_manager"] if c["key_account"] and c["account_manager"] and \
                    d.key_account_assignee else d.worklists.queue(segments[standing.invoice_id])
                state.tasks.append(task_row(
                    "broken_promise", standing.promise_id, owner, c["id"], standing.invoice_id, now_us,
                    standing.amount_cents / 100, f"Promise to pay EUR {standing.amount_cents / 100:,.2f} by "
                    f"{iso(standing.promised_for_day * US_PER_DAY)[:10]} (plus {d.promise_grace_days} days' grace) "
                    "was broken: call the customer", created_us))
    for view in views:
        plan = view.plan
        if plan is not None and plan.row["id"] not in state.plans:
            standing = plan_standing(plan, today, d.plans.grace_days)
            missed_long = standing.missed_since_day is not None and \
                today - standing.missed_since_day >= d.plans.cancel_after_days
            status = "completed" if standing.status == "completed" else "cancelled" if missed_long else None
            state.plans[plan.row["id"]] = (standing, status)
        dispute = view.open_dispute
        if dispute is not None:
            route = policy.disputes.route(dispute["reason"])
            if today - day_of(dispute["opened_us"]) >= route.sla_days:
                inv = view.invoice
                open_eur = (inv["amount_cents"] - inv["paid_cents"]) / 100
                resumes = "dunning resumes" if route.resume_dunning_after_sla else "dunning stays paused"
                state.tasks.append(task_row(
                    "escalation", f"dispute:{dispute['id']}", policy.disputes.escalate_to, inv["customer_id"],
                    inv["id"], now_us, open_eur, f"The {dispute['reason'].replace('_', ' ')} dispute on {inv['id']} "
                    f"(EUR {open_eur:,.2f}) is past its SLA of {route.sla_days} days at {route.department}; "
                    f"{resumes}", created_us))
    return state
