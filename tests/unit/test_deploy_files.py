"""docker-compose.yml and the Dockerfile name only commands and settings that exist.

Docker does not run on our machines, so the file is checked by reading it.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from intake.cli import build_parser
from intake.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def known_env_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"INTAKE_{name.upper()}")
        alias = field.validation_alias
        if alias is not None:
            names.update(str(choice) for choice in getattr(alias, "choices", [alias]))
    return names


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_whole_stack() -> None:
    services = compose()["services"]
    assert {"redis", "postgres", "migrate", "worker", "beat", "web"} <= set(services)
    assert services["migrate"]["command"] == ["intake", "db", "upgrade"]
    assert services["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("service", ["migrate", "worker", "private-worker", "beat", "web"])
def test_every_intake_command_parses(service: str) -> None:
    command = compose()["services"][service]["command"]
    assert command[0] == "intake"
    build_parser().parse_args(command[1:])  # exits (SystemExit) on an unknown command or flag


def test_worker_queues_exist() -> None:
    from workers.app import QUEUES

    for service in ("worker", "private-worker"):
        command = compose()["services"][service]["command"]
        queues = command[command.index("--queues") + 1].split(",")
        assert set(queues) <= set(QUEUES)


def test_every_environment_variable_is_a_setting() -> None:
    known = known_env_names()
    services = compose()["services"]
    named = set()
    for service in services.values():
        named.update((service.get("environment") or {}).keys())
    intake_vars = {n for n in named if n.startswith(("INTAKE_", "TWILIO_"))}
    assert intake_vars, "the compose file configures intake through the environment"
    assert intake_vars <= known, f"unknown settings: {sorted(intake_vars - known)}"


def test_dockerfile_installs_the_console_script() -> None:
    text = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r'^CMD (\[.*\])$', text, re.M)
    assert cmd is not None
    assert yaml.safe_load(cmd.group(1))[0] == "intake"
    for copied in re.findall(r"^COPY (\S+)", text, re.M):
        assert (ROOT / copied).exists(), copied


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./dev test" in readme and "./dev run" in readme
    assert "exec ./dev test" in ci
    for line in shlex.split("./dev run ./dev test"):
        assert line
