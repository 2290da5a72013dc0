"""What intake writes is its owner's alone: the data directory 0700, the SQLite database and
its -wal/-shm 0600, the outbox folder 0700 and its files 0600, even under a lax umask."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from intake.channels.local import atomic_write_once
from intake.db import make_engine
from tests.flows import INTAKE_BIN, mail, subprocess_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def lax_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_ingest_leaves_private_files(tmp_path: Path) -> None:
    data = tmp_path / "var"  # intake creates it
    path = tmp_path / "refund.eml"
    path.write_bytes(mail(subject="Refund please", body="Refund my card 4111 1111 1111 1111, account A-20931."))
    env = subprocess_env("", data)
    del env["INTAKE_DATABASE_URL"]  # the embedded default: a SQLite file under the data dir
    done = subprocess.run([INTAKE_BIN, "ingest", str(path)], env=env, capture_output=True, text=True,
                          timeout=150, preexec_fn=lambda: os.umask(0o022))  # noqa: PLW1509 - umask only
    assert done.returncode == 0, done.stderr
    assert mode(data) == 0o700
    assert mode(data / "intake.db") == 0o600
    assert mode(data / "secret.key") == 0o600
    outbox = data / "outbox"
    assert mode(outbox) == 0o700
    files = [p for p in outbox.iterdir()]
    assert files, "the acknowledgement was written to the outbox folder"
    assert all(mode(p) == 0o600 for p in files)
    leftovers = [p for p in data.rglob("*") if mode(p) & 0o077]
    assert leftovers == []


def test_sqlite_database_wal_and_shm_are_0600(tmp_path: Path, lax_umask: None) -> None:
    database = tmp_path / "fresh" / "intake.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (1)"))
            connection.commit()
            wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
            assert wal.exists() and shm.exists()
            assert (mode(database), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
        assert mode(database.parent) == 0o700
    finally:
        engine.dispose()


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path, lax_umask: None) -> None:
    database = tmp_path / "old.db"
    database.touch(mode=0o644)
    os.chmod(database, 0o644)
    make_engine(f"sqlite:///{database}").dispose()
    assert mode(database) == 0o600


def test_outbox_files_and_folder(tmp_path: Path, lax_umask: None) -> None:
    outbox = tmp_path / "outbox"
    assert atomic_write_once(outbox, "outbox-1.eml", b"Subject: hi\r\n\r\nbody\r\n")
    assert mode(outbox) == 0o700 and mode(outbox / "outbox-1.eml") == 0o600
