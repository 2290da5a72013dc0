"""docker-compose.yml and the Dockerfile name only commands and settings that exist, and
every intake service starts with the environment compose gives it.

Docker does not run on our machines, so the files are checked by reading them: compose's
`${VAR:-default}` / `${VAR:?message}` interpolation is resolved here as an operator who set
only the required variables would get it, and each service's start-up checks are run on
the result.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from intake.cli import build_parser
from intake.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
INTAKE_SERVICES = ("migrate", "worker", "private-worker", "beat", "web")
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([?-])([^}]*))?\}")


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
    setup = readme.split("## Set-up", 1)[1]
    block = re.search(r"```sh\n(.*?)```", setup, re.S)
    assert block is not None, "README's set-up section has no sh block"
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    assert [c for c in commands if c] == ["./dev run", "./dev test"]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert ci[-1] == "exec ./dev test"
    dev = (ROOT / "dev").read_text()
    assert re.search(r"^\s+run\)$", dev, re.M) and re.search(r"^\s+test\)$", dev, re.M)


# -- what each service gets, and whether it starts with it --------------------------------------

def required_variables() -> set[str]:
    """Variables compose refuses to run without (`${VAR:?message}`): the operator sets these."""
    text = (ROOT / "docker-compose.yml").read_text()
    return {m.group(1) for m in INTERPOLATION.finditer(text) if m.group(2) == "?"}


def operator_values() -> dict[str, str]:
    from intake.crypto import generate_key

    values = {name: "set-by-operator" for name in required_variables()}
    values["INTAKE_ENCRYPTION_KEY"] = generate_key()
    return values


def interpolate(value: Any, given: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name, kind, argument = match.groups()
        if given.get(name):
            return given[name]
        if kind == "?":
            raise AssertionError(f"{name} is required but not given")
        return argument if kind == "-" else ""

    return INTERPOLATION.sub(one, str(value))


def dockerfile_env() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text()
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.+)$", text, re.M):
        env.update(pair.split("=", 1) for pair in line.split())
    return env


def service_env(name: str) -> dict[str, str]:
    """The container's environment: the image's ENV, then the service's (interpolated)."""
    given = operator_values()
    env = dict(dockerfile_env())
    for key, value in (compose()["services"][name].get("environment") or {}).items():
        env[key] = interpolate(value, given)
    return env


def test_required_variables_are_documented_for_operators() -> None:
    required = required_variables()
    assert {"INTAKE_ENCRYPTION_KEY", "TWILIO_AUTH_TOKEN"} <= required
    example = (ROOT / ".env.example").read_text()
    for name in required:
        assert re.search(rf"^#?\s*{name}=", example, re.M), f"{name} is not in .env.example"


def test_every_service_uses_the_same_database() -> None:
    urls = {name: service_env(name).get("INTAKE_DATABASE_URL", "") for name in INTAKE_SERVICES}
    assert len(set(urls.values())) == 1, urls
    assert next(iter(urls.values())).startswith("postgresql"), "a SQLite file would be per container"


@pytest.mark.parametrize("name", INTAKE_SERVICES)
def test_service_starts_with_its_environment(name: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks `intake <command>` makes before its daemon runs (intake/cli/) pass on the
    environment compose gives the service: settings load, a key is set (no key file written
    into the volume by racing containers), triage rules, templates, mailboxes and the web
    app's Twilio token and voice config are all there."""
    from intake.runtime import Runtime
    from intake.settings import load_settings

    for key in list(os.environ):
        if key.startswith(("INTAKE_", "TWILIO_")):
            monkeypatch.delenv(key)
    for key, value in service_env(name).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no .env here: only what compose sets
    command = compose()["services"][name]["command"]
    args = build_parser().parse_args(command[1:])
    settings = load_settings()
    assert settings.database_url.startswith("postgresql")
    if args.command == "db":
        return  # cmd_db reads the database URL and nothing else
    assert settings.broker_url.startswith("redis://"), "workers in separate containers need a shared broker"
    assert settings.encryption_key, "without INTAKE_ENCRYPTION_KEY each container would make its own key"
    assert str(settings.data_dir) == "/var/lib/intake"
    rt = Runtime.from_settings(settings)
    try:
        from intake.mailboxes import load_mailboxes
        from intake.outbox.compose import composer_for

        rt.rules  # noqa: B018
        composer_for(rt).check()
        load_mailboxes(settings)
        if args.command == "web":
            import intake.web.app as web_app

            monkeypatch.setattr(web_app, "setup_logging", lambda level: None)
            from intake.work import discard

            web_app.create_app(rt, enqueue=discard, check_broker=None, require_twilio=not args.embedded)
    finally:
        rt.dispose()


def test_intake_services_keep_their_data_in_the_volume() -> None:
    data_dir = dockerfile_env()["INTAKE_DATA_DIR"]
    for name in ("worker", "private-worker", "beat", "web"):
        service = compose()["services"][name]
        assert service_env(name)["INTAKE_DATA_DIR"] == data_dir
        assert any(str(v).endswith(":" + data_dir) for v in service.get("volumes", [])), name


def test_dockerfile_copies_what_the_package_needs() -> None:
    text = (ROOT / "Dockerfile").read_text()
    copied = {src for line in re.findall(r"^COPY (.+)$", text, re.M) for src in line.split()[:-1]}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages | {"pyproject.toml", project["project"]["readme"]} <= copied
    assert "config" not in copied, "the defaults are package data now; config/ holds only examples"
    assert "pip install --no-cache-dir ." in text and " -e " not in text


def test_every_data_file_of_the_package_is_package_data() -> None:
    """What is not matched here would be missing from the wheel and the image."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["intake"]
    package = ROOT / "intake"
    shipped = {path for pattern in patterns for path in package.glob(pattern) if path.is_file()}
    data = {path for path in package.rglob("*")
            if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts}
    assert data, "intake/defaults holds the default triage rules, templates and voice menu"
    assert data <= shipped, sorted(str(p.relative_to(ROOT)) for p in data - shipped)
    for needed in ("defaults/triage.yaml", "defaults/voice.yaml", "defaults/templates/ack.en.email.txt",
                   "migrations/env.py"):
        assert package / needed in shipped, needed
