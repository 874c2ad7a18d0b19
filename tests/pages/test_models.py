"""The models page in Chromium: champion and challenger side by side with the figures their runs logged, the
ROC, calibration and SHAP charts, the history; the analyst promotes and rolls back through the CLI's gate
(on a copy of the session's registry, with a challenger of its own); an auditor reads; a collector gets 403."""
from __future__ import annotations

import shutil

import pytest

from tests.pages.conftest import serve, signed_in_to
from tests.support.api import make_app
from tests.support.pages import shot
from training import catalog, registry
from training.pipeline import TrainConfig
from training.runs import train_and_log


@pytest.fixture(scope="module")
def registry_site(champion, small_ledger, small_ledger_db, tmp_path_factory):  # noqa: ANN001, ANN201
    """An app on a copy of the champion's registry holding a challenger too (the same training: the gate passes)."""
    store = tmp_path_factory.mktemp("registry") / "store"
    shutil.copytree(champion["dir"], store)
    tracking = f"sqlite:///{store}/mlflow.db"
    _, logged = train_and_log(small_ledger, TrainConfig(n_estimators=40, max_depth=4), tracking, progress=False)
    app = make_app({**champion, "tracking": tracking}, tmp_path_factory.mktemp("models-app"), history=small_ledger_db)
    with serve(app) as url:
        yield {"url": url, "app": app, "tracking": tracking, "challenger": logged.version,
               "champion": champion["version"]}


@pytest.fixture()
def as_role(browser, registry_site):  # noqa: ANN001, ANN201
    with signed_in_to(browser, registry_site) as open_as:
        yield open_as


def _shown(page, alias: str, figure: str) -> float | None:  # noqa: ANN001 - a Playwright Page
    value = page.locator(f"[data-alias={alias}] td[data-figure='{figure}']").get_attribute("data-value")
    return float(value) if value else None  # a figure the run could not compute (no labels) is not logged


def test_champion_and_challenger_side_by_side(as_role, registry_site) -> None:  # noqa: ANN001
    page = as_role("auditor")
    page.click("header nav >> text=Models")
    page.wait_for_url("**/models")
    shot(page, "models-auditor")
    entries = catalog.champion_and_challenger(registry_site["tracking"])
    for alias in ("champion", "challenger"):
        entry = entries[alias]
        assert page.locator(f"[data-alias={alias}]").get_attribute("data-version") == entry.version
        for figure, _ in catalog.FIGURES:
            assert _shown(page, alias, figure) == pytest.approx(entry.metrics["xgboost"].get(figure))
        assert _shown(page, alias, "late.roc_auc") > 0.6
        card = page.locator(f"[data-alias={alias}]")
        assert card.locator("svg.chart").count() == 3  # ROC, calibration, SHAP importance
        assert card.locator("svg.chart rect.bar").count() == len(entry.curves["shap_importance"]) == 15
    assert page.locator("[data-action=promote]").count() == 0  # an auditor reads, does not promote
    assert page.problems == []


def test_the_analyst_promotes_and_rolls_back(as_role, registry_site) -> None:  # noqa: ANN001
    page = as_role("analyst")
    page.goto("/models")
    page.click("[data-action=promote]")
    page.wait_for_url("**/models")
    shot(page, "models-promoted")
    assert page.locator("[data-flash=promoted]").count() == 1
    c = registry.client(registry_site["tracking"])
    assert str(registry.version_of(c, "champion").version) == registry_site["challenger"]
    assert registry_site["app"].extensions["kredo.runtime"].snapshot().model_info.version == registry_site["challenger"]
    assert page.locator("[data-alias=champion]").get_attribute("data-version") == registry_site["challenger"]
    page.click("[data-action=promote]")  # nothing left to promote: the gate's refusal, shown
    page.wait_for_url("**/models")
    assert "no challenger to promote" in page.locator("[data-flash=refused]").inner_text()
    page.click("[data-action=rollback]")
    page.wait_for_url("**/models")
    assert page.locator("[data-flash=rolled_back]").count() == 1
    assert str(registry.version_of(c, "champion").version) == registry_site["champion"]
    history = {r["version"]: r for r in catalog.history(registry_site["tracking"])}
    assert history[registry_site["challenger"]]["promoted_at"] and history[registry_site["challenger"]]["rolled_back_at"]
    assert page.problems == []


def test_a_form_without_its_token_and_a_collector_are_refused(as_role, registry_site) -> None:  # noqa: ANN001
    page = as_role("analyst")
    answer = page.request.post(f"{registry_site['url']}/models/rollback", form={"csrf_token": "forged"})
    assert answer.status == 403
    collector = as_role("collector")
    assert collector.goto("/models").status == 403
    auditor = as_role("auditor")
    assert auditor.request.post(f"{registry_site['url']}/models/promote").status == 403
