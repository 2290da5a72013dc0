"""Keys that cannot be mixed up. Measured: after the key file was removed, `intake health`
made a new key and said ok; a command run from another directory against the shared
database made `./var/secret.key` there and sealed a reply with it; a different valid
INTAKE_ENCRYPTION_KEY was accepted; `intake reprocess` stopped at the first row it could
not open. Now the database holds a key check, no command invents a key for a database
that has data, and reprocess reports what it cannot open and goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from intake.crypto import Vault, generate_key
from tests.flows import subprocess_env
from tests.integration.cli.test_operator_mistakes import assert_stops, assert_unhealthy, ingest_one, intake

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_a_removed_key_file_is_not_replaced(db_url: str, tmp_path: Path) -> None:
    env = subprocess_env(db_url, tmp_path / "var")
    ingest_one(env, tmp_path)
    key_file = tmp_path / "var" / "secret.key"
    key_file.unlink()
    assert_unhealthy(env, "secret.key")
    assert_stops(intake(env, "tickets", "list"), "secret.key", "INTAKE_ENCRYPTION_KEY")
    assert not key_file.exists()  # nothing invented a key for the old data


def test_another_directory_against_the_shared_database_makes_no_key(pg_url: str, tmp_path: Path) -> None:
    key = generate_key()
    env = subprocess_env(pg_url, tmp_path / "server", INTAKE_ENCRYPTION_KEY=key)
    ingest_one(env, tmp_path)
    elsewhere = subprocess_env(pg_url, tmp_path / "elsewhere" / "var")  # no key set: a key file would be made
    assert_stops(intake(elsewhere, "tickets", "reply", "TK-000000", "--file", "-"), "secret.key")
    assert not (tmp_path / "elsewhere" / "var" / "secret.key").exists()


def test_a_different_valid_key_is_refused_even_before_any_capture(db_url: str, tmp_path: Path) -> None:
    env = subprocess_env(db_url, tmp_path / "var", INTAKE_ENCRYPTION_KEY=generate_key())
    assert intake(env, "db", "upgrade").returncode == 0  # records the key check, nothing captured yet
    wrong = {**env, "INTAKE_ENCRYPTION_KEY": generate_key()}
    line = assert_stops(intake(wrong, "tickets", "list"), "INTAKE_ENCRYPTION_KEY", "key check", "cannot open")
    assert env["INTAKE_ENCRYPTION_KEY"] not in line and wrong["INTAKE_ENCRYPTION_KEY"] not in line
    assert_unhealthy(wrong, "INTAKE_ENCRYPTION_KEY")


def test_rotation_keeps_working(db_url: str, tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    env = subprocess_env(db_url, tmp_path / "var", INTAKE_ENCRYPTION_KEY=old)
    ingest_one(env, tmp_path)
    both = {**env, "INTAKE_ENCRYPTION_KEY": f"{new},{old}"}
    done = intake(both, "keys", "rotate")
    assert done.returncode == 0, done.stderr
    only_new = {**env, "INTAKE_ENCRYPTION_KEY": new}
    listed = intake(only_new, "tickets", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert intake(only_new, "health").returncode in (0, 1)  # the broker may be away; the key is fine
    assert "key" not in " ".join(json.loads(intake(only_new, "health").stdout.splitlines()[-1]).get("problems", []))


def test_reprocess_reports_a_row_it_cannot_open_and_goes_on(db_url: str, tmp_path: Path) -> None:
    key = generate_key()
    env = subprocess_env(db_url, tmp_path / "var", INTAKE_ENCRYPTION_KEY=key)
    ingest_one(env, tmp_path)
    second = tmp_path / "two.eml"
    second.write_bytes(b"From: b@example.com\r\nSubject: App crashes\r\nMessage-ID: <two@example.com>\r\n\r\nIt crashes.\r\n")
    assert intake(env, "ingest", str(second)).returncode == 0
    engine = create_engine(db_url)
    stranger = Vault([generate_key()]).encrypt(b"From: x@example.com\r\n\r\nsealed elsewhere")
    with engine.begin() as connection:  # the first capture, sealed under a key long gone
        connection.execute(text("UPDATE inbox_raw SET raw = :raw WHERE inbox_id = (SELECT min(id) FROM inbox)"),
                           {"raw": stranger})
    done = intake(env, "reprocess")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["unreadable"] == 1 and summary["retriaged"] == 1
    engine.dispose()
