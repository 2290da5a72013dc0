"""What the daemons do not import at start: beat needs no database stack, and beat and the
log filter need neither the classifier (its model's numpy, the rule loader) nor Celery's
click command line (click-repl, prompt_toolkit); each is CPU that the starting workers share
the cores with. The start is watched with Python's own import log (PYTHONPROFILEIMPORTTIME),
in real processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.flows import INTAKE_BIN, subprocess_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def imported(stderr: str) -> set[str]:
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def start_until(argv: list[str], env: dict[str, str], marker: str, log: Path) -> str:
    """Run `argv` until `marker` is on its stderr, then stop it; returns what it wrote."""
    with log.open("w") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 90
            while marker not in log.read_text(errors="replace"):
                assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, f"no {marker!r} in 90 s"
                time.sleep(0.05)
        finally:
            proc.terminate()
            proc.wait(30)
    return log.read_text(errors="replace")


def test_the_log_filter_redacts_without_the_classifier(tmp_path: Path) -> None:
    code = ("import logging, sys\n"
            "from intake.logs import setup_logging\n"
            "setup_logging('INFO')\n"
            "logging.getLogger('intake.test').warning('card 4111 1111 1111 1111, call +1 415 555 0133')\n"
            "print(sorted(m for m in ('numpy', 'intake.triage.classify', 'intake.triage.model',"
            " 'intake.triage.loading') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                          env=subprocess_env(f"sqlite:///{tmp_path}/i.db", tmp_path / "var"))
    assert done.stdout.strip() == "[]"
    assert "4111" not in done.stderr and "555 0133" not in done.stderr
    assert "[CARD]" in done.stderr


def test_beat_starts_without_the_database_the_classifier_or_celerys_command_line(tmp_path: Path) -> None:
    # Beat sends task names on a schedule: it neither opens nor imports the database stack,
    # so it starts (and keeps scheduling) while the database is away.
    env = subprocess_env("postgresql+psycopg://intake:secret@127.0.0.1:1/intake", tmp_path / "var",
                         INTAKE_LOG_LEVEL="INFO", INTAKE_IMAP_HOST="127.0.0.1", INTAKE_IMAP_PORT="9",
                         INTAKE_IMAP_USER="u", INTAKE_IMAP_PASSWORD="p", PYTHONPROFILEIMPORTTIME="1")
    stderr = start_until([INTAKE_BIN, "beat"], env, "beat: Starting", tmp_path / "beat.log")
    modules = imported(stderr)
    assert "celery.beat" in modules  # the import log is read
    assert not modules & {"sqlalchemy", "psycopg", "intake.runtime", "intake.crypto", "numpy",
                          "intake.triage.classify", "celery.bin.celery", "click_repl", "prompt_toolkit"}
    assert (tmp_path / "var" / "celerybeat-schedule").exists() or any((tmp_path / "var").glob("celerybeat-schedule*"))


def test_a_worker_starts_without_celerys_command_line(tmp_path: Path) -> None:
    env = subprocess_env(f"sqlite:///{tmp_path}/i.db", tmp_path / "var", INTAKE_LOG_LEVEL="INFO",
                         PYTHONPROFILEIMPORTTIME="1")
    stderr = start_until([INTAKE_BIN, "worker", "--queues", "capture,process", "--concurrency", "2"], env,
                         " ready.", tmp_path / "worker.log")
    time.sleep(1)  # the pool processes' own start (their imports go to the same log)
    modules = imported(stderr)
    assert "celery.worker.consumer.consumer" in modules
    assert not modules & {"celery.bin.celery", "click_repl", "prompt_toolkit"}
    # what the command line would have given the worker: its queues, concurrency and name
    assert ".> capture " in stderr and ".> process " in stderr and ".> outbound " not in stderr
    assert "concurrency: 2 (prefork)" in stderr
    # the pool processes inherit the parser billiard's parent-death signal needs: one import
    # of pycparser in the whole process group, not one per pool process
    assert sum(line.startswith("import time:") and line.rsplit("|", 1)[1].strip() == "pycparser"
               for line in stderr.splitlines()) <= 1
    assert "intake-" in stderr
