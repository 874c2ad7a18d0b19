"""The online store's backlog: customers whose events are booked but not yet folded into the store.

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('store_backlog',
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('marked_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id')
    )


def downgrade() -> None:
    op.drop_table('store_backlog')
