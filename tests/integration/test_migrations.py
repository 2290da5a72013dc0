"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from intake.db import make_engine, upgrade
from intake.tickets import records

pytestmark = pytest.mark.integration


def test_migrations_match_the_models(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)  # a second upgrade is a no-op
    engine = make_engine(db_url)
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), records.Base.metadata)
    engine.dispose()
    assert diffs == []



def test_concurrent_upgrades_of_a_fresh_database(pg_url: str) -> None:
    """Workers started together on an empty PostgreSQL all upgrade at once: each succeeds
    (they take turns under an advisory lock) and the schema is built once. Processes, not
    threads: Alembic's `context` is one module-level global."""
    import subprocess
    import sys

    code = "import sys; from intake.db import upgrade; upgrade(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) for _ in range(3)]
    outputs = [(p.wait(120), p.stdout.read().decode(errors="replace")[-2000:]) for p in procs]  # type: ignore[union-attr]
    assert [rc for rc, _ in outputs] == [0, 0, 0], outputs
    engine = make_engine(pg_url)
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), records.Base.metadata)
    engine.dispose()
    assert diffs == []


def test_capture_bytes_move_to_their_own_table_and_back(db_url: str) -> None:
    """0011 moves each capture's encrypted bytes, untouched, from `inbox.raw` to `inbox_raw`
    (so a status change no longer rewrites the mail); `Inbox.raw` still reads them, and a
    downgrade puts them back. On a database that already holds captures, both ways."""
    import datetime as dt

    from sqlalchemy import select, text
    from sqlalchemy.orm import Session

    from intake.db import alembic_config
    from intake.tickets.models import Inbox

    upgrade(db_url, "0010_cli_private_reads")
    engine = make_engine(db_url)
    now = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    sealed = {1: b"gAAAA-first-capture" * 500, 2: b"gAAAA-second"}
    with engine.begin() as connection:
        for inbox_id, raw in sealed.items():
            connection.execute(text(
                "INSERT INTO inbox (id, channel, capture_key, raw_sha256, raw, size, meta, status, attempts,"
                " private, captured_at, updated_at, enqueued_at) VALUES (:id, 'email', :key, :digest, :raw, 1,"
                " '{}', 'captured', 0, false, :now, :now, :now)"),
                {"id": inbox_id, "key": f"k{inbox_id}", "digest": f"{inbox_id:064x}", "raw": raw, "now": now})
    upgrade(db_url)
    with Session(engine) as session:
        assert {row.id: row.raw for row in session.scalars(select(Inbox))} == sealed
        assert session.scalar(text("SELECT count(*) FROM inbox_raw")) == 2
        session.execute(text("UPDATE inbox SET status = 'done'"))  # a status change leaves the bytes alone
        session.commit()
        assert dict(session.execute(select(Inbox.id, Inbox.raw)).tuples().all()) == sealed
    from alembic import command

    command.downgrade(alembic_config(db_url), "0010_cli_private_reads")
    with engine.connect() as connection:
        assert dict(connection.execute(text("SELECT id, raw FROM inbox")).tuples().all()) == sealed
    engine.dispose()
