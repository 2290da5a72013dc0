"""ticket links: tickets.linked_ref

A ticket reference joins its ticket only for the ticket's own contact (or a reply to one of
our random Message-IDs); anyone else's message opens a new ticket linked to the one it named.

Revision ID: 0003_ticket_links
Revises: 0002_claims
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = '0003_ticket_links'
down_revision = '0002_claims'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('linked_ref', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('linked_ref')
