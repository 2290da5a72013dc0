"""Helpers shared by the pipeline tests: a runtime on a test database, and one-call ingest."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from intake.process import pipeline
from intake.db import upgrade
from intake.runtime import Runtime
from intake.settings import load_settings
from intake.capture.inbox import CaptureItem, capture

REPO_ROOT = Path(__file__).resolve().parents[1]
INTAKE_BIN = str(Path(sys.executable).with_name("intake"))


def make_runtime(database_url: str, data_dir: Path, **overrides: Any) -> Runtime:
    settings = load_settings(database_url=database_url, data_dir=data_dir, **overrides)
    upgrade(settings.database_url)
    return Runtime.from_settings(settings)


def ingest_raw(rt: Runtime, raw: bytes, key: str | None = None, mailbox: str | None = None,
               channel: str = "email") -> pipeline.Outcome:
    with rt.sessions() as session:
        captured = capture(session, rt.vault, CaptureItem(
            channel, key or "test:" + hashlib.sha256(raw).hexdigest(), raw, mailbox=mailbox))
        session.commit()
    return pipeline.process_inbox(rt, captured.inbox_id)


def subprocess_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for an `intake` child process: only what the test sets, no stray INTAKE_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "TWILIO_"))}
    env.update({"INTAKE_DATABASE_URL": database_url, "INTAKE_DATA_DIR": str(data_dir),
                "INTAKE_LOG_LEVEL": "WARNING"})
    env.update(extra)
    return env


def mail(subject: str = "Cannot upload videos", body: str = "Upload fails with error 500 every time.",
         sender: str = "Alice <alice@example.com>", message_id: str | None = "<m1@example.com>",
         extra_headers: str = "", eol: str = "\r\n") -> bytes:
    headers = [f"From: {sender}", "To: support@example.test", f"Subject: {subject}",
               "Date: Mon, 23 Nov 2026 10:00:00 +0000", "MIME-Version: 1.0",
               "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
    if message_id:
        headers.insert(0, f"Message-ID: {message_id}")
    if extra_headers:
        headers = [h for h in extra_headers.strip().splitlines()] + headers
    return (eol.join(headers) + eol + eol + body.replace("\n", eol) + eol).encode("utf-8")
