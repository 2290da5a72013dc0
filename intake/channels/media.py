"""Download MMS media and voicemail recordings from Twilio, and from nowhere else.

A MediaUrl / RecordingUrl comes from a webhook: a forged or replayed one must not make us
fetch an internal address (server-side request forgery) or hold a worker forever. So:

- the first URL is HTTPS on port 443 to a host of INTAKE_MEDIA_HOSTS (Twilio's API);
- redirects are followed by hand, at most `MAX_HOPS`, each hop checked again against
  INTAKE_MEDIA_REDIRECT_HOSTS (Twilio's CDN: the media URL answers with a redirect to a
  short-lived CDN URL, https://www.twilio.com/docs/messaging/api/media-resource);
- every address a host name resolves to must be globally routable (no loopback, private,
  link-local, ...), and we connect to the address we checked, so a second DNS answer
  cannot swap in another one (TLS is still verified against the host name);
- one deadline (INTAKE_MEDIA_DEADLINE_SECONDS) covers every hop and every byte, enforced on
  the socket, so a server that sends one byte every few seconds is cut off;
- the size limit (INTAKE_MAX_MEDIA_BYTES) holds for what is read, not what is declared.

The origin of INTAKE_TWILIO_API_BASE (a local stand-in in tests, a regional edge or an
egress proxy in production) is trusted as Twilio: it is the operator's explicit setting.

Twilio media may require HTTP basic auth (AccountSid:AuthToken) when media access is
restricted (https://www.twilio.com/docs/usage/security#http-authentication). Credentials
go only to Twilio's API hosts (or the INTAKE_TWILIO_API_BASE origin), never to the CDN.
A refused link raises MediaError; processing keeps the message and records the refusal.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import logging
import mimetypes
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from intake.messages import Attachment
from intake.settings import Settings

log = logging.getLogger("intake.channels.media")

_TWILIO_ORIGIN = re.compile(r"^https://[a-z0-9.-]*\.twilio\.com(?=/|$)")
_CHUNK = 64 * 1024
TIMEOUT = (5.0, 20.0)  # connect, read (seconds); the overall deadline caps both
MAX_HOPS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


class MediaError(Exception):
    """A download failed or was refused; the message is safe for logs (no URL)."""


@dataclass(frozen=True)
class Credentials:
    account_sid: str
    auth_token: str


def credentials(settings: Settings, account_sid: str | None) -> Credentials | None:
    tokens = settings.twilio_auth_tokens
    sid = settings.twilio_account_sid or account_sid or ""
    if not sid or not tokens:
        return None
    return Credentials(sid, tokens[0])


def resolve_url(url: str, settings: Settings) -> tuple[str, bool]:
    """(URL to fetch, whether our credentials may go with it)."""
    if settings.twilio_api_base:
        base = settings.twilio_api_base.rstrip("/")
        if _TWILIO_ORIGIN.match(url):
            return _TWILIO_ORIGIN.sub(base, url), True
        if url.startswith(base + "/"):
            return url, True
        return url, False
    return url, bool(_TWILIO_ORIGIN.match(url))


# -- which URLs may be fetched --------------------------------------------------------------------

def host_list(value: str) -> tuple[str, ...]:
    return tuple(h.strip().lower().rstrip(".") for h in value.split(",") if h.strip())


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """`host` is one of `patterns`, or a subdomain of a "*.domain" pattern."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


@dataclass(frozen=True)
class Target:
    """One checked hop: where to connect, and whether the address checks apply."""

    scheme: str
    host: str
    port: int
    path: str  # path + query, as sent in the request line
    trusted_origin: bool  # the INTAKE_TWILIO_API_BASE origin: no address checks


def _origin(scheme: str, host: str, port: int | None) -> tuple[str, str, int]:
    return scheme, host.lower(), port or (443 if scheme == "https" else 80)


