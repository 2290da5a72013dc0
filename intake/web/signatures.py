"""Twilio request signatures: which URL Twilio called, and whether `X-Twilio-Signature`
matches it for one of our auth tokens.

The algorithm is Twilio's (https://www.twilio.com/docs/usage/webhooks/webhooks-security):
HMAC-SHA1 over the full URL plus every POST parameter sorted by name. We never compute
it ourselves: `twilio.request_validator.RequestValidator` does, with its constant-time
comparison and its with/without-port leniency.
"""

from __future__ import annotations

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


def _first(value: str | None) -> str:
    # A proxy chain appends: "https, http". The first entry is what the client used.
    return (value or "").split(",", 1)[0].strip()


def request_url(scheme: str, host: str, raw_path: str, query: str, headers: Mapping[str, str],
                settings: Settings) -> str:
    """The URL Twilio requested: INTAKE_PUBLIC_URL + path + query when set (behind a TLS
    proxy the request we see is not the one Twilio signed), else the request as received,
    with X-Forwarded-Proto / X-Forwarded-Host honoured only under INTAKE_TRUST_PROXY."""
    suffix = raw_path + (f"?{query}" if query else "")
    if settings.public_url:
        return settings.public_url.rstrip("/") + suffix
    if settings.trust_proxy:
        scheme = _first(headers.get("x-forwarded-proto")) or scheme
        host = _first(headers.get("x-forwarded-host")) or host
    return f"{scheme}://{host}{suffix}"


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
