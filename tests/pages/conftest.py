"""Browser fixtures: the app on a simulated ledger behind a real HTTP server, Chromium driven by Playwright.

The app (``site``) is the API tests' app (``tests/support/api.make_app``: the session's champion, a copy
of the small ledger's book) served by a werkzeug server thread on a free loopback port; ``browser`` is
Debian's Chromium (``/usr/bin/chromium``, installed by ``tests/support/system_packages.py``, never
``playwright install``), offline: the pages load nothing but their own origin. ``people`` holds one
personal key per people role; ``signed_in(role)`` opens a fresh browser context signed in through the
login form. Screenshots go to ``var/test-artifacts/pages/`` (``shot``), named at the end of the run.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from werkzeug.serving import make_server

from domain.vocabulary import PEOPLE_ROLES
from serving.access import get_ring
from tests.support.api import client, make_app, make_key
from tests.support.pages import ARTIFACTS
from tests.support.services import free_port
from tests.support.system_packages import ensure

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


#: A second legal entity's customer (the small ledger has none): the dashboard per entity and consolidated.
ENTITY, ENTITY_CUSTOMER = "NL02", "C-NL02-1"
RUN_DAY = "2024-12-31"  # the small ledger's last day: the dunning run fills the worklist and the decisions


def _entity_events() -> list[dict]:
    base = {"customer_id": ENTITY_CUSTOMER}
    events = [{**base, "event_id": "nl02-cu", "type": "customer_updated", "at": "2024-06-01T09:00:00+00:00",
               "customer_type": "business", "country": "NL", "name": "Tweede BV", "account_manager": "AM-NL02"}]
    invoices = (("2024-09-02", "2024-10-02", 1200.0), ("2024-11-04", "2024-12-04", 800.0),
                ("2024-12-02", "2025-01-01", 450.5))
    for n, (issued, due, amount) in enumerate(invoices):
        events.append({**base, "event_id": f"nl02-i{n}", "type": "invoice_issued", "invoice_id": f"INV-NL02-{n}",
                       "at": f"{issued}T09:00:00+00:00", "amount": amount, "due_at": f"{due}T00:00:00+00:00",
                       "payment_terms_days": 30, "paperless": True, "legal_entity_id": ENTITY})
    return events


@dataclass
class Site:
    """The served app: its base URL and the Flask app behind it (for keys and API test clients)."""

    url: str
    app: object

    def api(self, role: str):  # noqa: ANN201 - a Flask test client
        """A test client of the API with a fresh Bearer key of ``role``."""
        return client(self.app, role)

    def api_key(self, role: str) -> str:
        """A fresh key of ``role`` (a person's, to sign a test client in)."""
        return make_key(self.app, role)


@pytest.fixture(scope="package")
def site(champion: dict[str, str], tmp_path_factory: pytest.TempPathFactory, small_ledger_db) -> Iterator[Site]:
    """The small ledger plus a second entity's customer, after the day's dunning run (decisions, tasks,
    messages), served on a free loopback port."""
    app = make_app(champion, tmp_path_factory.mktemp("pages-app"), history=small_ledger_db)
    dunning = client(app, "dunning")
    booked = dunning.post("/v1/events", json={"events": _entity_events()})
    results = booked.get_json()["results"]
    assert booked.status_code == 200 and all(r["status"] == "applied" for r in results), booked.text
    run = dunning.post("/v1/dunning/runs", json={"date": RUN_DAY})
    assert run.status_code == 201 and run.get_json()["tasks"] > 0, run.text
    with serve(app) as url:
        yield Site(url, app)


@contextmanager
def serve(app) -> Iterator[str]:  # noqa: ANN001 - a Flask app
    """``app`` behind a werkzeug server thread on a free loopback port, for the block; its base URL.
    The app's runtime is stopped after."""
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="pages-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        app.extensions["kredo.runtime"].stop()


@pytest.fixture(scope="package")
def people(site: Site) -> dict[str, str]:
    """One personal key per people role (``kredo keys create --role ROLE --name NAME`` makes the same)."""
    names = {"collector": "Cora Collector", "credit_manager": "Max Manager", "analyst": "Ann Analyst",
             "auditor": "Otto Auditor", "admin": "Ada Admin"}
    return {role: get_ring(site.app).create(role, names[role]).token for role in PEOPLE_ROLES}


@pytest.fixture(scope="package")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    ensure("chromium")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def signed_in(browser, site: Site, people: dict[str, str]) -> Iterator[Callable]:  # noqa: ANN001
    """``signed_in("collector")``: a page of a fresh browser context, signed in with that role's key
    (``signed_in(None)``: nobody signed in). Contexts close after the test."""
    contexts = []

    def open_as(role: str | None, locale: str = "en-GB"):  # noqa: ANN202 - a Playwright Page
        return open_page(browser, site.url, None if role is None else people[role], contexts, locale)

    yield open_as
    for context in contexts:
        context.close()


@contextmanager
def signed_in_to(browser, site: dict) -> Iterator[Callable]:  # noqa: ANN001
    """For a module's own site (``{"url", "app"}``): ``open_as(role)``, a page signed in with a fresh key of
    ``role``; the contexts close afterwards."""
    contexts: list = []
    yield lambda role: open_page(browser, site["url"], get_ring(site["app"]).create(role, f"{role} person").token,
                                 contexts)
    for context in contexts:
        context.close()


def open_page(browser, url: str, key: str | None, contexts: list, locale: str = "en-GB"):  # noqa: ANN001, ANN201
    """A page of a fresh offline browser context on the site at ``url``, signed in with ``key`` through the
    login form (``None``: nobody); the context is added to ``contexts`` for the caller to close."""
    context = browser.new_context(base_url=url, locale=locale, viewport={"width": 1280, "height": 900})
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url)
                  else route.abort())  # offline: nothing but the app's own origin
    contexts.append(context)
    page = context.new_page()
    page.problems = []  # console errors (a CSP violation is one) and uncaught script errors
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    if key is not None:
        page.goto("/login")
        page.fill("#key", key)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_url(f"{url}/")
    return page


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest's hook signature
    if ARTIFACTS.is_dir() and any(ARTIFACTS.glob("*.png")):
        terminalreporter.write_line(f"pages: screenshots in {ARTIFACTS}")
