"""Where intake writes on disk, and whether it can: checked at start, without the database
stack (`intake beat` checks its data directory with this alone).

A problem is one line naming the setting (a `SettingsError` in the caller's hands).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from intake.settings import Settings


def _sqlite_path(settings: Settings) -> Path | None:
    url = settings.database_url
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def writable(path: Path) -> str | None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return f"{path} is not writable ({type(exc).__name__}: {exc.strerror or exc})"
    return None


def path_problems(settings: Settings) -> list[str]:
    """The directories this configuration writes to, where they cannot be written. The data
    directory is checked only when something uses it (SQLite file, key file, file senders,
    filesystem broker), so a server on PostgreSQL and Redis may run on a read-only disk."""
    problems = []
    database = _sqlite_path(settings)
    data_dir = settings.data_dir.resolve()
    in_data_dir = database is not None and data_dir in database.resolve().parents
    if (in_data_dir or not settings.encryption_key.strip() or settings.broker_url.startswith("filesystem")
            or "file" in (settings.email_backend, settings.sms_backend)):
        problem = writable(data_dir)
        if problem:
            problems.append(f"INTAKE_DATA_DIR: {problem}")
    if database is not None and not in_data_dir and not problems:
        problem = writable(database.resolve().parent)
        if problem:
            problems.append(f"INTAKE_DATABASE_URL: {problem}")
    return problems
