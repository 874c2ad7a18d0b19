"""The receivables' daily sums kept as the book books (``ledger.daily``), and the invoices' close times indexed.

Why: a cold receivables report read every invoice three times for its daily sums and every invoice once more
for the last check's ageing; the table is filled here from the booked invoices (``ledger.daily.rebuild``, the
same derivation a test holds the kept table to), two indexes find the items closed since the last check, and one covers what the report sums of the open items.

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from ledger.daily import rebuild

    op.create_table('receivable_days',
    sa.Column('entity', sa.String(length=128), nullable=False),
    sa.Column('day', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('issued_cents', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('issued_items', sa.Integer(), server_default='0', nullable=False),
    sa.Column('leaving_cents', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('leaving_items', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('entity', 'day')
    )
    with op.batch_alter_table('invoices') as batch:
        batch.create_index(batch.f('ix_invoices_paid_us'), ['paid_us'], unique=False)
        batch.create_index(batch.f('ix_invoices_written_off_us'), ['written_off_us'], unique=False)
        batch.create_index('ix_invoices_open_items', ['status', 'customer_id', 'due_us', 'amount_cents', 'paid_cents',
                                                      'disputed', 'legal_entity_id', 'issued_us'], unique=False)
    rebuild(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('invoices') as batch:
        batch.drop_index('ix_invoices_open_items')
        batch.drop_index(batch.f('ix_invoices_written_off_us'))
        batch.drop_index(batch.f('ix_invoices_paid_us'))
    op.drop_table('receivable_days')
