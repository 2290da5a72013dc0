"""A local stand-in for the Twilio REST API (Messages resource and media), for the real
`twilio` library to talk to over loopback.

    api = TwilioStandIn().start()
    client = make_twilio_client(api.account_sid, api.auth_token, api.base_url)
    api.script(api.error(400, 21610, "Attempt to send to unsubscribed recipient"))
    client.messages.create(to="+15005550006", from_="+15005550001", body="hi")  # raises

Answers follow https://www.twilio.com/docs/messaging/api/message-resource (201 with the
Message JSON) and https://www.twilio.com/docs/usage/twilios-response (error JSON).
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from tests.support.ports import LOOPBACK

TWILIO_API_ORIGIN = "https://api.twilio.com"
_TWILIO_HOST = re.compile(r"^https://[a-z0-9.-]*\.twilio\.com(?=/|$)")
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC[0-9a-f]{32})/Messages"
                       r"(?:/(?P<sid>(SM|MM)[0-9a-f]{32}))?\.json$")


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, JSON body (None: the default Message resource), headers."""

    status: int = 201
    body: dict[str, Any] | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]  # form fields (first value of each)
    multi: dict[str, list[str]]  # form fields, all values (MediaUrl can repeat)
    headers: dict[str, str]
    authorized: bool
    reply_status: int = 0


def _segments(body: str) -> int:
    # GSM-7 fits 160 chars (153 per part when split), anything else is UCS-2: 70 (67)
    gsm = all(ord(ch) < 128 for ch in body)
    single, multi = (160, 153) if gsm else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


