"""What the receivables figures are computed from, read from the book in exact cents: ageing, the monthly
sales and receivables behind DSO (countback), ADD and CEI, disputes, who holds what, the largest exposures
and the customers getting worse. The formulas are ``engine.receivables`` (the same the closed-loop bench
judges a simulated book by); ``serving.api.reports`` applies them to :func:`receivables` and answers
``GET /v1/reports/receivables``, which the dashboard page draws, so the page and the API cannot disagree.

* The **report date** is the book's: the business time of the newest event the ledger booked lately (in
  production today; for a simulated or imported history, its last day; :func:`book_date_us`). Days past
  due count whole days to it.
* **Receivables at the end of a day** come from three daily sums (invoices issued, payments allocated by the
  day received, open balances written off), so the twelve month-ends of the DSO trend cost three grouped
  scans, not twelve reconstructions; at the report date they equal the open invoices' balances (a test
  holds them to it).
* **DSO, countback** needs the receivables at a date and the sales of each month going back from it (the
  month of the date counts its elapsed days): :attr:`Receivables.months`, and per month-end of the trend
  :attr:`TrendPoint.months`. **Best possible DSO** takes the current receivables and the last 90 days'
  sales, **CEI** the last 30 days (opening receivables, sales, closing total and current).
* **Getting worse** (the monitoring of existing customers): a customer whose oldest open item sits in a
  later ageing bucket than at the last check, the report date minus 30 days.

Every figure can be opened as its rows (:func:`receivable_rows`): the open invoices behind a bucket, an
account manager, a collector, a dispute type and age, or a customer.

Example::

    facts = receivables(engine)                     # consolidated; receivables(engine, entity="NL01")
    dso_countback(facts.outstanding.cents, facts.months), facts.ageing["90_plus"].cents
"""
from __future__ import annotations

import calendar
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ledger import daily
from ledger import schema as t
from ledger.daily import daily_sums
from ledger.events import US_PER_DAY
from ledger.views import AGEING, Source, bucket, connected, days_past_due

BUCKETS = tuple(name for name, _, _ in AGEING)
#: Ages of open disputes, in days since they were opened: (name, up to and including).
DISPUTE_AGES = (("0_7", 7), ("8_30", 30), ("31_60", 60), ("61_plus", None))
TREND_MONTHS = 12
CEI_DAYS, BEST_DSO_DAYS, CHECK_DAYS = 30, 90, 30
TOP = 10
#: The entity filter's name for invoices without a legal entity.
NO_ENTITY = "-"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Amount:
    """A figure's cents and how many open items make it up."""

    cents: int = 0
    items: int = 0

    def plus(self, cents: int) -> Amount:
        return Amount(self.cents + cents, self.items + 1)


@dataclass(frozen=True)
class Holder:
    """What one account manager or collector holds: open items, their balance, the overdue part."""

    name: str
    open: Amount
    overdue: Amount


@dataclass(frozen=True)
class Exposure:
    customer_id: str
    name: str | None
    open: Amount
    overdue_cents: int
    worst_bucket: str


@dataclass(frozen=True)
class Worsened:
    customer_id: str
    name: str | None
    was: str
    now: str
    overdue_cents: int


@dataclass(frozen=True)
class TrendPoint:
    month: str              # YYYY-MM: the month-end (the report date for the last point)
    receivables_cents: int
    sales_cents: int        # the month's sales up to the point
    months: tuple[tuple[int, int], ...]  # (sales, days) per month going back from the point: its DSO


@dataclass(frozen=True)
class Receivables:
    """The receivables of one legal entity (or all: ``entity`` None) on the report date."""

    as_of_us: int
    entity: str | None
    entities: tuple[str, ...]
    ageing: dict[str, Amount]
    disputed: dict[str, Amount]            # the disputed part of each bucket (inside the bucket too)
    outstanding: Amount
    overdue: Amount
    months: tuple[tuple[int, int], ...]    # (sales, days) per month going back from the report date
    best_dso_sales_cents: int              # the last BEST_DSO_DAYS days' sales
    cei_opening_cents: int                 # the receivables CEI_DAYS days before the report date
    cei_sales_cents: int                   # the sales of those CEI_DAYS days
    trend: tuple[TrendPoint, ...]
    disputes: dict[str, dict[str, Amount]]  # type -> age -> open disputed items
    managers: tuple[Holder, ...]
    collectors: tuple[Holder, ...]
    largest: tuple[Exposure, ...]
    worsened: tuple[Worsened, ...]


