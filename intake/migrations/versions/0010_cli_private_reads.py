"""private reads from the command line: private_reads.token_id may be empty, private_reads.actor

`intake tickets list|show --show-private` printed private tickets without a record: only
the API and the console (a token) were audited. A read from the command line is now
recorded too, with no token and the operating-system user as its actor ("cli:alice").

Revision ID: 0010_cli_private_reads
Revises: 0009_outbox_rcpt
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa

IdType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


revision = '0010_cli_private_reads'
down_revision = '0009_outbox_rcpt'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('private_reads', schema=None) as batch_op:
        batch_op.alter_column('token_id', existing_type=IdType, nullable=True)
        batch_op.add_column(sa.Column('actor', sa.String(length=128), nullable=True))


def downgrade() -> None:
    # A read with no token cannot be kept in a table that needs one: the rows go.
    op.execute("DELETE FROM private_reads WHERE token_id IS NULL")
    with op.batch_alter_table('private_reads', schema=None) as batch_op:
        batch_op.drop_column('actor')
        batch_op.alter_column('token_id', existing_type=IdType, nullable=False)
