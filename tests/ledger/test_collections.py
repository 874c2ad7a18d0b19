"""The ledger's side of the collections workflow: the outbox withdraws what an event makes moot, promises and plans
stand on a day as the arithmetic says, and the bulk reader of invoices reads what the one-invoice reader reads."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger import schema as t
from ledger.book import Book
from ledger.collections import day_of, plan_standing, promise_standing
from ledger.database import open_ledger
from ledger.events import to_us
from ledger.outbox import Item, Message, queue
from ledger.views import PlanRecord, PromiseRecord, invoice_view, invoice_views


def issued(inv: str, cid: str = "C-1", amount: float = 100.0) -> dict:
    return {"event_id": f"iss-{inv}", "type": "invoice_issued", "customer_id": cid, "invoice_id": inv,
            "at": "2026-09-01T09:00:00", "amount": amount, "due_at": "2026-10-01T00:00:00", "payment_terms_days": 30,
            "paperless": False}


def ev(eid: str, kind: str, inv: str | None, at: str, cid: str = "C-1", **extra) -> dict:
    return {"event_id": eid, "type": kind, "customer_id": cid, **({"invoice_id": inv} if inv else {}), "at": at,
            **extra}


@pytest.fixture()
def book(tmp_path: Path) -> Book:
    book = Book(open_ledger(f"sqlite:///{tmp_path}/ledger.db"))
    book.apply([issued(f"INV-{n}") for n in range(1, 4)] + [issued("OTHER-1", cid="C-2")], received_us=1)
    return book


def reminder(book: Book, message_id: str, *invoices: str, status: str = "queued") -> None:
    with book.engine.begin() as conn:
        queue(conn, [Message(message_id, "run:x", "C-1", "reminder", "email", "friendly", 1, 2,
                             tuple(Item(i, f"dec-{i}", "remind", "reminder_1", 10000, lead=n == 0)
                                   for n, i in enumerate(invoices)))], 5)
        if status != "queued":
            conn.execute(sa.update(t.outbox_messages).where(t.outbox_messages.c.id == message_id).values(status=status))


def outbox(book: Book) -> dict[str, tuple[str, str | None, list[tuple[str, bool]]]]:
    with book.engine.connect() as conn:
        items = conn.execute(sa.select(t.outbox_items.c.message_id, t.outbox_items.c.invoice_id, t.outbox_items.c.lead)
                             .order_by(t.outbox_items.c.invoice_id)).all()
        return {m.id: (m.status, m.replaces, [(i.invoice_id, i.lead) for i in items if i.message_id == m.id])
                for m in conn.execute(sa.select(t.outbox_messages))}


def test_a_dispute_cancels_the_queued_reminder_and_reissues_the_rest(book: Book) -> None:
    reminder(book, "msg:1", "INV-1", "INV-2", "INV-3")
    applied = book.apply([ev("d1", "dispute_opened", "INV-2", "2026-10-05T09:00:00", reason="price")], received_us=9)
    assert applied.withdrawn == ["msg:1"]
    assert outbox(book) == {"msg:1": ("cancelled", None, [("INV-1", True), ("INV-2", False), ("INV-3", False)]),
                            "msg:1/2": ("queued", "msg:1", [("INV-1", True), ("INV-3", False)])}
    book.apply([ev("d2", "dispute_opened", "INV-1", "2026-10-05T10:00:00")], received_us=10)  # the lead goes too
    assert outbox(book)["msg:1/1"] == ("queued", "msg:1/2", [("INV-3", False)])
    book.apply([ev("w3", "invoice_written_off", "INV-3", "2026-10-06T10:00:00")], received_us=11)
    assert [s for s, _, _ in outbox(book).values()] == ["cancelled"] * 3


def test_a_payment_promise_or_plan_withdraws_only_what_it_makes_moot(book: Book) -> None:
    reminder(book, "msg:a", "INV-1")
    reminder(book, "msg:b", "INV-2")
    reminder(book, "msg:c", "INV-3", status="sent")
    partial = book.apply([ev("p1", "payment_received", "INV-1", "2026-10-05T09:00:00", amount=40.0)], received_us=9)
    assert partial.withdrawn == []  # still open: the reminder stands (the sender fills in the amount left)
    done = book.apply([ev("p2", "payment_received", "INV-1", "2026-10-05T10:00:00", amount=60.0),
                       ev("pm", "promise_made", "INV-2", "2026-10-05T10:00:00", promised_for="2026-10-20",
                          amount=100.0),
                       ev("pl", "plan_agreed", None, "2026-10-05T10:00:00", invoice_ids=["INV-3"],
                          instalments=[{"due_at": "2026-11-01", "amount": 100.0}])], received_us=10)
    assert sorted(done.withdrawn) == ["msg:a", "msg:b"]  # a sent message is not the outbox's to cancel
    with book.engine.connect() as conn:
        reasons = dict(conn.execute(sa.select(t.outbox_messages.c.id, t.outbox_messages.c.reason)).all())
    assert reasons == {"msg:a": "paid", "msg:b": "promise_made", "msg:c": None}


def promise(created: str, promised_for: str, amount: int, paid: tuple = (), settled: str | None = None,
            status: str = "open") -> PromiseRecord:
    row = {"id": "pm", "invoice_id": "INV-1", "created_us": to_us(created), "promised_for_us": to_us(promised_for),
           "amount_cents": amount, "status": status}
    return PromiseRecord(row, tuple((to_us(at), c) for at, c in paid), None if settled is None else to_us(settled))


def day(text: str) -> int:
    return day_of(to_us(text))


@pytest.mark.parametrize(("paid", "today", "status"), [
    ((), "2026-10-13", "pending"),                                     # the last day of grace
    ((), "2026-10-14", "broken"),                                      # the day after
    ((("2026-10-12T23:00:00", 10000),), "2026-10-14", "kept"),         # paid in full inside the grace
    ((("2026-10-14T01:00:00", 10000),), "2026-10-14", "broken"),       # a day late
    ((("2026-10-05T09:00:00", 6000),), "2026-10-14", "broken"),        # in part
    ((("2026-10-05T09:00:00", 6000), ("2026-10-09T09:00:00", 4000)), "2026-10-09", "kept"),  # in two parts, early
    ((("2026-10-01T09:00:00", 10000),), "2026-10-14", "broken"),       # paid before it was made: not for it
])
def test_a_promise_is_kept_only_when_paid_in_full_by_its_date_plus_grace(paid, today, status) -> None:
    standing = promise_standing(promise("2026-10-02T10:00:00", "2026-10-10", 10000, paid), day(today), grace_days=3)
    assert standing.status == status
    assert standing.broken_since_day == (day("2026-10-14") if status == "broken" else None)


def test_a_promise_judged_by_the_run_stays_judged() -> None:
    late = promise("2026-10-02T10:00:00", "2026-10-10", 10000, (("2026-10-20T09:00:00", 10000),), status="broken")
    assert promise_standing(late, day("2026-10-30"), 3).status == "broken"
    settled = promise("2026-10-02T10:00:00", "2026-10-10", 10000, settled="2026-10-11T09:00:00")
    assert promise_standing(settled, day("2026-10-30"), 3).status == "kept"


def plan(paid: tuple, open_invoices: int = 1) -> PlanRecord:
    row = {"id": "pl", "created_us": to_us("2026-10-01T10:00:00")}
    instalments = ({"due_us": to_us("2026-11-01"), "amount_cents": 5000},
                   {"due_us": to_us("2026-12-01"), "amount_cents": 5000})
    return PlanRecord(row, instalments, ("INV-1",), tuple((to_us(at), c) for at, c in paid), open_invoices)


def test_a_plan_is_on_track_missed_after_grace_or_completed() -> None:
    assert plan(()).instalments and plan_standing(plan(()), day("2026-11-04"), 3).status == "on_track"
    missed = plan_standing(plan(()), day("2026-11-05"), 3)
    assert (missed.status, missed.missed_since_day) == ("missed", day("2026-11-05"))
    part = plan_standing(plan((("2026-11-01T09:00:00", 7000),)), day("2026-12-10"), 3)
    assert (part.status, part.paid_cents, part.missed_since_day) == ("missed", (5000, 2000), day("2026-12-05"))
    future = plan_standing(plan((("2026-11-20T09:00:00", 10000),)), day("2026-11-10"), 3)
    assert future.status == "missed"  # a payment after the day does not count yet
    assert plan_standing(plan((("2026-11-20T09:00:00", 10000),)), day("2026-11-21"), 3).status == "completed"
    assert plan_standing(plan((), open_invoices=0), day("2026-12-31"), 3).status == "completed"


def test_the_bulk_reader_reads_what_the_one_invoice_reader_reads(book: Book) -> None:
    reminder(book, "msg:1", "INV-1", "INV-2")
    book.apply([ev("p1", "payment_received", "INV-1", "2026-10-05T09:00:00", amount=40.0),
                ev("d3", "dispute_opened", "INV-3", "2026-10-06T09:00:00", reason="quality"),
                ev("pm", "promise_made", "INV-1", "2026-10-07T10:00:00", promised_for="2026-10-20", amount=60.0),
                ev("pl", "plan_agreed", None, "2026-10-07T10:00:00", invoice_ids=["INV-2"],
                   instalments=[{"due_at": "2026-11-01", "amount": 100.0}])], received_us=10)
    reminder(book, "msg:2", "INV-1")  # the promise withdrew msg:1; a later reminder counts
    with book.engine.connect() as conn:
        bulk = invoice_views(conn, t.invoices.c.status == "open")
    assert [v.invoice["id"] for v in bulk] == ["INV-1", "INV-2", "INV-3", "OTHER-1"]
    assert bulk == [invoice_view(book.engine, v.invoice["id"]) for v in bulk]
    one, two, three, other = bulk
    assert [m["message_id"] for m in one.messages] == ["msg:2"] and two.messages == []
    assert [p.row["id"] for p in one.promises] == ["pm"] and one.promises == three.promises and other.promises == ()
    assert one.promises[0].paid == ((to_us("2026-10-05T09:00:00"), 4000),)
    assert two.plan is not None and two.plan.invoice_ids == ("INV-2",) and one.plan is None
    assert three.open_dispute["reason"] == "quality"
