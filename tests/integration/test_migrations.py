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
