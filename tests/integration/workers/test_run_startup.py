"""`intake run` starts its poller before the triage rules and templates are checked (the
poller needs neither); a broken rule still stops the whole command, naming the line, and
leaves no child behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from intake.settings import DEFAULTS_DIR
from tests.flows import INTAKE_BIN, subprocess_env
from tests.support.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _processes_with(marker: str) -> list[int]:
    """Pids whose environment holds `marker` (forked children share the command's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_broken_triage_file_stops_intake_run_and_its_poller(tmp_path: Path) -> None:
    rules = tmp_path / "triage.yaml"
    rules.write_text((DEFAULTS_DIR / "triage.yaml").read_text() + "\n  - [unclosed\n")
    # A mailbox is configured (nothing listens there): the poller is started, and must stop.
    env = subprocess_env("", tmp_path / "var", INTAKE_TRIAGE_CONFIG=str(rules), INTAKE_IMAP_HOST="127.0.0.1",
                         INTAKE_IMAP_PORT=str(free_port()), INTAKE_IMAP_USER="desk", INTAKE_IMAP_PASSWORD="pw",
                         INTAKE_IMAP_SECURITY="none", INTAKE_WEB_PORT=str(free_port()))
    del env["INTAKE_DATABASE_URL"]  # the embedded default
    done = subprocess.run([INTAKE_BIN, "run"], env=env, capture_output=True, text=True, timeout=90,
                          check=False, start_new_session=True)
    assert done.returncode == 2
    assert str(rules) in done.stderr and "Traceback" not in done.stderr
    assert "celery" not in done.stderr.lower()  # the worker never started
    assert _processes_with(str(rules)) == []  # the poller it had started was stopped and reaped
