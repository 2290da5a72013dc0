"""Fixtures for the help-centre pages: the web app on a test database served on loopback,
a client that fetches the form (cookie and CSRF token) and posts it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from intake.runtime import Runtime
from intake.tickets.models import Inbox
from intake.web.app import create_app
from intake.work import Work
from tests.flows import make_runtime
from tests.support.browser_form import served
from tests.support.ports import LOOPBACK, free_port

APP_KEY = ("mobile", "s3cret-app-key-for-tests-only")

__all__ = ["HelpApp", "help_app", "make_help_app"]


@dataclass
class HelpApp:
    base: str
    rt: Runtime
    work: list[Work] = field(default_factory=list)

    def client(self, lang: str = "en") -> "FormClient":
        return FormClient(self, lang)

    def count(self, model: Any = Inbox) -> int:
        with self.rt.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def sent_ids(self) -> list[int]:
        return [i for work in self.work for i, _ in work.send]


class FormClient:
    def __init__(self, app: HelpApp, lang: str) -> None:
        self.app, self.lang = app, lang
        self.http = requests.Session()

    def form(self) -> dict[str, str]:
        page = self.http.get(f"{self.app.base}/support?lang={self.lang}", timeout=10)
        assert page.status_code == 200, page.text
        token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
        nonce = re.search(r'name="nonce" value="([0-9a-f]{32})"', page.text)
        assert token and nonce
        return {"csrf_token": token.group(1), "nonce": nonce.group(1), "lang": self.lang}

    def submit(self, fields: dict[str, str] | None = None, files: list[tuple[str, bytes, str]] | None = None,
               hidden: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        data = {**(self.form() if hidden is None else hidden),
                "type": "technical", "description": "The app crashes when I upload a video.",
                "contact": "alice@example.com", "reference": "", "website": "", **(fields or {})}
        multipart = [("screenshots", (name, content, ctype)) for name, content, ctype in (files or [])]
        if not multipart:
            multipart = [("screenshots", ("", b"", "application/octet-stream"))]  # what a browser sends
        return self.http.post(f"{self.app.base}/support?lang={self.lang}", data=data, files=multipart,
                              timeout=30, **kwargs)


def make_help_app(db_url: str, data_dir: Path, **overrides: Any) -> Iterator[HelpApp]:
    port = free_port()
    settings: dict[str, Any] = {"public_url": f"http://{LOOPBACK}:{port}",
                                "app_keys": f"{APP_KEY[0]}:{APP_KEY[1]}", **overrides}
    rt = make_runtime(db_url, data_dir, **settings)
    work: list[Work] = []

    def enqueue(item: Work) -> int:
        work.append(item)
        return len(item.process) + len(item.send)

    app = create_app(rt, enqueue=enqueue, check_broker=None, require_twilio=False)
    try:
        with served(app, port) as base:
            yield HelpApp(base, rt, work)
    finally:
        rt.dispose()


@pytest.fixture
def help_app(db_url: str, tmp_path: Path) -> Iterator[HelpApp]:
    yield from make_help_app(db_url, tmp_path)
