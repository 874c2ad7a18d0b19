"""Business days: what a calendar is to the engine, and the day arithmetic on it.

Why: the engine stays pure (no holiday package, no I/O); it reads public holidays
through this small protocol, and ``domain.calendar.PublicHolidays`` (the
``holidays`` package) is the one the service and the batch paths hand in. A test
can hand in any mapping of its own.

A business day is a weekday (Monday to Friday) that is no public holiday of the
customer's country: the days a legal term counts from and runs to.

Example::

    next_business_day(PublicHolidays(), "NL", date(2025, 12, 25))   # date(2025, 12, 29)
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Protocol

from domain.errors import InvalidInput

#: Far more than any run of weekend and holidays: a calendar that closes every day is refused, not looped on.
SEARCH_DAYS = 31


class Calendar(Protocol):
    """Public holidays per country (``domain.calendar.PublicHolidays`` is one)."""

    def holiday(self, country: str, day: date) -> str | None:
        """The name of the public holiday on ``day`` in ``country``, or None."""


def is_business_day(calendar: Calendar | None, country: str, day: date) -> bool:
    """Monday to Friday and no public holiday (without a calendar: Monday to Friday)."""
    return day.weekday() < 5 and (calendar is None or calendar.holiday(country, day) is None)


def next_business_day(calendar: Calendar | None, country: str, day: date) -> date:
    """``day`` itself when it is a business day, else the first business day after it."""
    for offset in range(SEARCH_DAYS):
        candidate = day + timedelta(days=offset)
        if is_business_day(calendar, country, candidate):
            return candidate
    raise InvalidInput(f"the calendar of {country} has no business day within {SEARCH_DAYS} days of {day}",
                       field="calendar")
