"""A second engine on the same SQLite file keeps the first one's locks.

Closing any descriptor of a file drops every POSIX lock the process holds on it, and
SQLite's locks are such locks (sqlite.org/howtocorrupt.html 2.2). `make_engine` used to open
and close the database file to set its mode, so a process that built a second engine while
a connection was open dropped that connection's lock on the file: in WAL mode the shared
lock that tells other processes the database is in use (a closing peer may then take
itself for the last one), in rollback mode the write lock itself. Now it opens only a file
that does not exist yet. The locks are read from /proc/locks (Linux)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from intake.db import make_engine


def _my_locks(path: Path) -> list[str]:
    inode = path.stat().st_ino
    with open("/proc/locks", encoding="ascii") as locks:
        return [line for line in locks
                if line.split()[1] == "POSIX" and int(line.split()[4]) == os.getpid()
                and int(line.split()[5].split(":")[2]) == inode]


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_a_second_engine_keeps_the_locks_of_an_open_connection(tmp_path: Path, journal: str) -> None:
    if not Path("/proc/locks").exists():
        pytest.skip("no /proc/locks here (not Linux)")
    path = tmp_path / "intake.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute(f"PRAGMA journal_mode={journal}")
    raw.execute("BEGIN IMMEDIATE")
    raw.execute("INSERT INTO t VALUES (1)")
    held = _my_locks(path)
    assert held, "the open transaction holds a lock on the file"
    make_engine(url).dispose()  # a second component of the same process opens the database
    assert _my_locks(path) == held
    raw.execute("COMMIT")
    raw.close()


def test_the_file_is_still_created_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "intake.db"
    make_engine(f"sqlite:///{path}").dispose()
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
