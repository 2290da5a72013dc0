"""Media downloads go to Twilio only: a signed MMS or recording webhook whose MediaUrl /
RecordingUrl names a loopback server, directly or through a redirect from the allowed
host, makes no request to it; a server that drips its answer is cut at the deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from intake.channels.media import MediaError, fetch_attachment
from intake.process import pipeline
from intake.settings import load_settings
from intake.tickets.models import AttachmentRow, Message
from tests.integration.web.conftest_phone import *  # noqa: F403 - fixtures
from tests.integration.web.conftest_phone import PhoneApp
from tests.support.ports import LOOPBACK

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

Corpus = Callable[[str], dict[str, Any]]
SECRET = b'{"AccessKeyId": "ASIA-internal-credentials"}'


@dataclass
class LoopbackServer:
    """A plain HTTP server on loopback: `mode` "serve" answers SECRET (the metadata service
    an attacker wants), "redirect" answers 302 to `location`, "drip" sends a 1000-byte
    body one byte per `drip_seconds`."""

    mode: str = "serve"
    location: str = ""
    drip_seconds: float = 3.0
    requests: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://{LOOPBACK}:{self.server.server_address[1]}"

    def start(self) -> LoopbackServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                owner.requests.append(self.path)
                if owner.mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", owner.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif owner.mode == "drip":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    try:
                        for _ in range(1000):
                            self.wfile.write(b"x")
                            self.wfile.flush()
                            time.sleep(owner.drip_seconds)
                    except OSError:
                        return
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(SECRET)))
                    self.end_headers()
                    self.wfile.write(SECRET)

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def internal() -> Iterator[LoopbackServer]:
    """The target: a loopback service that must never be reached."""
    server = LoopbackServer().start()
    yield server
    server.stop()


@pytest.fixture
def redirector(internal: LoopbackServer) -> Iterator[LoopbackServer]:
    """Plays Twilio (INTAKE_TWILIO_API_BASE) and redirects every media GET to `internal`."""
    server = LoopbackServer(mode="redirect", location=internal.base_url + "/latest/meta-data/iam").start()
    yield server
    server.stop()


def _attachments(app: PhoneApp) -> int:
    with app.rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AttachmentRow)) or 0)


def _message_extra(app: PhoneApp) -> dict[str, Any]:
    with app.rt.sessions() as session:
        message = session.scalar(select(Message).order_by(Message.id.desc()))
        assert message is not None
        return dict(message.extra or {})


def _mms(corpus: Corpus, url: str | None = None) -> dict[str, str]:
    params = {**corpus("mms_inbound.json")["params"], "NumMedia": "1"}
    params.pop("MediaUrl1", None)
    params.pop("MediaContentType1", None)
    if url is not None:
        params["MediaUrl0"] = url
    return params


@pytest.mark.parametrize("path", ["http://{loop}/latest/meta-data/iam", "https://{loop}/latest/meta-data/iam",
                                  "https://api.twilio.com@{loop}/latest/meta-data/iam",
                                  "http://localhost:{port}/latest/meta-data/iam"])
def test_signed_mms_pointing_at_loopback_reaches_nothing(phone_app_factory: Callable[..., PhoneApp],
                                                        tmp_path: Path, corpus: Corpus,
                                                        internal: LoopbackServer, path: str) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/ssrf.db")
    loop = internal.base_url.removeprefix("http://")
    url = path.format(loop=loop, port=loop.rsplit(":", 1)[1])
    assert app.post("sms", _mms(corpus, url)).status_code == 200
    assert app.process_all()[0].outcome == pipeline.NEW_TICKET  # the message is kept
    assert internal.requests == []
    assert _attachments(app) == 0
    assert "refused" in _message_extra(app)["media_errors"]


def test_signed_recording_pointing_at_loopback_reaches_nothing(phone_app_factory: Callable[..., PhoneApp],
                                                              tmp_path: Path, corpus: Corpus,
                                                              internal: LoopbackServer) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/ssrf-rec.db")
    assert app.post("voice", corpus("voice_inbound.json")["params"]).status_code == 200
    recording = {**corpus("voice_recording_status_callback.json")["params"],
                 "RecordingUrl": internal.base_url + "/latest/meta-data/iam"}
    assert app.post("recording", recording).status_code == 200
    app.process_all()
    assert internal.requests == []
    assert _attachments(app) == 0


def test_a_redirect_from_twilio_to_loopback_is_not_followed(phone_app_factory: Callable[..., PhoneApp],
                                                            tmp_path: Path, corpus: Corpus,
                                                            internal: LoopbackServer,
                                                            redirector: LoopbackServer) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/ssrf-redirect.db", twilio_api_base=redirector.base_url)
    assert app.post("sms", _mms(corpus)).status_code == 200  # MediaUrl0 on api.twilio.com
    assert app.process_all()[0].outcome == pipeline.NEW_TICKET
    assert len(redirector.requests) == 1  # "Twilio" was asked, and answered with a redirect
    assert "refused" in _message_extra(app)["media_errors"]
    assert app.post("voice", corpus("voice_inbound.json")["params"]).status_code == 200
    assert app.post("recording", corpus("voice_recording_status_callback.json")["params"]).status_code == 200
    app.process_all()
    assert len(redirector.requests) == 2
    assert internal.requests == []
    assert _attachments(app) == 0


def test_a_dripping_server_is_cut_at_the_deadline(phone_app_factory: Callable[..., PhoneApp],
                                                  tmp_path: Path, corpus: Corpus) -> None:
    """The attacker's server sent a byte every 3 s and was still being read after 45 s."""
    drip = LoopbackServer(mode="drip", drip_seconds=3.0).start()
    try:
        app = phone_app_factory(f"sqlite:///{tmp_path}/drip.db", twilio_api_base=drip.base_url,
                                media_deadline_seconds="2")
        assert app.post("sms", _mms(corpus)).status_code == 200
        started = time.monotonic()
        assert app.process_all()[0].outcome == pipeline.NEW_TICKET
        assert time.monotonic() - started < 10
        assert "deadline exceeded" in _message_extra(app)["media_errors"]
        assert _attachments(app) == 0
    finally:
        drip.stop()


def test_the_deadline_covers_the_whole_body_not_each_read(tmp_path: Path) -> None:
    """A byte every 0.2 s never trips a per-read timeout; the overall deadline still holds."""
    drip = LoopbackServer(mode="drip", drip_seconds=0.2).start()
    try:
        settings = load_settings(database_url=f"sqlite:///{tmp_path}/x.db", data_dir=tmp_path,
                                 twilio_api_base=drip.base_url, media_deadline_seconds=1.5)
        started = time.monotonic()
        with pytest.raises(MediaError, match="deadline exceeded"):
            fetch_attachment("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
                             "image/jpeg", settings, None, "media0")
        assert 1.4 < time.monotonic() - started < 4
    finally:
        drip.stop()
