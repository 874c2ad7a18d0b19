"""``GET /v1/reports/receivables`` keeps each entity's report while the book stands still, and computes it
again in the background when the book changed and the kept one is old enough; bad filters are 422s
naming the field."""
from __future__ import annotations

from serving.api.reports import ReportCache
from tests.support.api import Clients


def test_the_report_is_kept_until_the_book_changed_and_it_is_old_enough(app) -> None:  # noqa: ANN001
    now = [0.0]
    cache = ReportCache(max_age_s=60, clock=lambda: now[0])
    engine = app.extensions["kredo.runtime"].book.engine
    first = cache.get(engine, None)
    assert cache.get(engine, None) is first  # the book stood still
    booked = Clients(app).dunning.post("/v1/events", json={"events": [
        {"event_id": "rep-1", "type": "invoice_issued", "customer_id": "C-REP", "invoice_id": "INV-REP-1",
         "at": "2024-12-30T10:00:00+00:00", "amount": 1000.0, "due_at": "2025-01-29T00:00:00+00:00",
         "payment_terms_days": 30, "paperless": True}]})
    assert booked.get_json()["applied"] == 1
    now[0] = 59.0
    assert cache.get(engine, None) is first  # changed, but a minute has not passed
    now[0] = 61.0
    assert cache.get(engine, None) is first  # old enough: the kept one still answers, a thread computes
    cache.wait()
    fresh = cache.get(engine, None)
    assert fresh.outstanding.amount == first.outstanding.amount + 1000.0
    assert fresh.outstanding.items == first.outstanding.items + 1


def test_bad_filters_are_422s_naming_the_field(app) -> None:  # noqa: ANN001
    api = Clients(app)
    for url, field in (("/v1/reports/receivables?entty=x", "entty"),
                       ("/v1/reports/receivables/rows?bucket=9", "bucket"),
                       ("/v1/reports/receivables/rows?dispute_age=old", "dispute_age"),
                       ("/v1/reports/receivables/rows?overdue=yes", "overdue")):
        answer = api.credit_manager.get(url)
        assert answer.status_code == 422 and answer.get_json()["field"] == field, url
    assert api.collector.get("/v1/reports/receivables").status_code == 403
