"""API keys with roles: made, listed and revoked in the ledger database; the secret itself is never stored.

Why: every caller of the service (a webshop's checkout, the dunning system, an
analyst, an auditor, an operator) holds keys of one role, and an operator must be
able to list who holds what and withdraw a key at once. The key is shown exactly
once, when it is made, as ``kredo_<id>_<secret>``:

* ``id`` (12 hex characters) is public: listings, the audit record's ``caller``
  and revocation name it;
* ``secret`` is 32 random bytes from ``secrets`` (43 URL-safe characters); the
  table keeps only ``hmac-sha256$<pepper tag>$<HMAC-SHA256(pepper, secret)>``.

The pepper (``KREDO_KEY_PEPPER``) is the HMAC key: with it set, a copy of the
database alone cannot even check a guess. The secret has 256 bits of entropy, so
no guess succeeds either way; the tag (the first 8 hex digits of the pepper's
SHA-256) tells ``kredo keys list`` which keys were made under another pepper
(those no longer authenticate). Comparisons are constant-time
(``hmac.compare_digest``).

Example::

    issued = create_key(engine, "dunning", name="erp")
    issued.token              # 'kredo_3f9a0c1d2b4e_Q2...'  (print it once; it cannot be shown again)
    revoke_key(engine, issued.key.id)
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from domain.errors import InvalidInput, NotFound
from domain.vocabulary import ROLES
from ledger.schema import api_keys

PREFIX = "kredo"
#: The HMAC key when ``KREDO_KEY_PEPPER`` is not set: domain separation only (see the module docstring).
DEFAULT_PEPPER = b"kredo-api-keys-v1"
_SCHEME = "hmac-sha256"
_TOKEN = re.compile(rf"{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})")
_MAX_NAME = 128


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True)
class ApiKey:
    """A stored key: everything but the secret (``secret_hash`` is its keyed hash)."""

    id: str
    name: str
    role: str
    created_us: int
    revoked_us: int | None
    secret_hash: str

    @property
    def revoked(self) -> bool:
        return self.revoked_us is not None


@dataclass(frozen=True)
class IssuedKey:
    """A key just made: the stored part and the one copy of the whole ``token``."""

    key: ApiKey
    token: str


def pepper_bytes(configured: str | None) -> bytes:
    """The HMAC key from ``KREDO_KEY_PEPPER`` (``DEFAULT_PEPPER`` when unset): the CLI and the service alike."""
    return configured.encode() if configured else DEFAULT_PEPPER


def pepper_tag(pepper: bytes) -> str:
    return hashlib.sha256(pepper).hexdigest()[:8]


def hash_secret(secret: str, pepper: bytes) -> str:
    mac = hmac.new(pepper, secret.encode("ascii"), hashlib.sha256).hexdigest()
    return f"{_SCHEME}${pepper_tag(pepper)}${mac}"


def parse_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed key, else None (nothing about a malformed key is looked up)."""
    found = _TOKEN.fullmatch(token)
    return None if found is None else (found.group(1), found.group(2))


def matches(key: ApiKey, secret: str, pepper: bytes) -> bool:
    """Whether ``secret`` is this key's, in constant time (for a given hash length)."""
    return hmac.compare_digest(hash_secret(secret, pepper), key.secret_hash)


def made_under(key: ApiKey, pepper: bytes) -> bool:
    """Whether the key was made under ``pepper`` (else it can no longer authenticate)."""
    return key.secret_hash.split("$")[1:2] == [pepper_tag(pepper)]


def create_key(engine: Engine, role: str, name: str | None = None, pepper: bytes = DEFAULT_PEPPER) -> IssuedKey:
    """Make and store a key of ``role``; the returned ``token`` is the only copy of its secret."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}; got {role!r}", field="role")
    name = role if name is None else name.strip()
    if not 0 < len(name) <= _MAX_NAME or not name.isprintable():
        raise InvalidInput(f"name must be 1 to {_MAX_NAME} printable characters", field="name")
    while True:
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        key = ApiKey(key_id, name, role, now_us(), None, hash_secret(secret, pepper))
        try:
            with engine.begin() as conn:
                conn.execute(api_keys.insert().values(id=key.id, name=key.name, role=key.role,
                                                      secret_hash=key.secret_hash, created_us=key.created_us))
        except sa.exc.IntegrityError:
            continue  # an id drawn twice (one in 2**48): draw again
        return IssuedKey(key, f"{PREFIX}_{key_id}_{secret}")


def list_keys(engine: Engine) -> list[ApiKey]:
    """Every key ever made, oldest first (revoked ones included: the record of who held what)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_us, api_keys.c.id)).all()
    return [_key(r) for r in rows]


def revoke_key(engine: Engine, key_id: str) -> ApiKey:
    """Revoke a key (a second revocation keeps the first time); ``NotFound`` for an unknown id."""
    with engine.begin() as conn:
        conn.execute(api_keys.update().where(api_keys.c.id == key_id, api_keys.c.revoked_us.is_(None))
                     .values(revoked_us=now_us()))
        row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
    if row is None:
        raise NotFound(f"no API key {key_id[:40]!r} (kredo keys list shows the ids)", field="id")
    return _key(row)


def _key(row: sa.Row) -> ApiKey:
    return ApiKey(row.id, row.name, row.role, row.created_us, row.revoked_us, row.secret_hash)
