"""``kredo outbox send`` (one pass, or ``--loop``), ``kredo worker`` (the sender as a long-running process) and
``kredo templates check``: the delivery side of the dunning day."""
from __future__ import annotations

import argparse
import json
import signal
import threading
from datetime import datetime


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("outbox", help="deliver the outbox: the messages the dunning run queued")
    verbs = p.add_subparsers(dest="outbox_command", required=True, metavar="VERB")
    s = verbs.add_parser("send", help="claim due messages, re-check consent, quiet hours and the invoices, deliver "
                         "them through the configured connectors, record the outcome")
    s.add_argument("--loop", action="store_true", help="keep sending until interrupted (as kredo worker)")
    s.add_argument("--limit", type=int, default=None, help="messages per pass (default OUTBOX_BATCH)")
    s.add_argument("--now", type=datetime.fromisoformat, default=None,
                   help="the moment to send at (tz-aware ISO; default: the clock); one pass only")
    s.add_argument("--json", action="store_true", help="print each pass (that claimed something) as one JSON line")
    s.set_defaults(func=send)
    w = sub.add_parser("worker", help="the sender as a long-running process (kredo outbox send --loop)")
    w.set_defaults(func=send, loop=True, limit=None, now=None, json=True)
    t = sub.add_parser("templates", help="message templates per step, tone and language")
    tv = t.add_subparsers(dest="templates_command", required=True, metavar="VERB")
    c = tv.add_parser("check", help="render every template with sample data; refuse a missing variable")
    c.add_argument("--dir", default=None, help="the template directory (default TEMPLATES_DIR or the packaged one)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=check)


def _sender():  # noqa: ANN202
    from engine.rules import RuleEngine, load_policy
    from ledger.database import open_ledger
    from serving.config import load
    from serving.delivery.sender import Sender, bandit_payer

    config = load()
    rules = RuleEngine(load_policy(config["POLICY_PATH"]))
    return Sender.from_config(open_ledger(config["LEDGER_URL"]), config, policy=lambda: rules,
                              on_booked=bandit_payer(config))


def send(args: argparse.Namespace) -> int:
    from domain.errors import InvalidInput

    if args.now is not None and (args.loop or args.now.tzinfo is None):
        raise InvalidInput("--now must be tz-aware and is for one pass only", field="now")
    sender = _sender()
    if not sender.connectors:
        raise InvalidInput("no channel is configured (SMTP_HOST, SMS_WEBHOOK_URL, WHATSAPP_WEBHOOK_URL, LETTER_DIR "
                           "or LETTER_WEBHOOK_URL): nothing can be sent", field="connectors")
    try:
        if not args.loop:
            _print(sender.run_once(args.now, args.limit).to_dict(), args.json)
            return 0
        stopping = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopping.set())
        sender.run(stopping.is_set, passed=lambda report: _print(report.to_dict(), args.json))
        return 0
    finally:
        sender.close()


def _print(report: dict, as_json: bool) -> None:
    """One pass: a JSON line, or a line for people."""
    if as_json:
        print(json.dumps(report), flush=True)
        return
    outcomes = ", ".join(f"{k} {v:,}" for k, v in report["outcomes"].items()) or "nothing due"
    print(f"{report['claimed']:,} messages claimed in {report['seconds']} s: {outcomes}", flush=True)


def check(args: argparse.Namespace) -> int:
    from engine.templates import check as check_templates
    from engine.templates import load_templates
    from serving.config import load

    templates = load_templates(args.dir or load()["TEMPLATES_DIR"])
    findings = check_templates(templates)
    if args.json:
        print(json.dumps({"ok": not findings, "version": templates.version, "templates": len(templates.sources),
                          "findings": [f.to_dict() for f in findings]}))
    else:
        for f in findings:
            print(f"{f.template}: {f.code}: {f.detail}")
        print(f"{templates.source}: {len(templates.sources)} templates, version {templates.version}: "
              + ("ok" if not findings else f"{len(findings)} refused"))
    return 0 if not findings else 1
