"""Stand up a served model on a ledger: train, register, promote to ``champion``.

Why: the demo, the serving tests and ``bench/serving.py`` all need a real
champion in a real MLflow store before the service can answer. This is the
one path for that, through the training package's own train/log/promote
functions (no shortcut around the registry's checks).

Example::

    info = ensure_champion(ledger, "sqlite:////tmp/mlflow.db", TrainConfig(n_estimators=80))
    info["uri"]   # 'models:/payment-delay@champion'
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from features.online import OnlineStore
from ledger.book import Book
from ledger.tables import Ledger

if TYPE_CHECKING:
    from training.pipeline import TrainConfig

HOLD_EVERY = 1_000


def warm_store(store: OnlineStore, book: Book, hold: Callable[[], None] | None = None) -> dict[str, float]:
    """Refold every customer of the ledger into ``store``, customer by customer (``OnlineStore.refold_many``).

    The service starts from the ledger's state, so a restarted worker or an emptied
    store answers from the same history as before. ``hold`` is called every
    ``HOLD_EVERY`` customers (the keeper extends its warm lock). Returns customers,
    events, events applied and seconds.
    """
    t0, customers = time.perf_counter(), 0

    def histories() -> Iterator[tuple[str, list[dict[str, Any]]]]:
        nonlocal customers
        for history in book.customer_histories():
            customers += 1
            if hold is not None and customers % HOLD_EVERY == 0:
                hold()
            yield history

    results = store.refold_many(histories())
    return {"customers": customers, "events": len(results), "applied": sum(r.status == "applied" for r in results),
            "seconds": round(time.perf_counter() - t0, 3)}


def ensure_champion(ledger: Ledger, tracking_uri: str, config: "TrainConfig | None" = None) -> dict[str, Any]:
    """Train on ``ledger`` (``config``: a ``TrainConfig``, default the standard one), register the run
    and promote it; returns the alias URI, the version and the test metrics of model and baselines."""
    from training.runs import train_and_log
    from training.pipeline import TrainConfig
    from training.registry import CHAMPION, MODEL_NAME, promote

    _, logged = train_and_log(ledger, config or TrainConfig(), tracking_uri, progress=False)
    result = promote(tracking_uri)
    return {"uri": f"models:/{MODEL_NAME}@{CHAMPION}", "version": str(result.version), "metrics": logged.metrics}


def feature_row(ledger: Ledger) -> dict[str, Any]:
    """One realistic feature vector (``FEATURE_NAMES`` order) to query a bare model server with."""
    from features.definitions import FEATURE_NAMES
    from features.offline import build_feature_table

    table = build_feature_table(ledger)
    row = table.iloc[len(table) // 2]
    return {name: float(row[name]) for name in FEATURE_NAMES}
