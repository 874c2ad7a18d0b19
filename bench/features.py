"""Feature store figures: offline table throughput and online read latency.

* offline: ``build_feature_table`` on a simulated ledger of ~1,000,000
  invoices (target: under 60 s);
* online: single ``customer_features`` reads (one per call, as serving does)
  against the in-process store and against Redis on loopback (a redis-server
  started for the bench; target p99 under 1 ms), with a plain Redis ``PING``
  in the same process as the baseline (the floor of one round trip);
* event apply throughput of both stores.

Usage: python bench/features.py [--invoices 1000000] [--reads 5000] [--json]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import parser, report  # noqa: E402
from ledger.events import ledger_to_events  # noqa: E402
from features.offline import build_feature_table  # noqa: E402
from features.online import MemoryStore, OnlineStore  # noqa: E402
from features.online.redis import RedisStore  # noqa: E402
from features.transform import InvoiceRequest  # noqa: E402
from tests.support.services import redis_server  # noqa: E402
from training.simulation import SimulationConfig, simulate  # noqa: E402

INVOICES_PER_CUSTOMER_24M = 21.6  # measured mean of the simulator's default mix over 24 months


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000
    return round(float(np.percentile(ms, 50)), 4), round(float(np.percentile(ms, 99)), 4)


def _fill(store: OnlineStore, events: list[dict]) -> float:
    """Apply all events in batches; returns events per second."""
    t0 = time.perf_counter()
    for start in range(0, len(events), 5_000):
        results = store.apply(events[start:start + 5_000])
        assert all(r.status == "applied" for r in results), "replay refused events"
    return len(events) / (time.perf_counter() - t0)


def _reads(store: OnlineStore, customers: list[str], request: InvoiceRequest) -> list[float]:
    out = []
    for c in customers:
        t0 = time.perf_counter()
        store.customer_features(c, request)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--invoices", type=int, default=1_000_000)
    p.add_argument("--reads", type=int, default=5_000)
    p.add_argument("--online-customers", type=int, default=5_000)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()

    big = simulate(SimulationConfig(customers=int(args.invoices / INVOICES_PER_CUSTOMER_24M), months=24,
                                    seed=args.seed))
    t0 = time.perf_counter()
    table = build_feature_table(big)
    offline_s = time.perf_counter() - t0
    n_invoices = len(table)
    del big, table

    ledger = simulate(SimulationConfig(customers=args.online_customers, months=12, seed=args.seed))
    events = ledger_to_events(ledger)
    rng = np.random.default_rng(args.seed)
    ids = ledger.customers["customer_id"].to_numpy()
    sample = list(rng.choice(ids, size=args.reads))
    request = InvoiceRequest(amount=1_250.0, payment_terms_days=30, issued_at="2025-01-02T10:00:00",
                             paperless=True, customer_type="business")

    memory = MemoryStore()
    memory_apply = _fill(memory, events)
    _reads(memory, sample[:200], request)  # warm-up
    mem_p50, mem_p99 = _percentiles(_reads(memory, sample, request))

    with redis_server() as url:
        store = RedisStore.from_url(url)
        redis_apply = _fill(store, events)
        client = store._client
        _reads(store, sample[:200], request)
        ping = []
        for _ in range(args.reads):
            t1 = time.perf_counter()
            client.ping()
            ping.append(time.perf_counter() - t1)
        red_p50, red_p99 = _percentiles(_reads(store, sample, request))
        ping_p50, ping_p99 = _percentiles(ping)
        store.close()

    report("features", {
        "offline_invoices": n_invoices,
        "offline_seconds": round(offline_s, 3),
        "offline_invoices_per_s": round(n_invoices / offline_s, 1),
        "offline_target_s": 60,
        "online_customers": args.online_customers,
        "online_events": len(events),
        "online_reads": args.reads,
        "online_read_p50_ms": red_p50,
        "online_read_p99_ms": red_p99,
        "online_read_target_p99_ms": 1.0,
        "baseline_redis_ping_p50_ms": ping_p50,
        "baseline_redis_ping_p99_ms": ping_p99,
        "online_read_p99_vs_ping": round(red_p99 / ping_p99, 2),
        "inprocess_read_p50_ms": mem_p50,
        "inprocess_read_p99_ms": mem_p99,
        "redis_apply_events_per_s": round(redis_apply, 1),
        "inprocess_apply_events_per_s": round(memory_apply, 1),
    }, args.json)


if __name__ == "__main__":
    main()
