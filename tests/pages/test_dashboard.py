"""The receivables dashboard in Chromium against ``GET /v1/reports/receivables``: every figure the page shows
is the API's, each figure opens its rows, per legal entity and consolidated, CSV and PDF exports, in Dutch
too; a collector may not see it."""
from __future__ import annotations

import csv
import io

import pytest

from tests.pages.conftest import ENTITY
from tests.support.pages import cells, shot

FIGURES = ("outstanding", "overdue", "dso", "add", "cei", "at_risk_rate")


def _value(report: dict, name: str) -> float | None:
    value = report[name]
    return value["amount"] if isinstance(value, dict) else value



@pytest.fixture(scope="module")
def api_report(site) -> dict:  # noqa: ANN001
    answer = site.api("credit_manager").get("/v1/reports/receivables")
    assert answer.status_code == 200, answer.text
    return answer.get_json()


def test_the_dashboard_shows_the_apis_figures(signed_in, site, api_report) -> None:  # noqa: ANN001
    page = signed_in("credit_manager")
    page.click("header nav >> text=Receivables")
    page.wait_for_url("**/dashboard")
    shot(page, "dashboard-credit_manager")
    report = site.api("credit_manager").get("/v1/reports/receivables").get_json()
    assert report == api_report  # nothing moved between the two reads
    for name in FIGURES:
        shown = page.locator(f"[data-figure={name}]").get_attribute("data-value")
        assert shown is not None and float(shown) == pytest.approx(_value(report, name)), (name, shown, report[name])
    assert page.locator("[data-figure=outstanding] .value").inner_text() == f"€{report['outstanding']['amount']:,.2f}"
    assert [float(v) for v in cells(page, "ageing", "amount")] == [report["ageing"][b]["amount"] for b in
                                                                   ("current", "1_30", "31_60", "61_90", "90_plus")]
    assert [float(v) for v in cells(page, "dso_trend", "dso")] == [p["dso"] for p in report["trend"]]
    assert len(report["trend"]) == 12 and report["dso"] == report["trend"][-1]["dso"]
    assert cells(page, "largest", "customer_id") == [e["customer_id"] for e in report["largest_exposures"]]
    assert cells(page, "worsened", "customer_id") == [w["customer_id"] for w in report["worsened"]]
    assert [float(v) for v in cells(page, "collectors", "open")] == [c["open"]["amount"] for c in report["collectors"]]
    assert report["collectors"] and report["disputes"]  # the dunning run left tasks, the ledger open disputes
    assert report["outstanding"]["amount"] == pytest.approx(sum(b["amount"] for b in report["ageing"].values()))
    assert page.problems == []


def test_each_figure_opens_the_rows_behind_it(signed_in, site, api_report) -> None:  # noqa: ANN001
    page = signed_in("credit_manager")
    page.goto("/dashboard")
    page.click("[data-table=ageing] td[data-key=bucket] a >> nth=4")  # 90+ days
    page.wait_for_url("**/dashboard/rows?bucket=90_plus")
    shot(page, "dashboard-rows-90plus")
    rows = site.api("credit_manager").get("/v1/reports/receivables/rows?bucket=90_plus").get_json()["rows"]
    assert cells(page, "rows", "invoice_id") == [r["invoice_id"] for r in rows]
    assert float(page.locator("[data-total]").get_attribute("data-total")) == pytest.approx(
        api_report["ageing"]["90_plus"]["amount"])
    assert len(rows) == api_report["ageing"]["90_plus"]["items"] == int(page.locator("[data-total]")
                                                                          .get_attribute("data-items"))
    page.goto("/dashboard")
    page.click("[data-figure=overdue]")
    page.wait_for_url("**/dashboard/rows?overdue=1")
    total = float(page.locator("[data-total]").get_attribute("data-total"))
    assert total == pytest.approx(api_report["overdue"]["amount"])
    manager = api_report["account_managers"][0]
    page.goto("/dashboard")
    page.click(f"[data-table=account_managers] td[data-key=name] a >> text='{manager['name']}'")
    page.wait_for_url("**/dashboard/rows?manager=*")
    assert float(page.locator("[data-total]").get_attribute("data-total")) == pytest.approx(manager["open"]["amount"])


