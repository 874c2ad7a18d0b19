"""Events and look-ups the collections-workflow tests share: customers with master data, invoices, the outbox."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from ledger import schema as t


def customer(cid: str, customer_type: str = "consumer", **extra: Any) -> dict[str, Any]:
    """Master data: a consumer in NL with e-mail consent only (unless ``extra`` says otherwise)."""
    return {"event_id": f"cu-{cid}", "type": "customer_updated", "customer_id": cid, "customer_type": customer_type,
            "country": "NL", "profile": "adult" if customer_type == "consumer" else "sme",
            "size": "consumer" if customer_type == "consumer" else "small", "consent_email": True, **extra}


def issued(cid: str, inv: str, due: str, amount: float = 100.0, at: str = "2026-09-01T09:00:00") -> dict[str, Any]:
    return {"event_id": f"iss-{inv}", "type": "invoice_issued", "customer_id": cid, "invoice_id": inv, "at": at,
            "amount": amount, "due_at": due, "payment_terms_days": 30, "paperless": True}


def event(eid: str, kind: str, cid: str, inv: str | None, at: str, **extra: Any) -> dict[str, Any]:
    body = {"event_id": eid, "type": kind, "customer_id": cid, "at": at, **extra}
    if inv is not None:
        body["invoice_id"] = inv
    return body


def post(client: Any, *events: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/v1/events", json={"events": list(events)})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def rows(engine: sa.Engine, table: sa.Table, *where: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).where(*where))]


def messages(engine: sa.Engine, status: str | None = None) -> list[dict[str, Any]]:
    """The outbox's messages (optionally of one status), each with its invoices (``items``), by id."""
    found = rows(engine, t.outbox_messages, *(() if status is None else (t.outbox_messages.c.status == status,)))
    items = rows(engine, t.outbox_items)
    for m in found:
        m["items"] = sorted((i for i in items if i["message_id"] == m["id"]), key=lambda i: i["invoice_id"])
    return sorted(found, key=lambda m: m["id"])


def counts(engine: sa.Engine) -> dict[str, int]:
    """Rows per table the run writes (a second run of the day must leave them all as they are)."""
    with engine.connect() as conn:
        return {table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for table in (t.outbox_messages, t.outbox_items, t.tasks, t.decisions, t.dunning_runs, t.promises,
                              t.payment_plans)}


@contextmanager
def postgres_database(base_url: str) -> Iterator[str]:
    """A fresh database on the session's PostgreSQL server (dropped afterwards)."""
    name = f"kredo_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield str(sa.engine.make_url(base_url).set(database=name))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
