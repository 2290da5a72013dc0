"""erasure and metrics: the removals audit, task durations, mailbox poll state for metrics

`data_removals` records each erasure and retention purge by counts only; `task_durations`
holds the workers' task time histograms for /metrics; mailbox_state gains the server's
newest UID, the last error's class and the OAuth token's expiry; tickets an index for the
retention purge (closed tickets by when they closed).

Revision ID: 0005_erasure
Revises: 0004_key_checks
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa
import intake.tickets.models


revision = '0005_erasure'
down_revision = '0004_key_checks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'data_removals',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('counts', sa.JSON(), nullable=False),
        sa.Column('created_at', intake.tickets.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'task_durations',
        sa.Column('task', sa.String(length=64), nullable=False),
        sa.Column('le', sa.String(length=16), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('task', 'le'),
    )
    with op.batch_alter_table('mailbox_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('server_uid', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('last_error_class', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('oauth_expires_at', intake.tickets.models.UtcDateTime(timezone=True),
                                      nullable=True))
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_status_closed', ['status', 'closed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_status_closed')
    with op.batch_alter_table('mailbox_state', schema=None) as batch_op:
        batch_op.drop_column('oauth_expires_at')
        batch_op.drop_column('last_error_class')
        batch_op.drop_column('server_uid')
    op.drop_table('task_durations')
    op.drop_table('data_removals')
