"""key checks: a value sealed under each encryption key the database was used with

Revision ID: 0004_key_checks
Revises: 0003_ticket_links
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa
import intake.tickets.models


revision = '0004_key_checks'
down_revision = '0003_ticket_links'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'key_checks',
        sa.Column('fingerprint', sa.String(length=16), nullable=False),
        sa.Column('token', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', intake.tickets.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('fingerprint'),
    )


def downgrade() -> None:
    op.drop_table('key_checks')