#: How many of the latest booked events the report date is read from.
RECENT_EVENTS = 1000


def book_date_us(source: Source) -> int | None:
    """The report date: the latest business time among the last ``RECENT_EVENTS`` events booked (by arrival;
    master data, which carries the server's clock, left out); None for an empty book. Reading the tail of
    the log by its primary key keeps this a small read however long the log."""
    e = t.ledger_events.c
    recent = sa.select(e.at_us, e.type).order_by(e.seq.desc()).limit(RECENT_EVENTS).subquery()
    with connected(source) as conn:
        return conn.execute(sa.select(sa.func.max(recent.c.at_us)).where(recent.c.type != "customer_updated")).scalar()


def book_version(source: Source) -> tuple[int, int, int]:
    """What changes whenever a figure may: the newest event booked, the last dunning run, the tasks opened
    (three small reads: two primary-key maxima and a count); the report is kept while this holds."""
    with connected(source) as conn:
        seq = conn.execute(sa.select(sa.func.max(t.ledger_events.c.seq))).scalar() or 0
        run = conn.execute(sa.select(sa.func.max(t.dunning_runs.c.finished_us))).scalar() or 0
        tasks = conn.execute(sa.select(sa.func.count()).select_from(t.tasks)).scalar() or 0
    return int(seq), int(run), int(tasks)


def _day(us: int) -> int:
    return us // US_PER_DAY


def _date(day: int) -> date:
    return (_EPOCH + timedelta(days=day)).date()


def _day_of(when: date) -> int:
    return (when - _EPOCH.date()).days


def _entity_filter(column: sa.ColumnElement, entity: str | None) -> list[sa.ColumnElement[bool]]:
    """The items of ``entity``: as an expression, not a bare column, so the database finds them by the index of
    the other terms (the open items, the closings since the last check; an entity holds most of its book) and
    not by walking the entity's whole index (``IS NULL`` read every invoice of a book without entities)."""
    if entity is None:
        return []
    return [sa.func.coalesce(column, daily.NONE) == (daily.NONE if entity == NO_ENTITY else entity)]


def _daily(conn: sa.Connection, entity: str | None) -> tuple[dict[int, int], dict[int, int]]:
    """Per day: the invoices issued (sales) and what left the receivables (allocated payments by the day
    received, balances written off), in cents: the book keeps them as it books (``ledger.daily``)."""
    return daily_sums(conn, None if entity is None else daily.NONE if entity == NO_ENTITY else entity)


class _Book:
    """Receivables and sales at any day from the daily sums (running totals: each question is two bisections,
    so the twelve month-ends of the trend, each with its months back, cost no scan of the days)."""

    def __init__(self, sales: dict[int, int], leaving: dict[int, int]) -> None:
        self._days = sorted(set(sales) | set(leaving))
        self._net, self._sold = [0], [0]
        for d in self._days:
            self._net.append(self._net[-1] + sales.get(d, 0) - leaving.get(d, 0))
            self._sold.append(self._sold[-1] + sales.get(d, 0))

    def receivables(self, day: int) -> int:
        """At the end of ``day``."""
        return self._net[bisect_right(self._days, day)]

    def sold(self, first: int, last: int) -> int:
        """Sales from ``first`` to ``last``, both included."""
        if last < first:
            return 0
        return self._sold[bisect_right(self._days, last)] - self._sold[bisect_left(self._days, first)]

    def months_back(self, day: int) -> tuple[tuple[int, int], ...]:
        """(sales, days) per month going back from ``day``: its own month up to it, then whole months,
        down to the book's first month."""
        first = self._days[0] if self._days else day
        out, when = [], _date(day)
        start = when.replace(day=1)
        out.append((self.sold(_day_of(start), day), when.day))
        while _day_of(start) > first:
            end = start - timedelta(days=1)
            start = end.replace(day=1)
            out.append((self.sold(_day_of(start), _day_of(end)), end.day))
        return tuple(out)


def _overdue(due: sa.ColumnElement[int], today: int, value: sa.ColumnElement[int]) -> sa.ColumnElement[int]:
    return sa.case((due < today * US_PER_DAY, value), else_=0)


