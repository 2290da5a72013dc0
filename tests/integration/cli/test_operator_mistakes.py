"""Operator mistakes stop every command with one line naming the setting or file (exit 2),
and `intake health` reports them as unhealthy (exit 1, JSON naming the problem): an
invalid key, a valid key that cannot open the stored data, a read-only data directory,
an unreachable database, a database at a newer schema than the code."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from intake.crypto import generate_key
from tests.flows import INTAKE_BIN, mail, subprocess_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# One-shot commands, the schema command and a daemon (each `intake` start costs seconds).
COMMANDS = (["tickets", "list"], ["db", "upgrade"], ["keys", "rotate"], ["worker"])


def intake(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INTAKE_BIN, *args], env=env, capture_output=True, text=True, timeout=90,
                          check=False)


def assert_stops(done: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit 2 and exactly one line on stderr, containing each expected fragment."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("intake: "), done.stderr
    for fragment in expected:
        assert fragment in lines[0]
    return lines[0]


def assert_unhealthy(env: dict[str, str], *expected: str) -> str:
    """Exit 1 with a JSON report naming each expected fragment among its problems."""
    done = intake(env, "health")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ok"] is False
    problems = " | ".join(report["problems"])
    for fragment in expected:
        assert fragment in problems
    return done.stdout


def ingest_one(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "one.eml"
    path.write_bytes(mail())
    done = intake(env, "ingest", str(path))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c))
def test_an_invalid_key_stops_every_command(tmp_path: Path, command: list[str]) -> None:
    env = subprocess_env(f"sqlite:///{tmp_path}/i.db", tmp_path / "var", INTAKE_ENCRYPTION_KEY="not-a-fernet-key")
    line = assert_stops(intake(env, *command), "INTAKE_ENCRYPTION_KEY", "not a valid Fernet key")
    assert "not-a-fernet-key" not in line


def test_an_invalid_key_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret.key").write_text("garbage\n")
    env = subprocess_env(f"sqlite:///{tmp_path}/i.db", tmp_path / "var")
    assert_stops(intake(env, "tickets", "list"), str(tmp_path / "var" / "secret.key"))
    assert_unhealthy(env, "secret.key")


def test_an_invalid_key_is_unhealthy(tmp_path: Path) -> None:
    env = subprocess_env(f"sqlite:///{tmp_path}/i.db", tmp_path / "var", INTAKE_ENCRYPTION_KEY="nope")
    assert_unhealthy(env, "INTAKE_ENCRYPTION_KEY")


def test_a_key_that_cannot_open_the_stored_data_stops_commands(db_url: str, tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    env = subprocess_env(db_url, tmp_path / "var", INTAKE_ENCRYPTION_KEY=old)
    ingest_one(env, tmp_path)
    wrong = {**env, "INTAKE_ENCRYPTION_KEY": new}
    for command in (["tickets", "list"], ["reprocess"]):
        line = assert_stops(intake(wrong, *command), "INTAKE_ENCRYPTION_KEY", "cannot open the data already stored")
        assert old not in line and new not in line
    assert_unhealthy(wrong, "INTAKE_ENCRYPTION_KEY", "cannot open")
    rotated = {**env, "INTAKE_ENCRYPTION_KEY": f"{new},{old}"}  # the old key kept after the new one
    assert intake(rotated, "tickets", "list").returncode == 0


def read_only_dir(tmp_path: Path) -> Path:
    """A directory this process cannot write. root ignores file modes, so as root use a
    sysfs directory, which the kernel refuses to anyone."""
    if os.geteuid() == 0:
        path = Path("/sys/kernel")
        if not path.is_dir():
            pytest.skip("running as root without /sys: no directory root cannot write")
        return path
    path = tmp_path / "readonly"
    path.mkdir()
    path.chmod(0o555)
    return path


def test_a_read_only_data_directory_stops_commands(tmp_path: Path) -> None:
    data_dir = read_only_dir(tmp_path)
    env = subprocess_env(f"sqlite:///{data_dir}/intake.db", data_dir)
    for command in (["tickets", "list"], ["worker"], ["beat"]):  # beat keeps its schedule there
        assert_stops(intake(env, *command), "INTAKE_DATA_DIR", str(data_dir), "not writable")
    assert_unhealthy(env, "INTAKE_DATA_DIR")


def test_a_read_only_data_directory_with_a_key_set_is_unhealthy(tmp_path: Path) -> None:
    data_dir = read_only_dir(tmp_path)
    env = subprocess_env(f"sqlite:///{tmp_path}/i.db", data_dir, INTAKE_ENCRYPTION_KEY=generate_key())
    assert_stops(intake(env, "tickets", "list"), "INTAKE_DATA_DIR", "not writable")
    assert_unhealthy(env, "INTAKE_DATA_DIR")


def test_an_unreachable_database_stops_commands_without_showing_its_password(tmp_path: Path) -> None:
    url = "postgresql://intake:hunter2secret@127.0.0.1:1/intake"
    env = subprocess_env(url, tmp_path / "var")
    for command in (["db", "upgrade"], ["worker"]):
        line = assert_stops(intake(env, *command), "INTAKE_DATABASE_URL", "cannot connect to",
                            "127.0.0.1:1/intake", "(OperationalError)")
        assert "hunter2secret" not in line
    assert "hunter2secret" not in assert_unhealthy(env, "INTAKE_DATABASE_URL", "cannot connect")


def test_a_database_at_a_newer_schema_stops_commands(db_url: str, tmp_path: Path) -> None:
    env = subprocess_env(db_url, tmp_path / "var")
    assert intake(env, "db", "upgrade").returncode == 0
    engine = create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999_from_the_future'"))
    engine.dispose()
    for command in (["tickets", "list"], ["db", "upgrade"]):
        assert_stops(intake(env, *command), "INTAKE_DATABASE_URL", "0999_from_the_future", "newer than")
    assert_unhealthy(env, "0999_from_the_future")


def test_an_unknown_log_level_is_named(tmp_path: Path) -> None:
    env = subprocess_env(f"sqlite:///{tmp_path}/i.db", tmp_path / "var", INTAKE_LOG_LEVEL="verbose")
    assert_stops(intake(env, "tickets", "list"), "INTAKE_LOG_LEVEL", "'verbose'")
    for accepted in ("debug", "WARN"):  # any case; logging's own names
        env["INTAKE_LOG_LEVEL"] = accepted
        assert intake(env, "tickets", "list").returncode == 0
