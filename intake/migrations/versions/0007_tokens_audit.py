"""tokens and audit: api_tokens (hashed bearer tokens with scopes) and private_reads (who
read which private ticket, when; no content; no foreign key to tickets, so it outlives an
erasure)

Revision ID: 0007_tokens_audit
Revises: 0006_web_intake
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa
import intake.tickets.models


revision = '0007_tokens_audit'
down_revision = '0006_web_intake'
branch_labels = None
depends_on = None

IdType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'api_tokens',
        sa.Column('id', IdType, autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('lookup', sa.String(length=16), nullable=False),
        sa.Column('secret_sha256', sa.String(length=64), nullable=False),
        sa.Column('scopes', sa.JSON(), nullable=False),
        sa.Column('created_at', intake.tickets.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', intake.tickets.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', intake.tickets.models.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('lookup', name='uq_api_tokens_lookup'),
        sa.UniqueConstraint('name', name='uq_api_tokens_name'),
    )
    op.create_table(
        'private_reads',
        sa.Column('id', IdType, autoincrement=True, nullable=False),
        sa.Column('token_id', IdType, nullable=False),
        sa.Column('ticket_id', IdType, nullable=False),
        sa.Column('ticket_ref', sa.String(length=32), nullable=False),
        sa.Column('via', sa.String(length=8), nullable=False),
        sa.Column('read_at', intake.tickets.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_private_reads_ticket', 'private_reads', ['ticket_id', 'read_at'])
    op.create_index(op.f('ix_private_reads_token_id'), 'private_reads', ['token_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_private_reads_token_id'), table_name='private_reads')
    op.drop_index('ix_private_reads_ticket', table_name='private_reads')
    op.drop_table('private_reads')
    op.drop_table('api_tokens')
