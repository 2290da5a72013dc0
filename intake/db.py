"""Engine and sessions for SQLite (embedded default) and PostgreSQL, and schema upgrades."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
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
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


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
