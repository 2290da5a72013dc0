"""Start-up checks of what ops configure: the data directory can be written, the database
answers and is at a schema this code knows, the encryption key opens the data already
stored (STYLE 12).

A failure is one line naming the setting or file, never a secret (a `SettingsError`: the
CLI prints it and exits 2); `intake health` and /healthz list the same lines as problems.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from sqlalchemy import text

from intake.db import safe_url
from intake.paths import path_problems
from intake.settings import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from intake.runtime import Runtime


def connect_problem(rt: "Runtime") -> str | None:
    try:
        with rt.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure here is "cannot connect"
        return f"INTAKE_DATABASE_URL: cannot connect to {safe_url(rt.settings.database_url)} ({type(exc).__name__})"
    return None


_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"""['"]([^'"]+)['"]""")


@functools.lru_cache(maxsize=1)
def _revisions() -> tuple[frozenset[str], frozenset[str]]:
    """(every revision this code knows, the heads), read from the migration scripts' own
    `revision =` and `down_revision =` lines: what alembic's ScriptDirectory reports
    (a unit test holds the two together), without importing alembic and every migration
    on each start of every process."""
    from intake.db import MIGRATIONS_DIR

    known: set[str] = set()
    parents: set[str] = set()
    for script in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        for name, value in _REVISION_LINE.findall(script.read_text(encoding="utf-8")):
            (known if name == "revision" else parents).update(_QUOTED.findall(value))
    return frozenset(known), frozenset(known - parents)


def current_revisions(rt: "Runtime") -> frozenset[str]:
    """The revisions the database is at (alembic's version table); none for a new database."""
    try:
        with rt.engine.connect() as connection:
            return frozenset(row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version")))
    except Exception:  # noqa: BLE001 - no version table yet: a database never migrated
        return frozenset()


def schema_problem(rt: "Runtime", upgrading: bool, current: frozenset[str] | None = None) -> str | None:
    """A schema newer than this code (from a later release) always; one behind the code only
    when not upgrading now (`intake health`). `current`: the database's revisions, if read."""
    url = rt.settings.database_url
    current = current_revisions(rt) if current is None else current
    known, heads = _revisions()
    unknown = sorted(current - known)
    if unknown:
        return (f"INTAKE_DATABASE_URL: the database {safe_url(url)} is at schema revision "
                f"{', '.join(unknown)}, newer than this intake knows ({', '.join(sorted(heads))}): "
                "run a release that has it, or point INTAKE_DATABASE_URL at the right database")
    if not upgrading and current != heads:
        return (f"INTAKE_DATABASE_URL: the database {safe_url(url)} is at schema "
                f"{', '.join(sorted(current)) or 'none'}, this intake needs "
                f"{', '.join(sorted(heads))}: run `intake db upgrade`")
    return None


def key_source(settings: Settings) -> str:
    return "INTAKE_ENCRYPTION_KEY" if settings.encryption_key.strip() else str(settings.data_dir / "secret.key")


# The newest sealed value of each kind: if the key opens these, it is the key in use.
_SAMPLES = (("inbox row", "SELECT inbox_id, raw FROM inbox_raw ORDER BY inbox_id DESC LIMIT 1"),
            ("ticket", "SELECT id, subject_secret FROM tickets WHERE subject_secret IS NOT NULL "
                       "ORDER BY id DESC LIMIT 1"))


def key_problem(rt: "Runtime") -> str | None:
    """A valid key that is not the one the stored data was sealed with (a new key set
    without keeping the old one after it)."""
    from intake.crypto import InvalidToken

    for what, query in _SAMPLES:
        try:
            with rt.engine.connect() as connection:
                row = connection.execute(text(query)).first()
        except Exception:  # noqa: BLE001 - no table yet: nothing stored to open
            return None
        if row is None:
            continue
        try:
            rt.vault.decrypt(bytes(row[1]))
        except InvalidToken:
            return (f"{key_source(rt.settings)}: the key cannot open the data already stored "
                    f"({what} {row[0]}); keep the old key after the new one (comma-separated, newest first)")
    return None


KEY_CHECK = b"intake key check"


def key_check_problem(rt: "Runtime", record: bool) -> str | None:
    """The database's key checks: none opened by the configured keys is a wrong key. With
    `record`, the primary key's own check is added (first start, or after a rotation)."""
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from intake.crypto import InvalidToken
    from intake.tickets.models import KeyCheck, utcnow

    try:
        with rt.sessions() as session:
            checks = list(session.scalars(select(KeyCheck)))
            opened = []
            for check in checks:
                try:
                    opened.append(rt.vault.decrypt(check.token) == KEY_CHECK)
                except InvalidToken:
                    opened.append(False)
            if checks and not any(opened):
                sealed_by = ", ".join(sorted(c.fingerprint for c in checks))
                return (f"{key_source(rt.settings)}: the key cannot open the data already stored (no "
                        f"configured key opens this database's key check, sealed by key id {sealed_by}); "
                        "set the key this database was sealed with (keep old keys after the new one "
                        "during a rotation)")
            primary = rt.vault.fingerprints()[0]
            if record and primary not in {c.fingerprint for c in checks}:
                session.add(KeyCheck(fingerprint=primary, token=rt.vault.encrypt(KEY_CHECK),
                                     created_at=utcnow()))
                try:
                    session.commit()
                except IntegrityError:  # another process recorded it first
                    session.rollback()
    except Exception:  # noqa: BLE001 - no table yet (schema behind): nothing to check
        return None
    return None


def problems(rt: "Runtime") -> list[str]:
    """Every start-up problem of a built runtime, for `intake health` and /healthz."""
    found = path_problems(rt.settings)
    problem = connect_problem(rt)
    if problem is None:
        problem = schema_problem(rt, upgrading=False) or key_check_problem(rt, record=False) or key_problem(rt)
    return found + ([problem] if problem else [])


def _upgrade(rt: "Runtime") -> None:
    from intake.db import upgrade

    try:
        upgrade(rt.settings.database_url)
    except Exception as exc:  # noqa: BLE001 - one line naming the setting, not a traceback
        raise SettingsError(f"INTAKE_DATABASE_URL: cannot bring {safe_url(rt.settings.database_url)} "
                            f"to the latest schema ({type(exc).__name__})") from exc


def start(upgrade: bool = True) -> "Runtime":
    """The runtime for a command, checked: raises SettingsError with the first problem."""
    from intake.runtime import get_runtime

    found = path_problems(get_settings())
    if found:
        raise SettingsError(found[0])
    rt = get_runtime()
    problem = connect_problem(rt)
    current = current_revisions(rt) if problem is None else frozenset()
    problem = problem or schema_problem(rt, upgrading=upgrade, current=current)
    if problem:
        raise SettingsError(problem)
    if upgrade and current != _revisions()[1]:
        _upgrade(rt)  # only when behind: alembic's upgrade costs every process ~0.3 s to learn it has nothing to do
    problem = key_check_problem(rt, record=True) or key_problem(rt)
    if problem:
        raise SettingsError(problem)
    return rt
