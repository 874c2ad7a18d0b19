"""``kredo keys create|list|revoke``: the key once on the last line, never the secret again, revocation."""
from __future__ import annotations

import json

import pytest

from ledger.database import open_ledger
from ledger.keys import DEFAULT_PEPPER, list_keys, parse_token
from serving.access import KeyRing
from serving.cli import main


@pytest.fixture()
def url(tmp_path) -> str:  # noqa: ANN001
    return f"sqlite:///{tmp_path}/ledger.db"


def create(url: str, capsys, *args: str) -> tuple[str, str]:  # noqa: ANN001
    """The command's whole output and its last line (the key)."""
    assert main(["keys", "create", "--url", url, *args]) == 0
    out = capsys.readouterr().out
    return out, out.strip().splitlines()[-1]


def test_create_prints_the_key_once_on_its_last_line_and_it_authenticates(url: str, capsys) -> None:  # noqa: ANN001
    out, token = create(url, capsys, "--role", "dunning", "--name", "erp-nl")
    key_id, secret = parse_token(token)
    assert out.count(secret) == 1 and key_id in out.splitlines()[0]
    engine = open_ledger(url)
    key = KeyRing(engine, DEFAULT_PEPPER, 5).authenticate(token)
    assert (key.id, key.name, key.role, key.revoked) == (key_id, "erp-nl", "dunning", False)
    assert secret not in list_keys(engine)[0].secret_hash


def test_list_shows_every_key_and_never_a_secret(url: str, capsys) -> None:  # noqa: ANN001
    tokens = [create(url, capsys, "--role", role)[1] for role in ("checkout", "auditor")]
    assert main(["keys", "list", "--url", url, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["id"], r["role"], r["name"], r["revoked"]) for r in rows] == [
        (parse_token(t)[0], role, role, None) for t, role in zip(tokens, ("checkout", "auditor"))]
    assert all(r["created"] and r["pepper"] == "current" for r in rows)
    assert main(["keys", "list", "--url", url]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["id", "role", "created", "revoked", "name"]
    for token in tokens:
        assert parse_token(token)[0] in table and parse_token(token)[1] not in table


def test_revoke_withdraws_the_key(url: str, capsys) -> None:  # noqa: ANN001
    _, token = create(url, capsys, "--role", "checkout")
    key_id = parse_token(token)[0]
    assert main(["keys", "revoke", key_id, "--url", url]) == 0
    assert "revoked key" in capsys.readouterr().out
    ring = KeyRing(open_ledger(url), DEFAULT_PEPPER, 5)
    assert ring.authenticate(token) is None
    first = list_keys(ring.engine)[0].revoked_us
    assert main(["keys", "revoke", key_id, "--url", url]) == 0  # again: still revoked, the first time kept
    assert first is not None and list_keys(ring.engine)[0].revoked_us == first
    capsys.readouterr()
    assert main(["keys", "list", "--url", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["revoked"]


def test_unknown_ids_roles_and_names_are_refused(url: str, capsys) -> None:  # noqa: ANN001
    assert main(["keys", "revoke", "0123456789ab", "--url", url]) == 2
    assert "no API key" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["keys", "create", "--role", "superuser", "--url", url])
    assert exit_.value.code == 2
    assert main(["keys", "create", "--role", "admin", "--name", " ", "--url", url]) == 2
    assert "name must be" in capsys.readouterr().err


def test_a_key_made_under_another_pepper_is_listed_as_such(url: str, capsys, monkeypatch) -> None:  # noqa: ANN001
    create(url, capsys, "--role", "admin")
    monkeypatch.setenv("KREDO_KEY_PEPPER", "rotated")
    _, token = create(url, capsys, "--role", "admin", "--name", "after-rotation")
    assert main(["keys", "list", "--url", url, "--json"]) == 0
    assert [json.loads(line)["pepper"] for line in capsys.readouterr().out.splitlines()] == ["other", "current"]
    assert KeyRing(open_ledger(url), b"rotated", 5).authenticate(token).name == "after-rotation"
