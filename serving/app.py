"""The app factory: read this first, it is the map of the service.

Why: one function shows every part the service is made of (configuration,
error mapping, metrics, the runtime of model + policy + stores, and one
blueprint per resource), so a reader starts here. Nothing is created at import
time; every client lives in ``app.extensions`` and is made by an ``init_app``
hook, so each gunicorn worker (and each test) gets its own.

Example::

    app = create_app({"AUDIT_URL": "sqlite:////tmp/audit.db", "RELOAD_INTERVAL_S": 0})
    app.test_client().get("/readyz")
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from serving import config, metrics, openapi, problems, runtime
from serving.api import admin, book, decisions, events, health, tasks


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the Kredo decision API; ``overrides`` win over the environment (see ``serving.config``)."""
    app = Flask("kredo")
    app.config.from_mapping(config.load(overrides))
    app.json.sort_keys = False  # answers keep the schema's field order

    problems.init_app(app)
    metrics.init_app(app)
    runtime.init_app(app)

    app.register_blueprint(decisions.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(book.bp)
    app.register_blueprint(tasks.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(openapi.bp)
    return app
