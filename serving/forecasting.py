"""The cash-in forecast of a legal entity's book as the service answers it (API and page alike).

Why one place: ``GET /v1/forecast`` and the forecast page show the same numbers, and both are
``training.forecast.forecast`` over the ledger database read back as the contract's tables
(``ledger.frames.read_ledger``) with the serving champion: the function the back-test runs.

A forecast reads the entity's whole history (features as of each open invoice's issue, a year of
payments for the shapes and the baseline's rates), seconds on a large book, so each worker keeps the
last few answers (in the app's ``extensions``), keyed by entity, day, model version and the ledger's
last booked event: a new event or a promoted model gives a new answer, a second look at the page the
same one.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date, timedelta

import pandas as pd
import sqlalchemy as sa
from flask import current_app

from domain.errors import NotFound
from ledger import schema as t
from ledger.frames import legal_entities, read_ledger
from ledger.receivables import book_date_us
from serving.dunning_view import day as day_of
from serving.runtime import Runtime
from training.forecast import Forecast, forecast

KEPT = 8


class _Kept:
    """The last ``KEPT`` forecasts of one app, newest last."""

    def __init__(self) -> None:
        self.answers: OrderedDict[tuple, Forecast] = OrderedDict()
        self.lock = threading.Lock()


def _kept() -> _Kept:
    return current_app.extensions.setdefault("kredo.forecasts", _Kept())


def default_day(runtime: Runtime, today: date) -> date:
    """The day a forecast is made when none is asked for: today, or, for a book whose last business event is
    older (an imported or simulated book), the day after it, so the forecast starts where the book ends."""
    last = book_date_us(runtime.book.engine)
    return today if last is None else min(today, day_of(last) + timedelta(days=1))


def entity_forecast(runtime: Runtime, entity: str | None, day: date) -> Forecast:
    """The forecast made at midnight (UTC) starting ``day`` for ``entity`` (``None``: consolidated; ``-``:
    the invoices of no entity). An unknown entity is a ``NotFound`` naming the field ``entity``.
    """
    served = runtime.snapshot()
    engine = runtime.book.engine
    if entity is not None and entity not in {e["id"] for e in legal_entities(engine)}:
        raise NotFound(f"the ledger has no legal entity {entity[:80]!r}", field="entity")
    with engine.connect() as conn:
        last_event = conn.execute(sa.select(sa.func.max(t.ledger_events.c.seq))).scalar()
    key = (entity, day, served.model_info.version, last_event)
    kept = _kept()
    with kept.lock:
        if key in kept.answers:
            kept.answers.move_to_end(key)
            return kept.answers[key]
    result = forecast(read_ledger(engine, entity), pd.Timestamp(day), served.model,
                      model_version=served.model_info.version)
    with kept.lock:
        kept.answers[key] = result
        while len(kept.answers) > KEPT:
            kept.answers.popitem(last=False)
    return result
