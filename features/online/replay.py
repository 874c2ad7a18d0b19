"""Replay a ledger into an online store and read features at every decision moment.

Why: this is how the online path is checked against the offline table
(parity) and how a fresh store is filled from history. Events are applied in
rounds: round ``k`` applies, for every customer, the events between its
``k``-th and ``k+1``-th invoice, then reads all those ``k``-th decisions in
one batch, so a big ledger needs only as many store round trips as the
busiest customer has invoices (times the batch count), not one per event.

Example::

    table, problems = online_feature_table(MemoryStore(), ledger)
    assert not problems   # every event applied
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.definitions import FEATURE_NAMES
from ledger.events import frame_to_events, ledger_event_frame
from ledger.tables import Ledger
from features.online.base import EventResult, OnlineStore
from features.transform import InvoiceRequest


def online_feature_table(store: OnlineStore, ledger: Ledger) -> tuple[pd.DataFrame, list[EventResult]]:
    """Features read from ``store`` at each invoice's issue time, and every non-applied event result.

    Same layout and row order as ``features.offline.build_feature_table``.
    """
    inv = ledger.invoices
    frame = ledger_event_frame(ledger, include_reminders=False)
    events = frame_to_events(frame)
    customers = pd.Index(pd.unique(inv["customer_id"].to_numpy(dtype=object)))
    d_code = customers.get_indexer(inv["customer_id"].to_numpy(dtype=object)).astype(np.int64)
    d_at = inv["issued_at"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    e_code = customers.get_indexer(frame["customer_id"].to_numpy(dtype=object)).astype(np.int64)
    e_at = frame["at"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    times = np.unique(np.concatenate([d_at, e_at]))
    span = np.int64(len(times) + 1)
    d_key = d_code * span + np.searchsorted(times, d_at)
    order = np.argsort(d_key, kind="stable")
    d_sorted = d_key[order]
    cust_start = np.searchsorted(d_sorted, d_code * span, side="left")
    k = np.empty(len(order), dtype=np.int64)
    k[order] = np.arange(len(order)) - cust_start[order]  # decision index within its customer
    # An event goes before decision k exactly when fewer than k + 1 of its customer's decisions are at
    # or before it: its round is that count.
    e_key = e_code * span + np.searchsorted(times, e_at)
    round_of = np.searchsorted(d_sorted, e_key, side="right") - np.searchsorted(d_sorted, e_code * span, side="left")

    record = ledger.customers.set_index("customer_id").reindex(customers)
    types, profiles, sizes = (record[c].to_numpy()[d_code] for c in ("type", "profile", "size"))
    requests = [InvoiceRequest(a, int(t), when, bool(p), str(c), prof, size)
                for a, t, when, p, c, prof, size in zip(inv["amount"].to_numpy(dtype=float), inv["payment_terms_days"],
                                                         inv["issued_at"].to_numpy(dtype="datetime64[us]"),
                                                         inv["paperless"], types, profiles, sizes)]
    ids = inv["customer_id"].to_numpy(dtype=object)
    values = np.zeros((len(inv), len(FEATURE_NAMES)))
    problems: list[EventResult] = []
    n_rounds = int(max(k.max(initial=-1), round_of.max(initial=-1))) + 1
    ev_by_round = np.argsort(round_of, kind="stable")
    ev_bounds = np.searchsorted(round_of[ev_by_round], np.arange(n_rounds + 1))
    dec_by_round = np.argsort(k, kind="stable")
    dec_bounds = np.searchsorted(k[dec_by_round], np.arange(n_rounds + 1))
    for r in range(n_rounds):
        batch = [events[i] for i in ev_by_round[ev_bounds[r]:ev_bounds[r + 1]]]
        problems += [res for res in store.apply(batch) if res.status != "applied"]
        rows = dec_by_round[dec_bounds[r]:dec_bounds[r + 1]]
        feats = store.customer_features_many([(ids[i], requests[i], None) for i in rows])
        if feats:
            values[rows] = [[f[n] for n in FEATURE_NAMES] for f in feats]
    tail = [events[i] for i in ev_by_round[ev_bounds[n_rounds]:]]
    problems += [res for res in store.apply(tail) if res.status != "applied"]
    table = pd.DataFrame({"invoice_id": inv["invoice_id"].to_numpy(dtype=object), "customer_id": ids,
                          "issued_at": inv["issued_at"].to_numpy(dtype="datetime64[us]")})
    for j, name in enumerate(FEATURE_NAMES):
        table[name] = values[:, j]
    return table, problems

