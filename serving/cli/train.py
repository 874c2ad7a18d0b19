"""``kredo train`` and ``kredo models promote|rollback|list``.

Why: the analyst's two moves — retrain and compare, then promote (or roll
back) — are one command each. Parsing only; the work lives in ``training``.
"""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train payment-delay models, compare with baselines, log to MLflow")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ledger", help="ledger directory (Parquet or CSV tables)")
    src.add_argument("--csv", help="invoice CSV, read through --mapping")
    p.add_argument("--mapping", default="ar", help="column mapping: 'ar' (the public AR sample) or JSON / a JSON file")
    p.add_argument("--report-json", help="write {'models': {name: {metric: value}}, ...} here")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or sqlite in mlruns/)")
    p.add_argument("--dask", metavar="SCHEDULER", help="train through xgboost.dask on this Dask scheduler")
    # Model settings default to training.pipeline.TrainConfig's (None = not given).
    p.add_argument("--n-estimators", type=int, help="boosting rounds before early stopping (default 300)")
    p.add_argument("--max-depth", type=int, help="tree depth (default 3)")
    p.add_argument("--min-child-weight", type=float, help="minimum hessian per leaf (default 50)")
    p.add_argument("--learning-rate", type=float, help="default 0.1")
    p.add_argument("--valid-months", type=int, help="validation months (default 2)")
    p.add_argument("--test-months", type=int, help="test months (default 2)")
    p.add_argument("--period-effects", help="the binary heads' period offsets: the late rate of nothing ('none'), "
                   "the month ('month') or the month within the sector ('month_sector', default)")
    p.add_argument("--seed", type=int, help="default 7")
    p.add_argument("--no-register", action="store_true", help="log the run but do not register the model")
    p.set_defaults(func=run_train)

    m = sub.add_parser("models", help="the payment-delay model registry: promote, rollback, list")
    msub = m.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    pr = msub.add_parser("promote", help="make the challenger champion if it passes the gate")
    pr.add_argument("--auc-tolerance", type=float, default=None)
    pr.add_argument("--ece-tolerance", type=float, default=None)
    rb = msub.add_parser("rollback", help="restore the previous champion")
    ls = msub.add_parser("list", help="registered versions with aliases and test metrics")
    ls.add_argument("--json", action="store_true")
    for q in (pr, rb, ls):
        q.add_argument("--tracking-uri")
    pr.set_defaults(func=run_promote)
    rb.set_defaults(func=run_rollback)
    ls.set_defaults(func=run_list)


def run_train(args: argparse.Namespace) -> int:
    from training.runs import train_command

    settings = {k: getattr(args, k) for k in ("n_estimators", "max_depth", "min_child_weight", "learning_rate",
                                               "valid_months", "test_months", "period_effects", "seed")
                if getattr(args, k) is not None}
    return train_command(ledger=args.ledger, csv=args.csv, mapping=args.mapping, report_json=args.report_json,
                         tracking_uri=args.tracking_uri, dask=args.dask, register=not args.no_register,
                         **settings)


def run_promote(args: argparse.Namespace) -> int:
    from training import registry

    tolerances = {k: v for k, v in (("auc_tolerance", args.auc_tolerance), ("ece_tolerance", args.ece_tolerance))
                  if v is not None}
    result = registry.promote(args.tracking_uri, **tolerances)
    print(f"promoted v{result.version} to champion (previous: {result.previous or 'none'}): {result.reason}")
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    from training import registry

    result = registry.rollback(args.tracking_uri)
    print(f"champion is v{result.version} again ({result.reason})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from training import registry

    rows = registry.list_versions(args.tracking_uri)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'version':>7}  {'aliases':<22} {'late.roc_auc':>12} {'late.ece':>9}  created")
    for r in rows:
        auc, ece = r["late.roc_auc"], r["late.ece"]
        print(f"{r['version']:>7}  {','.join(r['aliases']):<22} {auc if auc is None else f'{auc:.4f}':>12} "
              f"{ece if ece is None else f'{ece:.4f}':>9}  {r['created']}")
    return 0
