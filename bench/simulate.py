"""Simulator throughput: 1,000,000 invoices must take under 60 s on 2 cores.

Usage: python bench/simulate.py [--invoices 1000000] [--json]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
import tempfile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import parser, report  # noqa: E402
from ledger.tables import save_ledger  # noqa: E402
from training.simulation import SimulationConfig, simulate  # noqa: E402

INVOICES_PER_CUSTOMER_24M = 21.6  # measured mean of the default mix over 24 months


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--invoices", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    customers = int(args.invoices / INVOICES_PER_CUSTOMER_24M)
    t0 = time.perf_counter()
    ledger = simulate(SimulationConfig(customers=customers, months=24, seed=args.seed))
    t_sim = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        save_ledger(ledger, tmp)
        t_write = time.perf_counter() - t1
    seconds = t_sim + t_write
    n = len(ledger.invoices)
    report("simulate", {
        "customers": customers, "invoices": n, "payments": len(ledger.payments),
        "reminders": len(ledger.reminders), "simulate_s": round(t_sim, 3), "write_parquet_s": round(t_write, 3),
        "seconds": round(seconds, 3), "invoices_per_s": round(n / seconds, 1), "target_s": 60,
    }, args.json)


if __name__ == "__main__":
    main()