@dataclass
class _State:
    account_sid: str
    auth_token: str
    requests: list[RecordedRequest] = field(default_factory=list)
    replies: collections.deque[Reply] = field(default_factory=collections.deque)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server_version = "TwilioStandIn/1.0"
    protocol_version = "HTTP/1.1"
    state: _State  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # keep pytest output clean; requests are in state.requests

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        expected = base64.b64encode(
            f"{self.state.account_sid}:{self.state.auth_token}".encode()).decode()
        return secrets.compare_digest(header, f"Basic {expected}")

    def _send(self, status: int, payload: bytes, content_type: str = "application/json",
              headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Twilio-Request-Id", "RQ" + secrets.token_hex(16))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_json(self, status: int, body: dict[str, Any],
                   headers: tuple[tuple[str, str], ...] = ()) -> None:
        self._send(status, json.dumps(body).encode(), headers=headers)

    def _record(self, params: dict[str, list[str]], authorized: bool, status: int) -> None:
        with self.state.lock:
            self.state.requests.append(RecordedRequest(
                method=self.command, path=self.path,
                params={key: values[0] for key, values in params.items()},
                multi=params, headers={k: v for k, v in self.headers.items()},
                authorized=authorized, reply_status=status))

    def _unauthorized(self) -> None:
        self._send_json(401, {"code": 20003, "message": "Authenticate",
                              "more_info": "https://www.twilio.com/docs/errors/20003",
                              "status": 401},
                        headers=(("WWW-Authenticate", 'Basic realm="Twilio API"'),))

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
        path = urlsplit(self.path).path
        match = _MESSAGES.match(path)
        authorized = self._authorized()
        if match is None or match["sid"] is not None:
            self._record(form, authorized, 404)
            self._send_json(404, {"code": 20404, "message": "The requested resource was not found",
                                  "more_info": "https://www.twilio.com/docs/errors/20404",
                                  "status": 404})
            return
        if not authorized or match["account"] != self.state.account_sid:
            self._record(form, authorized, 401)
            self._unauthorized()
            return
        with self.state.lock:
            reply = self.state.replies.popleft() if self.state.replies else Reply()
        if reply.body is not None:
            self._record(form, authorized, reply.status)
            self._send_json(reply.status, reply.body, reply.headers)
            return
        resource = self._message_resource(form)
        with self.state.lock:
            self.state.messages[resource["sid"]] = resource
        self._record(form, authorized, reply.status)
        self._send_json(reply.status, resource, reply.headers)

    def _message_resource(self, form: dict[str, list[str]]) -> dict[str, Any]:
        first = {key: values[0] for key, values in form.items()}
        sid = ("MM" if "MediaUrl" in form else "SM") + secrets.token_hex(16)
        body = first.get("Body", "")
        now = format_datetime(dt.datetime.now(dt.timezone.utc), usegmt=True)
        account = self.state.account_sid
        uri = f"/2010-04-01/Accounts/{account}/Messages/{sid}.json"
        return {
            "account_sid": account, "api_version": "2010-04-01", "body": body,
            "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": first.get("From"), "messaging_service_sid": first.get("MessagingServiceSid"),
            "num_media": str(len(form.get("MediaUrl", []))), "num_segments": str(_segments(body)),
            "price": None, "price_unit": "USD", "sid": sid,
            "status": "accepted" if "MessagingServiceSid" in first and "From" not in first
            else "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": first.get("To"), "uri": uri,
        }

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = urlsplit(self.path).path
        authorized = self._authorized()
        self._record({}, authorized, 0)
        if not authorized:
            self._unauthorized()
            return
        with self.state.lock:
            media = self.state.media.get(path)
        if media is not None:
            self._send(200, media[0], content_type=media[1])
            return
        match = _MESSAGES.match(path)
        with self.state.lock:
            resource = self.state.messages.get(match["sid"]) if match and match["sid"] else None
        if resource is not None:
            self._send_json(200, resource)
            return
        self._send_json(404, {"code": 20404, "message": "The requested resource was not found",
                              "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404})

    do_HEAD = do_GET


class TwilioStandIn:
    """ThreadingHTTPServer on 127.0.0.1:free port speaking enough of api.twilio.com."""

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None) -> None:
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self._state = _State(self.account_sid, self.auth_token)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.host = LOOPBACK
        self.port = 0

    @property
    def base_url(self) -> str:
        """What replaces https://api.twilio.com, e.g. http://127.0.0.1:41234 (no slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def message_requests(self) -> list[RecordedRequest]:
        """POSTs to the Messages list, i.e. attempts to send an SMS."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/Messages.json")]

    @property
    def messages(self) -> dict[str, dict[str, Any]]:
        """Created Message resources by sid."""
        with self._state.lock:
            return dict(self._state.messages)

    def script(self, *replies: Reply | int) -> None:
        """Queue answers for the next POSTs to Messages.json; afterwards 201 again.
        An int is a status: 201 (the default resource), or 400/429/500 with a generic error."""
        queued = [r if isinstance(r, Reply) else self.default_reply(r) for r in replies]
        with self._state.lock:
            self._state.replies.extend(queued)

    @staticmethod
    def error(status: int, code: int, message: str,
              headers: tuple[tuple[str, str], ...] = ()) -> Reply:
        """A Twilio error answer, e.g. error(400, 21610, "Attempt to send to unsubscribed recipient")."""
        return Reply(status, {"code": code, "message": message,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}",
                              "status": status}, headers)

    @classmethod
    def default_reply(cls, status: int) -> Reply:
        if 200 <= status < 300:
            return Reply(status)
        if status == 429:
            return cls.error(429, 20429, "Too Many Requests", (("Retry-After", "1"),))
        if status == 400:
            return cls.error(400, 21211, "The 'To' number is not a valid phone number.")
        return cls.error(status, 20500, "Internal Server Error")

    def add_media(self, path: str, data: bytes, content_type: str) -> str:
        """Serve `data` at GET `path` (basic auth required, like Twilio media and
        recordings); returns the absolute URL for MediaUrl / RecordingUrl."""
        if not path.startswith("/"):
            path = "/" + path
        with self._state.lock:
            self._state.media[path] = (data, content_type)
        return self.base_url + path

    def reset(self) -> None:
        with self._state.lock:
            self._state.requests.clear()
            self._state.replies.clear()
            self._state.messages.clear()

    def start(self) -> TwilioStandIn:
        handler = type("BoundHandler", (_Handler,), {"state": self._state})
        self._server = ThreadingHTTPServer((LOOPBACK, 0), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="twilio-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> TwilioStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedirectingHttpClient(TwilioHttpClient):
    """The twilio library's own HTTP client, with every https://<x>.twilio.com origin
    rewritten to `api_base`. This is what INTAKE_TWILIO_API_BASE should do in production
    code: it covers every domain (api, messaging, ...) and edge/region host names, and the
    library builds, signs and parses requests exactly as it does against Twilio."""

    def __init__(self, api_base: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_base = api_base.rstrip("/")
        if self.session is not None:  # an HTTP(S)_PROXY in the environment must not catch loopback
            self.session.trust_env = False

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        rewritten = _TWILIO_HOST.sub(self.api_base, url)
        host = urlsplit(rewritten).hostname or ""
        # tests must never reach the real Twilio: refuse anything not on loopback
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise RuntimeError(f"refusing non-loopback Twilio URL in tests: {rewritten}")
        return super().request(method, rewritten, *args, **kwargs)


def make_twilio_client(account_sid: str, auth_token: str, base_url: str) -> Client:
    """A real twilio.rest.Client whose requests all go to `base_url` instead of Twilio."""
    return Client(account_sid, auth_token, http_client=RedirectingHttpClient(base_url))
