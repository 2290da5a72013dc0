"""Twilio request signatures: which URL Twilio called, and whether `X-Twilio-Signature`
matches it for one of our auth tokens.

The algorithm is Twilio's (https://www.twilio.com/docs/usage/webhooks/webhooks-security):
HMAC-SHA1 over the full URL plus every POST parameter sorted by name. We never compute
it ourselves: `twilio.request_validator.RequestValidator` does, with its constant-time
comparison and its with/without-port leniency.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence

from twilio.request_validator import RequestValidator

from intake.settings import Settings

SIGNATURE_HEADER = "x-twilio-signature"


class FormParams(dict[str, str]):
    """Form fields as Twilio sent them: first value by name (what handlers read), and every
    value of a repeated name (what the signature covers; RequestValidator calls getall)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.pairs = list(pairs)
        for name, value in self.pairs:
            self.setdefault(name, value)

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def repeated(self) -> dict[str, list[str]]:
        return {name: self.getall(name) for name in self if len(self.getall(name)) > 1}


class UrlRefused(Exception):
    """The URL Twilio signed cannot be known from this request: answer `status`, store
    nothing; `result` names why (metrics), `detail` is safe to log and to answer."""

    def __init__(self, status: int, result: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.result, self.detail = status, result, detail


# RFC 9110 7.2 / RFC 3986 3.2.2: a reg-name (letters, digits, "-", ".", and "_" for
# container names) or a bracketed IPv6 literal, then an optional numeric port.
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?)"
                   r"(?::(?P<port>[0-9]{1,5}))?")


def valid_host(host: str) -> bool:
    """A Host (or X-Forwarded-Host) value we can put in a URL: `127.0.0.1:abc` is not."""
    match = _HOST.fullmatch(host)
    if match is None:
        return False
    return match["port"] is None or 0 < int(match["port"]) <= 65535


def _last(value: str | None) -> str:
    # A proxy appends what it saw to what the client sent ("evil.example, support.example.com"):
    # only the last entry is the proxy's own; the ones before it are the client's to forge.
    return (value or "").rsplit(",", 1)[-1].strip()


def is_loopback(address: str | None) -> bool:
    try:
        return bool(address) and ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def request_url(scheme: str, host: str, raw_path: str, query: str, headers: Mapping[str, str],
                settings: Settings) -> str:
    """The URL Twilio requested: INTAKE_PUBLIC_URL + path + query when set (behind a TLS
    proxy the request we see is not the one Twilio signed), else the request as received,
    with X-Forwarded-Proto / X-Forwarded-Host (the entry our proxy added: the last one)
    honoured only under INTAKE_TRUST_PROXY. Raises UrlRefused (400) for a malformed host."""
    suffix = raw_path + (f"?{query}" if query else "")
    if settings.public_url:
        return settings.public_url.rstrip("/") + suffix
    if settings.trust_proxy:
        scheme = _last(headers.get("x-forwarded-proto")).lower() or scheme
        host = _last(headers.get("x-forwarded-host")) or host
    if scheme not in ("http", "https"):
        raise UrlRefused(400, "bad_host", "malformed X-Forwarded-Proto")
    if not valid_host(host):
        raise UrlRefused(400, "bad_host", "malformed Host")
    return f"{scheme}://{host}{suffix}"


def signed_url(scheme: str, host: str, raw_path: str, query: str, headers: Mapping[str, str],
               client_host: str | None, settings: Settings) -> str:
    """The URL to check the signature against, or UrlRefused. The Host header is the
    client's to choose, so without INTAKE_PUBLIC_URL a forger picks the URL it signs (and
    the voice callbacks built from it): 503 naming the setting, unless
    INTAKE_DEV_TRUST_REQUEST_URL allows the request's own URL for a loopback client."""
    if settings.public_url:
        return request_url(scheme, host, raw_path, query, headers, settings)
    if settings.dev_trust_request_url and is_loopback(client_host):
        return request_url(scheme, host, raw_path, query, headers, settings)
    raise UrlRefused(503, "no_public_url", "INTAKE_PUBLIC_URL is not set: Twilio webhooks are "
                     "refused until it names the URL Twilio calls (e.g. https://support.example.com)")


def base_url(url: str, raw_path: str) -> str:
    """The scheme://host[/prefix] part of a validated URL, to build our callback URLs."""
    cut = url.find(raw_path) if raw_path else -1
    return url[:cut] if cut > 0 else url.split("?", 1)[0].rstrip("/")


def is_valid(tokens: Iterable[str], url: str, params: FormParams, signature: str | None) -> bool:
    """True if `signature` matches `url` + `params` for any accepted token (rotation: the
    old and the new token are both set for as long as Twilio may still use the old one)."""
    if not signature:
        return False
    return any(RequestValidator(token).validate(url, params, signature) for token in tokens)
