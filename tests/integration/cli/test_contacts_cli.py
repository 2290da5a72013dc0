"""`intake contacts erase ADDRESS|PHONE`: one JSON line of counts (never the address), a
clear line and exit 1 for an address nothing is stored for, exit 2 for a value that is no
address, never a traceback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.flows import INTAKE_BIN, ingest_raw, mail, make_runtime, subprocess_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INTAKE_BIN, "contacts", "erase", *args], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_erase_command(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/intake.db"
    rt = make_runtime(db_url, tmp_path)
    ingest_raw(rt, mail(sender="Erin <erin@example.com>", body="ERIN-TEXT"))
    env = subprocess_env(db_url, tmp_path)

    done = run(env, "Erin@Example.com")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["found"] and report["counts"]["messages"] == 1 and report["scrubbed"] is True
    assert "erin" not in done.stdout.lower() and "erin" not in done.stderr.lower()

    again = run(env, "erin@example.com")
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert "nothing is stored for that address" in again.stderr
    assert json.loads(again.stdout)["found"] is False

    for bad in ("", "not a number", "x" * 500):
        refused = run(env, bad)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert refused.stderr.strip().startswith("intake: give an e-mail address or a phone number")
        assert len(refused.stderr.strip().splitlines()) == 1
