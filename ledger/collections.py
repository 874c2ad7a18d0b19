"""Promises to pay and payment plans as they stand on a day, and the tasks the collections workflow opens.

Why here: whether a promise was kept, whether a plan's instalments are paid, is
arithmetic on the book's rows (payments allocated to the invoices, dates), and
every reader must get the same answer: next-action by invoice id, the dunning
run deciding the same invoice, and the run writing what it found (a promise
``kept`` or ``broken``, a plan ``completed`` or ``cancelled``). The policy
supplies only the numbers (the grace, the days before a missed plan is
cancelled).

Days are whole days of the ledger's business time (``us // US_PER_DAY``).

* A promise is **pending** until its date plus the grace; **kept** when the
  payments its invoice received from the day it was made to the end of the grace
  add up to the promised amount (or settle the invoice); **broken** otherwise.
* A plan's payments (on its invoices, since it was agreed) pay its instalments in
  order; it is **completed** when all are paid or none of its invoices is open,
  **missed** from the day after an unpaid instalment's due date plus the grace,
  else **on track**.

Example::

    promise_standing(view.promises[0], today=day_of(now_us), grace_days=3).status   # 'pending'
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledger import schema as t
from ledger.database import insert_new
from ledger.events import US_PER_DAY
from ledger.views import PlanRecord, PromiseRecord

PromiseStatus = Literal["pending", "kept", "broken"]
PlanStatus = Literal["on_track", "missed", "completed"]


def day_of(us: int) -> int:
    """The business day (days since 1970-01-01) of a ledger time."""
    return us // US_PER_DAY


@dataclass(frozen=True)
class PromiseStanding:
    promise_id: str
    invoice_id: str
    status: PromiseStatus
    promised_for_day: int
    amount_cents: int
    broken_since_day: int | None     # the first day it counted as broken (the day after the grace)


def promise_standing(record: PromiseRecord, today: int, grace_days: int) -> PromiseStanding:
    """The promise on ``today``; a verdict the run already wrote (``kept``/``broken``) stands."""
    row = record.row
    promised, last = day_of(row["promised_for_us"]), day_of(row["promised_for_us"]) + grace_days
    status: PromiseStatus
    if row["status"] in ("kept", "broken"):
        status = row["status"]
    else:
        window_end = min(last, today)
        paid = sum(cents for at, cents in record.paid if at >= row["created_us"] and day_of(at) <= window_end)
        settled = record.invoice_paid_us is not None and day_of(record.invoice_paid_us) <= window_end
        status = "kept" if paid >= row["amount_cents"] or settled else "pending" if today <= last else "broken"
    return PromiseStanding(row["id"], row["invoice_id"], status, promised, row["amount_cents"],
                           last + 1 if status == "broken" else None)


@dataclass(frozen=True)
class PlanStanding:
    plan_id: str
    status: PlanStatus
    missed_since_day: int | None     # the day after the first unpaid instalment's due date plus the grace
    paid_cents: tuple[int, ...]      # per instalment, in order


def plan_standing(record: PlanRecord, today: int, grace_days: int) -> PlanStanding:
    """The plan on ``today``: its payments so far fill its instalments in order."""
    left = sum(cents for at, cents in record.paid if day_of(at) <= today)
    paid = []
    for instalment in record.instalments:
        take = min(left, instalment["amount_cents"])
        paid.append(take)
        left -= take
    unpaid = [i for i, p in zip(record.instalments, paid) if p < i["amount_cents"]]
    if not unpaid or record.open_invoices == 0:
        return PlanStanding(record.row["id"], "completed", None, tuple(paid))
    since = day_of(unpaid[0]["due_us"]) + grace_days + 1
    return PlanStanding(record.row["id"], "missed" if today >= since else "on_track",
                        since if today >= since else None, tuple(paid))


# -- writing what the run found ----------------------------------------------------------------------
def settle_promises(conn: sa.Connection, found: Mapping[str, PromiseStanding], at_us: int) -> int:
    """Write ``kept``/``broken`` on the promises still ``open``; returns how many changed."""
    done = [(pid, s.status) for pid, s in found.items() if s.status in ("kept", "broken")]
    changed = 0
    for status in ("kept", "broken"):
        ids = [pid for pid, s in done if s == status]
        for part in range(0, len(ids), 500):
            changed += conn.execute(sa.update(t.promises).where(t.promises.c.id.in_(ids[part:part + 500]),
                                                                t.promises.c.status == "open")
                                    .values(status=status, resolved_us=at_us)).rowcount
    return changed


def settle_plans(conn: sa.Connection, found: Mapping[str, tuple[PlanStanding, str | None]], at_us: int) -> int:
    """Write each plan's paid instalments and, where given, its new status (``completed``/``cancelled``)."""
    changed = 0
    for plan_id, (standing, status) in found.items():
        for number, paid in enumerate(standing.paid_cents, 1):
            conn.execute(sa.update(t.plan_instalments).where(t.plan_instalments.c.plan_id == plan_id,
                                                             t.plan_instalments.c.number == number)
                         .values(paid_cents=paid))
        if status is not None:
            changed += conn.execute(sa.update(t.payment_plans).where(t.payment_plans.c.id == plan_id,
                                                                     t.payment_plans.c.status == "active")
                                    .values(status=status, closed_us=at_us)).rowcount
    return changed


# -- tasks ----------------------------------------------------------------------------------------------
def task_id(kind: str, *keys: str) -> str:
    """A task's deterministic id (``task:<kind>:<keys>``; hashed when it would not fit the column)."""
    text = ":".join(("task", kind, *keys))
    return text if len(text) <= 128 else f"task:{kind}:{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def task(kind: str, keys: Sequence[str], owner: str, customer_id: str | None, invoice_id: str | None, due_us: int,
         priority: float, reason: str, now_us: int) -> dict[str, Any]:
    """One task row, open."""
    return {"id": task_id(kind, *keys), "type": kind, "owner": owner[:64], "customer_id": customer_id,
            "invoice_id": invoice_id, "due_us": due_us, "priority": round(float(priority), 2), "status": "open",
            "reason": reason, "created_us": now_us}


def open_tasks(conn: sa.Connection, tasks: Sequence[Mapping[str, Any]], once_per_invoice: bool = False) -> int:
    """Open the tasks not opened before (by id); with ``once_per_invoice``, also not while a task of the same
    type for the same customer and invoice is still open. Returns how many are new."""
    rows = list(tasks)
    if once_per_invoice and rows:
        k = t.tasks.c
        customers = sorted({r["customer_id"] for r in rows if r["customer_id"] is not None})
        busy: set[tuple[Any, ...]] = set()
        for part in range(0, len(customers), 500):  # by customer (its index), the status filtered here: the
            busy |= {(kind, c, i) for kind, c, i, status in conn.execute(  # open tasks of all are many
                sa.select(k.type, k.customer_id, k.invoice_id, k.status)
                .where(k.customer_id.in_(customers[part:part + 500]))) if status == "open"}
        rows = [r for r in rows if (r["type"], r["customer_id"], r["invoice_id"]) not in busy]
    return len(insert_new(conn, t.tasks, rows))


def add_tasks(engine: Engine, tasks: Sequence[Mapping[str, Any]]) -> int:
    """Open tasks for people in their own transaction (e.g. an unmatched bank payment), once per id."""
    with engine.begin() as conn:
        return open_tasks(conn, tasks)
