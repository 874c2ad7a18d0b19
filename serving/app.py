"""The app factory: read this first, it is the map of the service.

Why: one function shows every part the service is made of (configuration,
error mapping, metrics, the runtime of model + policy + stores, and one
blueprint per resource), so a reader starts here. Nothing is created at import
time; every client lives in ``app.extensions`` and is made by an ``init_app``
hook, so each gunicorn worker (and each test) gets its own.

Every route declares who may call it (``@requires(role)`` or ``@public``, see
``serving.access``); ``access.init_app`` comes last and refuses an app with an
undeclared route.

Example::

    app = create_app({"AUDIT_URL": "sqlite:////tmp/audit.db", "RELOAD_INTERVAL_S": 0})
    app.test_client().get("/readyz")
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from serving import access, config, headers, metrics, openapi, pages, problems, runtime
from serving.api import admin, book, decisions, dunning, events, forecast, health, messages, reports, tasks


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the Kredo decision API and its pages; ``overrides`` win over the environment (see ``serving.config``)."""
    app = Flask("kredo", static_folder=None)  # no /static route: every route is declared (serving.access)
    app.config.from_mapping(config.load(overrides))
    app.json.sort_keys = False  # answers keep the schema's field order

    problems.init_app(app)
    headers.init_app(app)
    metrics.init_app(app)
    served = runtime.init_app(app)

    app.register_blueprint(decisions.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(book.bp)
    app.register_blueprint(dunning.bp)
    app.register_blueprint(tasks.bp)
    app.register_blueprint(forecast.bp)
    app.register_blueprint(messages.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(openapi.bp)
    pages.init_app(app)  # the pages for people: same declarations, a session cookie instead of a key
    access.init_app(app, served.book.engine)  # last: it checks that every route above declares its roles
    return app
