"""The sender's side of the outbox on SQLite and PostgreSQL: a claim is a lease two senders never share (also
when they claim at the same moment), a lease that runs out passes to the next sender, only the lease holder
records, and every status is in the message's history."""
from __future__ import annotations

import threading

import sqlalchemy as sa

from ledger import outbox
from ledger import schema as t
from ledger.database import open_ledger
from ledger.outbox import Item, Message, claim, history, queue, record, withdraw

LEASE = 300_000_000


def filled(url: str, n: int = 40) -> sa.Engine:
    engine = open_ledger(url)
    with engine.begin() as conn:
        queue(conn, [Message(f"msg:{k:03d}", None, f"C-{k}", "reminder", "email" if k % 4 else "sms", "friendly", 0,
                             k, (Item(f"INV-{k}", None, "remind", "reminder_1", 1000 + k, lead=True),))
                     for k in range(n)], 1)
    return engine


def test_two_senders_claiming_at_once_never_share_a_message(ledger_url: str) -> None:
    engine = filled(ledger_url)
    got: dict[str, list[str]] = {}
    start = threading.Barrier(2)

    def sender(owner: str) -> None:
        start.wait()
        ids = []
        for _ in range(4):
            with engine.begin() as conn:
                ids += [c.id for c in claim(conn, owner, 1_000, LEASE, 6)]
        got[owner] = ids

    threads = [threading.Thread(target=sender, args=(o,)) for o in ("a", "b")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not set(got["a"]) & set(got["b"])
    assert len(got["a"]) + len(got["b"]) == 40
    engine.dispose()


def test_a_lease_that_runs_out_passes_on_and_only_the_holder_records(ledger_url: str) -> None:
    engine = filled(ledger_url, 3)
    with engine.begin() as conn:
        first = claim(conn, "a", 1_000, LEASE, 10)
        assert [c.id for c in first] == ["msg:000", "msg:001", "msg:002"] and first[0].lead.invoice_id == "INV-0"
        assert claim(conn, "b", 2_000, LEASE, 10) == []
        taken = claim(conn, "b", 1_000 + LEASE + 1, LEASE, 10)  # a's lease ran out: a died
        assert [c.id for c in taken] == ["msg:000", "msg:001", "msg:002"]
        assert not record(conn, "msg:000", "a", "sent", 5_000, "late")  # a lost it
        assert record(conn, "msg:000", "b", "sent", 5_000, "accepted", attempts=1, template_version="tpl-x")
        assert record(conn, "msg:001", "b", "retry", 5_000, "451", attempts=1, next_attempt_us=90_000)
        assert record(conn, "msg:002", "b", "failed", 5_000, "dead after 8 attempts", attempts=8)
        assert claim(conn, "c", 80_000, LEASE, 10) == []           # the retry is not due yet
        assert [c.id for c in claim(conn, "c", 90_000, LEASE, 10)] == ["msg:001"]
        rows = {r.id: r for r in conn.execute(sa.select(t.outbox_messages))}
        steps = history(conn, ["msg:000", "msg:001", "msg:002"])
    assert (rows["msg:000"].status, rows["msg:000"].attempts, rows["msg:000"].template_version) == ("sent", 1, "tpl-x")
    assert (rows["msg:001"].status, rows["msg:001"].next_attempt_us) == ("queued", 90_000)
    assert (rows["msg:002"].status, rows["msg:002"].reason) == ("failed", "dead after 8 attempts")
    assert [(h["status"], h["attempt"], h["detail"]) for h in steps["msg:000"]] == [
        ("queued", 0, None), ("sent", 1, "accepted")]
    assert [h["status"] for h in steps["msg:001"]] == ["queued", "retry"]
    engine.dispose()


def test_a_claimed_message_withdrawn_is_not_recorded_by_its_sender(ledger_url: str) -> None:
    engine = filled(ledger_url, 1)
    with engine.begin() as conn:
        (claimed,) = claim(conn, "a", 1_000, LEASE, 10)
        assert withdraw(conn, ["INV-0"], "paid", 2_000) == ["msg:000"]
        assert not record(conn, claimed.id, "a", "sent", 3_000)
        (row,) = conn.execute(sa.select(t.outbox_messages)).all()
        assert (row.status, row.reason, row.lease_owner) == ("cancelled", "paid", None)
        assert [h["status"] for h in history(conn, ["msg:000"])["msg:000"]] == ["queued", "cancelled"]
    engine.dispose()


def test_a_claim_takes_only_the_channels_asked_for(ledger_url: str) -> None:
    engine = filled(ledger_url, 8)
    with engine.begin() as conn:
        assert {c.row.channel for c in claim(conn, "a", 1_000, LEASE, 10, channels=["sms"])} == {"sms"}
        assert len(outbox.search(conn, None, "queued", None, None, 50, channel="email")) == 6
    engine.dispose()
