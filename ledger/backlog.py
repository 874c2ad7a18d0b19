"""The online store's backlog: customers whose booked events the online store has not folded in yet.

Why in the ledger: an event is acknowledged once the ledger has committed it,
whether or not the online store (Redis) could follow at that moment. A customer
whose features fell behind is marked here, in the system of record, so the mark
outlives the worker that made it; any worker refolds the customer from the
ledger when the store is back (``serving.keeper``) and clears the mark.

A mark keeps the time it was (last) made; a refold clears only marks made before
it read the customer's events, so an event booked during the refold keeps its
customer marked for the next round.

Example::

    mark(engine, ["C-1", "C-2"], now_us)
    for customer_id, marked_us in pending(engine):
        ...refold customer_id from the ledger...
    clear(engine, [("C-1", marked_us)])
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from ledger.schema import store_backlog

_INSERT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def mark(engine: Engine, customer_ids: Iterable[str], at_us: int) -> None:
    """Mark customers as behind in the online store (a mark made again moves to ``at_us``)."""
    rows = [{"customer_id": c, "marked_us": at_us} for c in sorted(set(customer_ids))]
    if not rows:
        return
    insert = _INSERT[engine.dialect.name](store_backlog)
    upsert = insert.on_conflict_do_update(index_elements=[store_backlog.c.customer_id],
                                          set_={"marked_us": insert.excluded.marked_us})
    with engine.begin() as conn:
        conn.execute(upsert, rows)


def pending(engine: Engine, limit: int = 500) -> list[tuple[str, int]]:
    """Up to ``limit`` marked customers with the time of their mark, oldest first."""
    c = store_backlog.c
    with engine.connect() as conn:
        return [(r.customer_id, r.marked_us) for r in
                conn.execute(sa.select(c.customer_id, c.marked_us).order_by(c.marked_us).limit(limit))]


def clear(engine: Engine, marks: Sequence[tuple[str, int]]) -> None:
    """Clear marks that a refold has covered: each only if it was not made again since."""
    if not marks:
        return
    c = store_backlog.c
    with engine.begin() as conn:
        conn.execute(sa.delete(store_backlog).where(c.customer_id == sa.bindparam("cid"),
                                                    c.marked_us <= sa.bindparam("upto")),
                     [{"cid": customer_id, "upto": marked_us} for customer_id, marked_us in marks])
