"""The customer view in Chromium against ``GET /v1/customers/{id}`` and ``/v1/invoices/{id}``: master data,
standing and why, exposure, open items, timelines, decisions with reasons (linked to their audit page for
the auditor), contacts and messages; CSV and PDF exports; who may see it."""
from __future__ import annotations

import re

import pytest

from tests.support.pages import shot, sign_in


@pytest.fixture(scope="module")
def busy_customer(site) -> str:  # noqa: ANN001
    """The customer with the largest exposure: open items, decisions and messages from the dunning run.
    (The pages count to the book's date, the small ledger's last day; the API is asked ``at`` it.)"""
    report = site.api("credit_manager").get("/v1/reports/receivables").get_json()
    return report["largest_exposures"][0]["customer_id"]


def test_the_customer_view_shows_the_apis_standing(signed_in, site, busy_customer: str) -> None:  # noqa: ANN001
    page = signed_in("credit_manager")
    page.goto("/dashboard")
    page.click(f"[data-table=largest] a >> text={busy_customer}")
    page.wait_for_url(f"**/customers/{busy_customer}")
    # the page's day is the book's (its last booked event: an outcome recorded by an earlier test moves it)
    day = re.search(r"\d{4}-\d{2}-\d{2}", page.locator("h1 .muted").inner_text()).group()
    api = site.api("auditor").get(f"/v1/customers/{busy_customer}?at={day}T23:59:59.999999Z").get_json()
    shot(page, "customer-credit_manager")
    field = lambda name: page.locator(f"[data-field={name}]").get_attribute("data-value")  # noqa: E731
    assert float(field("exposure")) == api["exposure"] and float(field("overdue")) == api["overdue"]
    assert int(field("open_items")) == api["open_items"]
    assert float(field("credit_limit")) == api["standing"]["credit_limit"]
    assert page.locator("[data-field=segment]").inner_text().startswith(api["standing"]["segment"])
    assert page.locator("[data-field=reasons] li").all_inner_texts() == api["standing"]["reasons"]
    open_ids = page.locator("[data-table=open_items] td[data-key=id]").all_inner_texts()
    listed = site.api("auditor").get(f"/v1/customers/{busy_customer}/invoices?status=open").get_json()["invoices"]
    assert open_ids == [i["id"] for i in listed]
    first = site.api("auditor").get(f"/v1/invoices/{open_ids[0]}").get_json()
    shown = page.locator(f"#invoice-{open_ids[0]} + ol.timeline li").all_inner_texts()
    assert len(shown) == len(first["timeline"]) and first["timeline"][0]["text"] in shown[0]
    assert page.locator("[data-table=decisions] tbody tr").count() > 0
    assert page.locator("[data-table=decisions] td a").count() == 0  # the audit page is the auditor's
    assert page.problems == []


def test_the_auditor_follows_a_decision_to_its_audit_page(signed_in, busy_customer: str) -> None:  # noqa: ANN001
    page = signed_in("auditor")
    page.goto(f"/customers/{busy_customer}")
    page.click("[data-table=decisions] td[data-key=outcome] a >> nth=0")
    page.wait_for_url("**/decisions/dec_*")
    assert page.locator("[data-field=chain] .chain.ok").is_visible()


def test_the_customer_view_exports(site, busy_customer: str) -> None:  # noqa: ANN001
    browser_like = site.app.test_client()
    sign_in(browser_like, site.api_key("collector"))
    answer = browser_like.get(f"/customers/{busy_customer}?format=csv&table=open_items")
    assert answer.status_code == 200 and answer.text.lstrip("\ufeff").startswith("Invoice,Status,")
    pdf = browser_like.get(f"/customers/{busy_customer}?format=pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    missing = browser_like.get("/customers/C-NOBODY")
    assert missing.status_code == 404 and missing.mimetype == "text/html" and "C-NOBODY" in missing.text


@pytest.mark.parametrize("role", ["analyst", "admin"])
def test_roles_without_the_customer_view_get_403(signed_in, busy_customer: str, role: str) -> None:
    page = signed_in(role)
    assert page.goto(f"/customers/{busy_customer}").status == 403
