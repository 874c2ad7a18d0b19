"""Bringing an existing book in: a ledger's tables (the simulator's Parquet, or any CSV through a column
mapping) booked as events, idempotently, all or nothing.

Why events: an import is the same history the API would have received, so it goes
through the same judge (``Book.apply``) and the same ids; importing twice books
nothing new (every event is a duplicate), and a refused row names its table, row
and column. Nothing is half-imported: every batch is booked in one transaction,
rolled back as a whole when any row is refused (unless ``allow_refused``).

Example::

    report = import_ledger(book, load_ledger("var/demo/ledger"))
    report.applied, report.duplicate, report.refused
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from domain.errors import LedgerError
from domain.vocabulary import CHANNELS
from ledger.book import Book, Verdict
from ledger.events import ledger_to_events
from ledger.tables import Ledger

BATCH = 2_000
#: Where an event of each type came from in the ledger's tables (for refusal messages).
SOURCE = {"customer_updated": "customers", "invoice_issued": "invoices", "invoice_written_off": "invoices",
          "payment_received": "payments", "dispute_opened": "disputes", "dispute_resolved": "disputes",
          "reminder_sent": "reminders"}


@dataclass
class ImportReport:
    """What an import booked; ``refused`` lists (table, row id, field, reason)."""

    events: int = 0
    applied: int = 0
    duplicate: int = 0
    refused: list[tuple[str, str, str | None, str]] = field(default_factory=list)
    committed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "applied": self.applied, "duplicate": self.duplicate,
                "refused": len(self.refused), "committed": self.committed,
                "first_refusals": [list(r) for r in self.refused[:20]]}


def customer_events(ledger: Ledger) -> list[dict[str, Any]]:
    """One ``customer_updated`` per customer row: the master data the decisions read."""
    out = []
    for row in ledger.customers.itertuples(index=False):
        event = {"event_id": f"customer_updated:{row.customer_id}:import", "type": "customer_updated",
                 "customer_id": row.customer_id, "customer_type": row.type, "country": row.country,
                 "sector": row.sector, "size": row.size, "profile": row.profile,
                 "key_account": bool(row.key_account), "paperless": bool(row.paperless),
                 **{f"consent_{ch}": bool(getattr(row, f"consent_{ch}")) for ch in CHANNELS}}
        if isinstance(row.account_manager, str) and row.account_manager:
            event["account_manager"] = row.account_manager
        out.append(event)
    return out


def _reminder_details(ledger: Ledger) -> dict[str, dict[str, Any]]:
    rem = ledger.reminders
    return {f"reminder_sent:{r}": {"channel": c, "step": str(s), "tone": t}
            for r, c, s, t in zip(rem["reminder_id"], rem["channel"], rem["step"].astype(np.int64), rem["tone"])}


def ledger_as_events(ledger: Ledger, references: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """The whole ledger as events: customers first, then its history in time order.

    ``references``: the structured payment reference printed on each invoice (by invoice id), which the
    ledger's tables do not carry; bank statements are matched by it.
    """
    yield from customer_events(ledger)
    details = _reminder_details(ledger)
    for event in ledger_to_events(ledger, include_reminders=True):
        extra = details.get(event["event_id"], {})
        if references and event["type"] == "invoice_issued" and event["invoice_id"] in references:
            extra = {"payment_reference": references[event["invoice_id"]]}
        yield {**event, **extra}


def import_ledger(book: Book, ledger: Ledger, received_us: int = 0, allow_refused: bool = False,
                  progress: Callable[[int], None] | None = None,
                  references: Mapping[str, str] | None = None) -> ImportReport:
    """Book ``ledger`` in one transaction; refused rows roll it all back unless ``allow_refused``."""
    report = ImportReport()
    with book.engine.connect() as conn:
        transaction = conn.begin()
        try:
            batch: list[dict[str, Any]] = []
            for event in ledger_as_events(ledger, references):
                batch.append(event)
                if len(batch) == BATCH:
                    _book(book, conn, batch, received_us, report, progress)
                    batch = []
            if batch:
                _book(book, conn, batch, received_us, report, progress)
        except BaseException:
            transaction.rollback()
            raise
        if report.refused and not allow_refused:
            transaction.rollback()
            table, row, column, reason = report.refused[0]
            raise LedgerError(f"{len(report.refused)} rows refused, nothing imported; first: {table} row {row}, "
                              f"column {column}: {reason}", field=f"{table}.{column}",
                              extra={"refused": [list(r) for r in report.refused[:100]]})
        transaction.commit()
        report.committed = True
    return report


def _book(book: Book, conn: Any, batch: list[dict[str, Any]], received_us: int, report: ImportReport,
          progress: Callable[[int], None] | None) -> None:
    verdicts: list[Verdict] = book.apply(batch, received_us, conn=conn, whole_book=True).verdicts
    report.events += len(verdicts)
    for raw, verdict in zip(batch, verdicts):
        if verdict.status == "applied":
            report.applied += 1
        elif verdict.status == "duplicate":
            report.duplicate += 1
        else:
            row = str(raw["event_id"]).split(":", 1)[-1].removesuffix(":import")
            report.refused.append((SOURCE.get(str(raw.get("type")), "events"), row, verdict.field,
                                   verdict.reason or verdict.code or "refused"))
    if progress is not None:
        progress(len(verdicts))