def _per_customer(conn: sa.Connection, entity: str | None, today: int) -> list[Any]:
    """Per customer with open items: its name and account manager, what it has open (cents, items), the
    overdue part (cents, items) and its oldest due date; summed by the database (one row per customer, not
    per item: a cold report fetches 9,000 rows instead of 21,000 at 500,000 invoices)."""
    i, c = t.invoices.c, t.customers.c
    left = i.amount_cents - i.paid_cents
    sums = (sa.select(i.customer_id, sa.func.sum(left).label("cents"), sa.func.count().label("open_items"),
                      sa.func.sum(_overdue(i.due_us, today, left)).label("late"),
                      sa.func.sum(_overdue(i.due_us, today, 1)).label("late_items"),
                      sa.func.min(i.due_us).label("oldest_due"))
            .where(i.status == "open", *_entity_filter(i.legal_entity_id, entity)).group_by(i.customer_id)
            .subquery())
    return conn.execute(sa.select(sums.c.customer_id, c.name, c.account_manager, sums.c.cents, sums.c.open_items,
                                  sums.c.late, sums.c.late_items, sums.c.oldest_due)
                        .join_from(sums, t.customers, c.id == sums.c.customer_id, isouter=True)).all()


def _bucket_case(due: sa.ColumnElement[int], today: int) -> sa.ColumnElement[str]:
    """``ledger.views.bucket`` as SQL: the first bucket whose oldest due day the item is not older than."""
    *named, (last, _, _) = AGEING
    return sa.case(*((due >= (today - high) * US_PER_DAY, name) for name, _, high in named), else_=last)


def _ageing(conn: sa.Connection, entity: str | None, today: int) -> tuple[dict[str, Amount], dict[str, Amount]]:
    """The open items per ageing bucket, all and the disputed ones."""
    i = t.invoices.c
    where = _bucket_case(i.due_us, today).label("bucket")
    ageing, disputed = {b: Amount() for b in BUCKETS}, {b: Amount() for b in BUCKETS}
    for name, is_disputed, cents, items in conn.execute(
            sa.select(where, i.disputed, sa.func.sum(i.amount_cents - i.paid_cents), sa.func.count())
            .where(i.status == "open", *_entity_filter(i.legal_entity_id, entity)).group_by(where, i.disputed)):
        ageing[name] = Amount(ageing[name].cents + int(cents), ageing[name].items + int(items))
        if is_disputed:
            disputed[name] = Amount(disputed[name].cents + int(cents), disputed[name].items + int(items))
    return ageing, disputed


def _collectors(conn: sa.Connection, entity: str | None, today: int) -> dict[str, list[Amount]]:
    """Per owner of open tasks on open invoices: those invoices' balances and the overdue part (an invoice
    counts once per open task on it)."""
    i, k = t.invoices.c, t.tasks.c
    left = i.amount_cents - i.paid_cents
    query = (sa.select(k.owner, sa.func.sum(left), sa.func.count(), sa.func.sum(_overdue(i.due_us, today, left)),
                       sa.func.sum(_overdue(i.due_us, today, 1)))
             .join_from(t.tasks, t.invoices, i.id == k.invoice_id)
             .where(k.status == "open", i.status == "open", *_entity_filter(i.legal_entity_id, entity))
             .group_by(k.owner))
    return {owner: [Amount(int(cents), int(items)), Amount(int(late), int(late_items))]
            for owner, cents, items, late, late_items in conn.execute(query)}


def _entities(conn: sa.Connection) -> tuple[str, ...]:
    i = t.invoices.c
    found = conn.execute(sa.select(i.legal_entity_id).where(i.status == "open").distinct()).scalars()
    return tuple(sorted(NO_ENTITY if e is None else e for e in found))


def _worst_then(conn: sa.Connection, entity: str | None, check_us: int) -> dict[str, int]:
    """Per customer, the worst days past due of its items open at ``check_us`` (the last check).

    An item open then is open now, or was paid or written off since: three disjoint sets, each read on its
    own index (status, ``paid_us``, ``written_off_us``), about the open items and a month of closings
    instead of the whole book (55 ms instead of 170 ms at 500,000 invoices)."""
    i = t.invoices.c
    then = [i.issued_us + 0 <= check_us, *_entity_filter(i.legal_entity_id, entity)]
    closed = i.status != "open"
    parts = sa.union_all(
        sa.select(i.customer_id, i.due_us).where(i.status == "open", *then),
        sa.select(i.customer_id, i.due_us).where(i.paid_us > check_us, closed, *then),
        sa.select(i.customer_id, i.due_us).where(i.written_off_us > check_us, closed,
                                                 sa.or_(i.paid_us.is_(None), i.paid_us <= check_us), *then),
    ).subquery()
    query = sa.select(parts.c.customer_id, sa.func.min(parts.c.due_us)).group_by(parts.c.customer_id)
    return {c: days_past_due(due, check_us) for c, due in conn.execute(query)}


