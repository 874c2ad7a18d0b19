"""The receivables dashboard (credit manager): the figures of ``GET /v1/reports/receivables``, drawn.

Why no computation here: the page asks ``serving.api.reports.report`` for the
very object the API answers and only lays it out, so a number on the screen is
the API's number; each figure links to its rows (``/dashboard/rows``, the API's
``/v1/reports/receivables/rows``), every table exports as CSV and the page as PDF.
"""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ledger.receivables import BUCKETS
from serving.access import requires
from serving.api import reports
from serving.pages import charts
from serving.pages.exports import Column, Table, page_args, respond
from serving.pages.i18n import money
from serving.pages.layout import blueprint, url_with

bp = blueprint("pages_dashboard", __name__)

BUCKET_NAMES = {"current": _l("current"), "1_30": _l("1-30 days"), "31_60": _l("31-60 days"),
                "61_90": _l("61-90 days"), "90_plus": _l("90+ days"), "none": _l("nothing open")}
AGE_NAMES = {"0_7": _l("0-7 days"), "8_30": _l("8-30 days"), "31_60": _l("31-60 days"), "61_plus": _l("61+ days")}


def _rows_link(entity: str | None, **filters: Any) -> str:  # noqa: ANN401
    return url_with("/dashboard/rows", entity=entity, **filters)


def _customer_link(row: dict[str, Any]) -> str:
    return f"/customers/{row['customer_id']}"


def tables(report: Any, entity: str | None) -> list[Table]:  # noqa: ANN401 - a ReceivablesReport
    """The dashboard's tables from the report (each one also a CSV)."""
    ageing = [{"bucket": str(BUCKET_NAMES[b]), "key": b, "amount": report.ageing[b].amount,
               "items": report.ageing[b].items, "disputed": report.disputed[b].amount} for b in BUCKETS]
    trend = [p.model_dump() for p in report.trend]
    disputes = [{"type": kind, "age": str(AGE_NAMES[age]), "age_key": age, "amount": figure.amount,
                 "items": figure.items} for kind, ages in report.disputes.items() for age, figure in ages.items()
                if figure.items]
    holders = lambda hs: [{"name": h.name, "open": h.open.amount, "items": h.open.items,  # noqa: E731
                           "overdue": h.overdue.amount, "overdue_items": h.overdue.items} for h in hs]
    largest = [{"customer_id": e.customer_id, "name": e.name, "open": e.open.amount, "items": e.open.items,
                "overdue": e.overdue, "worst": str(BUCKET_NAMES[e.worst_bucket])} for e in report.largest_exposures]
    worse = [{"customer_id": w.customer_id, "name": w.name, "was": str(BUCKET_NAMES[w.was]),
              "now": str(BUCKET_NAMES[w.now]), "overdue": w.overdue} for w in report.worsened]
    held = [Column("open", _("Open"), "money"), Column("items", _("Items"), "int"),
            Column("overdue", _("Overdue"), "money"), Column("overdue_items", _("Overdue items"), "int")]
    return [
        Table("ageing", _("Ageing"), [
            Column("bucket", _("Bucket"), href=lambda r: _rows_link(entity, bucket=r["key"])),
            Column("amount", _("Open"), "money"), Column("items", _("Items"), "int"),
            Column("disputed", _("Of which disputed"), "money")], ageing),
        Table("dso_trend", _("DSO by month (countback)"), [
            Column("month", _("Month")), Column("receivables", _("Receivables"), "money"),
            Column("sales", _("Sales"), "money"), Column("dso", _("DSO (days)"), "days")], trend),
        Table("disputes", _("Open disputes by type and age"), [
            Column("type", _("Type"), href=lambda r: _rows_link(entity, dispute_type=r["type"])),
            Column("age", _("Age"), href=lambda r: _rows_link(entity, dispute_type=r["type"],
                                                              dispute_age=r["age_key"])),
            Column("amount", _("Open"), "money"), Column("items", _("Items"), "int")], disputes),
        Table("account_managers", _("Per account manager"),
              [Column("name", _("Account manager"), href=lambda r: _rows_link(entity, manager=r["name"])),
               *held], holders(report.account_managers)),
        Table("collectors", _("Per collector (open tasks)"),
              [Column("name", _("Collector"), href=lambda r: _rows_link(entity, collector=r["name"])), *held],
              holders(report.collectors)),
        Table("largest", _("Largest exposures"), [
            Column("customer_id", _("Customer"), href=_customer_link), Column("name", _("Name")),
            Column("open", _("Open"), "money"), Column("items", _("Items"), "int"),
            Column("overdue", _("Overdue"), "money"), Column("worst", _("Oldest item"))], largest),
        Table("worsened", _("Customers getting worse since the last check"), [
            Column("customer_id", _("Customer"), href=_customer_link), Column("name", _("Name")),
            Column("was", _("Then")), Column("now", _("Now")), Column("overdue", _("Overdue"), "money")], worse,
              note=_("Their oldest open item moved to a later ageing bucket in the last 30 days.")),
    ]


@bp.get("/dashboard")
@requires(*reports.READERS)
def dashboard() -> Any:  # noqa: ANN401 - a page, a CSV or a PDF
    args = page_args()
    report = reports.report(args)
    entity = report.entity
    ageing_chart = charts.bars(
        [charts.Bar(str(BUCKET_NAMES[b]), report.ageing[b].amount, _rows_link(entity, bucket=b)) for b in BUCKETS],
        title=_("Open by ageing bucket"), label=money,
        classes=["bar" if b == "current" else "bar overdue" for b in BUCKETS])
    trend_chart = charts.line([charts.Bar(p.month, p.dso or 0.0) for p in report.trend],
                              title=_("DSO by month (countback)"), label=lambda v: f"{v:.1f}")
    links = {"outstanding": _rows_link(entity), "overdue": _rows_link(entity, overdue="1"),
             "at_risk": _rows_link(entity, bucket="90_plus")}
    return respond("pages/dashboard.html", tables(report, entity), pdf="dashboard", title=_("Receivables"),
                   report=report, entity=entity, ageing_chart=ageing_chart, trend_chart=trend_chart, links=links)


@bp.get("/dashboard/rows")
@requires(*reports.READERS)
def rows() -> Any:  # noqa: ANN401 - a page or a CSV
    args = page_args()
    found = reports.rows(args)
    table = Table("rows", _("Open items"), [
        Column("invoice_id", _("Invoice")), Column("customer_id", _("Customer"), href=_customer_link),
        Column("name", _("Name")), Column("account_manager", _("Account manager")),
        Column("legal_entity_id", _("Entity")), Column("due_at", _("Due"), "date"),
        Column("amount", _("Amount"), "money"), Column("open_amount", _("Open"), "money"),
        Column("days_past_due", _("Days past due"), "int"), Column("bucket", _("Bucket")),
        Column("dispute_type", _("Dispute")), Column("dispute_age", _("Dispute age"))],
        [r.model_dump() for r in found.rows], note=_("Largest open balance first, at most 500 rows."))
    filters = {k: v for k, v in args.items() if v}
    return respond("pages/rows.html", [table], title=_("Open items"), filters=filters, as_of=found.as_of,
                   total=found.total)
