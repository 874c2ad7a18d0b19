"""A bank statement into the ledger: matched credits are booked as payments (and only right ones), the rest
become tasks, and importing the same statement again books nothing new."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from ledger import schema as t
from ledger.book import Book
from ledger.database import open_ledger
from ledger.imports import import_ledger
from ledger.tables import Ledger
from serving.bank import import_statement
from serving.cli import main as kredo
from training.simulation import SimulationConfig, simulate
from training.simulation.statements import StatementConfig, generate_statements


def _before(ledger: Ledger, start: pd.Timestamp) -> Ledger:
    """The book as it stood before the statement's window: its payments not yet received."""
    inv = ledger.invoices.copy()
    inv.loc[inv["paid_at"] >= start, "paid_at"] = None
    return Ledger(customers=ledger.customers, invoices=inv[inv["issued_at"] < start],
                  payments=ledger.payments[ledger.payments["paid_at"] < start],
                  disputes=ledger.disputes[ledger.disputes["opened_at"] < start],
                  reminders=ledger.reminders[ledger.reminders["sent_at"] < start])


def test_a_statement_books_only_right_matches_and_queues_the_rest(tmp_path: Path) -> None:
    world = simulate(SimulationConfig(customers=150, months=6, seed=21))
    generated = generate_statements(world, StatementConfig(seed=21, window_days=20))
    end = world.payments["paid_at"].max().normalize() + pd.Timedelta(days=1)
    start = end - pd.Timedelta(days=20)
    book = Book(open_ledger(f"sqlite:///{tmp_path}/ledger.db"))
    references = {i.invoice_id: i.reference for i in generated.receivables.invoices if i.reference}
    import_ledger(book, _before(world, start), references=references)
    masters = [{"event_id": f"ibans:{c}", "type": "customer_updated", "customer_id": c, "ibans": list(ibans),
                **({"parent_id": generated.receivables.groups[c]} if c in generated.receivables.groups else {})}
               for c, ibans in generated.receivables.ibans.items()]
    assert all(v.status == "applied" for v in book.apply(masters, received_us=0).verdicts)
    statement = tmp_path / "statement.xml"
    statement.write_bytes(generated.camt053)
    first = import_statement(book, statement, received_us=1)
    assert first["matched"] > 0.8 * first["lines"] * 0.9 and first["payments_booked"] >= first["matched"]
    assert first["tasks_opened"] == first["unmatched"] > 0 and first["payments_refused"] == 0, first
    with book.engine.connect() as conn:
        booked = conn.execute(sa.select(t.payments.c.id, t.payments.c.invoice_id)
                              .where(t.payments.c.source == "statement")).all()
        tasks = conn.execute(sa.select(t.tasks.c.type, t.tasks.c.owner)).all()
    assert len(booked) == first["payments_booked"]
    for payment_id, invoice_id in booked:  # zero wrong matches: every booked payment is one the line really paid
        line_id = payment_id.removeprefix("bank:").rsplit(":", 1)[0]
        assert invoice_id in dict(generated.truth_camt053[line_id].allocations), (line_id, invoice_id)
    assert set(tasks) == {("unmatched_payment", "cash_application")}
    again = import_statement(book, statement, received_us=2)
    assert again["payments_booked"] == 0 and again["tasks_opened"] == 0
    assert again["already_handled"] == first["matched"] + first["unmatched"]


def test_the_cli_imports_an_mt940_statement(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    world = simulate(SimulationConfig(customers=60, months=6, seed=4))
    generated = generate_statements(world, StatementConfig(seed=4, window_days=10))
    url = f"sqlite:///{tmp_path}/ledger.db"
    import_ledger(Book(open_ledger(url)), world)
    path = tmp_path / "statement.sta"
    path.write_text(generated.mt940)
    assert kredo(["import", "--mt940", str(path), "--url", url]) == 0
    assert "lines:" in capsys.readouterr().out
    assert kredo(["import", "--camt053", str(tmp_path / "missing.xml"), "--url", url]) == 2
