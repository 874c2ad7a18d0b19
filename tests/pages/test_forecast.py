"""The cash-in forecast page in Chromium against ``GET /v1/forecast``: the page shows the API's weeks, per
legal entity and consolidated, its table as CSV, in Dutch too; a collector may not see it."""
from __future__ import annotations

import csv
import io

import pytest

from tests.pages.conftest import ENTITY
from tests.support.pages import shot

AT = "2024-10-07"


def _cells(page, key: str) -> list[float]:  # noqa: ANN001 - a Playwright Page
    return [float(v) for v in page.locator(f"[data-table=forecast] td[data-key={key}]").evaluate_all(
        "cells => cells.map(c => c.dataset.value)")]


@pytest.mark.parametrize("role", ["credit_manager", "analyst", "auditor"])
def test_the_forecast_page_shows_the_apis_weeks(signed_in, site, role) -> None:  # noqa: ANN001
    page = signed_in(role)
    page.click("header nav >> text=Forecast")
    page.wait_for_url("**/forecast")
    page.goto(f"/forecast?at={AT}")
    shot(page, f"forecast-{role}")
    answer = site.api(role).get(f"/v1/forecast?at={AT}").get_json()
    for key in ("expected", "low", "high", "baseline"):
        assert _cells(page, key) == [w[f"{key}_cents"] / 100 for w in answer["weeks"]], key
    assert float(page.locator("[data-figure=open]").get_attribute("data-value")) == answer["open_cents"] / 100
    assert float(page.locator("[data-figure=expected]").get_attribute("data-value")) == pytest.approx(
        sum(w["expected_cents"] for w in answer["weeks"]) / 100)
    chart = page.locator("section.card svg.chart")
    assert chart.locator("polygon.band").count() == 1 and chart.locator("polyline.reference").count() == 1
    assert chart.locator("circle.point").count() == 12
    shown = page.locator("[data-forecast-current]")
    assert shown.get_attribute("data-forecast-current") == str(answer["current"]).lower() == "true"
    assert int(shown.get_attribute("data-book-version")) == answer["book_version"]
    assert answer["computed_at"] in shown.inner_text()
    assert page.problems == []


def test_per_entity_and_as_csv(signed_in, site) -> None:  # noqa: ANN001
    page = signed_in("credit_manager")
    page.goto(f"/forecast?at={AT}")
    page.click(f"nav.entities >> text={ENTITY}")
    page.wait_for_url(f"**/forecast?entity={ENTITY}&at={AT}")
    answer = site.api("credit_manager").get(f"/v1/forecast?entity={ENTITY}&at={AT}").get_json()
    assert answer["open_invoices"] == 1  # the second entity's one invoice issued by then, still open
    assert _cells(page, "expected") == [w["expected_cents"] / 100 for w in answer["weeks"]]
    with page.expect_download() as download:
        page.click("[data-table=forecast] [data-export=csv]")
    rows = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8-sig").read())))
    assert len(rows) == 13 and [float(r[2]) for r in rows[1:]] == [w["expected_cents"] / 100 for w in answer["weeks"]]


def test_in_dutch_and_not_for_a_collector(signed_in) -> None:  # noqa: ANN001
    page = signed_in("analyst", locale="nl-NL")
    page.goto(f"/forecast?at={AT}")
    assert page.locator("h1").inner_text().startswith("Verwachte ontvangsten")
    collector = signed_in("collector")
    assert collector.goto("/forecast").status == 403
    assert collector.locator("header nav >> text=Forecast").count() == 0
