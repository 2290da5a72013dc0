"""triage corrections: an agent's re-routing of a ticket and the triage hits it overrides

Revision ID: 0008_corrections
Revises: 0007_tokens_audit
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa
import intake.tickets.models


revision = '0008_corrections'
down_revision = '0007_tokens_audit'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'triage_corrections',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('category_before', sa.String(length=32), nullable=False),
        sa.Column('priority_before', sa.String(length=16), nullable=False),
        sa.Column('category', sa.String(length=32), nullable=False),
        sa.Column('priority', sa.String(length=16), nullable=False),
        sa.Column('overridden', sa.JSON(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('text_secret', sa.LargeBinary(), nullable=True),
        sa.Column('by', sa.String(length=64), nullable=False),
        sa.Column('created_at', intake.tickets.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_triage_corrections_ticket_id', 'triage_corrections', ['ticket_id'])


def downgrade() -> None:
    op.drop_index('ix_triage_corrections_ticket_id', table_name='triage_corrections')
    op.drop_table('triage_corrections')
