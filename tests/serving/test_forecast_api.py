"""``GET /v1/forecast``: the numbers are ``training.forecast.forecast`` of the same book (the function the
back-test runs), per legal entity and consolidated; bad input is a 4xx naming the field."""
from __future__ import annotations

import sqlalchemy as sa
import pandas as pd
import pytest

from ledger.tables import Ledger
from training.forecast import forecast
from training.registry import load_model

AT = "2024-10-07"


@pytest.fixture(scope="module")
def served_model(champion):
    return load_model(champion["uri"], champion["tracking"])[0]


@pytest.fixture(scope="module")
def split_book(app) -> list[str]:
    """The app's book split over two legal entities by customer: the first half under NL01, the rest under BE01."""
    engine = app.extensions["kredo.runtime"].book.engine
    with engine.begin() as conn:
        customers = sorted(r[0] for r in conn.execute(sa.text("SELECT DISTINCT customer_id FROM invoices")))
        half = customers[len(customers) // 2]
        conn.execute(sa.text("UPDATE invoices SET legal_entity_id = CASE WHEN customer_id < :half THEN 'NL01' "
                             "ELSE 'BE01' END"), {"half": half})
    return [c for c in customers if c < half]


def _of(ledger: Ledger, customers: list[str]) -> Ledger:
    inv = ledger.invoices[ledger.invoices["customer_id"].isin(customers)].reset_index(drop=True)
    keep = ledger.payments["invoice_id"].isin(inv["invoice_id"])
    return Ledger(customers=ledger.customers, invoices=inv, payments=ledger.payments[keep].reset_index(drop=True),
                  disputes=ledger.disputes[ledger.disputes["invoice_id"].isin(inv["invoice_id"])].reset_index(drop=True),
                  reminders=ledger.reminders)


def _weeks(answer: dict, key: str) -> list[int]:
    return [w[key] for w in answer["weeks"]]


def test_the_consolidated_forecast_is_the_backtests_function_on_the_same_book(api, small_ledger, served_model, champion):
    answer = api.analyst.get(f"/v1/forecast?at={AT}")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    expected = forecast(small_ledger, pd.Timestamp(AT), served_model)
    assert _weeks(body, "expected_cents") == expected.expected_cents.tolist()
    assert _weeks(body, "low_cents") == expected.low_cents.tolist()
    assert _weeks(body, "high_cents") == expected.high_cents.tolist()
    assert _weeks(body, "baseline_cents") == expected.baseline_cents.tolist()
    assert body["open_invoices"] == expected.open_invoices > 100
    assert body["model_version"] == champion["version"] and body["entity"] is None
    assert [w["starts"] for w in body["weeks"]][:2] == ["2024-10-07", "2024-10-14"] and len(body["weeks"]) == 12
    assert all(w["low_cents"] <= w["expected_cents"] <= w["high_cents"] for w in body["weeks"])
    assert api.auditor.get(f"/v1/forecast?at={AT}").get_json() == body


def test_an_entity_forecasts_its_own_invoices_only(api, split_book, small_ledger, served_model):
    body = api.analyst.get(f"/v1/forecast?entity=NL01&at={AT}").get_json()
    expected = forecast(_of(small_ledger, split_book), pd.Timestamp(AT), served_model)
    assert body["entity"] == "NL01"
    assert _weeks(body, "expected_cents") == expected.expected_cents.tolist()
    assert _weeks(body, "baseline_cents") == expected.baseline_cents.tolist()
    other = api.analyst.get(f"/v1/forecast?entity=BE01&at={AT}").get_json()
    whole = api.analyst.get(f"/v1/forecast?at={AT}").get_json()
    assert body["open_invoices"] + other["open_invoices"] == whole["open_invoices"]
    assert body["open_cents"] + other["open_cents"] == whole["open_cents"]


@pytest.mark.parametrize(("query", "status", "field"), [
    ("entity=XX99", 404, "entity"), ("at=2024-13-01", 422, "at"), ("at=yesterday", 422, "at"), ("at=9999-12-31", 422, "at"), ("at=1999-12-31", 422, "at"),
    ("entity=" + "E" * 129, 422, "entity"), ("weeks=3", 422, "weeks")])
def test_bad_input_is_a_problem_naming_the_field(api, split_book, query, status, field):
    answer = api.analyst.get(f"/v1/forecast?{query}")
    assert answer.status_code == status
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["field"] == field


def test_roles_that_may_not_read_the_forecast_get_403(api):
    for role in ("checkout", "dunning", "admin"):
        assert getattr(api, role).get(f"/v1/forecast?at={AT}").status_code == 403
    assert api.anonymous.get(f"/v1/forecast?at={AT}").status_code == 401
