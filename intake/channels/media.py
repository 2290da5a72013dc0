"""Download MMS media and voicemail recordings from Twilio, with the account's basic auth,
a size limit (INTAKE_MAX_MEDIA_BYTES) and a timeout.

Twilio media may require HTTP basic auth (AccountSid:AuthToken) when media access is
restricted (https://www.twilio.com/docs/usage/security#http-authentication). Credentials
are only ever sent to Twilio's own hosts (or the INTAKE_TWILIO_API_BASE stand-in); the
redirect Twilio answers with (to its media CDN) is followed without them, as `requests`
drops Authorization on a cross-host redirect.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from intake.messages import Attachment
from intake.settings import Settings

log = logging.getLogger("intake.channels.media")

_TWILIO_ORIGIN = re.compile(r"^https://[a-z0-9.-]*\.twilio\.com(?=/|$)")
_CHUNK = 64 * 1024
TIMEOUT = (5.0, 20.0)  # connect, read (seconds)


class MediaError(Exception):
    """A download failed; the message is safe for logs (status, size, class: no URL)."""


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


def download(url: str, settings: Settings, account_sid: str | None = None,
             session: requests.Session | None = None) -> tuple[bytes, str]:
    """(content, content type) of one media item or recording; raises MediaError."""
    target, ours = resolve_url(url, settings)
    if urlsplit(target).scheme not in ("http", "https"):
        raise MediaError("unsupported URL scheme")
    creds = credentials(settings, account_sid) if ours else None
    auth = (creds.account_sid, creds.auth_token) if creds else None
    http = session or requests.Session()
    http.trust_env = False if settings.twilio_api_base else http.trust_env
    limit = settings.max_media_bytes
    try:
        with http.get(target, auth=auth, timeout=TIMEOUT, stream=True) as response:
            if response.status_code != 200:
                raise MediaError(f"HTTP {response.status_code}")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise MediaError(f"too large ({declared} bytes > {limit})")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise MediaError(f"too large (over {limit} bytes)")
                chunks.append(chunk)
            content_type = response.headers.get("Content-Type", "application/octet-stream")
            return b"".join(chunks), content_type.split(";", 1)[0].strip()
    except requests.RequestException as exc:
        raise MediaError(type(exc).__name__) from None
    finally:
        if session is None:
            http.close()


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
