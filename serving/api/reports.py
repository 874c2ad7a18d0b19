"""``GET /v1/reports/receivables`` and ``GET /v1/reports/receivables/rows``: the credit manager's figures.

Why an API beside the dashboard page: the facts are read once (``ledger.receivables``),
the formulas are ``engine.receivables``', and they meet here in one answer
(:func:`report`, :func:`rows`); the dashboard page renders that very object and its
CSV exports the same rows, so what a spreadsheet, a BI tool or a person reads is
one set of numbers. The query names of the rows (``bucket``, ``manager``,
``collector``, ``dispute_type``, ``dispute_age``, ``customer``, ``overdue``) are
the dashboard's links.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from flask import Blueprint, Response, current_app
from flask import request as http_request
from pydantic_core import to_json

from domain.errors import InvalidInput
from engine.receivables import (at_risk_rate, average_days_delinquent, best_possible_dso, collection_effectiveness,
                                dso_countback)
from ledger.receivables import (BEST_DSO_DAYS, BUCKETS, DISPUTE_AGES, ROW_FILTERS, Amount, Receivables,
                                book_date_us, book_version, receivable_rows, receivables)
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


def _dso(receivables_cents: int, months: tuple[tuple[int, int], ...]) -> float | None:
    """DSO by countback (``engine.receivables``), to a tenth of a day; None before anything was sold."""
    return round(dso_countback(max(receivables_cents, 0), months), 1) if any(s > 0 for s, _ in months) else None


def report_out(r: Receivables) -> ReceivablesReport:
    """The figures (``engine.receivables``' formulas on the book's facts) in the API's form: EUR, ISO times."""
    current = r.ageing["current"].cents
    dso = _dso(r.outstanding.cents, r.months)
    sold = r.best_dso_sales_cents > 0
    best = round(best_possible_dso(current, r.best_dso_sales_cents, BEST_DSO_DAYS), 1) if sold else None
    cei = collection_effectiveness(r.cei_opening_cents, r.cei_sales_cents, r.outstanding.cents, current)
    return ReceivablesReport(
        as_of=iso(r.as_of_us), entity=r.entity, entities=list(r.entities), outstanding=_figure(r.outstanding),
        overdue=_figure(r.overdue), ageing={k: _figure(v) for k, v in r.ageing.items()},
        disputed={k: _figure(v) for k, v in r.disputed.items()}, dso=dso, best_possible_dso=best,
        add=None if dso is None or best is None else round(average_days_delinquent(dso, best), 1),
        cei=round(cei, 1), at_risk_rate=round(at_risk_rate(r.ageing["90_plus"].cents, r.outstanding.cents), 4),
        trend=[TrendPointOut(month=p.month, receivables=_eur(p.receivables_cents), sales=_eur(p.sales_cents),
                             dso=_dso(p.receivables_cents, p.months)) for p in r.trend],
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


class ReportCache:
    """The last report of each entity in one worker, computed again, in the background, when the book
    changed (``book_version``) and the kept one is at least ``max_age_s`` old.

    Why: the figures read the whole book (grouped scans: 1.6 s at 500,000 invoices on SQLite), a dashboard
    is opened far more often than a minute passes, and a credit manager's figures may be a minute old
    (``as_of`` says when the book stood so). Only an entity's first request waits for its figures; later
    ones get the kept report while a thread computes the next (stale while revalidating), and a book
    that stands still is never read again.
    """

    SIZE = 32

    def __init__(self, max_age_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age_s, self.clock = max_age_s, clock
        self._kept: dict[str | None, tuple[tuple[int, int, int], float, ReceivablesReport]] = {}
        self._refreshing: dict[str | None, threading.Thread] = {}
        self._lock = threading.Lock()

    def get(self, engine, entity: str | None) -> ReceivablesReport:  # noqa: ANN001 - an Engine
        version, now = book_version(engine), self.clock()
        kept = self._kept.get(entity)
        if kept is None:
            return self._compute(engine, entity, version, now)
        if kept[0] != version and now - kept[1] >= self.max_age_s:
            with self._lock:
                if entity not in self._refreshing:
                    worker = threading.Thread(target=self._compute, args=(engine, entity, version, now),
                                              name="kredo-report", daemon=True)
                    self._refreshing[entity] = worker
                    worker.start()
        return kept[2]

    def wait(self) -> None:
        """Until the refreshes under way are done (tests, and a worker shutting down)."""
        for worker in list(self._refreshing.values()):
            worker.join()

    def _compute(self, engine, entity: str | None, version: tuple[int, int, int],  # noqa: ANN001
                 now: float) -> ReceivablesReport:
        try:
            fresh = report_out(receivables(engine, entity=entity))
            with self._lock:
                if len(self._kept) >= self.SIZE:
                    self._kept.clear()
                self._kept[entity] = (version, now, fresh)
            return fresh
        finally:
            with self._lock:
                if self._refreshing.get(entity) is threading.current_thread():
                    del self._refreshing[entity]


def report(args: Mapping[str, str]) -> ReceivablesReport:
    """The report for a request's query (``entity``)."""
    unknown = sorted(set(args) - {"entity"})
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}", field=unknown[0])
    return current_app.extensions["kredo.reports"].get(get_runtime().book.engine, entity_arg(args))


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


@bp.record_once
def _cache(state) -> None:  # noqa: ANN001 - a BlueprintSetupState
    state.app.extensions["kredo.reports"] = ReportCache(float(state.app.config["REPORT_MAX_AGE_S"]))


@bp.get("/receivables")
@requires(*READERS)
def get_receivables() -> Response:
    return Response(to_json(report(http_request.args)), mimetype="application/json")


@bp.get("/receivables/rows")
@requires(*READERS)
def get_receivable_rows() -> Response:
    return Response(to_json(rows(http_request.args)), mimetype="application/json")
