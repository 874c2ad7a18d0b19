"""``kredo audit verify``: walk the audit chain and name the first altered record."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="inspect the decision audit log")
    verbs = p.add_subparsers(dest="audit_command", required=True, metavar="VERB")
    v = verbs.add_parser("verify", help="check every record's hash and link; exit 1 at the first altered one")
    v.add_argument("--url", help="SQLAlchemy URL (default: DATABASE_URL, else sqlite:///var/audit.db)")
    v.add_argument("--json", action="store_true", help="print the report as one JSON line")
    v.set_defaults(func=verify)


def verify(args: argparse.Namespace) -> int:
    """Exit 0 intact, 1 altered, 2 when there is no audit log at that URL (never "intact: 0 records")."""
    import sqlalchemy as sa

    from domain.errors import NotFound
    from serving.audit import AuditLog
    from serving.config import load

    url = args.url or load()["AUDIT_URL"]
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).is_file()):
        raise NotFound(f"no audit log at {parsed.database or url!r}: nothing to verify", field="url")
    log = AuditLog.from_url(url)
    try:
        report = log.verify()
    finally:
        log.close()
    if args.json:
        print(json.dumps(report.to_dict()))
    elif report.ok:
        print(f"audit log intact: {report.records} records, tip {report.tip_hash}")
    else:
        print(f"audit log ALTERED at record {report.first_bad} (decision {report.decision_id}): {report.reason}")
    return 0 if report.ok else 1
