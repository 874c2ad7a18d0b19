"""``kredo backtest``: replay a ledger's checkout decisions through a new and a baseline policy."""
from __future__ import annotations

import argparse
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backtest", help="compare two policies on a ledger's history")
    p.add_argument("--policy", required=True, help="the new policy file")
    p.add_argument("--baseline", required=True, help="the policy it is compared with")
    p.add_argument("--ledger", required=True, help="ledger directory (Parquet or CSV)")
    p.add_argument("--csv", help="write the per-segment summary as CSV here")
    p.add_argument("--changes-csv", help="write the customers whose outcome changes as CSV here")
    p.add_argument("--sample", type=int, help="replay a seeded sample of this many invoices")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top", type=int, default=10, help="changed customers to print")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.rules import load_policy
    from features.ledger import load_ledger
    from training.backtest import backtest

    t0 = time.perf_counter()
    new, baseline = load_policy(args.policy), load_policy(args.baseline)
    result = backtest(load_ledger(args.ledger), new, baseline, sample=args.sample, seed=args.seed)
    print(result.table(top=args.top))
    if args.csv:
        result.summary.to_csv(args.csv, index=False)
        print(f"\nwrote {args.csv}")
    if args.changes_csv:
        result.changed_customers.to_csv(args.changes_csv, index=False)
        print(f"wrote {args.changes_csv}")
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0
