"""The cash-in forecast page: the 12 weeks of ``GET /v1/forecast`` drawn, per legal entity.

Why no computation here: the page takes the very ``Forecast`` the API answers
(``serving.forecasting.entity_forecast``, ``training.forecast.forecast``, the
back-test's function) and lays it out: a chart of the expected receipts with
their 90 % interval against the ageing-bucket baseline, and the table (CSV).
"""
from __future__ import annotations

from typing import Any

from flask import g
from flask_babel import gettext as _

from domain.errors import InvalidInput
from ledger.frames import legal_entities
from serving.access import requires
from serving.api._body import query_day
from serving.api.forecast import READERS
from serving.forecasting import default_day, entity_forecast
from serving.pages import charts
from serving.pages.exports import Column, Table, page_args, respond
from serving.pages.i18n import money
from serving.pages.layout import blueprint
from serving.runtime import get_runtime

bp = blueprint("pages_forecast", __name__)


@bp.get("/forecast")
@requires(*READERS)
def forecast_page() -> Any:  # noqa: ANN401 - a page or a CSV
    args = page_args()
    unknown = sorted(set(args) - {"entity", "at"})
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}", field=unknown[0])
    runtime = get_runtime()
    entity = args.get("entity") or None
    asked = query_day(args.get("at"), "at")
    day = asked or default_day(runtime, g.received.date())
    result = entity_forecast(runtime, entity, day, asked=asked is not None).to_dict()
    weeks = [{**w, **{k: w[f"{k}_cents"] / 100 for k in ("expected", "low", "high", "baseline")}}
             for w in result["weeks"]]
    chart = charts.band([charts.Band(w["starts"][5:], w["expected"], w["low"], w["high"], w["baseline"])
                         for w in weeks], title=_("Expected receipts per week"), label=money)
    table = Table("forecast", _("Expected receipts per week"), [
        Column("week", _("Week"), "int"), Column("starts", _("From"), "date"),
        Column("expected", _("Expected"), "money"), Column("low", _("Low (5th percentile)"), "money"),
        Column("high", _("High (95th percentile)"), "money"), Column("baseline", _("Ageing-bucket baseline"), "money")],
        weeks, note=_("From the invoices open at the start of the first week; the interval holds nine outcomes "
                      "in ten if invoices pay independently of each other."))
    return respond("pages/forecast.html", [table], title=_("Cash-in forecast"), forecast=result, chart=chart,
                   entity=entity, entities=[e["id"] for e in legal_entities(runtime.book.engine)],
                   total=sum(w["expected"] for w in weeks), baseline_total=sum(w["baseline"] for w in weeks))
