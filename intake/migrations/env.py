"""Alembic environment: runs migrations against the URL set by `intake.db.alembic_config`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from intake.db import make_engine
from intake.tickets import records

config = context.config

# records.Base is models.Base; importing records puts its tables into the same metadata.
target_metadata = records.Base.metadata


# Several processes (workers started together on a fresh database) may upgrade at once: on
# PostgreSQL they take turns under this session-level advisory lock, and each one after the
# first finds the schema at head. Without it the losers fail on CREATE TABLE (IntegrityError
# on pg_type) and exit. SQLite serialises the writers by itself.
MIGRATION_LOCK = 0x1A7A_6E00


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        locked = connection.dialect.name == "postgresql"
        if locked:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()  # the lock outlives this transaction; alembic runs its own
        try:
            context.configure(
                connection=connection, target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if locked:
                if connection.in_transaction():
                    connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
