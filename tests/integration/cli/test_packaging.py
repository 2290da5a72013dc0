"""A wheel installed (non-editable) into a fresh venv works on its own: no checkout next to it.

The wheel is built from a copy of the source tree (so the build writes nothing into the
repository), installed into a new venv with its dependencies resolved by pip, and then run
from an empty directory: `intake db upgrade` and `intake classify` must succeed on the
packaged defaults (triage rules, templates, voice menu, migrations) and write nothing to
the working directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[3]
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".mypy_cache")
HACKED = b"""\
From: Sam Lee <sam@example.com>
To: support@example.test
Subject: My account was hacked
Message-ID: <hacked-1@example.com>
Content-Type: text/plain; charset=utf-8

Someone hacked my account last night. They changed my password and the email address,
and now I cannot log in. Please lock the account and help me get it back.
"""

INSPECT = """\
import json, pathlib, intake, intake.settings as s
package = pathlib.Path(intake.__file__).parent
print(json.dumps({
    "package": str(package),
    "triage": str(s.Settings().triage_config),
    "templates": sorted(p.name for p in s.Settings().templates_dir.iterdir()),
    "voice": str(s.Settings().voice_config),
    "migrations": sorted(p.name for p in (package / "migrations" / "versions").glob("*.py")),
    "env": (package / "migrations" / "env.py").is_file(),
}))
"""


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no system or test-venv site-packages) with the wheel installed; returns it."""
    base = tmp_path_factory.mktemp("packaging")
    source, wheels, venv = base / "source", base / "wheels", base / "venv"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    built = run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(source)],
                base, env)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheels.glob("intake-*.whl")
    made = run([sys.executable, "-m", "venv", str(venv)], base, env)
    assert made.returncode == 0, made.stderr
    done = run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", str(wheel)],
               base, env, timeout=500)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


@pytest.fixture
def intake_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("INTAKE_", "TWILIO_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_LOG_LEVEL": "WARNING"})
    return env


def test_the_wheel_carries_its_defaults_and_migrations(installed: Path, tmp_path: Path,
                                                       intake_env: dict[str, str]) -> None:
    done = run([str(installed / "bin" / "python"), "-c", INSPECT], tmp_path, intake_env)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    package = Path(found["package"])
    assert package.is_relative_to(installed), f"imported {package}, not the installed wheel"
    assert Path(found["triage"]) == package / "defaults" / "triage.yaml"
    assert Path(found["voice"]) == package / "defaults" / "voice.yaml"
    assert Path(found["triage"]).is_file() and Path(found["voice"]).is_file()
    expected_templates = sorted(p.name for p in (ROOT / "intake" / "defaults" / "templates").iterdir())
    assert found["templates"] == expected_templates
    assert found["migrations"] == sorted(p.name for p in (ROOT / "intake" / "migrations" / "versions").glob("*.py"))
    assert found["env"]


def test_installed_intake_upgrades_and_classifies_from_anywhere(installed: Path, tmp_path: Path,
                                                                intake_env: dict[str, str]) -> None:
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    sample = tmp_path / "hacked.eml"
    sample.write_bytes(HACKED)
    intake = str(installed / "bin" / "intake")

    upgraded = run([intake, "db", "upgrade"], workdir, intake_env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "data" / "intake.db").is_file()

    classified = run([intake, "classify", str(sample)], workdir, intake_env)
    assert classified.returncode == 0, classified.stderr
    result = json.loads(classified.stdout)
    assert result["category"] == "account" and result["private"] is True

    assert list(workdir.iterdir()) == [], "nothing is written relative to the working directory"
