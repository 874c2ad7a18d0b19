"""Features shared by training and serving: one definition, one code path.

* ``features.definitions``: every feature once (``FEATURE_NAMES`` = model input order)
* ``ledger.events``: the event contract and ``ledger_to_events``
* ``features.aggregates``: the per-customer state and its event fold
* ``features.transform``: aggregates + request -> features (serving and parity)
* ``features.offline``: the point-in-time feature table of a ledger (training)
* ``features.online``: the online store (in-process or Redis)
* ``features.drift``: population stability and deteriorating customers
"""
from features.definitions import FEATURE_NAMES
from features.transform import InvoiceRequest, invoice_features, vector

__all__ = ["FEATURE_NAMES", "InvoiceRequest", "invoice_features", "vector"]
