"""Garbage-collector settings for long-lived Kredo processes (gunicorn workers, dunning runs, Dask workers).

Why: a loaded Kredo process holds half a million objects that live as long as it does (the model's
tables, the policy, the online store, pools). CPython's cyclic collector scans them again at every
full collection, and with its default thresholds (700 allocations per young collection) a dunning
run of 4,000 invoices spent 27-38 % of its CPU there (``bench/dunning.py``, 2026-12-01: 542-649 us per
invoice with the defaults, 394-402 us after ``settle``, 380 us with the collector off). ``gc.freeze``
moves what is loaded out of the collector's reach, and a higher first threshold makes young
collections rarer; cycles made later are still collected.

Not called in tests or by ``create_app``: a test process builds many apps, and freezing them would
keep their cyclic garbage for the rest of the run.
"""
from __future__ import annotations

import gc
from functools import cache

#: Allocations between young collections (CPython's default: 700); the older generations keep theirs.
YOUNG_THRESHOLD = 20_000


@cache
def settle() -> None:
    """Freeze everything allocated so far and collect young objects less often (once per process)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
