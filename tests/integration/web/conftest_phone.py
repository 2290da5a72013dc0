"""Fixtures and helpers for the phone tests: the web app served by uvicorn in a child
process on a loopback port, signed Twilio requests, and the corpus payloads.

Import the fixtures into a test module: `from tests.integration.web.conftest_phone import *`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from intake.process import pipeline
from intake.crypto import generate_key
from intake.runtime import Runtime
from intake.tickets.models import Inbox
from tests.flows import make_runtime, subprocess_env
from tests.support.ports import LOOPBACK, free_port, wait_for_port
from tests.support.shared import need_shared
from tests.support.twilio_standin import TwilioStandIn

PUBLIC_URL = "https://support.example.com"
CORPUS_FILES = ("sms_inbound.json", "mms_inbound.json", "voice_inbound.json", "voice_record_action.json",
                "voice_recording_status_callback.json", "voice_transcription_callback.json",
                "message_status_callback.json")

__all__ = ["PhoneApp", "corpus", "phone_app", "phone_app_factory", "signed_post", "PUBLIC_URL"]


def corpus_dir(shared_dir: Path) -> Path:
    return shared_dir / "corpus" / "twilio"


def load_corpus(shared_dir: Path, name: str) -> dict[str, Any]:
    path = need_shared("corpus", "twilio", name)
    return dict(json.loads(path.read_text(encoding="utf-8")))


@pytest.fixture
def corpus(shared_dir: Path) -> Callable[[str], dict[str, Any]]:
    return lambda name: load_corpus(shared_dir, name)


@dataclass
class PhoneApp:
    """The web app in a child process plus an in-process Runtime on the same database."""

    base: str  # http://127.0.0.1:port
    public_url: str
    token: str
    rt: Runtime
    proc: subprocess.Popen[bytes] | None
    log_path: Path

    def post(self, route: str, params: dict[str, str] | list[tuple[str, str]], **kwargs: Any) -> requests.Response:
        return signed_post(self, f"/webhooks/twilio/{route}", params, **kwargs)

    def inbox(self) -> list[Inbox]:
        with self.rt.sessions() as session:
            return list(session.scalars(select(Inbox).order_by(Inbox.id)))

    def process_all(self) -> list[pipeline.Outcome]:
        """Run every captured row through the pipeline, as the worker would."""
        outcomes = []
        for row in self.inbox():
            if row.status == "captured":
                outcomes.append(pipeline.process_inbox(self.rt, row.id))
        return outcomes

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def signed_post(app: PhoneApp, path: str, params: dict[str, str] | list[tuple[str, str]],
                token: str | None = None, sign_url: str | None = None, signature: str | None = "auto",
                content_type: str = "application/x-www-form-urlencoded", body: bytes | None = None,
                headers: dict[str, str] | None = None) -> requests.Response:
    """POST `params` form-encoded to the app, signed as Twilio signs: over the public URL
    of `path` (or `sign_url`) with `token` (default: the app's)."""
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    data = body if body is not None else urlencode(pairs).encode("utf-8")
    all_headers = {"Content-Type": content_type, **(headers or {})}
    if signature == "auto":
        multi: dict[str, list[str]] = {}
        for name, value in pairs:
            multi.setdefault(name, []).append(value)

        class _Multi(dict[str, list[str]]):
            def getall(self, name: str) -> list[str]:
                return self[name]

        signature = RequestValidator(token or app.token).compute_signature(
            sign_url or app.public_url + path, _Multi(multi))
    if signature is not None:
        all_headers["X-Twilio-Signature"] = signature
    return requests.post(app.base + path, data=data, headers=all_headers, timeout=15)


def _start(env: dict[str, str], log_path: Path, require_twilio: bool = True) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    factory = "workers.daemons:web_app" if require_twilio else "tests.integration.web.conftest_phone:embedded_app"
    argv = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", LOOPBACK,
            "--port", str(port), "--log-level", "warning", "--no-access-log"]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=str(Path(__file__).resolve().parents[3]))
    if not wait_for_port(port, timeout=30, alive=lambda: proc.poll() is None):
        proc.kill()
        proc.wait(5)
        raise AssertionError(f"uvicorn did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
    return proc, port


def embedded_app() -> Any:
    """What `intake run` serves: the app without a Twilio token requirement."""
    from workers.daemons import embedded_web_app

    return embedded_web_app()


@pytest.fixture
def phone_app_factory(tmp_path: Path, twilio_api: TwilioStandIn) -> Iterator[Callable[..., PhoneApp]]:
    started: list[PhoneApp] = []

    def make(database_url: str, token: str | None = None, require_twilio: bool = True,
             upgrade: bool = True, **settings: str) -> PhoneApp:
        data_dir = tmp_path / f"data{len(started)}"
        data_dir.mkdir()
        key = generate_key()
        token = twilio_api.auth_token if token is None else token
        extra = {"INTAKE_ENCRYPTION_KEY": key, "INTAKE_PUBLIC_URL": PUBLIC_URL,
                 "INTAKE_TWILIO_API_BASE": twilio_api.base_url,
                 "INTAKE_TWILIO_ACCOUNT_SID": twilio_api.account_sid,
                 "TWILIO_AUTH_TOKEN": token, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
        extra.update({f"INTAKE_{k.upper()}": v for k, v in settings.items()})
        env = subprocess_env(database_url, data_dir, **extra)
        overrides: dict[str, Any] = {"encryption_key": key, "public_url": PUBLIC_URL,
                                     "twilio_api_base": twilio_api.base_url,
                                     "twilio_account_sid": twilio_api.account_sid,
                                     "twilio_auth_token": token, **settings}
        if upgrade:
            rt = make_runtime(database_url, data_dir, **overrides)
        else:
            from intake.settings import load_settings

            rt = Runtime.from_settings(load_settings(database_url=database_url, data_dir=data_dir, **overrides))
        log_path = tmp_path / f"uvicorn{len(started)}.log"
        proc, port = _start(env, log_path, require_twilio=require_twilio)
        app = PhoneApp(f"http://{LOOPBACK}:{port}", PUBLIC_URL, token, rt, proc, log_path)
        started.append(app)
        return app

    try:
        yield make
    finally:
        for app in started:
            if app.proc is not None and app.proc.poll() is None:
                app.proc.terminate()
                try:
                    app.proc.wait(10)
                except subprocess.TimeoutExpired:
                    app.proc.kill()
                    app.proc.wait(5)
            app.rt.dispose()


@pytest.fixture
def phone_app(db_url: str, phone_app_factory: Callable[..., PhoneApp]) -> PhoneApp:
    """The app on the parametrized database (SQLite, then PostgreSQL)."""
    return phone_app_factory(db_url)
