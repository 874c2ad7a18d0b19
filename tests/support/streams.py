"""Event streams the ledger and store tests replay."""
from __future__ import annotations

import numpy as np

from ledger.events import ledger_to_events, to_us
from ledger.tables import Ledger


def late_stream(ledger: Ledger, seed: int) -> tuple[list[dict], list[dict]]:
    """The ledger's events in time order, and as they arrive when each invoice's payments, disputes and
    write-offs come 0-24 days late (seeded): what daily bank-statement batches do to a book."""
    history = ledger_to_events(ledger, include_reminders=False)
    rng = np.random.default_rng(seed)
    lag = {inv: int(d) for inv, d in zip(ledger.invoices["invoice_id"], rng.integers(0, 25, len(ledger.invoices)))}
    arrival = [to_us(e["at"]) + (0 if e["type"] == "invoice_issued" else lag[e["invoice_id"]] * 86_400_000_000)
               for e in history]
    return history, [history[i] for i in np.argsort(arrival, kind="stable")]
