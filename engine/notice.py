"""The Dutch 14-day letter (art. 6:96 lid 6 BW): the statutory part of a final notice to a consumer.

Why: collection costs may be charged to a consumer only after a written notice
that states the amount due, gives 14 days to pay counted from the day after
receipt, names the costs under the BIK scale that will be charged if the term
passes unpaid, and is dated. That part must be there whatever an analyst does to
the wording around it, so it is fixed here in code (the templates write the rest)
and the letter renders it as its own block. The costs are computed on the total
principal of the letter (one notice for the invoices it lists).

Example::

    notice = fourteen_day_notice("nl", 250000, date(2026, 11, 2), None, "NL", Decimal("6.00"))
    notice.costs_cents                 # 37500
    notice.lines[2]                    # 'Openstaand bedrag: € 2.500,00'
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import partial

from engine.calendar import Calendar
from engine.legal import collection_costs
from engine.templates import TERM_DAYS, long_date, money, pay_by


@dataclass(frozen=True)
class Notice:
    title: str
    lines: tuple[str, ...]
    costs_cents: int
    received_on: date
    pay_by: date


def fourteen_day_notice(language: str, principal_cents: int, dated: date, calendar: Calendar | None, country: str,
                        interest_percent: Decimal) -> Notice:
    """The statutory block of a 14-day letter dated ``dated`` for ``principal_cents`` (Dutch or English)."""
    costs = int((collection_costs(Decimal(principal_cents) / 100) * 100).quantize(Decimal(1), ROUND_HALF_UP))
    received, last = pay_by(dated, calendar, country)
    m, d = partial(money, language=language), partial(long_date, language=language)
    if language == "nl":
        percent = str(interest_percent).replace(".", ",")
        return Notice("Veertiendagenbrief (artikel 6:96 lid 6 BW)", (
            f"Datum: {d(dated)}",
            "Dit is een aanmaning met een laatste betalingstermijn.",
            f"Openstaand bedrag: {m(principal_cents)}",
            f"U heeft {TERM_DAYS} dagen om dit bedrag te betalen, te rekenen vanaf de dag na ontvangst van deze brief.",
            f"Ontvangt u deze brief op {d(received)}, dan is de laatste betaaldag {d(last)}.",
            f"Betaalt u niet binnen deze termijn, dan brengen wij buitengerechtelijke incassokosten in rekening van "
            f"{m(costs)}, berekend volgens het Besluit vergoeding voor buitengerechtelijke incassokosten.",
            f"Na afloop van de termijn bent u ook de wettelijke rente verschuldigd (nu {percent}% per jaar).",
        ), costs, received, last)
    return Notice("14-day letter (article 6:96(6) Dutch Civil Code)", (
        f"Date: {d(dated)}",
        "This is a reminder with a final term for payment.",
        f"Amount due: {m(principal_cents)}",
        f"You have {TERM_DAYS} days to pay this amount, counted from the day after you receive this letter.",
        f"If you receive this letter on {d(received)}, the last day to pay is {d(last)}.",
        f"If you do not pay within this term, we will charge extrajudicial collection costs of {m(costs)}, "
        "calculated under the Dutch Extrajudicial Collection Costs Decree (BIK).",
        f"After the term you will also owe statutory interest (currently {interest_percent}% a year).",
    ), costs, received, last)
