"""The dunning run: every open invoice of a book decided for one day, in process and on a local Dask cluster.

Target (issue 13): 1,000,000 open invoices in less than 5 minutes on this machine (2 cores).

Set-up, all throwaway and seeded: a book of ``--invoices`` open invoices, about four per customer (plus one paid
invoice of history each; 2 % disputed, 1 % with a promise to pay, 0.5 % under a payment plan), booked through the
ledger's own ``Book.apply`` in batches; a champion trained on a small simulated ledger; an empty audit log. Then
the day is run (``serving.dunning_run.run_day``, what ``kredo dunning run`` runs):

* ``local``: in this process, each partition folding its customers' events from the ledger into a store of its
  own (the embedded default without Redis: the fold is part of the run);
* ``warm``: in this process on a store already warm (the service's own, or Redis): no fold;
* ``dask``: on a local Dask cluster of ``--workers`` processes, each folding its partitions.

Each run is a fresh copy of the same book and audit log (``--runs`` picks which). Figures: seconds, invoices/s,
the minutes 1,000,000 open invoices take at that rate, the p50 of a partition's wall seconds, and
CPU microseconds per invoice per stage (read, fold, requests, decide = features + model + SHAP + rules + bandit,
records, audit, ledger) so the cost is where it is said to be; and all the CPU a run takes per invoice (this
process, the Dask scheduler and workers, the PostgreSQL server): divided by the cores, the wall time a quiet
machine cannot beat (``*_minutes_1m_cpu_bound``), a figure that holds while other jobs load the machine.

Usage: python bench/dunning.py [--invoices 100000] [--workers 2] [--runs local,warm,dask] [--postgres] [--json]
"""
from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import parser, report  # noqa: E402
from ledger.book import Book  # noqa: E402
from ledger.database import open_ledger  # noqa: E402
from serving.audit import AuditLog  # noqa: E402
from serving.bootstrap import ensure_champion, warm_store  # noqa: E402
from serving.dunning_run import Deciding, RunSpec, deciding, run_day  # noqa: E402
from serving.heap import settle  # noqa: E402
from features.online import MemoryStore  # noqa: E402
from training.pipeline import TrainConfig  # noqa: E402
from training.simulation import SimulationConfig, simulate  # noqa: E402

DAY = date(2026, 11, 2)
BATCH = 10_000


