"""Data files the tests read, shipped with the repository (see ``tests/data/README.md``)."""
from __future__ import annotations

from pathlib import Path

#: The public accounts-receivable sample, gzipped: the same bytes as ``../shared/data/accounts-receivable/``.
AR_SAMPLE = Path(__file__).resolve().parent.parent / "data" / "accounts-receivable.csv.gz"
