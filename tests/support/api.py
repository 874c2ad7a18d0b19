"""Request bodies and helpers the API tests share (fixtures are in ``tests/serving/conftest.py``)."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from domain.vocabulary import ROLES
from serving import create_app
from serving.access import declaration_at, get_ring
from tests.support.collections import postgres_database

CHECKOUT = {"request_id": "ord-1", "customer": {"id": "C-1", "type": "business", "country": "NL"},
            "order": {"amount": 1250.0, "currency": "EUR", "payment_terms_days": 30}}
NEXT_ACTION = {"request_id": "na-1", "now": "2026-11-23T10:00:00+01:00",
               "customer": {"id": "C-1", "type": "consumer", "country": "NL",
                            "consent": {"email": True, "sms": True, "whatsapp": False, "letter": True,
                                        "phone": True}},
               "invoice": {"id": "INV-1", "amount": 300.0, "currency": "EUR", "issue_date": "2026-10-01",
                           "due_date": "2026-10-31", "disputed": False, "reminders": []}}


def make_app(champion: dict[str, str], tmp_path: Path, history: Path | None = None, **overrides):  # noqa: ANN201
    """An app on the champion, with its own audit log and ledger (a copy of ``history``'s, when given)."""
    if history is not None:
        shutil.copy(history, tmp_path / "ledger.db")
    config = {"AUDIT_URL": f"sqlite:///{tmp_path}/audit.db", "LEDGER_URL": f"sqlite:///{tmp_path}/ledger.db",
              "REDIS_URL": None,
              "MLFLOW_TRACKING_URI": champion["tracking"], "MODEL_URI": champion["uri"],
              "POLICY_PATH": "rules/default.yaml", "RELOAD_INTERVAL_S": 0,
              "SECRET_KEY": "tests-only-session-secret", **overrides}
    return create_app(config)


@contextmanager
def app_on(dialect: str, request: pytest.FixtureRequest, champion: dict[str, str], tmp_path: Path) -> Iterator[Flask]:
    """An app on a SQLite ledger and audit log of its own (``sqlite``), or on a fresh database of the session's
    PostgreSQL server (``postgresql``: the ``postgres_url`` fixture), stopped and closed afterwards."""
    if dialect == "sqlite":
        application = make_app(champion, tmp_path)
        yield application
        application.extensions["kredo.runtime"].stop()
        return
    with postgres_database(request.getfixturevalue("postgres_url")) as url:
        application = make_app(champion, tmp_path, LEDGER_URL=url, AUDIT_URL=url)
        yield application
        runtime = application.extensions["kredo.runtime"]
        runtime.stop()
        runtime.audit.close()
        runtime.book.engine.dispose()


def make_key(app: Flask, role: str, name: str | None = None) -> str:
    """A fresh key of ``role`` for ``app``, made as ``kredo keys create`` makes it (the app knows it at once)."""
    return get_ring(app).create(role, name or f"test-{role}").token


def client(app: Flask, role: str) -> FlaskClient:
    """A test client that sends a fresh key of ``role`` on every request."""
    c = app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_key(app, role)}"
    return c


class RoutedClient(FlaskClient):
    """A client that calls each route with a key of a role the route admits (the first, alphabetically).

    For tests of what a route does, not of who may call it (``tests/serving/test_access.py`` checks that):
    one client walks a whole workflow, checkout, events, next-action, tasks and audit alike.
    """

    def open(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        path = args[0] if args and isinstance(args[0], str) else kwargs.get("path", "/")
        method = kwargs.get("method", "GET")
        try:
            roles = sorted(declaration_at(self.application, path.split("?")[0], method).roles)
        except Exception:  # noqa: BLE001 - an unknown route or method: the app answers 404/405 itself
            roles = []
        headers = dict(kwargs.pop("headers", None) or {})
        if roles and "Authorization" not in headers:
            keys = self.application.extensions.setdefault("tests.keys", {})
            if roles[0] not in keys:
                keys[roles[0]] = make_key(self.application, roles[0])
            headers["Authorization"] = f"Bearer {keys[roles[0]]}"
        return super().open(*args, headers=headers, **kwargs)


def routed(app: Flask) -> RoutedClient:
    """A test client that authenticates every call with a role its route admits."""
    return RoutedClient(app, app.response_class, use_cookies=True)


class Clients:
    """One test client per role, each with its own fresh key, made on first use.

    ``api.checkout.post("/v1/decisions/checkout", ...)``, ``api.auditor.get(f"/v1/decisions/{id}")``;
    ``api.anonymous`` sends no key.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._made: dict[str, FlaskClient] = {}

    def __getattr__(self, role: str) -> FlaskClient:
        if role == "anonymous":
            return self.app.test_client()
        if role not in ROLES:
            raise AttributeError(role)
        if role not in self._made:
            self._made[role] = client(self.app, role)
        return self._made[role]


def bearer(token: str) -> dict[str, str]:
    """The header a real HTTP client sends with ``token``."""
    return {"Authorization": f"Bearer {token}"}


def known_customer(small_ledger) -> dict[str, str]:
    row = small_ledger.customers.iloc[3]
    return {"id": row.customer_id, "type": row.type, "country": row.country}


def schema_of(name: str) -> dict:
    from serving.openapi import components

    return {"$ref": f"#/components/schemas/{name}", "components": components()}
