"""Daemons check their configuration at start and stop with a message naming the problem."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from intake.settings import DEFAULTS_DIR
from tests.flows import INTAKE_BIN, subprocess_env

pytestmark = pytest.mark.integration


def start_worker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INTAKE_BIN, "worker"], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_a_broken_triage_file_stops_the_worker_naming_the_line(tmp_path: Path) -> None:
    rules = tmp_path / "triage.yaml"
    rules.write_text((DEFAULTS_DIR / "triage.yaml").read_text() + "\n  - [unclosed\n")
    env = subprocess_env(f"sqlite:///{tmp_path}/i.db", tmp_path / "var", INTAKE_TRIAGE_CONFIG=str(rules))
    done = start_worker(env)
    assert done.returncode == 2
    assert str(rules) in done.stderr and "Traceback" not in done.stderr


def test_a_broken_template_stops_the_worker_naming_the_file(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(DEFAULTS_DIR / "templates", templates)
    (templates / "ack.zh.sms.txt").write_text("{% if %}")
    env = subprocess_env(f"sqlite:///{tmp_path}/i.db", tmp_path / "var", INTAKE_TEMPLATES_DIR=str(templates))
    done = start_worker(env)
    assert done.returncode == 2 and "ack.zh.sms.txt:1" in done.stderr


def test_a_contradictory_setting_stops_the_worker_naming_it(tmp_path: Path) -> None:
    env = subprocess_env(f"sqlite:///{tmp_path}/i.db", tmp_path / "var", INTAKE_EMAIL_BACKEND="smtp")
    done = start_worker(env)
    assert done.returncode == 2 and "INTAKE_SMTP_HOST" in done.stderr
