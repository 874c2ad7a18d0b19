"""``kredo import``: bring an existing book into the ledger (a ledger directory or an invoice CSV)."""
from __future__ import annotations

import argparse
import json
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import an existing book into the ledger (idempotent, all or nothing)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--ledger", help="ledger directory (the simulator's Parquet or CSV tables)")
    source.add_argument("--csv", help="an invoice CSV, read through --mapping (as kredo train does)")
    source.add_argument("--camt053", help="a CAMT.053 bank statement: credits matched to open invoices")
    source.add_argument("--mt940", help="an MT940 bank statement: credits matched to open invoices")
    p.add_argument("--mapping", default="ar", help="column mapping for --csv: a built-in name, JSON file or JSON")
    p.add_argument("--url", help="ledger database URL (default: KREDO_LEDGER_URL, else sqlite:///var/ledger.db)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ledger.book import Book
    from ledger.database import open_ledger
    from ledger.imports import import_ledger
    from serving.config import load

    if args.camt053 or args.mt940:
        return _statement(args)
    if args.ledger:
        from ledger.tables import load_ledger

        ledger = load_ledger(args.ledger)
    else:
        from training.mapping import read_invoice_csv

        ledger = read_invoice_csv(args.csv, args.mapping)
    book = Book(open_ledger(args.url or load()["LEDGER_URL"]))
    t0 = time.perf_counter()
    total = len(ledger.customers) + len(ledger.invoices) + len(ledger.payments) + len(ledger.reminders) \
        + len(ledger.disputes) * 2 + int(ledger.invoices["written_off_at"].notna().sum())
    with tqdm(total=total, unit="event", desc="import", disable=args.json) as bar:
        report = import_ledger(book, ledger, received_us=time.time_ns() // 1000, progress=bar.update)
    summary = {**report.to_dict(), "seconds": round(time.perf_counter() - t0, 2)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"imported {report.applied:,} events ({report.duplicate:,} already there) in {summary['seconds']} s")
    return 0


def _statement(args: argparse.Namespace) -> int:
    from ledger.book import Book
    from ledger.database import open_ledger
    from serving.bank import import_statement
    from serving.config import load

    book = Book(open_ledger(args.url or load()["LEDGER_URL"]))
    summary = import_statement(book, args.camt053 or args.mt940, received_us=time.time_ns() // 1000)
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print(f"{summary['lines']} lines: {summary['matched']} matched ({summary['payments_booked']} payments booked, "
              f"{summary['already_booked']} already there), {summary['unmatched']} unmatched "
              f"({summary['tasks_opened']} new tasks for {'cash_application'}), {summary['ignored']} ignored")
    return 0
