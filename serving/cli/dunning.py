"""``kredo dunning run``: the day's dunning run on the configured ledger, model and policy (or on Dask)."""
from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dunning", help="the collections workflow: the daily dunning run")
    verbs = p.add_subparsers(dest="dunning_command", required=True, metavar="VERB")
    r = verbs.add_parser("run", help="decide every open invoice for a business day: one consolidated message per "
                         "customer in the outbox, tasks for people; idempotent per day")
    r.add_argument("--date", type=date.fromisoformat, help="the business day (default: today, UTC)")
    r.add_argument("--dry-run", action="store_true", help="decide and count, write nothing")
    r.add_argument("--workers", type=int, default=0,
                   help="decide the partitions on a local Dask cluster of this many processes (default: in process)")
    r.add_argument("--partition-size", type=int, default=None, help="open invoices per partition (default 2,000)")
    r.add_argument("--json", action="store_true", help="print the report as one JSON line")
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from domain.errors import InvalidInput
    from ledger.database import open_ledger
    from serving.audit import AuditLog
    from serving.config import load
    from serving.dunning_run import PARTITION_INVOICES, RunSpec, deciding, run_day
    from serving.heap import settle

    if args.workers < 0:
        raise InvalidInput("--workers must be 0 (in process) or more", field="workers")
    config = load()
    AuditLog.from_url(config["AUDIT_URL"]).close()  # created here once, not by the workers at once
    spec = RunSpec.from_config(config)
    ctx = None if args.workers else deciding(spec)  # loaded before the heap is settled
    settle()
    report = run_day(args.date or datetime.now(UTC).date(), engine=open_ledger(config["LEDGER_URL"]), ctx=ctx,
                     spec=spec, dry_run=args.dry_run, workers=args.workers,
                     partition_size=args.partition_size or PARTITION_INVOICES)
    out = report.to_dict()
    if args.json:
        print(json.dumps(out))
        return 0
    what = "dry run" if report.dry_run else "run" if report.created else "already run (nothing new)"
    print(f"{out['run_id']} ({what}): {out['invoices']:,} open invoices decided, {out['skipped']:,} skipped; "
          f"{out['messages']:,} messages queued, {out['tasks']:,} tasks opened in {out['seconds']} s")
    for name, counts in out["summary"].items():
        print(f"  {name:<10}" + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])))
    return 0
