"""The outbox sender: messages per second through the SMTP connector to a local SMTP server, and the time from
queued to sent.

Target (issue 14): >= 200 messages/s through the SMTP connector on this machine (2 cores, shared).

Set-up, throwaway and seeded: a SQLite (or ``--postgres``) ledger with ``--messages`` consumers, one open invoice
each, booked through ``Book.apply``; one queued reminder per customer (``ledger.outbox.queue``, as the dunning
run writes them); an aiosmtpd server on loopback with STARTTLS (a certificate made here) and AUTH, as in the
tests. The sender is ``serving.delivery.sender.Sender`` with the packaged templates and policy: every message is
claimed under a lease, re-checked (consent, quiet hours at a fixed business moment, the invoice), rendered,
delivered over one kept-open STARTTLS connection and recorded with its ``reminder_sent`` contact.

* ``drain``: all messages queued at once, then sender passes until none is left: messages/s.
* ``steady``: a producer queues ``--rate`` messages/s in ticks of 50 ms for ``--seconds`` while the sender loops
  (a pass as soon as the last ended, 20 ms pause when idle): queued -> sent latency p50/p99, wall clock, from
  the commit of the queueing transaction to the commit of the pass that recorded the message.

Usage: python bench/outbox.py [--messages 2000] [--rate 100] [--seconds 10] [--batch 200] [--postgres] [--json]
"""
from __future__ import annotations

import os
import sys

# the repository, not this folder, first on the path (before anything imports the standard library's
# collections, which bench/collections.py would shadow)
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench._report import parser, report  # noqa: E402
from engine.rules import RuleEngine, load_policy  # noqa: E402
from ledger.book import Book  # noqa: E402
from ledger.database import open_ledger  # noqa: E402
from ledger.outbox import Item, Message, queue  # noqa: E402
from serving.config import load  # noqa: E402
from serving.delivery.sender import Sender  # noqa: E402
from serving.delivery.settings import SMTP_PASSWORD  # noqa: E402
from serving.dunning_view import micros  # noqa: E402
from tests.support.receivers import PASSWORD, USER  # noqa: E402

NOW = datetime(2026, 11, 9, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Amsterdam: inside the contact hours


@contextmanager
def smtp_process(work: Path) -> Iterator[tuple[int, str, list[int]]]:
    """The aiosmtpd server (STARTTLS + AUTH) in a process of its own: (port, its CA file, [messages accepted])."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.receivers", str(work)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=Path(__file__).resolve().parent.parent)
    port, ca_file = proc.stdout.readline().split()
    received = [0]
    try:
        yield int(port), ca_file, received
    finally:
        out, _ = proc.communicate("", timeout=30)
        received[0] = int(out.split()[-1])


def book(engine, first: int, count: int, seed: int) -> None:  # noqa: ANN001
    rng = np.random.default_rng(seed + first)
    events = []
    for n in range(first, first + count):
        cid = f"C-{n:07d}"
        events += [{"event_id": f"cu-{cid}", "type": "customer_updated", "customer_id": cid, "name": f"Klant {n}",
                    "customer_type": "consumer", "country": "NL", "profile": "adult", "size": "consumer",
                    "consent_email": True, "email": f"klant{n}@example.nl", "language": "nl" if n % 3 else "en"},
                   {"event_id": f"iss-{cid}", "type": "invoice_issued", "customer_id": cid, "invoice_id": f"{cid}-1",
                    "at": "2026-09-01T09:00:00", "amount": float(rng.integers(2_000, 200_000)) / 100,
                    "due_at": "2026-10-01T00:00:00", "payment_terms_days": 30, "paperless": True}]
    for part in range(0, len(events), 5_000):
        Book(engine).apply(events[part:part + 5_000], received_us=micros(NOW))


def messages(first: int, count: int) -> list[Message]:
    return [Message(f"msg:2026-11-09:C-{n:07d}:0", "run:2026-11-09", f"C-{n:07d}", "reminder", "email",
                    ("friendly", "neutral", "firm")[n % 3], micros(NOW) - 1, micros(NOW) - 1,
                    (Item(f"C-{n:07d}-1", None, "remind", "reminder_1", 10_000 + n, lead=True),))
            for n in range(first, first + count)]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL ledger instead of SQLite")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kredo-outbox-bench-"))
    steady_n = int(args.rate * args.seconds)
    try:
        if args.postgres:
            from tests.support.services import postgres_database
            ctx = postgres_database()
            url = ctx.__enter__()
        else:
            url = f"sqlite:///{work}/ledger.db"
        engine = open_ledger(url)
        book(engine, 0, args.messages + steady_n, args.seed)
        rules = RuleEngine(load_policy("rules/default.yaml"))
        with smtp_process(work) as (port, ca_file, received):
            config = load({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_USER": USER,
                           "SMTP_CA_FILE": ca_file, "MAIL_FROM": "debiteuren@voorbeeld.nl",
                           "OUTBOX_BATCH": args.batch}, environ={})
            sender = Sender.from_config(engine, config, policy=lambda: rules, environ={SMTP_PASSWORD: PASSWORD})
            with engine.begin() as conn:
                queue(conn, messages(0, args.messages), micros(NOW))
            started, passes, sent = time.perf_counter(), 0, 0
            while (drained := sender.run_once(NOW)).claimed:
                passes += 1
                sent += drained.outcomes["sent"]
            drain_s = time.perf_counter() - started

            queued_at: dict[str, float] = {}
            sent_at: dict[str, float] = {}
            done = threading.Event()

            def produce() -> None:
                tick, per_tick = 0.05, max(1, round(args.rate * 0.05))
                n, t0 = args.messages, time.perf_counter()
                while n < args.messages + steady_n:
                    batch = messages(n, min(per_tick, args.messages + steady_n - n))
                    with engine.begin() as conn:
                        queue(conn, batch, micros(NOW))
                    now = time.perf_counter()
                    queued_at.update((m.id, now) for m in batch)
                    n += len(batch)
                    time.sleep(max(0.0, t0 + tick * ((n - args.messages) / per_tick) - time.perf_counter()))
                done.set()

            producer = threading.Thread(target=produce)
            producer.start()
            while not (done.is_set() and len(sent_at) >= steady_n):
                claimed = sender.claim(NOW)
                if not claimed:
                    time.sleep(0.02)
                    continue
                sender.deliver(claimed, NOW)
                finished = time.perf_counter()
                sent_at.update((c.id, finished) for c in claimed)
            producer.join()
            sender.close()
        latency = np.array([sent_at[k] - queued_at[k] for k in sent_at]) * 1000
        report("outbox sender -> SMTP (aiosmtpd, STARTTLS + AUTH, loopback)", {
            "ledger": "postgresql" if args.postgres else "sqlite",
            "drain_messages": args.messages, "drain_passes": passes, "drain_seconds": round(drain_s, 3),
            "messages_per_s": round(sent / drain_s, 1), "target_messages_per_s": 200,
            "steady_rate_per_s": args.rate, "steady_messages": len(latency),
            "queued_to_sent_p50_ms": round(float(np.percentile(latency, 50)), 1),
            "queued_to_sent_p99_ms": round(float(np.percentile(latency, 99)), 1),
            "emails_received": received[0],
            "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        }, args.json)
        engine.dispose()
        if args.postgres:
            ctx.__exit__(None, None, None)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
