"""``kredo keys create|list|revoke``: the API keys callers hold, in the ledger database (``KREDO_LEDGER_URL``).

Why here and not over HTTP: whoever may run this command against the ledger
database is the operator; no key can mint another. ``create`` prints the key
once, on its last line (``KEY=$(kredo keys create --role checkout | tail -1)``);
it cannot be shown again, only revoked and replaced. Made and revoked keys take
effect in every running worker within ``KREDO_KEYS_REFRESH_S`` (5 s).
"""
from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from domain.vocabulary import ROLES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="create, list and revoke API keys with roles")
    verbs = p.add_subparsers(dest="keys_command", required=True, metavar="VERB")
    c = verbs.add_parser("create", help="make a key of one role; printed once, on the last line")
    c.add_argument("--role", required=True, choices=ROLES)
    c.add_argument("--name", help="who or what holds it (default: the role)")
    c.set_defaults(func=create)
    ls = verbs.add_parser("list", help="every key: id, name, role, created, revoked (never the secret)")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.set_defaults(func=list_)
    r = verbs.add_parser("revoke", help="withdraw a key by its id")
    r.add_argument("id")
    r.set_defaults(func=revoke)
    for verb in (c, ls, r):
        verb.add_argument("--url", help="the ledger's SQLAlchemy URL (default: KREDO_LEDGER_URL, else "
                                        "sqlite:///var/ledger.db)")


def _ledger(url: str | None):  # noqa: ANN202 - an Engine
    from ledger.database import open_ledger
    from serving.config import load

    return open_ledger(url or load()["LEDGER_URL"])


def _pepper() -> bytes:
    from ledger.keys import pepper_bytes
    from serving.config import load

    return pepper_bytes(load()["KEY_PEPPER"])


def _when(us: int | None) -> str | None:
    return None if us is None else datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="seconds")


def create(args: argparse.Namespace) -> int:
    from ledger.keys import create_key

    issued = create_key(_ledger(args.url), args.role, args.name, _pepper())
    print(f"created key {issued.key.id} (role {issued.key.role}, name {issued.key.name!r}); "
          "store it now, it is shown only this once:")
    print(issued.token)
    return 0


def list_(args: argparse.Namespace) -> int:
    from ledger.keys import list_keys, made_under

    pepper = _pepper()
    rows = [{"id": k.id, "name": k.name, "role": k.role, "created": _when(k.created_us),
             "revoked": _when(k.revoked_us), "pepper": "current" if made_under(k, pepper) else "other"}
            for k in list_keys(_ledger(args.url))]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"{'id':<12}  {'role':<8}  {'created':<25}  {'revoked':<25}  name")
    for row in rows:
        other = "  (made under another KREDO_KEY_PEPPER: refused)" if row["pepper"] == "other" else ""
        print(f"{row['id']:<12}  {row['role']:<8}  {row['created']:<25}  {row['revoked'] or '-':<25}  "
              f"{row['name']}{other}")
    return 0


def revoke(args: argparse.Namespace) -> int:
    from ledger.keys import revoke_key

    key = revoke_key(_ledger(args.url), args.id)
    print(f"revoked key {key.id} (role {key.role}, name {key.name!r}) at {_when(key.revoked_us)}; "
          "running workers refuse it within KREDO_KEYS_REFRESH_S")
    return 0
