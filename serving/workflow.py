"""The collections workflow's bookkeeping: tasks for disputes, promises and plans judged on the day.

Why here: a dispute's task needs the policy (its type's department and SLA) and
the ledger's rows; the events API opens it the moment the dispute is booked (in
the same transaction; a decision on the disputed invoice, next-action's or the
run's, finds it open and names it). The dunning run escalates the disputes past
their SLA and writes what it found of the promises (kept, broken: a broken
promise is a task for the collector) and payment plans (completed, or cancelled
after a missed instalment).

Example::

    row = dispute_task(policy, dispute, invoice, created_us=wall_us)
    late = overdue_task(policy, dispute, invoice, now_us=now_us, created_us=wall_us)   # None within the SLA
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from engine.rules import CreditPolicy
from ledger import schema as t
from ledger.collections import (PlanStanding, PromiseStanding, day_of, open_tasks, plan_standing, promise_standing,
                                task)
from ledger.events import US_PER_DAY, iso
from ledger.views import InvoiceView


def dispute_task(policy: CreditPolicy, dispute: Mapping[str, Any], invoice: Mapping[str, Any],
                 created_us: int) -> dict[str, Any]:
    """The task of an open dispute for the department of its type, due at the end of its SLA."""
    route = policy.disputes.route(dispute["reason"])
    open_eur, what = _what(dispute, invoice)
    return task("dispute", (dispute["id"],), route.department, invoice["customer_id"], invoice["id"],
                dispute["opened_us"] + route.sla_days * US_PER_DAY, open_eur,
                f"Solve the {what} within {route.sla_days} days", created_us)


def overdue_task(policy: CreditPolicy, dispute: Mapping[str, Any], invoice: Mapping[str, Any], now_us: int,
                 created_us: int) -> dict[str, Any] | None:
    """The escalation of an open dispute past its type's SLA on ``now``'s day (None within it)."""
    route = policy.disputes.route(dispute["reason"])
    if day_of(now_us) - day_of(dispute["opened_us"]) < route.sla_days:
        return None
    open_eur, what = _what(dispute, invoice)
    resumes = "dunning resumes" if route.resume_dunning_after_sla else "dunning stays paused"
    return task("dispute_overdue", (dispute["id"],), policy.disputes.escalate_to, invoice["customer_id"],
                invoice["id"], now_us, open_eur,
                f"The {what} is past its SLA of {route.sla_days} days at {route.department}; {resumes}", created_us)


def _what(dispute: Mapping[str, Any], invoice: Mapping[str, Any]) -> tuple[float, str]:
    open_eur = (invoice["amount_cents"] - invoice["paid_cents"]) / 100
    return open_eur, f"{dispute['reason'].replace('_', ' ')} dispute on {invoice['id']} (EUR {open_eur:,.2f})"


def open_dispute_tasks(conn: sa.Connection, policy: CreditPolicy, dispute_ids: Sequence[str], created_us: int) -> int:
    """The tasks of disputes just booked (``dispute_opened`` event ids), in the booking's transaction, so the
    department hears of a dispute the moment dunning stops on it. Returns how many are new."""
    d, i = t.disputes.c, t.invoices.c
    pairs = []
    for part in range(0, len(dispute_ids), 500):
        rows = conn.execute(sa.select(t.disputes, t.invoices).join(t.invoices, i.id == d.invoice_id)
                            .where(d.id.in_(dispute_ids[part:part + 500]), d.status == "open")).all()
        pairs += [({c.name: row._mapping[c] for c in t.disputes.c}, {c.name: row._mapping[c] for c in t.invoices.c})
                  for row in rows]
    return open_tasks(conn, [dispute_task(policy, dispute, invoice, created_us) for dispute, invoice in pairs])


@dataclass
class DayState:
    """What the run found on its day beside the decisions: promises newly kept or broken, plans whose
    instalments or status changed, and the tasks that follow from them and from disputes past their SLA."""

    promises: dict[str, PromiseStanding] = field(default_factory=dict)
    plans: dict[str, tuple[PlanStanding, str | None]] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)


def day_state(views: Sequence[InvoiceView], policy: CreditPolicy, now_us: int, created_us: int) -> DayState:
    """The state of the views' promises, plans and disputes on ``now``'s day (the run writes it)."""
    state, today, d = DayState(), day_of(now_us), policy.dunning
    customers = {v.customer["id"]: v for v in views}
    for customer_id, view in customers.items():
        owner = view.customer["account_manager"] if view.customer["key_account"] and view.customer["account_manager"] \
            else "collections"
        for record in view.promises:
            standing = promise_standing(record, today, d.promise_grace_days)
            if record.row["status"] != "open" or standing.status == "pending":
                continue
            state.promises[standing.promise_id] = standing
            if standing.status == "broken":
                state.tasks.append(task(
                    "broken_promise", (standing.promise_id,), owner, customer_id, standing.invoice_id, now_us,
                    standing.amount_cents / 100, f"Promise to pay EUR {standing.amount_cents / 100:,.2f} on "
                    f"{standing.invoice_id} by {iso(standing.promised_for_day * US_PER_DAY)[:10]} (plus {d.promise_grace_days} days' "
                    "grace) was broken", created_us))
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
            late = overdue_task(policy, dispute, view.invoice, now_us, created_us)
            if late is not None:
                state.tasks.append(late)
    return state
