"""a capture's bytes in a table of their own: inbox_raw

The inbox row changes three or four times per input (claimed, owned, done), and SQLite
rewrites a whole row, overflow pages and all, on every update: with the encrypted mail in
the row each status change copied tens of KB into the WAL and back. The bytes move, as they
are, to inbox_raw (one row per capture, written once); nothing is decrypted or re-sealed.

Revision ID: 0011_inbox_raw_apart
Revises: 0010_cli_private_reads
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa

IdType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


revision = '0011_inbox_raw_apart'
down_revision = '0010_cli_private_reads'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'inbox_raw',
        sa.Column('inbox_id', IdType, nullable=False),
        sa.Column('raw', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['inbox_id'], ['inbox.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('inbox_id'),
    )
    op.execute("INSERT INTO inbox_raw (inbox_id, raw) SELECT id, raw FROM inbox")
    # A plain DROP COLUMN (SQLite 3.35+ and PostgreSQL), not a batch copy of the table: on
    # SQLite with foreign keys on, the copy's DROP TABLE inbox would delete every inbox row
    # first, and with them, by the cascade, the bytes just moved.
    op.execute("ALTER TABLE inbox DROP COLUMN raw")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute("ALTER TABLE inbox ADD COLUMN raw " + ("BLOB" if sqlite else "BYTEA"))
    op.execute("UPDATE inbox SET raw = (SELECT raw FROM inbox_raw WHERE inbox_raw.inbox_id = inbox.id)")
    if not sqlite:  # SQLite cannot add NOT NULL to a column in place
        op.execute("UPDATE inbox SET raw = ''::bytea WHERE raw IS NULL")
        op.execute("ALTER TABLE inbox ALTER COLUMN raw SET NOT NULL")
    op.drop_table('inbox_raw')
