"""Fault handling figures: what the store epoch costs a checkout, and how long a re-warm takes.

* ``epoch_on`` / ``epoch_off``: thread CPU per checkout (from each answer's ``Server-Timing``) of
  the ``features`` stage and of all stages, with the epoch's ``GET`` in the feature read's pipeline
  and without it (the store's ``epoch`` unset, as before the check existed), alternated in blocks
  on the same app, Redis and customers so the neighbours' load falls on both alike;
* ``read``: the same, closer up: thread CPU per feature read (``aggregates``, one pipeline round
  trip) with and without the epoch's ``GET``, in alternating blocks of ``READ_BLOCK`` reads (on a
  loaded machine the checkout figures above are noisier than the difference);
* ``rewarm``: Redis flushed under a running app, then one keeper round: customers and events
  refolded from the ledger and seconds until the store is ready again.

Set-up, in temp dirs: a seeded ledger in a ledger database, a champion trained on it, a
redis-server on loopback, the app in-process on the Redis store (SQLite audit log).

Usage: python bench/faults.py [--customers 1500] [--months 12] [--checkouts 3000] [--reads 20000] [--json]
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import parser, report  # noqa: E402
from ledger.book import Book  # noqa: E402
from ledger.database import open_ledger  # noqa: E402
from ledger.imports import import_ledger  # noqa: E402
from serving.bootstrap import ensure_champion  # noqa: E402
from tests.support.api import CHECKOUT, Clients, make_app  # noqa: E402
from tests.support.services import RedisServer  # noqa: E402
from training.pipeline import TrainConfig  # noqa: E402
from training.simulation import SimulationConfig, simulate  # noqa: E402

BLOCK = 150
READ_BLOCK = 500


def stages(header: str) -> dict[str, float]:
    return {name.strip(): float(rest.split("dur=")[1])
            for name, rest in (entry.split(";", 1) for entry in header.split(","))}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_500)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--checkouts", type=int, default=3_000)
    p.add_argument("--reads", type=int, default=20_000, help="feature reads per mode")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kredo-bench-faults-"))
    ledger = simulate(SimulationConfig(customers=args.customers, months=args.months, seed=11))
    tracking = f"sqlite:///{work}/mlflow.db"
    champion = ensure_champion(ledger, tracking, TrainConfig(n_estimators=40, max_depth=4))
    book = Book(open_ledger(f"sqlite:///{work}/history.db"))
    import_ledger(book, ledger)
    book.engine.dispose()
    server = RedisServer().start()
    try:
        app = make_app({"tracking": tracking, "uri": champion["uri"]}, work, history=work / "history.db",
                       REDIS_URL=server.url, STORE_CHECK_INTERVAL_S=3600)
        runtime, api = app.extensions["kredo.runtime"], Clients(app)
        epoch, customers = runtime.store.epoch, list(ledger.customers.itertuples())
        cpu: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
        for i in range(args.checkouts):
            mode = "on" if (i // BLOCK) % 2 == 0 else "off"
            runtime.store.epoch = epoch if mode == "on" else None
            c = customers[i % len(customers)]
            r = api.checkout.post("/v1/decisions/checkout", json={
                **CHECKOUT, "request_id": f"bench-{i}", "customer": {"id": c.customer_id, "type": c.type,
                                                                   "country": c.country}})
            assert r.status_code == 200, r.get_data(as_text=True)
            if i % BLOCK >= BLOCK // 3:  # the first third of a block warms caches after the switch
                cpu[mode].append(stages(r.headers["Server-Timing"]))
        read: dict[str, list[float]] = {"on": [], "off": []}
        for block in range(2 * args.reads // READ_BLOCK):
            mode = "on" if block % 2 == 0 else "off"
            runtime.store.epoch = epoch if mode == "on" else None
            t0 = time.thread_time()
            for j in range(READ_BLOCK):
                runtime.store.aggregates(customers[j % len(customers)].customer_id)
            read[mode].append((time.thread_time() - t0) / READ_BLOCK * 1e6)
        runtime.store.epoch = epoch
        figures: dict[str, float] = {f"read_{mode}.cpu_median_us": round(statistics.median(v), 2)
                                     for mode, v in read.items()}
        for mode, rows in cpu.items():
            figures[f"epoch_{mode}.n"] = len(rows)
            figures[f"epoch_{mode}.features_cpu_median_ms"] = round(statistics.median(t["features"] for t in rows), 4)
            figures[f"epoch_{mode}.features_cpu_mean_ms"] = round(statistics.mean(t["features"] for t in rows), 4)
            figures[f"epoch_{mode}.total_cpu_median_ms"] = round(statistics.median(sum(t.values()) for t in rows), 4)
        import redis

        redis.Redis.from_url(server.url).flushall()
        t0 = time.perf_counter()
        runtime.keeper.check()
        assert runtime.keeper.ready, runtime.keeper.detail
        figures.update({"rewarm.customers": runtime.keeper.warmed["customers"],
                        "rewarm.events": runtime.keeper.warmed["events"],
                        "rewarm.ready_s": round(time.perf_counter() - t0, 3)})
        runtime.stop()
    finally:
        server.close()
    report("fault handling: the store epoch's cost and a re-warm", figures, args.json)


if __name__ == "__main__":
    main()