def _bucket_of_days(days: int) -> str:
    for name, low, high in AGEING:
        if (low is None or days > low) and (high is None or days <= high):
            return name
    raise AssertionError(days)


def _dispute_age(days: int) -> str:
    return next(name for name, high in DISPUTE_AGES if high is None or days <= high)


def receivables(source: Source, entity: str | None = None, as_of_us: int | None = None) -> Receivables:
    """The figures of ``entity`` (a legal entity id, ``NO_ENTITY`` for invoices without one, None for all)
    on the book's date (``as_of_us`` for a test: it must not be before the book's newest event)."""
    with connected(source) as conn:
        at = as_of_us if as_of_us is not None else book_date_us(conn)
        at = at if at is not None else 0
        today = _day(at)
        book = _Book(*_daily(conn, entity))
        customers = _per_customer(conn, entity, today)
        ageing, disputed = _ageing(conn, entity, today)
        collectors = _collectors(conn, entity, today)
        d, i = t.disputes.c, t.invoices.c
        disputed_rows = conn.execute(sa.select(d.reason, d.opened_us, i.amount_cents - i.paid_cents)
                                     .join(t.invoices, i.id == d.invoice_id)
                                     .where(d.status == "open", i.status == "open",
                                            *_entity_filter(i.legal_entity_id, entity))).all()
        worst_then = _worst_then(conn, entity, at - CHECK_DAYS * US_PER_DAY)
        entities = _entities(conn)

    per_customer: dict[str, list[Any]] = {}
    managers: dict[str, list[Amount]] = {}
    names: dict[str, str | None] = {}
    for customer_id, name, manager, cents, items, late, late_items, oldest_due in customers:
        cents, items, late, late_items = int(cents), int(items), int(late), int(late_items)
        per_customer[customer_id] = [Amount(cents, items), late, oldest_due]
        names[customer_id] = name
        held = managers.setdefault(manager or NO_ENTITY, [Amount(), Amount()])
        held[0] = Amount(held[0].cents + cents, held[0].items + items)
        held[1] = Amount(held[1].cents + late, held[1].items + late_items)
    outstanding = Amount(sum(a.cents for a in ageing.values()), sum(a.items for a in ageing.values()))
    overdue = Amount(outstanding.cents - ageing["current"].cents, outstanding.items - ageing["current"].items)

    disputes: dict[str, dict[str, Amount]] = {}
    for reason, opened_us, left in disputed_rows:
        ages = disputes.setdefault(reason, {name: Amount() for name, _ in DISPUTE_AGES})
        age = _dispute_age(today - _day(opened_us))
        ages[age] = ages[age].plus(int(left))

    trend = []
    for k in range(TREND_MONTHS - 1, -1, -1):
        end = _month_end(_date(today), k)
        point = min(_day_of(end), today)
        trend.append(TrendPoint(f"{end:%Y-%m}", book.receivables(point), book.sold(_day_of(end.replace(day=1)), point),
                                book.months_back(point)))

    largest = sorted(per_customer.items(), key=lambda kv: (-kv[1][0].cents, kv[0]))[:TOP]
    worsened = []
    for customer_id, (_, late, oldest_due) in per_customer.items():
        now = _bucket_of_days(days_past_due(oldest_due, at))
        was_days = worst_then.get(customer_id)
        was = "none" if was_days is None else _bucket_of_days(was_days)
        if BUCKETS.index(now) > (-1 if was == "none" else BUCKETS.index(was)) and now != "current":
            worsened.append(Worsened(customer_id, names.get(customer_id), was, now, late))
    worsened.sort(key=lambda w: (-BUCKETS.index(w.now), -w.overdue_cents, w.customer_id))

    return Receivables(
        as_of_us=at, entity=entity, entities=entities, ageing=ageing, disputed=disputed, outstanding=outstanding,
        overdue=overdue, months=book.months_back(today),
        best_dso_sales_cents=book.sold(today - BEST_DSO_DAYS + 1, today),
        cei_opening_cents=book.receivables(today - CEI_DAYS), cei_sales_cents=book.sold(today - CEI_DAYS + 1, today),
        trend=tuple(trend), disputes=disputes,
        managers=_holders(managers), collectors=_holders(collectors),
        largest=tuple(Exposure(c, names.get(c), v[0], v[1], _bucket_of_days(days_past_due(v[2], at)))
                      for c, v in largest),
        worsened=tuple(worsened[:TOP * 2]))


