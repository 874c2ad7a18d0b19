"""The dunning day: runs (one per business date), the transactional outbox, the invoices of a payment plan;
when a promise was found kept or broken and a plan closed; tasks looked up by invoice, open invoices by customer.

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dunning_runs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('business_date', sa.String(length=10), nullable=False),
    sa.Column('moment_us', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_us', sa.BigInteger(), nullable=False),
    sa.Column('finished_us', sa.BigInteger(), nullable=True),
    sa.Column('invoices', sa.Integer(), server_default='0', nullable=False),
    sa.Column('messages', sa.Integer(), server_default='0', nullable=False),
    sa.Column('tasks', sa.Integer(), server_default='0', nullable=False),
    sa.Column('summary', sa.Text(), server_default='{}', nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('business_date')
    )
    op.create_table('outbox_messages',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('run_id', sa.String(length=32), nullable=True),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('tone', sa.String(length=16), nullable=True),
    sa.Column('decided_us', sa.BigInteger(), nullable=False),
    sa.Column('send_at_us', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='queued', nullable=False),
    sa.Column('status_us', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('replaces', sa.String(length=200), nullable=True),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_outbox_messages_customer_id'), 'outbox_messages', ['customer_id'], unique=False)
    op.create_index(op.f('ix_outbox_messages_run_id'), 'outbox_messages', ['run_id'], unique=False)
    op.create_index(op.f('ix_outbox_messages_status'), 'outbox_messages', ['status'], unique=False)
    op.create_table('outbox_items',
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('invoice_id', sa.String(length=128), nullable=False),
    sa.Column('decision_id', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('collection_costs_cents', sa.BigInteger(), nullable=True),
    sa.Column('lead', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.PrimaryKeyConstraint('message_id', 'invoice_id')
    )
    op.create_index(op.f('ix_outbox_items_invoice_id'), 'outbox_items', ['invoice_id'], unique=False)
    op.create_table('plan_invoices',
    sa.Column('plan_id', sa.String(length=128), nullable=False),
    sa.Column('invoice_id', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('plan_id', 'invoice_id')
    )
    op.create_index(op.f('ix_plan_invoices_invoice_id'), 'plan_invoices', ['invoice_id'], unique=False)
    op.add_column('promises', sa.Column('resolved_us', sa.BigInteger(), nullable=True))
    op.add_column('payment_plans', sa.Column('closed_us', sa.BigInteger(), nullable=True))
    op.create_index(op.f('ix_tasks_invoice_id'), 'tasks', ['invoice_id'], unique=False)
    op.create_index('ix_invoices_status_customer_id', 'invoices', ['status', 'customer_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_invoices_status_customer_id', table_name='invoices')
    op.drop_index(op.f('ix_tasks_invoice_id'), table_name='tasks')
    with op.batch_alter_table('payment_plans') as batch:
        batch.drop_column('closed_us')
    with op.batch_alter_table('promises') as batch:
        batch.drop_column('resolved_us')
    op.drop_index(op.f('ix_plan_invoices_invoice_id'), table_name='plan_invoices')
    op.drop_table('plan_invoices')
    op.drop_index(op.f('ix_outbox_items_invoice_id'), table_name='outbox_items')
    op.drop_table('outbox_items')
    op.drop_index(op.f('ix_outbox_messages_status'), table_name='outbox_messages')
    op.drop_index(op.f('ix_outbox_messages_run_id'), table_name='outbox_messages')
    op.drop_index(op.f('ix_outbox_messages_customer_id'), table_name='outbox_messages')
    op.drop_table('outbox_messages')
    op.drop_table('dunning_runs')
