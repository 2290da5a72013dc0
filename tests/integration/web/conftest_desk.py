"""A desk to test the API and the console on: a runtime on the parametrized database with
a public and a private ticket, a failed capture, a mailbox's state, one token per scope,
and the web app served by uvicorn in a thread (tests/support/served.py).

Import the fixtures into a test module: `from tests.integration.web.conftest_desk import *`.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
from collections.abc import Iterator
from email.message import EmailMessage
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from intake.access import tokens
from intake.runtime import Runtime
from intake.tickets.models import Inbox, MailboxState, utcnow
from intake.tickets.records import PrivateRead
from tests.flows import ingest_raw, mail, make_runtime
from tests.support.served import ServedApp, served_app

__all__ = ["Desk", "desk", "PRIVATE_SECRETS", "call"]

# What the private ticket says: none of it may reach a caller without the private scope.
PRIVATE_SUBJECT = "Refund for order Q-77120 not received"
PRIVATE_BODY = "My card 4111 1111 1111 1111 was charged $45.17 twice for order Q-77120. Zhang Wei"
PRIVATE_SECRETS = ("4111", "45.17", "Q-77120", "77120", "Refund for order")


@dataclass
class Desk:
    rt: Runtime
    app: ServedApp
    public: str
    private: str
    failed_capture: int
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, int] = field(default_factory=dict)

    def private_reads(self, token: str) -> list[PrivateRead]:
        with self.rt.sessions() as session:
            return list(session.scalars(select(PrivateRead).where(
                PrivateRead.token_id == self.token_ids[token]).order_by(PrivateRead.id)))

    def count_reads(self) -> int:
        with self.rt.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(PrivateRead)) or 0)


def call(base: str, method: str, path: str, token: str | None = None, body: Any = None,
         headers: dict[str, str] | None = None, source: str | None = None) -> tuple[int, dict[str, str], str]:
    """One HTTP request from a chosen loopback source address (127.0.0.x: another client)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20,
                                      source_address=(source, 0) if source else None)
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        conn.close()


def private_mail() -> bytes:
    """The private case, with its statement attached (whose file name is private too)."""
    message = EmailMessage()
    message["From"], message["To"] = "Wei <wei@example.com>", "support@example.test"
    message["Subject"], message["Message-ID"] = PRIVATE_SUBJECT, "<m2@example.com>"
    message.set_content(PRIVATE_BODY)
    message.add_attachment(b"%PDF-1.4 statement", maintype="application", subtype="pdf",
                           filename="statement Q-77120.pdf")
    return bytes(message)


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    rt = make_runtime(db_url, tmp_path / "data")
    public = ingest_raw(rt, mail(subject="Cannot upload videos 50%_off",
                                 body="Upload fails with error 500 every time.")).ticket_ref
    private = ingest_raw(rt, private_mail()).ticket_ref
    assert public and private
    failed = ingest_raw(rt, mail(subject="second", body="Another upload problem.", message_id="<m3@example.com>"))
    with rt.sessions() as session:
        inbox_id = session.scalar(select(Inbox.id).where(Inbox.status == "done").order_by(Inbox.id.desc()).limit(1))
        # a capture the workers gave up on (what claims.py leaves after the last attempt)
        session.execute(update(Inbox).where(Inbox.id == inbox_id).values(
            status="failed", failure_reason="time_limit", attempts=3, last_error="TimeLimitExceeded at flow.py:1"))
        session.add(MailboxState(name="support", folder="INBOX", uidvalidity=1700000001, last_uid=42,
                                 lease_owner="worker-1@host", lease_until=utcnow() + dt.timedelta(minutes=5),
                                 last_poll_at=utcnow() - dt.timedelta(minutes=7),
                                 last_error="IMAP4.error: LOGIN failed", skipped=[]))
        session.commit()
    assert failed.ticket_ref
    with served_app(rt) as app:
        assert inbox_id is not None
        d = Desk(rt, app, public, private, inbox_id)
        for name, scopes in {"read": ["read"], "write": ["write"], "private": ["private"],
                             "admin": ["admin"], "revoked": ["write", "private", "admin"]}.items():
            secret, row = tokens.create(rt, name, scopes)
            d.tokens[name], d.token_ids[name] = secret, row["id"]
        tokens.revoke(rt, "revoked")
        try:
            yield d
        finally:
            rt.dispose()
