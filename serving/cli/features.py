"""``kredo features drift``: feature drift (PSI) and customers to watch."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from domain.errors import InvalidInput


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="feature monitoring")
    fsub = p.add_subparsers(dest="features_command", required=True, metavar="SUBCOMMAND")
    d = fsub.add_parser("drift", help="PSI per feature (recent vs training window) and deteriorated customers")
    d.add_argument("--ledger", required=True, help="ledger directory (Parquet or CSV)")
    d.add_argument("--train-window", required=True, help="START:END dates of the training window")
    d.add_argument("--recent-window", required=True, help="START:END dates of the recent window")
    d.add_argument("--limits", help="optional CSV with customer_id,credit_limit (flags exposure near the limit)")
    d.add_argument("--top", type=int, default=20, help="customers to list in the table (default 20)")
    d.add_argument("--json", action="store_true", help="print the whole report as one JSON line")
    d.set_defaults(func=run_drift)


def _limits(path: str | None) -> dict[str, float] | None:
    if path is None:
        return None
    import pandas as pd

    if not Path(path).is_file():
        raise InvalidInput(f"{path}: no such file", field="limits")
    frame = pd.read_csv(path, dtype={"customer_id": str})
    if not {"customer_id", "credit_limit"} <= set(frame.columns):
        raise InvalidInput(f"{path}: needs columns customer_id,credit_limit", field="limits")
    return dict(zip(frame["customer_id"], pd.to_numeric(frame["credit_limit"], errors="raise")))


def run_drift(args: argparse.Namespace) -> int:
    from features.drift import Window, drift_report
    from ledger.tables import load_ledger

    train = Window.parse(args.train_window, "train_window")
    recent = Window.parse(args.recent_window, "recent_window")
    report = drift_report(load_ledger(args.ledger), train, recent, _limits(args.limits))
    print(f"feature drift: train {args.train_window} vs recent {args.recent_window} "
          f"(PSI >= 0.1 moderate, >= 0.25 major)")
    for name, row in sorted(report["psi"].items(), key=lambda kv: -kv[1]["psi"]):
        print(f"  {name:<24} {row['psi']:8.4f}  {row['status']:<8}  "
              f"mean {row['train_mean']:12.2f} -> {row['recent_mean']:12.2f}")
    watch = report["deteriorated"]
    print(f"customers deteriorated since {report['last_check']}: {len(watch)}")
    for row in watch[:args.top]:
        print(f"  {row['customer_id']:<14} {', '.join(row['flags'])}")
    if args.json:
        print(json.dumps(report, sort_keys=True))
    return 0
