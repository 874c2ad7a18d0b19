"""The receivables facts read from the book (``ledger.receivables``) hold together: the daily sums give the
open invoices' balances on the report date, each figure's rows add up to it, the report date ignores the
server-clocked master data, and the dunning run's tasks are who holds what."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger import schema as t
from ledger.database import open_ledger
from ledger.receivables import (BUCKETS, NO_ENTITY, book_date_us, book_version, receivable_rows, receivables)
from ledger.views import bucket


@pytest.fixture(scope="module")
def engine(small_ledger_db: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - an Engine
    path = tmp_path_factory.mktemp("receivables") / "ledger.db"
    shutil.copy(small_ledger_db, path)
    return open_ledger(f"sqlite:///{path}")


def test_the_daily_sums_give_the_open_balances_on_the_report_date(engine) -> None:  # noqa: ANN001
    facts = receivables(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.invoices.c.due_us, t.invoices.c.amount_cents - t.invoices.c.paid_cents)
                            .where(t.invoices.c.status == "open")).all()
    assert facts.trend[-1].receivables_cents == facts.outstanding.cents == sum(c for _, c in rows)
    assert facts.outstanding.items == len(rows) > 1000
    by_bucket = {b: sum(c for due, c in rows if bucket(due, facts.as_of_us) == b) for b in BUCKETS}
    assert {b: a.cents for b, a in facts.ageing.items()} == by_bucket
    assert facts.overdue.cents == facts.outstanding.cents - by_bucket["current"]
    assert len(facts.trend) == 12 and facts.trend[-1].month == "2024-12"
    assert facts.months[0] == (facts.trend[-1].sales_cents, 31)  # the report date's month, 31 days elapsed


def test_each_figures_rows_add_up_to_it(engine) -> None:  # noqa: ANN001
    facts = receivables(engine)
    for name in BUCKETS:
        rows, total = receivable_rows(engine, facts.as_of_us, bucket_name=name)
        assert total == facts.ageing[name] and all(r["bucket"] == name for r in rows)
    assert receivable_rows(engine, facts.as_of_us, overdue=True)[1] == facts.overdue
    for holder in facts.managers[:3]:
        assert receivable_rows(engine, facts.as_of_us, manager=holder.name)[1] == holder.open
    for kind, ages in facts.disputes.items():
        for age, amount in ages.items():
            assert receivable_rows(engine, facts.as_of_us, dispute_type=kind, dispute_age=age)[1] == amount
    top = facts.largest[0]
    assert receivable_rows(engine, facts.as_of_us, customer=top.customer_id)[1] == top.open
    rows, total = receivable_rows(engine, facts.as_of_us, limit=5)
    assert len(rows) == 5 and total == facts.outstanding  # the total is of all rows, not the page


def test_invoices_without_an_entity_are_the_whole_book_here(engine) -> None:  # noqa: ANN001
    assert receivables(engine).entities == (NO_ENTITY,)
    assert receivables(engine, entity=NO_ENTITY).outstanding == receivables(engine).outstanding
    assert receivables(engine, entity="NL99").outstanding.cents == 0


def test_the_report_date_is_the_books_and_the_version_follows_it(engine) -> None:  # noqa: ANN001
    before, version = book_date_us(engine), book_version(engine)
    with engine.begin() as conn:  # master data carries the server's clock: it does not move the report date
        conn.execute(sa.insert(t.ledger_events).values(event_id="cu-late", type="customer_updated",
                                                       customer_id="C-00000001", at_us=before + 10**15,
                                                       received_us=before + 10**15, digest="x", body="{}"))
    assert book_date_us(engine) == before
    assert book_version(engine) != version  # but the book changed: a kept report is computed again
