"""The ledger's schema history (Alembic): one file per revision under ``versions/``."""
