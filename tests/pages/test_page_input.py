"""Property: nothing a person's browser sends makes a page answer 5xx: random queries on every page with
filters, random outcome forms on the worklist (a signed-in test client, with the session's CSRF token)."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.pages import csrf_of, sign_in

PAGES = {"/dashboard": "credit_manager", "/dashboard/rows": "credit_manager", "/worklist": "collector",
         "/decisions": "auditor", "/customers/C-00000001": "collector"}
NAMES = ("entity", "bucket", "manager", "collector", "dispute_type", "dispute_age", "customer", "overdue", "owner",
         "task", "booked", "customer_id", "invoice_id", "outcome", "from", "to", "format", "table", "x")
values = st.one_of(st.text(max_size=40), st.sampled_from(["90_plus", "-", "1", "0", "csv", "pdf", "ageing",
                                                         "2024-12-31", "61_plus", "other"]))
queries = st.dictionaries(st.sampled_from(NAMES), values, max_size=4)
FORM = ("outcome", "outcome_id", "promise_date", "promise_amount", "dispute_type", "plan_amount", "plan_first",
        "plan_count", "note", "owner")
forms = st.dictionaries(st.sampled_from(FORM), st.one_of(st.text(max_size=30), st.sampled_from(
    ["promise_to_pay", "dispute_raised", "payment_plan_agreed", "reached", "2027-01-15", "-5", "1e309", "61"])),
    max_size=6)


@pytest.fixture(scope="module")
def people(site) -> dict:  # noqa: ANN001
    clients = {}
    for role in set(PAGES.values()):
        client = site.app.test_client()
        sign_in(client, site.api_key(role))
        clients[role] = client
    return clients


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(sorted(PAGES)), query=queries)
def test_no_query_makes_a_page_fail(people, path: str, query: dict) -> None:  # noqa: ANN001
    if query.get("format") == "pdf":
        query["format"] = "csv"  # a PDF takes seconds to lay out; its inputs are the page's own
    answer = people[PAGES[path]].get(f"{path}?{urlencode(query)}")
    assert answer.status_code < 500, (path, query, answer.get_data(as_text=True)[:300])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=forms)
def test_no_outcome_form_makes_the_worklist_fail(people, site, form: dict) -> None:  # noqa: ANN001
    collector = people["collector"]
    tasks = site.api("dunning").get("/v1/tasks?owner=collection_agency&status=open&limit=1").get_json()["tasks"]
    answer = collector.post(f"/worklist/tasks/{tasks[0]['id']}/outcome",
                            data={**form, "csrf_token": csrf_of(collector)})
    assert answer.status_code < 500, (form, answer.get_data(as_text=True)[:300])
