"""The cash-in forecasts kept in the ledger: put one, read the one for a key, or the newest of an entity.

Why in the ledger: a forecast reads the entity's whole history, seconds of CPU on a large book, and every
worker of the service (and each new one) would pay them again; kept here, it is computed once per entity,
forecast day, model version and book version (the ``seq`` of the last booked event) and read in a
millisecond. The body is the service's answer as computed (``training.forecast.Forecast.to_dict``), stored
as JSON of integers and strings, so what comes back equals what was computed.

Example::

    key = ForecastKey(entity=None, day="2026-11-30", model_version="3", book_version=1_189_242)
    put(engine, key, body, computed_us)
    newest(engine, None)        # the kept forecast of the consolidated book with the highest book version
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ledger import schema as t
from ledger.database import insert_new
from ledger.views import Source, connected

#: Stands for the consolidated book (``entity=None``) in the table.
CONSOLIDATED = "*"
#: Forecasts kept per entity; older ones are dropped when a new one is put.
KEEP = 16


@dataclass(frozen=True)
class ForecastKey:
    """What a forecast depends on: the entity (``None``: consolidated), its first day, the model and the book."""

    entity: str | None
    day: str
    model_version: str | None
    book_version: int | None

    @property
    def id(self) -> str:
        return "|".join(str(part) for part in (self.stored_entity, self.day, self.model_version, self.book_version))

    @property
    def stored_entity(self) -> str:
        return CONSOLIDATED if self.entity is None else self.entity


@dataclass(frozen=True)
class KeptForecast:
    """A forecast as kept: its key, when it was computed (server clock, micros) and the answer."""

    key: ForecastKey
    computed_us: int
    body: dict[str, Any]


def book_version(source: Source) -> int | None:
    """The ``seq`` of the last booked event: any new event (a payment, an invoice) gives a new version."""
    with connected(source) as conn:
        return conn.execute(sa.select(sa.func.max(t.ledger_events.c.seq))).scalar()


def put(engine: sa.Engine, key: ForecastKey, body: dict[str, Any], computed_us: int) -> bool:
    """Keep ``body`` under ``key`` (False: it was kept already, e.g. by another worker) and drop the entity's
    forecasts beyond the newest ``KEEP``."""
    fc = t.forecasts.c
    with engine.begin() as conn:
        new = insert_new(conn, t.forecasts, [{
            "id": key.id, "entity": key.stored_entity, "day": key.day, "model_version": key.model_version,
            "book_version": key.book_version, "computed_us": computed_us, "body": json.dumps(body)}])
        kept = sa.select(fc.id).where(fc.entity == key.stored_entity).order_by(*_newest_first()).limit(KEEP)
        conn.execute(sa.delete(t.forecasts).where((fc.entity == key.stored_entity) & fc.id.not_in(kept)))
    return bool(new)


def _newest_first() -> tuple:
    fc = t.forecasts.c
    return sa.nulls_last(fc.book_version.desc()), fc.day.desc(), fc.computed_us.desc()


def newest(source: Source, entity: str | None, day: str | None = None) -> KeptForecast | None:
    """The entity's kept forecast of the highest book version (of ``day`` only, if given), of the latest day
    among those, and the last computed where several models' are kept for it (after a promotion, the new
    model's once computed)."""
    fc = t.forecasts.c
    where = fc.entity == (CONSOLIDATED if entity is None else entity)
    if day is not None:
        where = where & (fc.day == day)
    with connected(source) as conn:
        row = conn.execute(sa.select(t.forecasts).where(where).order_by(*_newest_first()).limit(1)).first()
    if row is None:
        return None
    key = ForecastKey(entity=entity, day=row.day, model_version=row.model_version, book_version=row.book_version)
    return KeptForecast(key=key, computed_us=row.computed_us, body=json.loads(row.body))


def get(source: Source, key: ForecastKey) -> KeptForecast | None:
    """The forecast kept under exactly ``key``, or None."""
    with connected(source) as conn:
        row = conn.execute(sa.select(t.forecasts.c.computed_us, t.forecasts.c.body)
                           .where(t.forecasts.c.id == key.id)).first()
    return None if row is None else KeptForecast(key=key, computed_us=row.computed_us, body=json.loads(row.body))
