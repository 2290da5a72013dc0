"""The start-up schema check reads the migration scripts' revision lines itself instead of
importing alembic on every start: it must agree with alembic about what is known and what
the heads are, and a process whose database is current must not run alembic at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from intake import preflight
from intake.db import MIGRATIONS_DIR, alembic_config


def test_the_revision_reader_agrees_with_alembic() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    known, heads = preflight._revisions()
    assert known == {r.revision for r in script.walk_revisions()}
    assert heads == set(script.get_heads())
    assert len(heads) == 1


def test_a_current_database_starts_without_running_alembic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from intake import db
    from intake.runtime import get_runtime
    from intake.settings import get_settings

    monkeypatch.setenv("INTAKE_DATABASE_URL", f"sqlite:///{tmp_path}/intake.db")
    monkeypatch.setenv("INTAKE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    get_runtime.cache_clear()
    try:
        rt = preflight.start(upgrade=True)  # a new database: migrated
        assert preflight.current_revisions(rt) == preflight._revisions()[1]
        calls: list[str] = []
        monkeypatch.setattr(db, "upgrade", lambda url, revision="head": calls.append(url))
        get_runtime.cache_clear()
        preflight.start(upgrade=True)
        assert calls == []  # current: nothing to do, alembic not asked
        with rt.engine.begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0008_corrections'")
        preflight.start(upgrade=True)
        assert len(calls) == 1  # behind: upgraded
        assert preflight.schema_problem(rt, upgrading=False) is not None
    finally:
        get_settings.cache_clear()
        get_runtime.cache_clear()
        assert MIGRATIONS_DIR.is_dir()
