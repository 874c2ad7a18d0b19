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


def _engine(app):
    return app.extensions["kredo.runtime"].book.engine


def _wait_for_background() -> None:
    from serving.forecasting import refresher

    for future in list(refresher().pending.values()):
        future.result(timeout=120)


def test_the_kept_forecast_equals_the_freshly_computed_one_and_answers_without_computing(
        api, app, served_model, champion, monkeypatch):
    from ledger.forecasts import ForecastKey, book_version, get
    from ledger.frames import read_ledger

    at = "2024-09-02"  # a day no test before asked for: computed and kept by this request
    engine = _engine(app)
    body = api.analyst.get(f"/v1/forecast?at={at}").get_json()
    key = ForecastKey(None, at, champion["version"], book_version(engine))
    assert body["current"] is True and body["book_version"] == key.book_version is not None
    fresh = forecast(read_ledger(engine), pd.Timestamp(at), served_model, model_version=champion["version"])
    assert get(engine, key).body == fresh.to_dict()
    monkeypatch.setattr("serving.forecasting.forecast", lambda *a, **k: pytest.fail("computed again"))
    assert api.auditor.get(f"/v1/forecast?at={at}").get_json() == body  # any worker: read from the ledger


def test_a_book_that_moved_on_answers_the_kept_forecast_saying_so_and_computes_the_new_one_behind(
        api, app, small_ledger):
    from ledger.book import Book

    at = "2024-09-09"
    before = api.analyst.get(f"/v1/forecast?at={at}").get_json()
    customer = str(small_ledger.invoices["customer_id"].iloc[0])
    Book(_engine(app)).apply([{"event_id": "late-1", "type": "invoice_issued", "customer_id": customer,
                               "invoice_id": "INV-LATE-1", "at": "2024-09-01T09:00:00", "amount": 1234.56,
                               "due_at": "2024-10-01T00:00:00", "payment_terms_days": 30, "paperless": False}],
                             received_us=0)
    stale = api.analyst.get(f"/v1/forecast?at={at}").get_json()
    assert stale == {**before, "current": False}  # at once, the kept one, and it says so
    _wait_for_background()
    after = api.analyst.get(f"/v1/forecast?at={at}").get_json()
    assert after["current"] is True and after["book_version"] > before["book_version"]
    assert after["open_invoices"] == before["open_invoices"] + 1
    assert after["open_cents"] == before["open_cents"] + 123_456