def book_events(invoices: int, seed: int) -> list[dict]:
    """The synthetic book as events, customers first, then history in time order."""
    rng = np.random.default_rng(seed)
    customers = max(1, invoices // 4)
    start = datetime(2026, 5, 1)
    out: list[dict] = []
    business = rng.random(customers) < 0.55
    for c in range(customers):
        cid = f"C-{c:08d}"
        out.append({"event_id": f"cu-{cid}", "type": "customer_updated", "customer_id": cid,
                    "customer_type": "business" if business[c] else "consumer", "country": "NL",
                    "profile": "sme" if business[c] else "adult", "size": "small" if business[c] else "consumer",
                    "consent_email": bool(rng.random() < 0.8), "consent_sms": bool(rng.random() < 0.3),
                    "key_account": bool(business[c] and rng.random() < 0.05),
                    **({"account_manager": f"AM-{c % 20:02d}"} if business[c] else {})})
    owner = rng.integers(0, customers, invoices)
    owner[:customers] = np.arange(customers)
    history = []
    for c in range(customers):  # one paid invoice of history each
        cid, issued = f"C-{c:08d}", start + timedelta(days=int(rng.integers(0, 60)))
        inv, paid = f"H-{c:08d}", issued + timedelta(days=int(rng.integers(10, 60)))
        amount = round(float(rng.lognormal(5.5, 1.0)), 2)
        history += [(issued, {"event_id": f"iss-{inv}", "type": "invoice_issued", "customer_id": cid,
                              "invoice_id": inv, "at": issued.isoformat(), "amount": amount,
                              "due_at": (issued + timedelta(days=30)).isoformat(), "payment_terms_days": 30,
                              "paperless": True}),
                    (paid, {"event_id": f"pay-{inv}", "type": "payment_received", "customer_id": cid,
                            "invoice_id": inv, "at": paid.isoformat(), "amount": amount})]
    end = datetime(DAY.year, DAY.month, DAY.day)
    for n in range(invoices):
        cid, inv = f"C-{owner[n]:08d}", f"INV-{n:09d}"
        issued = end - timedelta(days=int(rng.integers(1, 95)), hours=int(rng.integers(0, 10)))
        amount = round(float(rng.lognormal(5.5, 1.0)), 2)
        history.append((issued, {"event_id": f"iss-{inv}", "type": "invoice_issued", "customer_id": cid,
                                 "invoice_id": inv, "at": issued.isoformat(), "amount": amount,
                                 "due_at": (issued + timedelta(days=30)).isoformat(), "payment_terms_days": 30,
                                 "paperless": True}))
        u, later = rng.random(), issued + timedelta(days=int(rng.integers(31, 40)))
        if u < 0.02 and later < end:
            history.append((later, {"event_id": f"dis-{inv}", "type": "dispute_opened", "customer_id": cid,
                                    "invoice_id": inv, "at": later.isoformat(), "reason": "price"}))
        elif u < 0.03 and later < end:
            history.append((later, {"event_id": f"pro-{inv}", "type": "promise_made", "customer_id": cid,
                                    "invoice_id": inv, "at": later.isoformat(), "amount": amount,
                                    "promised_for": (later + timedelta(days=10)).date().isoformat()}))
        elif u < 0.035 and later < end:
            history.append((later, {"event_id": f"pla-{inv}", "type": "plan_agreed", "customer_id": cid,
                                    "at": later.isoformat(), "invoice_ids": [inv],
                                    "instalments": [{"due_at": (later + timedelta(days=30 * k)).isoformat(),
                                                     "amount": round(amount / 2 + 0.01, 2)} for k in (1, 2)]}))
    history.sort(key=lambda pair: pair[0])
    return out + [e for _, e in history]


def build(url: str, invoices: int, seed: int) -> float:
    book = Book(open_ledger(url))
    events = book_events(invoices, seed)
    t0 = time.perf_counter()
    for part in range(0, len(events), BATCH):
        refused = [v for v in book.apply(events[part:part + BATCH], received_us=1).verdicts if v.status != "applied"]
        assert not refused, refused[:3]
    book.engine.dispose()
    return time.perf_counter() - t0


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--invoices", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--runs", default="local,warm,dask", help="which of local, warm, dask to run")
    p.add_argument("--partition-size", type=int, default=2_000)
    p.add_argument("--postgres", action="store_true", help="ledger and audit log on a throwaway PostgreSQL")
    p.add_argument("--seed", type=int, default=13)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kredo-bench-dunning-"))
    tracking = f"sqlite:///{work}/mlflow.db"
    champion = ensure_champion(simulate(SimulationConfig(customers=2_000, months=12, seed=args.seed)), tracking,
                               TrainConfig(n_estimators=40, max_depth=4))
    figures: dict[str, object] = {"open_invoices": args.invoices, "workers": args.workers,
                                  "partition_size": args.partition_size, "target_minutes_1m": 5}
    if args.postgres:
        from tests.support.services import postgres_database
        from tests.support.collections import postgres_database as fresh
        with postgres_database() as server:
            with fresh(server) as seed_url:
                figures["book_s"] = round(build(seed_url, args.invoices, args.seed), 1)
                for name in args.runs.split(","):
                    with fresh(server) as url:
                        _copy_pg(seed_url, url)
                        figures.update(_run(name, url, url, tracking, champion["uri"], args))
    else:
        seed_db = work / "book.db"
        figures["book_s"] = round(build(f"sqlite:///{seed_db}", args.invoices, args.seed), 1)
        for name in args.runs.split(","):
            shutil.copy(seed_db, work / f"{name}.db")
            figures.update(_run(name, f"sqlite:///{work}/{name}.db", f"sqlite:///{work}/{name}-audit.db", tracking,
                                champion["uri"], args))
    shutil.rmtree(work, ignore_errors=True)
    report("dunning run: every open invoice of a day", figures, args.json)