def check_url(url: str, patterns: Iterable[str], settings: Settings) -> Target:
    """The hop `url` may be fetched (`patterns`: the allowed hosts); raises MediaError."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise MediaError("refused: malformed URL") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if not host or parts.username is not None or parts.password is not None:
        raise MediaError("refused: URL without a plain host")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if settings.twilio_api_base:
        base = urlsplit(settings.twilio_api_base)
        if base.hostname and _origin(scheme, host, port) == _origin(
                base.scheme.lower(), base.hostname, base.port):
            return Target(scheme, host, port or (443 if scheme == "https" else 80), path, True)
    if scheme != "https":
        raise MediaError("refused: not HTTPS")
    if port not in (None, 443):
        raise MediaError("refused: not port 443")
    if not host_allowed(host, patterns):
        raise MediaError("refused: host not in INTAKE_MEDIA_HOSTS")
    return Target(scheme, host, 443, path, False)


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not ip.is_multicast


Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise MediaError("host name does not resolve") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(target: Target, resolver: Resolver) -> list[str]:
    """The addresses to connect to; every one the name resolves to must be public."""
    try:
        literal = ipaddress.ip_address(target.host.strip("[]"))
        addresses = [str(literal)]
    except ValueError:
        addresses = resolver(target.host, target.port)
    if not addresses:
        raise MediaError("host name does not resolve")
    if not target.trusted_origin and not all(is_public_address(a) for a in addresses):
        raise MediaError("refused: host resolves to a non-public address")
    return addresses


# -- fetching -------------------------------------------------------------------------------------

class _Deadline:
    """Shuts the socket down when time is up, whatever read or write is blocked on it."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, seconds), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise MediaError("deadline exceeded")
        return left

    def over(self) -> bool:
        # A socket timeout set to the time left fires together with the timer: same cause.
        return self.expired or time.monotonic() >= self.ends - 0.1

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            if self.expired and sock is not None:
                _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                _shutdown(self._sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _connect(target: Target, addresses: list[str], deadline: _Deadline) -> socket.socket:
    last: OSError | None = None
    for address in addresses:
        try:
            sock = socket.create_connection((address, target.port),
                                            timeout=min(TIMEOUT[0], deadline.remaining()))
        except OSError as exc:
            last = exc
            continue
        deadline.watch(sock)
        sock.settimeout(min(TIMEOUT[1], deadline.remaining()))
        if target.scheme == "https":
            context = ssl.create_default_context()
            try:
                sock = context.wrap_socket(sock, server_hostname=target.host)
            except (OSError, ssl.SSLError):
                sock.close()
                raise
            deadline.watch(sock)
        return sock
    raise last or OSError("no address to connect to")


def _get(target: Target, auth: Credentials | None, deadline: _Deadline,
         resolver: Resolver) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    sock = _connect(target, checked_addresses(target, resolver), deadline)
    connection = http.client.HTTPConnection(target.host, target.port)
    connection.sock = sock  # already connected (and wrapped): http.client will not connect
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != default_port:
        host_header += f":{target.port}"
    headers = {"Host": host_header, "Accept-Encoding": "identity", "User-Agent": "intake-media/1",
               "Connection": "close"}
    if auth is not None:
        token = base64.b64encode(f"{auth.account_sid}:{auth.auth_token}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    connection.request("GET", target.path, headers=headers)
    return connection, connection.getresponse()


def _read_body(response: http.client.HTTPResponse, limit: int, deadline: _Deadline) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise MediaError(f"too large ({declared} bytes > {limit})")
    chunks: list[bytes] = []
    size = 0
    while True:
        deadline.remaining()
        chunk = response.read1(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise MediaError(f"too large (over {limit} bytes)")
        chunks.append(chunk)
    deadline.remaining()  # a shutdown by the deadline reads as the end of the body
    if response.length:  # http.client's read1 ends quietly when a declared body is cut short
        raise MediaError("body ended early")
    return b"".join(chunks)


def download(url: str, settings: Settings, account_sid: str | None = None,
             resolver: Resolver | None = None) -> tuple[bytes, str]:
    """(content, content type) of one media item or recording; raises MediaError."""
    target_url, ours = resolve_url(url, settings)
    patterns = host_list(settings.media_hosts)
    redirect_patterns = host_list(settings.media_redirect_hosts)
    creds = credentials(settings, account_sid)
    deadline = _Deadline(settings.media_deadline_seconds)
    try:
        for hop in range(MAX_HOPS + 1):
            target = check_url(target_url, patterns if hop == 0 else redirect_patterns, settings)
            send_auth = ours and (target.trusted_origin or bool(_TWILIO_ORIGIN.match(target_url)))
            connection, response = _get(target, creds if send_auth else None, deadline,
                                        resolver or system_resolver)
            try:
                if response.status in _REDIRECTS:
                    location = response.getheader("Location")
                    if not location:
                        raise MediaError(f"HTTP {response.status} without Location")
                    target_url = urljoin(target_url, location.strip())
                    continue
                if response.status != 200:
                    raise MediaError(f"HTTP {response.status}")
                content = _read_body(response, settings.max_media_bytes, deadline)
                content_type = response.getheader("Content-Type") or "application/octet-stream"
                return content, content_type.split(";", 1)[0].strip()
            finally:
                connection.close()
        raise MediaError(f"more than {MAX_HOPS} redirects")
    except MediaError:
        if deadline.over():
            raise MediaError("deadline exceeded") from None
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if deadline.over():
            raise MediaError("deadline exceeded") from None
        raise MediaError(type(exc).__name__) from None
    finally:
        deadline.cancel()


def filename_for(url: str, content_type: str, fallback: str) -> str:
    """MediaSid / RecordingSid (the last path segment) plus an extension for the type."""
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or fallback
    stem = last.rsplit(".", 1)[0] if "." in last else last
    extension = ("." + last.rsplit(".", 1)[1]) if "." in last else (
        mimetypes.guess_extension(content_type) or "")
    return f"{stem}{extension}"


def fetch_attachment(url: str, declared_type: str, settings: Settings, account_sid: str | None,
                     fallback_name: str) -> Attachment:
    content, content_type = download(url, settings, account_sid)
    if content_type in ("", "application/octet-stream") and declared_type:
        content_type = declared_type
    return Attachment(filename=filename_for(url, content_type, fallback_name),
                      content_type=content_type, content=content)
