"""``GET /v1/reports/receivables`` and ``GET /v1/reports/receivables/rows``: the credit manager's figures.

Why an API beside the dashboard page: the figures are computed once, in
``ledger.receivables``, and turned into one answer here (:func:`report`,
:func:`rows`); the dashboard page renders that very object and its CSV
exports the same rows, so what a spreadsheet, a BI tool or a person reads is
one set of numbers. The query names of the rows (``bucket``, ``manager``,
``collector``, ``dispute_type``, ``dispute_age``, ``customer``, ``overdue``) are
the dashboard's links.
"""
from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, Response
from flask import request as http_request
from pydantic_core import to_json

from domain.errors import InvalidInput
from ledger.receivables import (BUCKETS, DISPUTE_AGES, ROW_FILTERS, Amount, Receivables, book_date_us,
                                receivable_rows, receivables)
from serving.access import requires
from serving.api.book import iso
from serving.runtime import get_runtime
from serving.schemas import (ExposureOut, Figure, HolderOut, ReceivableRow, ReceivableRows, ReceivablesReport,
                             TrendPointOut, WorsenedOut)

bp = Blueprint("reports", __name__, url_prefix="/v1/reports")
#: who reads the receivables: the credit manager, and the analyst for the models and the forecast
READERS = ("credit_manager", "analyst")


def _eur(cents: int) -> float:
    return cents / 100


def _figure(amount: Amount) -> Figure:
    return Figure(amount=_eur(amount.cents), items=amount.items)


def report_out(r: Receivables) -> ReceivablesReport:
    """The API's (and the dashboard's) form of the figures: EUR, ISO times."""
    return ReceivablesReport(
        as_of=iso(r.as_of_us), entity=r.entity, entities=list(r.entities), outstanding=_figure(r.outstanding),
        overdue=_figure(r.overdue), ageing={k: _figure(v) for k, v in r.ageing.items()},
        disputed={k: _figure(v) for k, v in r.disputed.items()}, dso=r.dso, best_possible_dso=r.best_possible_dso,
        add=r.add, cei=r.cei, at_risk_rate=r.at_risk_rate,
        trend=[TrendPointOut(month=p.month, receivables=_eur(p.receivables_cents),
                             sales=_eur(r.sales_cents.get(p.month, 0)), dso=p.dso) for p in r.trend],
        disputes={kind: {age: _figure(a) for age, a in ages.items()} for kind, ages in sorted(r.disputes.items())},
        account_managers=[HolderOut(name=h.name, open=_figure(h.open), overdue=_figure(h.overdue)) for h in r.managers],
        collectors=[HolderOut(name=h.name, open=_figure(h.open), overdue=_figure(h.overdue)) for h in r.collectors],
        largest_exposures=[ExposureOut(customer_id=e.customer_id, name=e.name, open=_figure(e.open),
                                       overdue=_eur(e.overdue_cents), worst_bucket=e.worst_bucket) for e in r.largest],
        worsened=[WorsenedOut(customer_id=w.customer_id, name=w.name, was=w.was, now=w.now,
                              overdue=_eur(w.overdue_cents)) for w in r.worsened])


def entity_arg(args: Mapping[str, str]) -> str | None:
    """The ``entity`` query parameter: a legal entity id, ``-`` (none) or absent (consolidated)."""
    entity = args.get("entity") or None
    if entity is not None and len(entity) > 128:
        raise InvalidInput("entity is at most 128 characters", field="entity")
    return entity


def report(args: Mapping[str, str]) -> ReceivablesReport:
    """The report for a request's query (``entity``)."""
    unknown = sorted(set(args) - {"entity"})
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}", field=unknown[0])
    return report_out(receivables(get_runtime().book.engine, entity=entity_arg(args)))


def row_filters(args: Mapping[str, str]) -> dict[str, object]:
    """The rows' filters from a query, checked (the names are ``ledger.receivables.ROW_FILTERS``)."""
    unknown = sorted(set(args) - set(ROW_FILTERS))
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}", field=unknown[0])
    chosen: dict[str, object] = {"entity": entity_arg(args)}
    for name in ("manager", "collector", "dispute_type", "customer"):
        value = args.get(name) or None
        if value is not None and len(value) > 128:
            raise InvalidInput(f"{name} is at most 128 characters", field=name)
        chosen[name] = value
    if (b := args.get("bucket")) is not None and b not in BUCKETS:
        raise InvalidInput(f"bucket must be one of {list(BUCKETS)}", field="bucket")
    ages = [name for name, _ in DISPUTE_AGES]
    if (age := args.get("dispute_age")) is not None and age not in ages:
        raise InvalidInput(f"dispute_age must be one of {ages}", field="dispute_age")
    if (late := args.get("overdue")) is not None and late not in ("0", "1"):
        raise InvalidInput("overdue must be 0 or 1", field="overdue")
    chosen.update(bucket_name=b, dispute_age=age, overdue=late == "1")
    return chosen


def rows(args: Mapping[str, str]) -> ReceivableRows:
    """The open invoices behind a figure, for a request's query."""
    filters = row_filters(args)
    engine = get_runtime().book.engine
    report_date = book_date_us(engine) or 0
    found, total = receivable_rows(engine, report_date, **filters)  # type: ignore[arg-type]
    return ReceivableRows(as_of=iso(report_date), total=_figure(total), rows=[ReceivableRow(
        invoice_id=r["id"], customer_id=r["customer_id"], name=r["name"], account_manager=r["account_manager"],
        legal_entity_id=r["legal_entity_id"], issued_at=iso(r["issued_us"]), due_at=iso(r["due_us"]),
        amount=_eur(r["amount_cents"]), open_amount=_eur(r["open_cents"]), days_past_due=r["days_past_due"],
        bucket=r["bucket"], disputed=bool(r["disputed"]), dispute_type=r["dispute_type"],
        dispute_age=r["dispute_age"]) for r in found])


@bp.get("/receivables")
@requires(*READERS)
def get_receivables() -> Response:
    return Response(to_json(report(http_request.args)), mimetype="application/json")


@bp.get("/receivables/rows")
@requires(*READERS)
def get_receivable_rows() -> Response:
    return Response(to_json(rows(http_request.args)), mimetype="application/json")
