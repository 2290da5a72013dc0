"""A command's exit after its work (`intake.cli.command`): the database connections are
closed, not left to the interpreter's last garbage collections (which the frozen heap skips),
and nothing written is lost: the output is whole, SQLite's log is checkpointed, PostgreSQL
keeps no session of the finished command."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.flows import INTAKE_BIN, mail, subprocess_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MAILS = 150


def intake(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INTAKE_BIN, *args], env=env, capture_output=True, text=True, timeout=240, check=False)


def write_mails(folder: Path) -> list[str]:
    folder.mkdir()
    paths = []
    for n in range(MAILS):
        path = folder / f"{n:03}.eml"
        path.write_bytes(mail(subject=f"Upload broken {n}", body=f"Upload fails with error {n} every time.\n" * 40,
                              sender=f"User {n} <u{n}@example.com>", message_id=f"<light-{n}@example.com>"))
        paths.append(str(path))
    return paths


def test_sqlite_is_whole_and_checkpointed_after_each_command(tmp_path: Path) -> None:
    db = tmp_path / "intake.db"
    env = subprocess_env(f"sqlite:///{db}", tmp_path / "var")
    done = intake(env, "ingest", *write_mails(tmp_path / "mail"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(done.stdout.splitlines()) == MAILS  # every line of output, none cut off at exit
    # the last connection closed cleanly: its write-ahead log was folded into the database
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (MAILS,)
    listed = intake(env, "tickets", "list", "--json")
    assert listed.returncode == 0
    assert len([json.loads(line) for line in listed.stdout.splitlines()]) == MAILS


def test_postgresql_keeps_no_session_of_a_finished_command(pg_url: str, tmp_path: Path) -> None:
    env = subprocess_env(pg_url, tmp_path / "var", PGAPPNAME="intake-light-exit")
    done = intake(env, "ingest", *write_mails(tmp_path / "mail")[:20])
    assert done.returncode == 0, done.stderr[-2000:]
    assert intake(env, "tickets", "list", "--json").returncode == 0
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as conn:
        left = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'intake-light-exit'"
                            ).fetchone()
    assert left == (0,)
