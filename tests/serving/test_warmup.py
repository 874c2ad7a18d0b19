"""A worker's start (``serving.warmup``): the pages' one-time work is done before the first request."""
from __future__ import annotations

import pytest

from serving.pages import policies
from serving.warmup import warm


def test_warm_compiles_every_template_and_checks_every_policy_version(app) -> None:
    env = app.jinja_env
    policies._case_rows.cache_clear()
    policies._checked.cache_clear()
    warm(app)
    compiled = {name for (loader, name) in env.cache.keys() if loader() is env.loader} if env.cache else set()
    assert set(env.list_templates()) <= compiled and "pages/forecast.html" in compiled
    with app.app_context():
        known = policies.versions()
    assert policies._case_rows.cache_info().currsize == len(known) >= 1
    with app.app_context():  # the page's first request reads the kept check: no miss
        misses = policies._checked.cache_info().misses
        for path in known.values():
            policies._check(path)
        assert policies._checked.cache_info().misses == misses


def test_warm_computes_the_receivables_reports_a_request_then_reads(app, monkeypatch) -> None:
    from ledger.frames import legal_entities

    warm(app)
    engine = app.extensions["kredo.runtime"].book.engine
    kept = app.extensions["kredo.reports"]._kept
    assert set(kept) == {None, *(e["id"] for e in legal_entities(engine))}
    monkeypatch.setattr("serving.api.reports.receivables", lambda *a, **k: pytest.fail("computed again"))
    for entity in kept:
        assert app.extensions["kredo.reports"].get(engine, entity) is kept[entity][2]


def test_warm_reads_the_registry_so_the_models_page_downloads_no_curves(app, monkeypatch) -> None:
    from mlflow.tracking import MlflowClient

    from training import catalog

    catalog._KEPT_CURVES.clear()
    warm(app)
    uri = app.extensions["kredo.runtime"].config["MLFLOW_TRACKING_URI"]
    monkeypatch.setattr(MlflowClient, "download_artifacts", lambda *a, **k: pytest.fail("downloaded again"))
    champion = catalog.champion_and_challenger(uri)["champion"]
    assert champion is not None and champion.curves is catalog._KEPT_CURVES[champion.run_id]
