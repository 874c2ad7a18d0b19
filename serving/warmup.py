"""A worker's start: the one-time work of the pages done before the first request, not inside it.

Why: the first page a fresh process served cost 910 ms (407 ms CPU) against 200-250 ms for the same page
next, and the policies page's first 332 ms: Jinja2 compiled the templates it used, Babel loaded the
catalogs and number formats of the request's language, the ledger's pool opened its first connection,
and the policy check sampled thousands of inputs per table. gunicorn's ``post_worker_init``
(``serving.server``) calls :func:`ready` once the worker's app is loaded, and ``bench/pages.py`` does the
same for each fresh worker it measures, so what it times is what a person meets on a started worker.
No figure, report or forecast is computed here: those stay the first request's (or kept in the ledger).

Not called by ``create_app``: a test process builds many apps, and each would compile every template.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask_babel import gettext

from serving.heap import settle
from serving.pages import i18n, policies


def warm(app: Flask) -> None:
    """Compile every template, load each language's catalog and formats, open a ledger connection and run
    the policy check of every version."""
    for name in app.jinja_env.list_templates():
        app.jinja_env.get_template(name)
    for language in i18n.LANGUAGES:
        with app.test_request_context("/", headers={"Accept-Language": language}):
            gettext("Dashboard")
            i18n.money(1234.5), i18n.num(1.5), i18n.pct(0.25)
    with app.app_context():
        with app.extensions["kredo.runtime"].book.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        policies.warm()


def ready(app: Flask) -> None:
    """Everything a worker does before its first request: :func:`warm`, then the loaded heap settled
    (``serving.heap.settle``), so what warm-up made is frozen with the rest."""
    warm(app)
    settle()
