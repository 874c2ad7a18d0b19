"""``kredo simulate``: write a seeded order-to-cash ledger."""
from __future__ import annotations

import argparse
import json
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate an order-to-cash ledger (Parquet, optionally CSV)")
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--months", type=int, default=24)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start", default="2024-01-01", help="first day of the period (YYYY-MM-DD)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--csv", action="store_true", help="also write CSV files")
    p.add_argument("--json", action="store_true", help="print the statistics as one JSON line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ledger.tables import save_ledger
    from training.simulation import SimulationConfig, simulate, summarize

    t0 = time.perf_counter()
    ledger = simulate(SimulationConfig(customers=args.customers, months=args.months,
                                       seed=args.seed, start=args.start))
    paths = save_ledger(ledger, args.out, csv=args.csv)
    stats = summarize(ledger)
    print(f"wrote {len(paths)} files to {args.out} in {time.perf_counter() - t0:.1f} s")
    print_stats(stats)
    if args.json:
        print(json.dumps(stats, sort_keys=True))
    return 0


def print_stats(stats: dict[str, float]) -> None:
    width = max(map(len, stats))
    for key, value in stats.items():
        shown = f"{value:,.0f}" if value.is_integer() and value > 1 else f"{value:.4f}"
        print(f"  {key:<{width}}  {shown}")
