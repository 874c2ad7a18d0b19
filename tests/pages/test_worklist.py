"""The collector's worklist in Chromium: today's tasks in the API's priority order with their reasons, the
customer's context beside them, one-click outcomes booked through the tasks API's code path and then seen
on the customer view; roles without it get 403."""
from __future__ import annotations

import pytest

from tests.support.pages import shot


def _queue_tasks(site, owner: str) -> list[dict]:  # noqa: ANN001
    answer = site.api("dunning").get(f"/v1/tasks?owner={owner}&status=open&due=2024-12-31&limit=200")
    assert answer.status_code == 200, answer.text
    return answer.get_json()["tasks"]


def test_todays_tasks_in_the_apis_order_with_the_customers_context(signed_in, site) -> None:  # noqa: ANN001
    page = signed_in("collector")
    page.click("header nav >> text=Worklist")
    page.wait_for_url("**/worklist")
    owner = page.locator("nav.entities a[aria-current=page]").get_attribute("data-queue")
    tasks = _queue_tasks(site, owner)
    ids = page.locator("[data-table=tasks] td[data-key=priority]").evaluate_all(
        "cells => cells.map(c => new URL(c.querySelector('a').href).searchParams.get('task'))")
    assert ids == [t["id"] for t in tasks] and len(ids) > 3
    reasons = page.locator("[data-table=tasks] td[data-key=reason]").all_inner_texts()
    assert reasons == [t["reason"] for t in tasks]
    page.click("[data-table=tasks] td[data-key=reason] a >> nth=0")
    page.wait_for_selector("#context")
    first = tasks[0]
    assert page.locator("#context").get_attribute("data-task") == first["id"]
    customer = site.api("auditor").get(f"/v1/customers/{first['customer_id']}").get_json()
    assert float(page.locator("#context dd[data-value]").first.get_attribute("data-value")) == customer["exposure"]
    shot(page, "worklist-collector")
    assert page.problems == []


def test_an_outcome_on_the_worklist_is_on_the_customer_view(signed_in, site) -> None:  # noqa: ANN001
    page = signed_in("collector")
    page.goto("/worklist?owner=collectors-medium")
    tasks = _queue_tasks(site, "collectors-medium")
    call = next(t for t in tasks if t["type"] == "call" and t["invoice_id"])
    page.goto(f"/worklist?owner=collectors-medium&task={call['id']}")
    form = page.locator("form[data-outcome=promise_to_pay]")
    form.locator("input[name=promise_date]").fill("2027-01-15")
    form.locator("input[name=promise_amount]").fill("150.25")
    form.locator("button").click()
    page.wait_for_selector("[data-booked=promise_to_pay]")
    shot(page, "worklist-booked")
    task = site.api("dunning").get(f"/v1/tasks/{call['id']}").get_json()
    assert task["status"] == "done"  # booked through the tasks API's code path: the task is closed
    assert call["id"] not in [t["id"] for t in _queue_tasks(site, "collectors-medium")]
    invoice = site.api("dunning").get(f"/v1/invoices/{call['invoice_id']}").get_json()
    assert any(e["kind"] == "call" for e in invoice["timeline"])
    page.click(f"#context h2 a")
    page.wait_for_url(f"**/customers/{call['customer_id']}")
    contacts = page.locator("[data-table=contacts] td[data-key=outcome]").all_inner_texts()
    assert "promise_to_pay" in contacts
    timeline = page.locator(f"#invoice-{call['invoice_id']} + ol.timeline").inner_text()
    assert "call" in timeline
    shot(page, "customer-after-outcome")
    again = page.request.post(f"/worklist/tasks/{call['id']}/outcome", form={"outcome": "reached",
                                                                            "outcome_id": "x", "csrf_token": "forged"})
    assert again.status == 403  # a form without the session's token books nothing


def test_an_invalid_outcome_is_shown_not_booked(signed_in, site) -> None:  # noqa: ANN001
    tasks = _queue_tasks(site, "collectors-high")
    task = next(t for t in tasks if t["invoice_id"])
    page = signed_in("credit_manager")
    page.goto(f"/worklist?owner=collectors-high&task={task['id']}")
    form = page.locator("form[data-outcome=promise_to_pay]")
    form.locator("input[name=promise_amount]").fill("-5")
    form.locator("button").click()
    assert page.locator("p.error").is_visible()
    assert site.api("dunning").get(f"/v1/tasks/{task['id']}").get_json()["status"] == "open"


@pytest.mark.parametrize("role", ["analyst", "auditor", "admin"])
def test_roles_without_the_worklist_get_403(signed_in, role: str) -> None:
    page = signed_in(role)
    assert page.goto("/worklist").status == 403
