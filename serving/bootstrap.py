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
from typing import TYPE_CHECKING, Any

from features.online import OnlineStore
from ledger.book import Book
from ledger.tables import Ledger

if TYPE_CHECKING:
    from training.pipeline import TrainConfig


def warm_store(store: OnlineStore, book: Book) -> dict[str, float]:
    """Fold every event of the ledger into ``store`` in time order (idempotent: known ids are duplicates).

    The service starts from the ledger's state, so a restarted worker or an emptied
    store answers from the same history as before. Returns events and seconds.
    """
    t0, applied, seen = time.perf_counter(), 0, 0
    for batch in book.all_events():
        results = store.apply_booked(batch)
        seen += len(results)
        applied += sum(r.status == "applied" for r in results)
    return {"events": seen, "applied": applied, "seconds": round(time.perf_counter() - t0, 3)}


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