def test_per_legal_entity_and_consolidated(signed_in, site, api_report) -> None:  # noqa: ANN001
    api = site.api("credit_manager")
    assert api_report["entities"] == ["-", ENTITY]
    alone = api.get(f"/v1/reports/receivables?entity={ENTITY}").get_json()
    others = api.get("/v1/reports/receivables?entity=-").get_json()
    assert alone["outstanding"] == {"amount": 2450.5, "items": 3}
    assert alone["outstanding"]["amount"] + others["outstanding"]["amount"] == pytest.approx(
        api_report["outstanding"]["amount"])
    page = signed_in("credit_manager")
    page.goto("/dashboard")
    page.click(f"nav.entities >> text={ENTITY}")
    page.wait_for_url(f"**/dashboard?entity={ENTITY}")
    assert float(page.locator("[data-figure=outstanding]").get_attribute("data-value")) == 2450.5
    shot(page, f"dashboard-{ENTITY}")


def test_tables_export_as_csv_and_the_page_as_pdf(site, api_report) -> None:  # noqa: ANN001
    from tests.support.pages import sign_in

    browser_like = site.app.test_client()
    sign_in(browser_like, site.api_key("credit_manager"))
    answer = browser_like.get("/dashboard?format=csv&table=ageing")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.text.lstrip("\ufeff"))))
    assert [float(r["Open"]) for r in rows] == [api_report["ageing"][b]["amount"] for b in
                                                ("current", "1_30", "31_60", "61_90", "90_plus")]
    pdf = browser_like.get("/dashboard?format=pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")
    refused = browser_like.get("/dashboard?format=xls")
    assert refused.status_code == 422 and refused.mimetype == "text/html" and "format must be one of" in refused.text
    api = site.api("credit_manager").get("/v1/reports/receivables/rows?bucket=nope")
    assert api.status_code == 422 and api.get_json()["field"] == "bucket"  # the API still answers JSON


def test_the_dashboard_in_dutch(signed_in, api_report) -> None:  # noqa: ANN001
    page = signed_in("credit_manager", locale="nl-NL")
    page.goto("/dashboard")
    assert page.locator("h1").inner_text().startswith("Debiteuren")
    amount = f"{api_report['outstanding']['amount']:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
    assert page.locator("[data-figure=outstanding] .value").inner_text().replace("\xa0", " ") == f"€ {amount}"
    shot(page, "dashboard-nl")


@pytest.mark.parametrize("role", ["collector", "auditor", "admin"])
def test_roles_without_the_dashboard_get_403(signed_in, role: str) -> None:
    page = signed_in(role)
    answer = page.goto("/dashboard")
    assert answer.status == 403 and "Not for your role" in page.locator("h1").inner_text()
    assert page.locator("header nav >> text=Receivables").count() == 0  # and no menu entry to it
    shot(page, f"dashboard-403-{role}")


def test_a_failure_on_a_page_is_a_page_with_its_error_id_and_no_detail(site, monkeypatch) -> None:  # noqa: ANN001
    from serving.pages import dashboard
    from tests.support.pages import sign_in

    def boom(args) -> None:  # noqa: ANN001
        raise RuntimeError("cannot open /srv/kredo/secret.db at db.internal:5432")

    monkeypatch.setattr(dashboard.reports, "report", boom)
    browser_like = site.app.test_client()
    sign_in(browser_like, site.api_key("credit_manager"))
    answer = browser_like.get("/dashboard")
    assert answer.status_code == 500 and answer.mimetype == "text/html" and "err_" in answer.text
    assert "secret" not in answer.text and "5432" not in answer.text
