"""`intake tokens create|list|revoke` as an operator runs them, tokens kept hashed, and the
shared rows under concurrency (a token name taken twice at once, a capture replayed twice
at once)."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, update

from intake.access import tokens
from intake.crypto import generate_key
from intake.process.reprocess import replay
from intake.tickets.models import Inbox
from intake.tickets.records import ApiToken
from tests.flows import INTAKE_BIN, ingest_raw, mail, make_runtime, subprocess_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def intake(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INTAKE_BIN, *args], env=env, capture_output=True, text=True, timeout=60)


def test_tokens_cli_create_list_revoke(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    env = subprocess_env(url, tmp_path / "data", INTAKE_ENCRYPTION_KEY=generate_key())
    made = intake(env, "tokens", "create", "alice", "--scope", "write", "--scope", "private")
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    secret = created["token"]
    assert secret.startswith("itk_") and created["scopes"] == ["private", "write"]
    assert "shown once" in made.stderr
    listed = intake(env, "tokens", "list")
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["name"] == "alice" and "token" not in row and secret not in listed.stdout
    # only a hash is stored: the secret is nowhere in the database file
    assert secret.split("_", 2)[2].encode() not in Path(f"{tmp_path}/cli.db").read_bytes()
    rt = make_runtime(url, tmp_path / "data", encryption_key=env["INTAKE_ENCRYPTION_KEY"])
    assert tokens.authenticate(rt, secret) is not None
    revoked = intake(env, "tokens", "revoke", "alice")
    assert revoked.returncode == 0 and json.loads(revoked.stdout)["revoked_at"]
    assert tokens.authenticate(rt, secret) is None
    # operator mistakes: one line naming the problem, exit 2, no traceback
    for args, words in ((("create", "alice", "--scope", "read"), "exists already"),
                        (("create", "bad name!", "--scope", "read"), "token name"),
                        (("revoke", "nobody"), "no token named")):
        wrong = intake(env, "tokens", *args)
        assert wrong.returncode == 2 and words in wrong.stderr and "Traceback" not in wrong.stderr, wrong.stderr
    wrong = intake(env, "tokens", "create", "bob", "--scope", "root")
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr
    rt.dispose()


def test_one_name_taken_twice_at_once_makes_one_token(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "data")
    barrier, outcomes = threading.Barrier(4), list[object]()

    def make() -> None:
        barrier.wait()
        try:
            outcomes.append(tokens.create(rt, "shared", ["read"])[0])
        except tokens.TokenError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    made = [o for o in outcomes if isinstance(o, str)]
    assert len(made) == 1 and len(outcomes) == 4
    with rt.sessions() as session:
        assert len(session.scalars(select(ApiToken)).all()) == 1
    rt.dispose()


def test_a_capture_replayed_twice_at_once_is_queued_once(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "data")
    ingest_raw(rt, mail())
    with rt.sessions() as session:
        inbox_id = session.scalar(select(Inbox.id))
        session.execute(update(Inbox).where(Inbox.id == inbox_id).values(status="failed", failure_reason="error"))
        session.commit()
    barrier, results = threading.Barrier(4), []

    def go() -> None:
        barrier.wait()
        results.append(replay(rt, int(inbox_id)))  # type: ignore[arg-type]

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queued = [w for w in results if w is not None]
    assert len(queued) == 1 and queued[0].process == ((inbox_id, False),)
    assert replay(rt, 10**9) is None
    rt.dispose()
