"""The receivables figures a credit manager reads: DSO by countback, best possible DSO, ADD, CEI, at-risk rate.

Why here: the same formulas judge a real book (the dashboard) and a simulated one (the closed-loop proof of
``bench/closed_loop.py``); written once, on plain integers of cents, they cannot drift apart. The
definitions are those of ``shared/DOMAIN.md``.

Example::

    dso_countback(150_000, [(100_000, 30), (80_000, 31)])   # 30 + 50,000 / 80,000 x 31 = 49.375
"""
from __future__ import annotations

from collections.abc import Sequence


def dso_countback(open_cents: int, months: Sequence[tuple[int, int]]) -> float:
    """Days sales outstanding by the countback method.

    ``months`` are (credit sales in cents, days) newest first, the first being the month that ends on the
    report date. Each month whose sales the open receivables still cover counts in full; the month where
    they run out counts by the share left. Receivables older than every month given count the last month's
    rate (the book is younger than its receivables: rare, but it must not divide by zero)."""
    if open_cents < 0:
        raise ValueError("open receivables cannot be negative")
    left, days = open_cents, 0.0
    for sales, month_days in months:
        if sales <= 0:
            days += month_days if left > 0 else 0
            continue
        if left <= sales:
            return days + left / sales * month_days
        left -= sales
        days += month_days
    if left > 0 and months:
        sales, month_days = next(((s, d) for s, d in reversed(months) if s > 0), (0, 0))
        days += left / sales * month_days if sales else 0.0
    return days


def best_possible_dso(current_cents: int, sales_cents: int, days: int) -> float:
    """Current (not yet due) receivables over the period's credit sales, in days: the DSO with nothing late."""
    return current_cents / sales_cents * days if sales_cents > 0 else 0.0


def average_days_delinquent(dso: float, best_dso: float) -> float:
    """ADD: what lateness adds to DSO."""
    return dso - best_dso


def collection_effectiveness(opening_cents: int, sales_cents: int, closing_cents: int,
                             closing_current_cents: int) -> float:
    """CEI in percent: of what could have been collected in the period, how much was.

    (opening + sales - closing total) / (opening + sales - closing current) x 100; 80 % or more is effective,
    50 % or less poor. A period with nothing collectable is 100 %."""
    collectable = opening_cents + sales_cents - closing_current_cents
    if collectable <= 0:
        return 100.0
    return (opening_cents + sales_cents - closing_cents) / collectable * 100.0


def at_risk_rate(over_90_cents: int, open_cents: int) -> float:
    """Share of open receivables more than 90 days past due."""
    return over_90_cents / open_cents if open_cents > 0 else 0.0
