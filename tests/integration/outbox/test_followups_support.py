"""Helpers for the follow-up tests (no tests here): a runtime wired to the local SMTP
server or Twilio stand-in, SMS captures through the real pipeline, and a Twilio stand-in
that also answers the Messages *list* (GET Messages.json?To=...), which the send path uses
to check whether an interrupted attempt reached Twilio."""

from __future__ import annotations

import email
import email.policy
import json
import secrets
import threading
from email.message import EmailMessage
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select, update

from intake.process import pipeline
from intake.capture.twilio import make_item
from intake.runtime import Runtime
from intake.tickets.models import Outbox, Ticket
from intake.capture.inbox import capture
from tests.flows import make_runtime
from tests.support.smtp import SmtpServer
from tests.support.twilio_standin import _MESSAGES, TwilioStandIn, _Handler

OUR_NUMBER = "+15555550100"
SUPPORT = "support@example.test"
MAIL_DOMAIN = "help.example.test"
DATA = Path(__file__).resolve().parents[2] / "data" / "replies"


def email_runtime(db_url: str, data_dir: Path, smtp: SmtpServer, **overrides: Any) -> Runtime:
    values: dict[str, Any] = dict(email_backend="smtp", smtp_host=smtp.host, smtp_port=smtp.port,
                                  smtp_security="none", smtp_timeout=10.0, our_addresses=SUPPORT,
                                  mail_domain=MAIL_DOMAIN)
    values.update(overrides)
    return make_runtime(db_url, data_dir, **values)


def sms_runtime(db_url: str, data_dir: Path, api: TwilioStandIn, **overrides: Any) -> Runtime:
    values: dict[str, Any] = dict(sms_backend="twilio", twilio_account_sid=api.account_sid,
                                  twilio_auth_token=api.auth_token, twilio_from_number=OUR_NUMBER,
                                  twilio_api_base=api.base_url, our_addresses=SUPPORT,
                                  mail_domain=MAIL_DOMAIN)
    values.update(overrides)
    return make_runtime(db_url, data_dir, **values)


def ingest_sms(rt: Runtime, body: str, sender: str = "+8613800001234") -> pipeline.Outcome:
    params = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": "AC" + "0" * 32,
              "From": sender, "To": OUR_NUMBER, "Body": body, "NumMedia": "0", "NumSegments": "1"}
    with rt.sessions() as session:
        captured = capture(session, rt.vault, make_item("sms", params, "https://support.example.com/twilio/sms"))
        session.commit()
    return pipeline.process_inbox(rt, captured.inbox_id)


def rows(rt: Runtime, **where: Any) -> list[Outbox]:
    with rt.sessions() as session:
        query = select(Outbox).order_by(Outbox.id)
        for key, value in where.items():
            query = query.where(getattr(Outbox, key) == value)
        return list(session.scalars(query))


def row(rt: Runtime, outbox_id: int) -> Outbox:
    with rt.sessions() as session:
        found = session.get(Outbox, outbox_id)
        assert found is not None
        return found


def ticket(rt: Runtime, ref: str) -> Ticket:
    with rt.sessions() as session:
        found = session.scalar(select(Ticket).where(Ticket.ref == ref))
        assert found is not None
        return found


def time_passes(rt: Runtime, outbox_id: int) -> None:
    """The backoff delay has elapsed (instead of sleeping a minute in a test)."""
    with rt.sessions() as session:
        session.execute(update(Outbox).where(Outbox.id == outbox_id).values(next_attempt_at=None))
        session.commit()


def worker_died_mid_send(rt: Runtime, outbox_id: int, provider_id: str | None = None) -> None:
    """Put a row back to where a worker killed after the provider call but before recording
    the result leaves it: `sending`, claimed long ago, no provider id."""
    with rt.sessions() as session:
        found = session.get(Outbox, outbox_id)
        assert found is not None
        found.status = "sending"
        found.provider_id = provider_id
        found.sent_at = None
        found.headers = {**(found.headers or {}), "send": {"attempt_started_at": "2000-01-01T00:00:00+00:00"}}
        session.commit()


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def all_text(message: EmailMessage) -> str:
    """Every header and every decoded text part, for "does X appear anywhere" checks."""
    parts = [f"{k}: {v}" for k, v in message.items()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


# -- a stand-in that can list ------------------------------------------------------------------

class _ListingHandler(_Handler):
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        split = urlsplit(self.path)
        match = _MESSAGES.match(split.path)
        if match is None or match["sid"] is not None or not self._authorized():
            super().do_GET()
            return
        self._record({}, True, 200)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        with self.state.lock:
            found = [m for m in self.state.messages.values()
                     if (not query.get("To") or m["to"] == query["To"])
                     and (not query.get("From") or m["from"] == query["From"])]
        found.reverse()  # newest first, like Twilio
        self._send_json(200, {"messages": found, "page": 0, "page_size": 50, "start": 0,
                              "end": max(0, len(found) - 1), "uri": split.path,
                              "first_page_uri": split.path, "next_page_uri": None,
                              "previous_page_uri": None})


class ListingTwilioStandIn(TwilioStandIn):
    def start(self) -> "ListingTwilioStandIn":
        handler = type("BoundListingHandler", (_ListingHandler,), {"state": self._state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="twilio-standin-list", daemon=True)
        self._thread.start()
        return self


def list_requests(api: TwilioStandIn) -> list[Any]:
    return [r for r in api.requests if r.method == "GET" and urlsplit(r.path).path.endswith("/Messages.json")]


def json_body(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
