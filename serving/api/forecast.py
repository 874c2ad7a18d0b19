"""``GET /v1/forecast``: expected receipts per week for the next 12 weeks, per legal entity, with a 90 %
interval and the ageing-bucket baseline (``serving.forecasting``, ``training.forecast``).

Query: ``entity`` (a legal entity's id, ``-`` for the invoices of none; absent: the consolidated book),
``at`` (the forecast day, ``YYYY-MM-DD``, within the service's date window; absent: today (UTC), or the
day after the book's last business event when that is earlier: ``serving.forecasting.default_day``).

The answer is the forecast kept in the ledger for the entity, day, model version and book version (the last
booked event); when the book moved on since, the newest kept one answers at once with ``current: false`` (its
``book_version`` and ``computed_at`` say what it was computed on) while the new one is computed in the
background (``serving.forecasting``).
"""
from __future__ import annotations

from flask import Blueprint, Response, g, request
from pydantic_core import to_json

from domain.errors import InvalidInput
from serving.access import requires
from serving.api._body import date_window, query_day
from serving.forecasting import default_day, entity_forecast
from serving.runtime import get_runtime
from serving.schemas import ForecastOut

bp = Blueprint("forecast", __name__, url_prefix="/v1")
PARAMETERS = ("entity", "at")
#: who reads the forecast: the credit manager plans with it, the analyst checks it, the auditor may look
READERS = ("credit_manager", "analyst", "auditor")


@bp.get("/forecast")
@requires(*READERS)
def get_forecast() -> Response:
    unknown = sorted(set(request.args) - set(PARAMETERS))
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}", field=unknown[0])
    entity = request.args.get("entity") or None
    if entity is not None and len(entity) > 128:
        raise InvalidInput("entity is at most 128 characters", field="entity")
    asked = query_day(request.args.get("at"), "at")
    day = asked or default_day(get_runtime(), g.received.date())
    outside = date_window().problem(day)
    if outside is not None:
        raise InvalidInput(f"at: {outside}", field="at")
    result = entity_forecast(get_runtime(), entity, day, asked=asked is not None)
    body = ForecastOut(entity=entity, **result.to_dict())
    return Response(to_json(body), mimetype="application/json")
