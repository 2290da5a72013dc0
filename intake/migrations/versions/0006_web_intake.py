"""web intake: status links (hashed tokens per ticket), rate counters shared by the web processes, app uploads

Revision ID: 0006_web_intake
Revises: 0005_erasure
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa
import intake.tickets.models


revision = '0006_web_intake'
down_revision = '0005_erasure'
branch_labels = None
depends_on = None


def upgrade() -> None:
    id_type = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.create_table(
        'status_links',
        sa.Column('id', id_type, autoincrement=True, nullable=False),
        sa.Column('token_sha256', sa.String(length=64), nullable=False),
        sa.Column('ticket_id', id_type, nullable=False),
        sa.Column('created_at', intake.tickets.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', intake.tickets.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', intake.tickets.models.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_sha256'),
    )
    op.create_index('ix_status_links_ticket', 'status_links', ['ticket_id'])
    op.create_table(
        'web_rate_counters',
        sa.Column('key', sa.String(length=96), nullable=False),
        sa.Column('window_start', intake.tickets.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('key', 'window_start'),
    )
    op.create_table(
        'web_uploads',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('key_id', sa.String(length=64), nullable=False),
        sa.Column('content_type', sa.String(length=64), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', intake.tickets.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_web_uploads_created', 'web_uploads', ['created_at'])


def downgrade() -> None:
    op.drop_index('ix_web_uploads_created', table_name='web_uploads')
    op.drop_table('web_uploads')
    op.drop_table('web_rate_counters')
    op.drop_index('ix_status_links_ticket', table_name='status_links')
    op.drop_table('status_links')