def _copy_pg(source: str, target: str) -> None:
    """The built book into a fresh database (``pg_dump | psql`` is not assumed: rows copied table by table)."""
    import sqlalchemy as sa

    from ledger import schema as t

    src, dst = sa.create_engine(source), open_ledger(target)
    with src.connect() as a, dst.begin() as b:
        for table in t.metadata.sorted_tables:
            rows = [dict(r._mapping) for r in a.execute(sa.select(table))]
            if rows:
                b.execute(sa.insert(table), rows)
        b.execute(sa.text("SELECT setval(pg_get_serial_sequence('ledger_events', 'seq'), "
                          "(SELECT max(seq) FROM ledger_events))"))
    src.dispose()
    dst.dispose()


def _run(name: str, ledger_url: str, audit_url: str, tracking: str, model_uri: str, args) -> dict[str, object]:  # noqa: ANN001
    spec = RunSpec(ledger_url, audit_url, "rules/default.yaml", model_uri, tracking, None, "dunning", 0.1)
    engine, audit = open_ledger(ledger_url), AuditLog.from_url(audit_url)
    ctx, warm_s = None, None
    if name == "warm":
        base = deciding(spec)
        store = MemoryStore()
        t0 = time.perf_counter()
        warm_store(store, Book(engine))
        warm_s = time.perf_counter() - t0
        ctx = Deciding(engine, base.audit, base.served, store)
    if name != "dask":  # as ``kredo dunning run`` does in process (Dask workers settle their own)
        ctx = ctx or deciding(spec)
        settle()
    server = _server_cpu(engine)
    t0, tree0, db0 = time.perf_counter(), _tree_cpu(), server()
    done = run_day(DAY, engine=engine, ctx=ctx, spec=spec, workers=args.workers if name == "dask" else 0,
                   partition_size=args.partition_size).to_dict()
    seconds, tree, db = time.perf_counter() - t0, _tree_cpu() - tree0, server() - db0
    assert done["invoices"] == args.invoices, done
    rate, per = done["invoices"] / seconds, 1e6 / done["invoices"]
    out = {f"{name}_seconds": round(seconds, 1), f"{name}_invoices_s": round(rate, 1),
           f"{name}_minutes_1m": round(1_000_000 / rate / 60, 2), f"{name}_messages": done["messages"],
           f"{name}_tasks": done["tasks"],
           f"{name}_cpu_us_per_invoice": {k: round(v * per, 1) for k, v in done["cpu_seconds"].items()},
           # all the CPU the two cores must give per invoice: this process, its Dask scheduler and workers
           # (children), and the database server's processes; / cores = the quiet machine's best wall time
           f"{name}_all_cpu_us_per_invoice": round((tree + db) * per, 1),
           f"{name}_db_server_cpu_us_per_invoice": round(db * per, 1),
           f"{name}_minutes_1m_cpu_bound": round((tree + db) * per * 1_000_000 / 1e6 / (os.cpu_count() or 1) / 60, 2)}
    out[f"{name}_partition_p50_s"] = done["partition_p50_s"]
    if warm_s is not None:
        out["warm_store_s"] = round(warm_s, 1)
    if name == "local":
        out["actions"] = done["summary"]["actions"]
    audit.close()
    engine.dispose()
    return out


def _tree_cpu() -> float:
    """CPU seconds of this process and of its children that ended (a Dask cluster's, once it is closed)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _server_cpu(engine):  # noqa: ANN001, ANN202
    """A reader of the database server's CPU seconds so far: PostgreSQL's postmaster, its live backends and
    those that ended (SQLite runs inside the run's own processes: 0)."""
    if engine.dialect.name != "postgresql":
        return lambda: 0.0
    import psutil
    import sqlalchemy as sa

    with engine.connect() as conn:
        data = conn.execute(sa.text("SELECT setting FROM pg_settings WHERE name = 'data_directory'")).scalar_one()
    postmaster = psutil.Process(int((Path(data) / "postmaster.pid").read_text().split()[0]))

    def cpu() -> float:
        total = sum(postmaster.cpu_times()[:4])
        for child in postmaster.children():
            try:
                total += sum(child.cpu_times()[:2])
            except psutil.NoSuchProcess:
                pass
        return total
    return cpu


if __name__ == "__main__":
    main()
