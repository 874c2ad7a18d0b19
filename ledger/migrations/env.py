"""Alembic environment: the ledger's migrations run on the connection ``ledger.database`` hands in.

The ledger keeps its own version table (``kredo_ledger_version``), so it can share a
PostgreSQL database with the audit log (and MLflow) without touching their tables.
"""
from __future__ import annotations

from alembic import context

from ledger.schema import metadata

VERSION_TABLE = "kredo_ledger_version"

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
