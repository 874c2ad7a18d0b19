"""``kredo backtest``: replay a ledger's checkout and dunning decisions through a new and a baseline policy."""
from __future__ import annotations

import argparse
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backtest", help="compare two policies on a ledger's history")
    p.add_argument("--policy", required=True, help="the new policy file")
    p.add_argument("--baseline", required=True, help="the policy it is compared with")
    p.add_argument("--ledger", required=True, help="ledger directory (Parquet or CSV)")
    p.add_argument("--model", default="models:/payment-delay@champion",
                   help="the model that scores each decision (default: the champion)")
    p.add_argument("--tracking-uri", help="MLflow store (default: MLFLOW_TRACKING_URI or mlruns/mlflow.db)")
    p.add_argument("--no-model", action="store_true", help="replay the rules on zero scores (no model)")
    p.add_argument("--dunning", action="store_true", help="replay the next-action decisions of history too")
    p.add_argument("--csv", help="write the per-segment summary as CSV here")
    p.add_argument("--changes-csv", help="write the customers whose outcome changes as CSV here")
    p.add_argument("--dunning-csv", help="write the per-decision dunning replay as CSV here")
    p.add_argument("--sample", type=int, help="replay a seeded sample of this many decisions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top", type=int, default=10, help="changed customers to print")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.rules import load_policy
    from ledger.tables import load_ledger
    from training.backtest import backtest, dunning_backtest, dunning_summary, model_scorer
    from training.registry import load_model

    t0 = time.perf_counter()
    new, baseline = load_policy(args.policy), load_policy(args.baseline)
    scorer = None
    if not args.no_model:
        model, info = load_model(args.model, args.tracking_uri)
        scorer = model_scorer(model)
        print(f"scores from {info.name} v{info.version} ({info.alias or 'version'})")
    ledger = load_ledger(args.ledger)
    result = backtest(ledger, new, baseline, scorer=scorer, sample=args.sample, seed=args.seed)
    print(result.table(top=args.top))
    if args.csv:
        result.summary.to_csv(args.csv, index=False)
        print(f"\nwrote {args.csv}")
    if args.changes_csv:
        result.changed_customers.to_csv(args.changes_csv, index=False)
        print(f"wrote {args.changes_csv}")
    if args.dunning or args.dunning_csv:
        replay = dunning_backtest(ledger, new, baseline, scorer=scorer, sample=args.sample, seed=args.seed)
        changed = int((replay["action_new"] != replay["action_baseline"]).sum())
        print(f"\n{len(replay):,} next-action decisions replayed; actions that change: {changed:,}\n")
        print(dunning_summary(replay).to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
        if args.dunning_csv:
            replay.to_csv(args.dunning_csv, index=False)
            print(f"wrote {args.dunning_csv}")
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0
