"""The process-wide handles built once from settings: engine, sessions, vault, triage rules.

Built lazily and cached, so importing intake costs nothing and a worker pays start-up once,
not per message.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from intake.crypto import Vault
from intake.db import make_engine, make_session_factory, safe_url
from intake.settings import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from intake.triage import Rules


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    vault: Vault
    _rules: "Rules | None" = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Runtime":
        try:
            engine = make_engine(settings.database_url)
        except (ArgumentError, ImportError, OSError) as exc:  # NoSuchModuleError is an ArgumentError
            raise SettingsError(f"INTAKE_DATABASE_URL: cannot use {safe_url(settings.database_url)} "
                                f"({type(exc).__name__})") from None
        # A key file is made only for a database that holds nothing sealed yet: a command run
        # elsewhere (another directory, a lost key file) must not invent a key for old data.
        def may_create() -> bool:
            try:
                return holds_nothing_sealed(engine)
            except Exception as exc:  # noqa: BLE001 - the database is what is wrong: name it
                raise SettingsError(f"INTAKE_DATABASE_URL: cannot connect to {safe_url(settings.database_url)} "
                                    f"({type(exc).__name__})") from None

        vault = Vault.from_settings(settings.encryption_key, settings.data_dir, may_create=may_create)
        return cls(settings=settings, engine=engine, sessions=make_session_factory(engine), vault=vault)

    @property
    def rules(self) -> "Rules":
        if self._rules is None:
            with self._lock:
                if self._rules is None:
                    from intake.triage import load_rules

                    self._rules = load_rules(self.settings.triage_config, data_dir=self.settings.data_dir)
        return self._rules

    def cached(self, key: str, factory: Any) -> Any:
        """A per-runtime singleton (senders, template environments, ...)."""
        if key not in self._cache:
            with self._lock:
                if key not in self._cache:
                    self._cache[key] = factory()
        return self._cache[key]

    def dispose(self) -> None:
        self.engine.dispose()


@functools.lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    return Runtime.from_settings(get_settings())


def holds_nothing_sealed(engine: Engine) -> bool:
    """True for a brand-new database (no schema yet, or no capture and no key check)."""
    from sqlalchemy import inspect, text

    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        for table in ("inbox", "key_checks"):
            if table in tables and connection.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first():
                return False
    return True
