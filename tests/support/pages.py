"""Signing in to the pages from a Flask test client (the browser tests sign in through Chromium instead),
and the browser tests' screenshots."""
from __future__ import annotations

import re
from pathlib import Path

from flask.testing import FlaskClient

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "pages"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client: FlaskClient) -> str:
    """The CSRF token of ``client``'s session (made by opening ``/login`` when it has none)."""
    with client.session_transaction() as session:
        token = session.get("csrf")
    if token is None:
        token = _CSRF.search(client.get("/login").text).group(1)
    return token


def sign_in(client: FlaskClient, token: str) -> str:
    """Sign ``client`` in with the key ``token`` as a person does on ``/login``; its session's CSRF token."""
    answer = client.post("/login", data={"key": token, "csrf_token": csrf_of(client), "next": "/"})
    assert answer.status_code == 303, answer.text
    return csrf_of(client)


def shot(page, name: str) -> Path:  # noqa: ANN001 - a Playwright Page
    """Save a full-page screenshot of ``page`` under :data:`ARTIFACTS`; its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def cells(page, table: str, key: str) -> list[str]:  # noqa: ANN001 - a Playwright Page
    """The ``data-value`` of each cell of column ``key`` in the table marked ``data-table=table``."""
    return page.locator(f"[data-table={table}] td[data-key={key}]").evaluate_all(
        "cells => cells.map(c => c.dataset.value)")
