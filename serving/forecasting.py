"""The cash-in forecast of a legal entity's book as the service answers it (API and page alike).

Why one place: ``GET /v1/forecast`` and the forecast page show the same numbers, and both are
``training.forecast.forecast`` over the ledger database read back as the contract's tables
(``ledger.frames.read_ledger``) with the serving champion: the function the back-test runs.

Why kept in the ledger (``ledger.forecasts``): a forecast reads the entity's whole history (features
as of each open invoice's issue, a year of payments), 29 s of CPU on a book of 500,000 invoices, far
too long for a page. It is computed once per entity, day, model version and book version (the last
booked event), by ``kredo forecast`` after the day's dunning run or here in the background, and every
worker, a freshly started one too, answers the kept one. When the book (or the model, or the default
day) moved on since, the newest kept forecast answers at once *saying so* (``current: false``, with
the book version and time it was computed on) while this process computes the new one in the
background, one at a time; only a day asked for explicitly (``at``) that was never computed, or an
entity with no forecast kept at all, is computed while the request waits.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import pandas as pd

from domain.errors import NotFound
from ledger.forecasts import ForecastKey, KeptForecast, book_version, get, newest, put
from ledger.frames import legal_entities, read_ledger
from ledger.receivables import book_date_us
from serving.dunning_view import day as day_of
from serving.runtime import Runtime
from training.forecast import forecast

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """A kept forecast as the service answers it: ``current`` is False when the book or the model moved on
    since it was computed (a newer one is being computed)."""

    kept: KeptForecast
    current: bool

    def to_dict(self) -> dict[str, Any]:
        """``training.forecast.Forecast.to_dict`` and what it was computed on."""
        computed = datetime.fromtimestamp(self.kept.computed_us / 1e6, UTC)
        return {**self.kept.body, "book_version": self.kept.key.book_version,
                "computed_at": computed.isoformat(timespec="seconds"), "current": self.current}


def default_day(runtime: Runtime, today: date) -> date:
    """The day a forecast is made when none is asked for: today, or, for a book whose last business event is
    older (an imported or simulated book), the day after it, so the forecast starts where the book ends."""
    last = book_date_us(runtime.book.engine)
    return today if last is None else min(today, day_of(last) + timedelta(days=1))


def _key(runtime: Runtime, entity: str | None, day: date) -> ForecastKey:
    version = runtime.snapshot().model_info.version
    return ForecastKey(entity=entity, day=day.isoformat(), model_version=None if version is None else str(version),
                       book_version=book_version(runtime.book.engine))


def compute(runtime: Runtime, entity: str | None, day: date) -> KeptForecast:
    """Compute the forecast of ``entity`` made at midnight (UTC) starting ``day`` and keep it in the ledger.

    The book version is read before the book is: an event booked meanwhile makes the kept forecast look
    older than it is (it is computed again), never newer."""
    served = runtime.snapshot()
    key = _key(runtime, entity, day)
    engine = runtime.book.engine
    result = forecast(read_ledger(engine, entity), pd.Timestamp(day), served.model, model_version=key.model_version)
    computed_us = int(datetime.now(UTC).timestamp() * 1e6)
    body = result.to_dict()
    put(engine, key, body, computed_us)
    return KeptForecast(key=key, computed_us=computed_us, body=body)


def refresh(runtime: Runtime, today: date) -> list[KeptForecast]:
    """The forecasts of the consolidated book and of every legal entity at the default day, computed and kept
    where not kept yet (``kredo forecast``: after the day's dunning run, so the day's pages answer at once)."""
    day = default_day(runtime, today)
    out = []
    for entity in [None, *(e["id"] for e in legal_entities(runtime.book.engine))]:
        out.append(get(runtime.book.engine, _key(runtime, entity, day)) or compute(runtime, entity, day))
    return out


class _Refresher:
    """One background thread per process computing the forecasts asked for, each (app, entity, day) once
    at a time: a burst of page views of a moved book starts one computation, not one per request."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kredo-forecast")
        self.pending: dict[tuple[int, str | None, date], Future] = {}
        self.lock = threading.Lock()

    def submit(self, runtime: Runtime, entity: str | None, day: date) -> Future:
        job = (id(runtime), entity, day)
        with self.lock:
            if job not in self.pending:
                self.pending[job] = future = self.pool.submit(compute, runtime, entity, day)
                future.add_done_callback(lambda done: self._done(job, done))
            return self.pending[job]

    def _done(self, job: tuple[int, str | None, date], future: Future) -> None:
        with self.lock:
            self.pending.pop(job, None)
        if future.exception() is not None:
            log.error("the background forecast %s failed", job[1:], exc_info=future.exception())


@cache
def refresher() -> _Refresher:
    """This process's background forecasts (made on first use)."""
    return _Refresher()


def entity_forecast(runtime: Runtime, entity: str | None, day: date, asked: bool = False) -> Answer:
    """The forecast made at midnight (UTC) starting ``day`` for ``entity`` (``None``: consolidated; ``-``:
    the invoices of no entity), as kept (module doc); ``asked``: the day was asked for (``at``), so only a
    forecast of that day answers. An unknown entity is a ``NotFound`` naming the field ``entity``.
    """
    engine = runtime.book.engine
    if entity is not None and entity not in {e["id"] for e in legal_entities(engine)}:
        raise NotFound(f"the ledger has no legal entity {entity[:80]!r}", field="entity")
    key = _key(runtime, entity, day)
    kept = get(engine, key)
    if kept is not None:
        return Answer(kept, current=True)
    older = newest(engine, entity, key.day) or (None if asked else newest(engine, entity))
    if older is None:
        return Answer(compute(runtime, entity, day), current=True)
    refresher().submit(runtime, entity, day)
    return Answer(older, current=False)
