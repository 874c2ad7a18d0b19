"""The ledger: event ingest into PostgreSQL + Redis, warm-up from the ledger, and the customer overview.

Targets (issue 12): events booked through ``POST /v1/events`` at batch 500 into
PostgreSQL (the ledger) and Redis (the online features): >= 5,000 events/s on
this machine; ``GET /v1/customers/{id}`` p99 < 20 ms with 20,000 customers and
about 500,000 invoices; and the time to warm an online store from the ledger.

Set-up, all throwaway: a seeded ledger (default 20,000 customers x 28 months,
about 500,000 invoices), a PostgreSQL cluster and a redis-server on loopback
(started by the bench, as the tests do). The history before the last
``--stream-months`` is imported (``kredo import``'s code path); the last months
are then posted as the live stream, 500 events a request, through the app's
own request handling (Flask test client: server time, no network; each body
encoded before the clock starts, as a producer sends it, so the app's CPU is
the server's alone).

Figures: ``ingest_events_s`` and, as the named baseline in the same run,
``store_only_events_s`` (the same batches folded into Redis alone, the
pre-ledger events path), with their ratio. On a shared machine the wall clock
says little, so the CPU each part spent per streamed event is reported too:
``ingest_app_cpu_us`` (this process: the app and its test client),
``ingest_pg_cpu_us`` (the PostgreSQL server: postmaster and backends, from
``/proc``), ``ingest_redis_cpu_us`` (redis-server's ``INFO cpu``), their sum
and ``ingest_cpu_events_s`` = 1e6 / sum: the events/s one stream reaches when
nothing else runs (the three take turns, so the sum bounds it). ``overview_p50_ms`` /
``overview_p99_ms`` and ``invoice_p99_ms`` (server time per request, 1 request
at a time) with the app's CPU per request (``*_cpu_p50_ms`` / ``*_cpu_p99_ms``);
``import_events_s``; ``warm_s`` for 20,000 customers (the in-process store
folded from PostgreSQL); ``redis_warm_s`` (the app's start: Redis filled from
the ledger before it says ready); ``loadavg`` at the start and the end.

Then the parallel streams (``bench/ledger_streams.py``): the next ``--parallel-months`` of events, split by
customer among ``--producers`` threads posting over HTTP to a real ``kredo serve`` with ``--workers``
gunicorn workers on the same PostgreSQL and Redis: ``parallel_events_s`` and the CPU per event of the
workers, PostgreSQL and Redis (``parallel_*_cpu_us``; ``parallel_cpu_events_s`` with every core busy).
At the end ``book_digest`` and ``redis_digest`` (``bench/_digest.py``): two code versions that book the
same stream must leave the same. The in-process app settles its heap (``serving.heap.settle``) as a
gunicorn worker does once loaded, so its CPU is a worker's.

Usage: python bench/ledger.py [--customers 20000] [--months 28] [--stream-months 1] [--overviews 2000]
       [--parallel-months 1] [--producers 4] [--workers 2] [--threads 1] [--server-code PATH] [--json]
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import parser, report  # noqa: E402
from bench._digest import book_digest, redis_digest  # noqa: E402
from bench.ledger_streams import parallel_streams  # noqa: E402
from bench.serving import workers_cpu_s  # noqa: E402
from features.online import MemoryStore  # noqa: E402
from features.online.redis import RedisStore  # noqa: E402
from ledger.book import Book  # noqa: E402
from ledger.database import open_ledger  # noqa: E402
from ledger.events import ledger_to_events, to_us  # noqa: E402
from ledger.imports import import_ledger  # noqa: E402
from ledger.tables import Ledger  # noqa: E402
from serving.bootstrap import ensure_champion, warm_store  # noqa: E402
from serving.heap import settle  # noqa: E402
from tests.support.services import postgres_database, redis_server  # noqa: E402
from training.pipeline import TrainConfig  # noqa: E402
from training.simulation import SimulationConfig, simulate  # noqa: E402

BATCH = 500


def _cut_us(ledger: Ledger, months: int) -> int:
    return to_us(ledger.invoices["issued_at"].max() - np.timedelta64(30 * months, "D"))


def _split(ledger: Ledger, stream_months: int) -> tuple[Ledger, list[dict]]:
    """The history before the cut (to import) and the events after it (the live stream, in time order)."""
    cut = ledger.invoices["issued_at"].max() - np.timedelta64(30 * stream_months, "D")
    cut_us = to_us(cut)
    events = ledger_to_events(ledger, include_reminders=False)
    live = [e for e in events if to_us(e["at"]) >= cut_us]
    keep = {e["event_id"] for e in events if to_us(e["at"]) < cut_us}
    inv = ledger.invoices
    early = inv[inv["issued_at"] < cut].copy()
    early.loc[early["paid_at"] >= cut, "paid_at"] = None
    early.loc[early["written_off_at"] >= cut, "written_off_at"] = None
    pay = ledger.payments[ledger.payments["paid_at"] < cut]
    dis = ledger.disputes[ledger.disputes["opened_at"] < cut].copy()
    dis.loc[dis["resolved_at"] >= cut, "resolved_at"] = None
    rem = ledger.reminders[ledger.reminders["sent_at"] < cut]
    history = Ledger(customers=ledger.customers, invoices=early, payments=pay, disputes=dis, reminders=rem)
    assert len(keep) + len(live) == len(events)
    return history, live


def _postmaster(book: Book) -> int:
    """The PostgreSQL server's pid: the parent of this connection's backend."""
    with book.engine.connect() as conn:
        backend = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _server_cpu_s(postmaster: int) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster and its live children (the backends)."""
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    return workers_cpu_s(postmaster) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _redis_cpu_s(store: RedisStore) -> float:
    info = store._client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _percentiles(ms: list[float]) -> tuple[float, float]:
    return round(float(np.percentile(ms, 50)), 3), round(float(np.percentile(ms, 99)), 3)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--months", type=int, default=28)
    p.add_argument("--stream-months", type=int, default=1)
    p.add_argument("--overviews", type=int, default=2_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--parallel-months", type=int, default=1,
                   help="then the months after the single stream, posted by --producers over HTTP (0: none)")
    p.add_argument("--producers", type=int, default=4)
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers of the kredo serve the producers post to")
    p.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    p.add_argument("--server-code", type=Path, default=ROOT,
                   help="serve the parallel streams from this checkout (an A/B of the book's locking)")
    args = p.parse_args()
    from serving import create_app
    from serving.access import get_ring

    ledger = simulate(SimulationConfig(customers=args.customers, months=args.months, seed=args.seed))
    history, stream = _split(ledger, args.stream_months + args.parallel_months)
    parallel_cut = _cut_us(ledger, args.parallel_months)
    live = [e for e in stream if to_us(e["at"]) < parallel_cut] if args.parallel_months else stream
    parallel = stream[len(live):]
    assert all(to_us(e["at"]) >= parallel_cut for e in parallel)
    work = Path(tempfile.mkdtemp(prefix="kredo-bench-ledger-"))
    with postgres_database() as pg_url, redis_server() as redis_url:
        book = Book(open_ledger(pg_url))
        t0 = time.perf_counter()
        imported = import_ledger(book, history)
        import_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        warmed = warm_store(MemoryStore(), book)
        warm_s = time.perf_counter() - t0
        tracking = f"sqlite:///{work}/mlflow.db"
        champion = ensure_champion(ledger, tracking, TrainConfig(n_estimators=40, max_depth=3))
        redis_store = RedisStore.from_url(redis_url)
        t0 = time.perf_counter()  # the app fills Redis from the ledger before it says ready (serving.keeper)
        app = create_app({"AUDIT_URL": f"sqlite:///{work}/audit.db", "LEDGER_URL": pg_url, "REDIS_URL": redis_url,
                          "MLFLOW_TRACKING_URI": tracking, "MODEL_URI": champion["uri"], "RELOAD_INTERVAL_S": 0})
        redis_warm_s = time.perf_counter() - t0
        settle()  # as a gunicorn worker does once its app is loaded (serving.server): the loaded app leaves the GC
        postmaster = _postmaster(book)
        client = app.test_client()  # a dunning key, made as `kredo keys create` makes it: events and the book
        token = get_ring(app).create("dunning", "bench").token
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        batches = [live[i:i + BATCH] for i in range(0, len(live), BATCH)]
        bodies = [json.dumps({"events": batch}).encode() for batch in batches]  # the producer's work, not the app's
        load_start = _load()
        cpu0 = (time.process_time(), _server_cpu_s(postmaster), _redis_cpu_s(redis_store))
        t0 = time.perf_counter()
        applied = 0
        for body in bodies:
            answer = client.post("/v1/events", data=body, content_type="application/json").get_json()
            applied += answer["applied"]
        ingest_s = time.perf_counter() - t0
        cpu1 = (time.process_time(), _server_cpu_s(postmaster), _redis_cpu_s(redis_store))
        app_us, pg_us, redis_us = ((b - a) / len(live) * 1e6 for a, b in zip(cpu0, cpu1))
        baseline = RedisStore.from_url(redis_url, namespace="baseline")
        cpu0 = (time.process_time(), _redis_cpu_s(redis_store))
        t0 = time.perf_counter()
        for batch in batches:
            baseline.apply(batch)
        store_only_s = time.perf_counter() - t0
        cpu1 = (time.process_time(), _redis_cpu_s(redis_store))
        store_only_us = sum(b - a for a, b in zip(cpu0, cpu1)) / len(live) * 1e6
        rng = np.random.default_rng(args.seed)
        ids = ledger.customers["customer_id"].to_numpy()
        overview, detail, overview_cpu, detail_cpu = [], [], [], []
        later = {e["invoice_id"] for e in parallel if e["type"] == "invoice_issued"}  # not booked yet
        invoices = ledger.invoices["invoice_id"].to_numpy()
        invoices = invoices[~np.isin(invoices, list(later))] if later else invoices
        for _ in range(args.overviews):
            t0, c0 = time.perf_counter(), time.process_time()
            assert client.get(f"/v1/customers/{ids[rng.integers(len(ids))]}").status_code == 200
            overview.append((time.perf_counter() - t0) * 1e3)
            overview_cpu.append((time.process_time() - c0) * 1e3)
            t0, c0 = time.perf_counter(), time.process_time()
            assert client.get(f"/v1/invoices/{invoices[rng.integers(len(invoices))]}").status_code == 200
            detail.append((time.perf_counter() - t0) * 1e3)
            detail_cpu.append((time.process_time() - c0) * 1e3)
        app.extensions["kredo.runtime"].stop()
        env = dict(os.environ, KREDO_LEDGER_URL=pg_url, REDIS_URL=redis_url, DATABASE_URL=f"sqlite:///{work}/audit.db",
                   MLFLOW_TRACKING_URI=tracking, KREDO_MODEL_URI=champion["uri"], KREDO_RELOAD_INTERVAL_S="0",
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        streams = parallel_streams(args.server_code.resolve(), env, token, parallel, args.producers, args.workers,
                                   args.threads, BATCH,
                                   lambda: (_server_cpu_s(postmaster), _redis_cpu_s(redis_store))) if parallel else {}
        digests = {"book_digest": book_digest(book.engine)[:16], "redis_digest": redis_digest(redis_store._client)[:16]}
    o50, o99 = _percentiles(overview)
    i50, i99 = _percentiles(detail)
    oc50, oc99 = _percentiles(overview_cpu)
    ic50, ic99 = _percentiles(detail_cpu)
    cpu_us = app_us + pg_us + redis_us
    figures = {
        "customers": args.customers, "invoices": len(ledger.invoices), "imported_events": imported.applied,
        "import_events_s": round(imported.applied / import_s, 1), "warm_events": warmed["applied"],
        "warm_s": round(warm_s, 2), "stream_events": len(live), "stream_applied": applied, "batch": BATCH,
        "ingest_events_s": round(len(live) / ingest_s, 1), "store_only_events_s": round(len(live) / store_only_s, 1),
        "ingest_vs_store_only": round(store_only_s / ingest_s, 3), "target_ingest_events_s": 5000,
        "ingest_app_cpu_us": round(app_us, 1), "ingest_pg_cpu_us": round(pg_us, 1),
        "ingest_redis_cpu_us": round(redis_us, 1), "ingest_cpu_us": round(cpu_us, 1),
        "ingest_cpu_events_s": round(1e6 / cpu_us, 1), "store_only_cpu_us": round(store_only_us, 1),
        "overview_p50_ms": o50, "overview_p99_ms": o99, "target_overview_p99_ms": 20,
        "overview_cpu_p50_ms": oc50, "overview_cpu_p99_ms": oc99,
        "invoice_p50_ms": i50, "invoice_p99_ms": i99, "invoice_cpu_p50_ms": ic50, "invoice_cpu_p99_ms": ic99,
        "redis_warm_s": round(redis_warm_s, 2), **streams, **digests, "loadavg_start": load_start, "loadavg_end": _load(),
    }
    report("ledger: ingest, warm-up, customer overview", figures, args.json)


if __name__ == "__main__":
    main()
