"""The worklist: tasks for people, opened by decisions, closed or rescheduled by their outcomes.

Why here: a task is a row of the ledger (``tasks``, revision 0002), read by the
worklist API and by the next dunning run; its outcome is a ``task_outcome``
event booked by ``ledger.book.Book`` like any other, so it is idempotent, it is in
the invoice's timeline, and what it says (a promise, a dispute, a plan, a
contact) is what the next decision reads. This module opens tasks and answers
the worklist's questions; times are integer microseconds, money in the priority
is EUR (amount at risk x probability).

One open task per invoice and type: a decision asked twice, or on the next day
while the call is still to be made, finds the task already on the worklist. A
decision's task is the same row whoever asks (``decision_task_row``): next-action
by invoice id and the dunning run deciding the same invoice open the same task.

Example::

    task_id = open_task(engine, decision_task_row(answer.task, "C-1", "INV-1", now_us))
    rows = worklist(engine, owner="collectors-low", due_us=end_of_today, limit=50)
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from domain.contract import Task
from ledger import schema as t
from ledger.events import to_us

TASK_OUTCOMES = ("reached", "not_reached", "promise_to_pay", "dispute_raised", "payment_plan_agreed",
                 "wrong_contact")
#: What an outcome does to its task: ``done`` closes it; ``open`` keeps it, due again later.
OUTCOME_STATUS = {"not_reached": "open"}
TASK_STATUSES = ("open", "done")


def open_task(engine: Engine, row: Mapping[str, Any]) -> str:
    """Open ``row`` as a task unless its invoice already has an open task of its type; the task's id."""
    tk = t.tasks.c
    with engine.begin() as conn:
        if row.get("invoice_id") is not None:
            known = conn.execute(sa.select(tk.id).where(tk.invoice_id == row["invoice_id"], tk.type == row["type"],
                                                        tk.status == "open")).scalar()
            if known is not None:
                return known
        if conn.execute(sa.select(tk.id).where(tk.id == row["id"])).scalar() is None:
            conn.execute(sa.insert(t.tasks).values(**row))
    return str(row["id"])


def decision_task_row(task: Task, customer_id: str, invoice_id: str, now_us: int) -> dict[str, Any]:
    """The worklist row of a decision's task (its id names the type, the invoice and the due day)."""
    return {"id": f"{task.type}:{invoice_id}:{task.due:%Y%m%d}", "type": task.type, "owner": task.owner,
            "customer_id": customer_id, "invoice_id": invoice_id,
            "due_us": to_us(datetime.combine(task.due, time(), tzinfo=UTC)), "priority": task.priority,
            "status": "open", "reason": task.reason, "created_us": now_us}


def open_tasks_of(conn: sa.Connection, invoice_ids: Iterable[str]) -> dict[tuple[str, str], str]:
    """The open tasks of the invoices by (invoice, type): where a decision's task already is on the worklist
    (the dunning run reads a partition's at once)."""
    tk, ids, out = t.tasks.c, sorted(set(invoice_ids)), {}
    for part in range(0, len(ids), 500):  # by invoice (its index); the status filtered here
        for task_id, invoice_id, kind, status in conn.execute(
                sa.select(tk.id, tk.invoice_id, tk.type, tk.status).where(tk.invoice_id.in_(ids[part:part + 500]))
                .order_by(tk.id)):
            if status == "open":
                out.setdefault((invoice_id, kind), task_id)
    return out


def task_row(engine: Engine, task_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.tasks).where(t.tasks.c.id == task_id)).first()
    return None if row is None else dict(row._mapping)


def worklist(engine: Engine, owner: str | None = None, kind: str | None = None, due_us: int | None = None,
             status: str | None = None, after: tuple[float, str] | None = None,
             limit: int = 50) -> list[dict[str, Any]]:
    """Tasks in priority order (highest first, then by id), filtered; ``due_us``: due at or before it;
    ``after``: the (priority, id) of the last task of the previous page."""
    tk = t.tasks.c
    query = sa.select(t.tasks)
    for column, value in ((tk.owner, owner), (tk.type, kind), (tk.status, status)):
        if value is not None:
            query = query.where(column == value)
    if due_us is not None:
        query = query.where(tk.due_us <= due_us)
    if after is not None:
        query = query.where(sa.or_(tk.priority < after[0], sa.and_(tk.priority == after[0], tk.id > after[1])))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query.order_by(tk.priority.desc(), tk.id).limit(limit))]
