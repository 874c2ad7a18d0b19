"""``kredo bandit evaluate``: off-policy estimates of a dunning policy on a ledger's logs."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bandit", help="dunning bandits: off-policy evaluation")
    bsub = p.add_subparsers(dest="bandit_command", required=True, metavar="ACTION")
    e = bsub.add_parser("evaluate", help="estimate a policy's paid-within-7-days rate from logged reminders")
    e.add_argument("--ledger", required=True, help="ledger directory (Parquet or CSV)")
    e.add_argument("--policy", required=True, help="uniform, static, thompson or linear_ts")
    e.add_argument("--train-share", type=float, default=0.5,
                   help="earliest share of the log that learning policies train on (default 0.5)")
    e.add_argument("--seed", type=int, default=7)
    e.add_argument("--json", action="store_true", help="print the report as one JSON line")
    e.set_defaults(func=evaluate)


def evaluate(args: argparse.Namespace) -> int:
    from engine.bandits.offline import evaluate_on_ledger
    from ledger.tables import load_ledger

    report = evaluate_on_ledger(load_ledger(args.ledger), args.policy, args.train_share, args.seed)
    print(f"policy {report['policy']}: trained on {report['trained_on']:,} reminders, "
          f"evaluated on {report['evaluated_on']:,}")
    print(f"  {'estimator':<10}{'value':>9}{'95% CI':>20}")
    for name, e in report["estimates"].items():
        print(f"  {name:<10}{e['value']:>9.4f}   [{e['lo']:.4f}, {e['hi']:.4f}]")
    w = report["mean_weight"]
    print(f"  mean importance weight {w['value']:.4f} [{w['lo']:.4f}, {w['hi']:.4f}] (1 on an honest log)")
    if args.json:
        print(json.dumps(report, sort_keys=True))
    return 0
