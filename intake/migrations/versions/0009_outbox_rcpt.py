"""outbox recipients: outbox.rcpt and outbox.rcpt_domain, indexed

The acknowledgement loop guard counted and looked up rows by `headers["rcpt"]`, a JSON
field no index can serve, over the whole table: its cost grew with every follow-up ever
written. The recipient's mailbox key (`loop_guard.mailbox_key`) and its domain become
columns with indexes that end in `created_at`, so each check reads only its own recent rows.

Revision ID: 0009_outbox_rcpt
Revises: 0008_corrections
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = '0009_outbox_rcpt'
down_revision = '0008_corrections'
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rcpt', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('rcpt_domain', sa.String(length=255), nullable=True))
    _backfill()
    op.create_index('ix_outbox_rcpt', 'outbox', ['rcpt', 'kind', 'created_at'])
    op.create_index('ix_outbox_rcpt_domain', 'outbox', ['rcpt_domain', 'kind', 'created_at'])


def _backfill() -> None:
    """Copy the key the rows already carry in `headers` (in batches: an outbox can be big)."""
    outbox = sa.table('outbox', sa.column('id', sa.Integer), sa.column('headers', sa.JSON),
                      sa.column('rcpt', sa.String), sa.column('rcpt_domain', sa.String))
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(sa.select(outbox.c.id, outbox.c.headers).where(outbox.c.id > last)
                            .order_by(outbox.c.id).limit(BATCH)).all()
        if not rows:
            return
        values = []
        for row in rows:
            key = str((row.headers or {}).get('rcpt') or '')[:320] or None
            domain = key.rpartition('@')[2][:255] if key and '@' in key else None
            values.append({'row_id': row.id, 'rcpt': key, 'rcpt_domain': domain})
        bind.execute(outbox.update().where(outbox.c.id == sa.bindparam('row_id'))
                     .values(rcpt=sa.bindparam('rcpt'), rcpt_domain=sa.bindparam('rcpt_domain')), values)
        last = rows[-1].id


def downgrade() -> None:
    op.drop_index('ix_outbox_rcpt_domain', table_name='outbox')
    op.drop_index('ix_outbox_rcpt', table_name='outbox')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('rcpt_domain')
        batch_op.drop_column('rcpt')