def _holders(held: dict[str, list[Amount]]) -> tuple[Holder, ...]:
    return tuple(Holder(name, a, b) for name, (a, b) in sorted(held.items(), key=lambda kv: (-kv[1][0].cents, kv[0])))


def _month_end(when: date, months_back: int) -> date:
    """The last day of the month ``months_back`` months before ``when``'s."""
    year, month = when.year, when.month - months_back
    while month < 1:
        year, month = year - 1, month + 12
    return date(year, month, calendar.monthrange(year, month)[1])


#: What a figure's rows may be filtered by (the dashboard's links and ``GET /v1/reports/receivables/rows``).
ROW_FILTERS = ("entity", "bucket", "manager", "collector", "dispute_type", "dispute_age", "customer", "overdue")


def receivable_rows(source: Source, as_of_us: int, entity: str | None = None, bucket_name: str | None = None,
                    manager: str | None = None, collector: str | None = None, dispute_type: str | None = None,
                    dispute_age: str | None = None, customer: str | None = None, overdue: bool = False,
                    limit: int = 500) -> tuple[list[dict[str, Any]], Amount]:
    """The open invoices behind a figure, largest open balance first (at most ``limit``), and what all of
    them add up to: each with its customer, account manager, days past due, bucket and (when a dispute is
    open) the dispute's type and age."""
    i, c, d, k = t.invoices.c, t.customers.c, t.disputes.c, t.tasks.c
    query = (sa.select(i.id, i.customer_id, c.name, c.account_manager, i.legal_entity_id, i.issued_us, i.due_us,
                       i.amount_cents, (i.amount_cents - i.paid_cents).label("open_cents"), i.disputed)
             .join(t.customers, c.id == i.customer_id, isouter=True)
             .where(i.status == "open", *_entity_filter(i.legal_entity_id, entity)))
    if manager is not None:
        query = query.where(c.account_manager.is_(None) if manager == NO_ENTITY else c.account_manager == manager)
    if customer is not None:
        query = query.where(i.customer_id == customer)
    today = _day(as_of_us)
    for name, low, high in AGEING:  # a bucket is a range of due days: the filter runs on the due-date index
        if name == bucket_name:
            if low is not None:
                query = query.where(i.due_us < (today - low) * US_PER_DAY)
            if high is not None:
                query = query.where(i.due_us >= (today - high) * US_PER_DAY)
    if overdue:
        query = query.where(i.due_us < today * US_PER_DAY)
    if collector is not None:
        query = query.where(i.id.in_(sa.select(k.invoice_id).where(k.owner == collector, k.status == "open")))
    if dispute_type is not None or dispute_age is not None:
        open_disputes = sa.select(d.invoice_id).where(d.status == "open")
        if dispute_type is not None:
            open_disputes = open_disputes.where(d.reason == dispute_type)
        query = query.where(i.id.in_(open_disputes))
    with connected(source) as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
        ids = [r["id"] for r in rows]
        disputes = {}
        for part in range(0, len(ids), 500):
            disputes.update({inv: (reason, opened) for inv, reason, opened in conn.execute(
                sa.select(d.invoice_id, d.reason, d.opened_us).where(d.status == "open",
                                                                     d.invoice_id.in_(ids[part:part + 500])))})
    out = []
    for row in rows:
        row["days_past_due"] = days_past_due(row["due_us"], as_of_us)
        row["bucket"] = bucket(row["due_us"], as_of_us)
        reason, opened = disputes.get(row["id"], (None, None))
        row["dispute_type"] = reason
        row["dispute_age"] = None if opened is None else _dispute_age(_day(as_of_us) - _day(opened))
        if dispute_age is not None and row["dispute_age"] != dispute_age:
            continue
        out.append(row)
    out.sort(key=lambda r: (-r["open_cents"], r["id"]))
    return out[:limit], Amount(sum(r["open_cents"] for r in out), len(out))
