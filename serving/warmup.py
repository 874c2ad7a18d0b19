"""A worker's start: the one-time work of the pages done before the first request, not inside it.

Why: the first page a fresh process served cost 910 ms (407 ms CPU) against 200-250 ms for the same page
next, and the policies page's first 332 ms: Jinja2 compiled the templates it used, Babel loaded the
catalogs and number formats of the request's language, the ledger's pool opened its first connection,
and the policy check sampled thousands of inputs per table. gunicorn's ``post_worker_init``
(``serving.server``) calls :func:`ready` once the worker's app is loaded, and ``bench/pages.py`` does the
same for each fresh worker it measures, so what it times is what a person meets on a started worker.
The receivables report of the consolidated book and of each legal entity is computed here too, into the
worker's report cache (``serving.api.reports.ReportCache``, the same function and cache a request uses, kept
per book version): 0.2-0.35 s of CPU each on a book of 500,000 invoices, which a person opening the dashboard
of a fresh worker would otherwise wait for. The forecast is read from the ledger (``serving.forecasting``). The models
page's registry reads open MLflow's store (whose first use checks its schema) and keep the champion's and
challenger's plotted curves (``training.catalog``): its cold first request was 325 ms (206 ms CPU) against
about 110 ms after.

Not called by ``create_app``: a test process builds many apps, and each would compile every template.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask
from flask_babel import gettext

from ledger.frames import legal_entities
from serving.heap import settle
from serving.pages import i18n, policies
from training import catalog

log = logging.getLogger(__name__)


def warm(app: Flask) -> None:
    """Compile every template, load each language's catalog and formats, open a ledger connection, run the
    policy check of every version, compute the receivables reports and read the model registry."""
    for name in app.jinja_env.list_templates():
        app.jinja_env.get_template(name)
    for language in i18n.LANGUAGES:
        with app.test_request_context("/", headers={"Accept-Language": language}):
            gettext("Dashboard")
            i18n.money(1234.5), i18n.num(1.5), i18n.pct(0.25)
    engine = app.extensions["kredo.runtime"].book.engine
    with app.app_context():
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        policies.warm()
    for entity in [None, *(e["id"] for e in legal_entities(engine))]:
        app.extensions["kredo.reports"].get(engine, entity)
    _models(app.extensions["kredo.runtime"].config["MLFLOW_TRACKING_URI"])


def _models(uri: str | None) -> None:
    """The models page's reads once: MLflow's store opened (its first use checks the schema: 0.1-0.2 s) and the
    champion's and challenger's curves kept. A registry that cannot be read now is the page's to report."""
    try:
        catalog.champion_and_challenger(uri)
        catalog.history(uri)
    except Exception:  # noqa: BLE001 - a worker starts whatever the registry says; the page shows the error
        log.warning("models page not warmed: the model registry could not be read", exc_info=True)


def ready(app: Flask) -> None:
    """Everything a worker does before its first request: :func:`warm`, then the loaded heap settled
    (``serving.heap.settle``), so what warm-up made is frozen with the rest."""
    warm(app)
    settle()
