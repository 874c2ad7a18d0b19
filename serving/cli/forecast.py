"""``kredo forecast``: compute and keep the day's cash-in forecasts (consolidated and per legal entity).

Why a command: a forecast reads an entity's whole history (seconds to half a minute on a large book); run
after the day's dunning run, it keeps the forecasts in the ledger (``serving.forecasting.refresh``), and the
pages and ``GET /v1/forecast`` of every worker answer them at once.
"""
from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("forecast", help="compute and keep the cash-in forecasts of the book at its default day "
                       "(consolidated and per legal entity); those kept already are left as they are")
    p.add_argument("--today", type=date.fromisoformat,
                   help="today (default: today, UTC); the forecast day is the day after the book's last event "
                   "when that is earlier")
    p.add_argument("--json", action="store_true", help="print one JSON line per forecast")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from serving.app import create_app
    from serving.forecasting import refresh

    app = create_app({"RELOAD_INTERVAL_S": 0})
    runtime = app.extensions["kredo.runtime"]
    try:
        kept = refresh(runtime, args.today or datetime.now(UTC).date())
    finally:
        runtime.stop()
    for one in kept:
        line = {"entity": one.key.entity, "day": one.key.day, "model_version": one.key.model_version,
                "book_version": one.key.book_version, "open_invoices": one.body["open_invoices"]}
        print(json.dumps(line) if args.json else
              f"{one.key.entity or 'consolidated'}: {one.key.day}, model v{one.key.model_version}, "
              f"book up to event {one.key.book_version}, {one.body['open_invoices']:,} open invoices")
    return 0
