"""Engine and sessions for SQLite (embedded default) and PostgreSQL, and schema upgrades."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def private_sqlite_file(path: Path) -> None:
    """The database holds every message: its folder 0700 when we make it, the file and its
    -wal/-shm 0600. The file is created here, before SQLite opens it, because SQLite gives
    -wal and -shm the mode of the database file (os_unix.c findCreateFileMode)."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)  # mkdir's mode is cut by the umask, never widened
    # Only a file that does not exist yet is opened here: closing any descriptor of a file
    # drops every POSIX lock this process holds on it, so opening an existing database in a
    # process with a transaction open on it (a second engine) would let another process
    # write under that transaction (sqlite.org/howtocorrupt.html, 2.2).
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            if name.stat().st_mode & 0o077:
                os.chmod(name, 0o600)
        except FileNotFoundError:
            continue


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:" and not path.startswith("file:"):
            private_sqlite_file(Path(path))
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets the web process read while a worker writes; busy_timeout rides out
            # the short write locks of a second worker instead of failing.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_pre_ping=True, **kwargs)


def safe_url(url: str) -> str:
    """A database URL fit to print: the password masked."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL we cannot even parse is shown by its scheme only
        return url.split(":", 1)[0] + "://(unparseable)"


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # No autoflush: on a batch of hundreds of captures in one session, flushing before every
    # query costs more than the queries. The store flushes where a later query depends on it.
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


def for_update(session: Session, query: Any, skip_locked: bool = False) -> Any:
    """Row locks where the database has them: on PostgreSQL a second worker on the same row
    waits (or, with skip_locked, passes it by) instead of racing; SQLite serialises writers
    anyway and has no SELECT ... FOR UPDATE."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=skip_locked)
    return query


def insert_for(session: Session) -> Any:
    """The dialect's INSERT (with ON CONFLICT) for the session's database."""
    # Only the dialect in use is imported (the other is ~50 ms of a process's first store).
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (`intake db upgrade`)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)
