"""A bank statement into the ledger: parse, match to the open invoices, book the payments, queue the rest.

Why here: the parsers (``ledger.statements``) and the matcher (``engine.matching``)
are pure; this module is the one that reads the ledger's open items and known
IBANs, books each matched payment as a ``payment_received`` event (idempotent by
the statement line's stable id, so importing a statement twice books nothing
new) and opens an ``unmatched_payment`` task for every credit a person must look
at. A wrong match is worse than none: only the matcher's safe matches are booked.

Example::

    summary = import_statement(book, "2026-11-30.xml", received_us=now_us)
"""
from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from engine.matching import Invoice, Match, Receivables, Unmatched, match_lines
from ledger import schema as t
from ledger.book import Book
from ledger.collections import add_tasks
from ledger.statements import read_statements

OWNER = "cash_application"


def receivables(book: Book) -> Receivables:
    """The open invoices, each customer's known IBANs and its parent company, as matching reads them."""
    with book.engine.connect() as conn:
        rows = conn.execute(sa.select(t.invoices.c.id, t.invoices.c.customer_id, t.invoices.c.payment_reference,
                                      t.invoices.c.amount_cents, t.invoices.c.paid_cents, t.invoices.c.currency)
                            .where(t.invoices.c.status == "open")).all()
        people = conn.execute(sa.select(t.customers.c.id, t.customers.c.ibans, t.customers.c.parent_id)).all()
    invoices = [Invoice(i, c, i, ref, Decimal(amount - paid) / 100, cur) for i, c, ref, amount, paid, cur in rows]
    return Receivables(invoices, {c: ibans.split() for c, ibans, _ in people if ibans},
                       {c: parent for c, _, parent in people if parent})


def import_statement(book: Book, path: str | Path, received_us: int) -> dict[str, Any]:
    """Book the matched credits of one statement file; queue the unmatched ones as tasks."""
    statements = read_statements(path)
    every = [line for statement in statements for line in statement.lines]
    seen = _handled(book, [line.line_id for line in every])
    lines = [line for line in every if line.line_id not in seen]  # a line is matched once, whatever came since
    open_items = receivables(book)
    owner = {i.invoice_id: i.customer_id for i in open_items.invoices}
    results = match_lines(lines, open_items)
    events, tasks = [], []
    for result in results:
        if isinstance(result, Match):
            events += _payments(result, owner)
        elif isinstance(result, Unmatched):
            line = result.line
            tasks.append({"id": f"task:bank:{line.line_id}", "type": "unmatched_payment", "owner": OWNER,
                          "customer_id": None, "invoice_id": None, "due_us": received_us, "priority": float(line.amount),
                          "status": "open", "created_us": received_us,
                          "reason": f"EUR {line.amount:,.2f} from {line.counterparty_name or 'an unknown payer'} "
                                    f"({line.counterparty_iban or 'no IBAN'}) on {line.value_date}: {result.detail}"})
    verdicts = book.apply(events, received_us).verdicts if events else []
    counts = Counter(v.status for v in verdicts)
    kinds = Counter(type(r).__name__.lower() for r in results)
    return {"file": str(path), "lines": len(every), "already_handled": len(seen), "matched": kinds["match"], "unmatched": kinds["unmatched"],
            "ignored": kinds["ignored"], "payments_booked": counts["applied"], "already_booked": counts["duplicate"],
            "payments_refused": counts["refused"], "tasks_opened": add_tasks(book.engine, tasks),
            "refusals": [(v.event_id, v.code, v.reason) for v in verdicts if v.status == "refused"][:20]}


def _handled(book: Book, line_ids: list[str]) -> set[str]:
    """Lines of an earlier import of the same statement: booked as payments or queued as tasks."""
    done: set[str] = set()
    with book.engine.connect() as conn:
        for part in range(0, len(line_ids), 500):
            chunk = line_ids[part:part + 500]
            tasks = conn.execute(sa.select(t.tasks.c.id).where(t.tasks.c.id.in_([f"task:bank:{i}" for i in chunk])))
            done |= {x.removeprefix("task:bank:") for x in tasks.scalars()}
            for line_id in chunk:
                if line_id not in done and conn.execute(sa.select(t.ledger_events.c.seq).where(
                        t.ledger_events.c.event_id.like(f"bank:{line_id}:%")).limit(1)).first() is not None:
                    done.add(line_id)
    return done


def _payments(match: Match, owner: dict[str, str]) -> list[dict[str, Any]]:
    """One ``payment_received`` per allocated invoice; what is left over rides on the last one (unallocated credit)."""
    line, out = match.line, []
    for n, allocation in enumerate(match.allocations):
        amount = allocation.amount + (match.unallocated if n == len(match.allocations) - 1 else Decimal(0))
        out.append({"event_id": f"bank:{line.line_id}:{allocation.invoice_id}", "type": "payment_received",
                    "invoice_id": allocation.invoice_id, "customer_id": owner[allocation.invoice_id],
                    "at": f"{line.value_date}T12:00:00",
                    "amount": float(amount), "reference": (line.structured_refs or (line.remittance[:140],))[0],
                    "iban": line.counterparty_iban, "source": "statement"})
    return out
