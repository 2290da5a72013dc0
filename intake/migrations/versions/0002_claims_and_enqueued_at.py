"""claims and enqueue times: inbox.claimed_at, inbox.failure_reason, enqueued_at on inbox and outbox

Attempts are counted when an attempt is claimed (before it starts), and the sweeper only
re-enqueues rows untouched (not enqueued, not claimed) for INTAKE_STALE_AFTER.

Revision ID: 0002_claims
Revises: 0001
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa
import intake.tickets.models


revision = '0002_claims'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_at', intake.tickets.models.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('enqueued_at', intake.tickets.models.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('failure_reason', sa.String(length=32), nullable=True))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enqueued_at', intake.tickets.models.UtcDateTime(timezone=True), nullable=True))
    # Existing rows were last touched at updated_at: what the old sweeper went by.
    op.execute("UPDATE inbox SET enqueued_at = updated_at")
    op.execute("UPDATE outbox SET enqueued_at = updated_at")
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.alter_column('enqueued_at', existing_type=intake.tickets.models.UtcDateTime(timezone=True),
                              nullable=False)
        batch_op.create_index('ix_inbox_status_enqueued', ['status', 'enqueued_at'], unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('enqueued_at', existing_type=intake.tickets.models.UtcDateTime(timezone=True),
                              nullable=False)
        batch_op.create_index('ix_outbox_status_enqueued', ['status', 'enqueued_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_enqueued')
        batch_op.drop_column('enqueued_at')
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_status_enqueued')
        batch_op.drop_column('failure_reason')
        batch_op.drop_column('enqueued_at')
        batch_op.drop_column('claimed_at')
