"""The dunning runs: one row per business day, so a day is run once.

Why: the run's decisions, messages and tasks carry deterministic ids, and the
``dunning_runs`` row with its unique business date is the day's record: a second
run of a finished day creates nothing and answers what the first one did; a run
that stopped half-way (``running``) is resumed, each partition adding only what it
had not written yet.

Example::

    with engine.begin() as conn:
        state = begin(conn, "2026-03-02", moment_us, now_us)   # None (new) / 'running' / 'done'
"""
from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from ledger import schema as t
from ledger.database import insert_new


def run_id(business_date: str) -> str:
    return f"run:{business_date}"


def find(conn: sa.Connection, business_date: str) -> dict[str, Any] | None:
    """The day's run (with its stored report as ``summary``), or None."""
    row = conn.execute(sa.select(t.dunning_runs).where(t.dunning_runs.c.business_date == business_date)).first()
    if row is None:
        return None
    out = dict(row._mapping)
    out["summary"] = json.loads(out["summary"])
    return out


def begin(conn: sa.Connection, business_date: str, moment_us: int, now_us: int) -> str | None:
    """Claim the day: None when this call created its row, else the status it already had."""
    created = insert_new(conn, t.dunning_runs, [{"id": run_id(business_date), "business_date": business_date,
                                                 "moment_us": moment_us, "status": "running", "started_us": now_us}])
    if created:
        return None
    return conn.execute(sa.select(t.dunning_runs.c.status)
                        .where(t.dunning_runs.c.business_date == business_date)).scalar_one()


def finish(conn: sa.Connection, business_date: str, report: dict[str, Any], now_us: int) -> None:
    conn.execute(sa.update(t.dunning_runs).where(t.dunning_runs.c.business_date == business_date).values(
        status="done", finished_us=now_us, invoices=report["invoices"], messages=report["messages"],
        tasks=report["tasks"], summary=json.dumps(report, separators=(",", ":"), sort_keys=True)))
