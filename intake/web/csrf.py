"""CSRF protection for the server-rendered forms (ops console, support form).

A double-submit token bound to the client: the first page a client sees sets a random
value in an HttpOnly, SameSite=Strict cookie, and every form carries HMAC(secret, that
value). A POST is accepted only when the form's token matches the cookie it came with. A
forged cross-site form has neither the cookie (SameSite) nor a way to compute the HMAC;
the secret is derived from the desk's key (`Vault.derive`), so every web process agrees.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "intake_csrf"
FIELD = "csrf_token"
_MAX_COOKIE = 64


class Csrf:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, value: str) -> str:
        return hmac.new(self._secret, value.encode("ascii"), hashlib.sha256).hexdigest()

    def _cookie(self, request: Request) -> str | None:
        value = request.cookies.get(COOKIE, "")
        if 16 <= len(value) <= _MAX_COOKIE and value.isascii() and value.isalnum():
            return value
        return None

    def token(self, request: Request) -> tuple[str, str | None]:
        """The form token for this client, and a new cookie value to set (None when the
        client already has one)."""
        value = self._cookie(request)
        if value is not None:
            return self._sign(value), None
        value = secrets.token_hex(16)
        return self._sign(value), value

    def valid(self, request: Request, form_token: object) -> bool:
        value = self._cookie(request)
        if value is None or not isinstance(form_token, str) or len(form_token) != 64:
            return False
        return hmac.compare_digest(self._sign(value), form_token)


def set_cookie(response: Response, value: str | None, *, secure: bool) -> None:
    """Set the CSRF cookie when `token()` made a new one (Secure behind TLS)."""
    if value is not None:
        response.set_cookie(COOKIE, value, httponly=True, samesite="strict", secure=secure, path="/")
