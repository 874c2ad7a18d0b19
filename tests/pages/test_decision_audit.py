"""The decision audit page in Chromium against ``GET /v1/decisions/{id}``: inputs, outcome, the rules that
fired with the live policy's text, model version, a SHAP waterfall in probability terms that adds up to the
recorded P(late), bandit arm, propensity and group, the record's hash-chain link; the search by customer,
invoice, outcome and date; only the auditor may see it."""
from __future__ import annotations

import json

import pytest

from serving.pages.decisions import waterfall_steps
from tests.support.pages import shot


@pytest.fixture(scope="module")
def bandit_decision(site) -> dict:  # noqa: ANN001
    """A decision of the dunning run in which the bandit chose (a reminder's channel and time)."""
    api = site.api("auditor")
    for row in api.get("/v1/decisions?outcome=remind&limit=50").get_json()["decisions"]:
        record = api.get(f"/v1/decisions/{row['decision_id']}").get_json()
        if (record.get("bandit") or {}).get("arm"):
            return record
    raise AssertionError("the dunning run made no bandit choice")


def test_the_audit_page_shows_the_record(signed_in, site, bandit_decision: dict) -> None:  # noqa: ANN001
    record = bandit_decision
    page = signed_in("auditor")
    page.goto(f"/decisions/{record['decision_id']}")
    shot(page, "decision-auditor")
    assert page.locator("[data-field=outcome]").inner_text() == record["outcome"]
    assert page.locator("[data-field=model]").inner_text().startswith(f"payment-delay v{record['model']['version']}")
    assert page.locator("[data-field=policy]").inner_text() == record["policy"]["version"]
    assert float(page.locator("[data-field=p_late]").get_attribute("data-value")) == record["scores"]["p_late"]
    fired = page.locator("[data-section=rules] tr[data-rule]").evaluate_all("rows => rows.map(r => r.dataset.rule)")
    assert fired == record["rules_fired"]
    texts = page.locator("[data-section=rules] tr[data-rule] td:nth-child(5)").all_inner_texts()
    policy = site.app.extensions["kredo.runtime"].snapshot().rules.policy
    rows = {r.id: r for t in policy.tables.values() for r in t.rows}
    assert texts == [rows[i].reason for i in record["rules_fired"]]
    assert json.loads(page.locator("[data-field=arm]").get_attribute("data-value")) == record["bandit"]["arm"]
    assert page.locator("[data-field=group]").inner_text() == record["bandit"]["group"]
    assert float(page.locator("[data-field=propensity]").get_attribute("data-value")) == record["bandit"]["propensity"]
    assert "intact" in page.locator("[data-field=chain]").inner_text()
    assert page.locator("[data-section=shap] svg rect.total").count() == 1
    assert record["request"]["request_id"] in page.locator("[data-section=inputs]").inner_text()
    assert page.problems == []


def test_the_waterfall_adds_up_to_the_recorded_probability(bandit_decision: dict) -> None:
    base, steps = waterfall_steps(bandit_decision["shap"])
    assert len(steps) == 11  # ten features and the rest
    assert base + sum(v for _, v in steps) == pytest.approx(bandit_decision["scores"]["p_late"], abs=1e-6)


def test_the_search_by_customer_outcome_and_date(signed_in, site, bandit_decision: dict) -> None:  # noqa: ANN001
    customer = bandit_decision["decided_on"]["customer"]["id"]
    page = signed_in("auditor")
    page.click("header nav >> text=Decisions")
    page.fill("input[name=customer_id]", customer)
    page.fill("input[name=outcome]", bandit_decision["outcome"])
    page.fill("input[name=from]", "2024-12-31")
    page.fill("input[name=to]", "2024-12-31")
    page.click("form.search button")
    page.wait_for_url("**/decisions?customer_id=*")
    shot(page, "decisions-search")
    found = page.locator("[data-table=decisions] td[data-key=decision_id]").all_inner_texts()
    api = site.api("auditor").get(f"/v1/decisions?customer_id={customer}&outcome={bandit_decision['outcome']}"
                                  "&from=2024-12-31T00:00:00Z&to=2025-01-01T00:00:00Z").get_json()["decisions"]
    assert found == [d["decision_id"] for d in api] and bandit_decision["decision_id"] in found
    page.goto(f"/decisions?invoice_id={bandit_decision['decided_on']['invoice']['id']}")
    assert bandit_decision["decision_id"] in page.locator("[data-table=decisions]").inner_text()


@pytest.mark.parametrize("role", ["collector", "credit_manager", "analyst", "admin"])
def test_only_the_auditor_sees_decisions(signed_in, bandit_decision: dict, role: str) -> None:
    page = signed_in(role)
    assert page.goto(f"/decisions/{bandit_decision['decision_id']}").status == 403
    assert page.goto("/decisions").status == 403
