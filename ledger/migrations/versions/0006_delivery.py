"""Delivery: the customer's addresses and language, the sender's lease and retries, every message's status history.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        batch.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch.add_column(sa.Column('phone', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('postal_address', sa.Text(), nullable=True))
        batch.add_column(sa.Column('language', sa.String(length=2), nullable=True))
    with op.batch_alter_table('outbox_messages') as batch:
        batch.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('next_attempt_us', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('lease_owner', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('lease_until_us', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('template_version', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('content_digest', sa.String(length=64), nullable=True))
    op.create_table('outbox_history',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('at_us', sa.BigInteger(), nullable=False),
    sa.Column('attempt', sa.Integer(), server_default='0', nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('outbox_history') as batch:
        batch.create_index(batch.f('ix_outbox_history_message_id'), ['message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox_history') as batch:
        batch.drop_index(batch.f('ix_outbox_history_message_id'))
    op.drop_table('outbox_history')
    with op.batch_alter_table('outbox_messages') as batch:
        for name in ('content_digest', 'template_version', 'lease_until_us', 'lease_owner', 'next_attempt_us', 'attempts'):
            batch.drop_column(name)
    with op.batch_alter_table('customers') as batch:
        for name in ('language', 'postal_address', 'phone', 'email'):
            batch.drop_column(name)
