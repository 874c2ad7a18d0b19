"""The cash-in forecasts kept in the ledger (``ledger.forecasts``), so a fresh worker answers without the history.

Why: a forecast reads an entity's whole history (29 s of CPU on a book of 500,000 invoices); kept per entity,
day, model version and book version, it is computed once (``kredo forecast``, or in the background when the
book moved on) and read by every worker.

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('forecasts',
    sa.Column('id', sa.String(length=320), nullable=False),
    sa.Column('entity', sa.String(length=128), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=True),
    sa.Column('book_version', sa.BigInteger(), nullable=True),
    sa.Column('computed_us', sa.BigInteger(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_forecasts_entity_day', 'forecasts', ['entity', 'day', 'book_version'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_forecasts_entity_day', table_name='forecasts')
    op.drop_table('forecasts')
