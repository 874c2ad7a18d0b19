"""``kredo audit verify`` and ``kredo audit redact``: check the audit chain; apply the retention period."""
from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="inspect the decision audit log, apply its retention")
    verbs = p.add_subparsers(dest="audit_command", required=True, metavar="VERB")
    v = verbs.add_parser("verify", help="check every record's hash and link; exit 1 at the first altered one")
    v.add_argument("--url", help="SQLAlchemy URL (default: DATABASE_URL, else sqlite:///var/audit.db)")
    v.add_argument("--json", action="store_true", help="print the report as one JSON line")
    v.set_defaults(func=verify)
    r = verbs.add_parser("redact", help="blank the payloads of records received before a date; the chain stays "
                                        "verifiable")
    r.add_argument("--before", type=_moment,
                   help="ISO date or time (UTC if no offset); default: now minus KREDO_AUDIT_RETENTION_DAYS")
    r.add_argument("--url", help="SQLAlchemy URL (default: DATABASE_URL, else sqlite:///var/audit.db)")
    r.add_argument("--json", action="store_true", help="print the report as one JSON line")
    r.set_defaults(func=redact)


def _moment(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 date or time: {text!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _open(url: str | None):  # noqa: ANN202 - an AuditLog
    """The audit log at ``url``; ``NotFound`` when there is none (never "intact: 0 records")."""
    import sqlalchemy as sa

    from domain.errors import NotFound
    from serving.audit import AuditLog
    from serving.config import load

    url = url or load()["AUDIT_URL"]
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).is_file()):
        raise NotFound(f"no audit log at {parsed.database or url!r}: nothing to do", field="url")
    return AuditLog.from_url(url)


def verify(args: argparse.Namespace) -> int:
    """Exit 0 intact, 1 altered, 2 when there is no audit log at that URL."""
    log = _open(args.url)
    try:
        report = log.verify()
    finally:
        log.close()
    if args.json:
        print(json.dumps(report.to_dict()))
    elif report.ok:
        redacted = f" ({report.redacted} redacted past retention)" if report.redacted else ""
        print(f"audit log intact: {report.records} records{redacted}, tip {report.tip_hash}")
    else:
        print(f"audit log ALTERED at record {report.first_bad} (decision {report.decision_id}): {report.reason}")
    return 0 if report.ok else 1


def redact(args: argparse.Namespace) -> int:
    """Blank what is past retention (``--before``, else ``KREDO_AUDIT_RETENTION_DAYS``); exit 2 with neither."""
    from domain.errors import InvalidInput
    from serving.config import load

    before = args.before
    if before is None:
        days = load()["AUDIT_RETENTION_DAYS"]
        if days is None:
            raise InvalidInput("give --before DATE or set KREDO_AUDIT_RETENTION_DAYS", field="before")
        before = datetime.now(UTC) - timedelta(days=days)
    log = _open(args.url)
    try:
        report = log.redact(before)
    finally:
        log.close()
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        kept = (f"; {report.kept_text_hashed} older-format records kept whole (their hash covers the text)"
                if report.kept_text_hashed else "")
        print(f"redacted the payloads of {report.redacted} records received before {report.before}{kept}; "
              "`kredo audit verify` still checks every hash and link")
    return 0
