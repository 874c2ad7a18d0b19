"""Public holidays per country, from the ``holidays`` package: the data behind business days.

Why: a legal letter (the Dutch 14-day letter) starts a term the law counts in
days, and a term that ends on a Saturday, Sunday or public holiday runs to the
next business day (Algemene termijnenwet); no dunning message should land on
Christmas Day either. The holiday tables of every country change by decree, so
they come from a maintained package, not from a list in this repository. The
engine never imports the package: it reads a calendar through the ``Calendar``
port of ``engine.ports``, and this class is the one the service, the batch
paths and the backtest hand it.

Example::

    cal = PublicHolidays()
    cal.holiday("NL", date(2025, 12, 25))       # 'Christmas Day'
    cal.holiday("NL", date(2025, 12, 29))       # None
"""
from __future__ import annotations

import threading
from datetime import date

import holidays


class PublicHolidays:
    """Public holidays by ISO 3166 country code; a country the package does not know has none.

    Each (country, year) table is built once and kept (a few hundred bytes per
    country and year), under a lock, so threads share one instance.
    """

    def __init__(self) -> None:
        self._tables: dict[tuple[str, int], dict[date, str]] = {}
        self._lock = threading.Lock()

    def holiday(self, country: str, day: date) -> str | None:
        """The name of the public holiday on ``day`` in ``country``, or None."""
        key = ((country or "").upper(), day.year)
        table = self._tables.get(key)
        if table is None:
            with self._lock:
                table = self._tables.get(key)
                if table is None:
                    table = self._tables[key] = _table(*key)
        return table.get(day)


def _table(country: str, year: int) -> dict[date, str]:
    try:
        return dict(holidays.country_holidays(country, years=year))
    except NotImplementedError:  # the package has no calendar for this country code
        return {}
