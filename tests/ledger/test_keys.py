"""API keys in the ledger database (SQLite and PostgreSQL): made, listed, revoked; only a keyed hash stored."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from domain.errors import InvalidInput, NotFound
from ledger.database import open_ledger
from ledger.keys import (DEFAULT_PEPPER, create_key, hash_secret, list_keys, made_under, matches, parse_token,
                         pepper_bytes, revoke_key)
from ledger.schema import api_keys


@pytest.fixture()
def engine(ledger_url: str):  # noqa: ANN201 - both dialects (tests/ledger/conftest.py)
    made = open_ledger(ledger_url)
    yield made
    made.dispose()


def test_a_key_is_stored_as_its_keyed_hash_and_listed_without_it(engine) -> None:  # noqa: ANN001
    issued = create_key(engine, "checkout", "webshop")
    key_id, secret = parse_token(issued.token)
    with engine.connect() as conn:
        row = conn.execute(sa.select(api_keys)).one()
    assert (row.id, row.name, row.role, row.revoked_us) == (key_id, "webshop", "checkout", None)
    assert secret not in row.secret_hash and row.secret_hash == hash_secret(secret, DEFAULT_PEPPER)
    assert row.secret_hash.startswith("hmac-sha256$")
    (listed,) = list_keys(engine)
    assert matches(listed, secret, DEFAULT_PEPPER) and not matches(listed, secret[::-1], DEFAULT_PEPPER)
    assert made_under(listed, DEFAULT_PEPPER) and not made_under(listed, b"another")


def test_keys_are_unique_and_listed_oldest_first(engine) -> None:  # noqa: ANN001
    issued = [create_key(engine, role) for role in ("checkout", "dunning", "analyst", "auditor", "admin")]
    assert len({i.token for i in issued}) == 5
    assert [k.id for k in list_keys(engine)] == [i.key.id for i in issued]
    assert [k.name for k in list_keys(engine)] == ["checkout", "dunning", "analyst", "auditor", "admin"]


def test_revocation_is_recorded_once(engine) -> None:  # noqa: ANN001
    issued = create_key(engine, "dunning")
    first = revoke_key(engine, issued.key.id)
    assert first.revoked and revoke_key(engine, issued.key.id).revoked_us == first.revoked_us
    with pytest.raises(NotFound):
        revoke_key(engine, "0123456789ab")


@pytest.mark.parametrize("role, name, field", [("root", None, "role"), ("admin", "", "name"),
                                               ("admin", "x" * 129, "name"), ("admin", "tab\there", "name")])
def test_unknown_roles_and_bad_names_are_refused(engine, role: str, name: str | None, field: str) -> None:  # noqa: ANN001
    with pytest.raises(InvalidInput) as err:
        create_key(engine, role, name)
    assert err.value.field == field and list_keys(engine) == []


@pytest.mark.parametrize("token", ["", "kredo_", "kredo_0123456789ab_short", "KREDO_0123456789ab_" + "a" * 43,
                                   "kredo_0123456789AB_" + "a" * 43, "kredo_0123456789ab_" + "a" * 43 + " ",
                                   "Bearer kredo_0123456789ab_" + "a" * 43])
def test_malformed_tokens_parse_to_nothing(token: str) -> None:
    assert parse_token(token) is None


def test_the_pepper_comes_from_the_configuration() -> None:
    assert pepper_bytes(None) == pepper_bytes("") == DEFAULT_PEPPER and pepper_bytes("s3cret") == b"s3cret"
