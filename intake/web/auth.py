"""Who a web request acts as: a bearer token (API) or a console session made from one,
with the slow-down of clients that keep presenting bad tokens.

The session cookie names the token and when it was issued, signed with HMAC under a secret
derived from the desk's key (`Vault.derive("console-session")`), so every web process
checks it without shared state. It carries no scope: the token's row is read on every
request, so revoking a token ends its sessions at once and a scope change applies at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from intake.access import tokens
from intake.access.throttle import BadTokenThrottle
from intake.access.tokens import Caller
from intake.runtime import Runtime

log = logging.getLogger("intake.web.auth")

SESSION_COOKIE = "intake_console"
SESSION_PATH = "/console"
SESSION_SECONDS = 12 * 3600
_SESSION_SHAPE = re.compile(r"v1\.([0-9]{1,18})\.([0-9]{1,12})\.([0-9a-f]{16})\.([0-9a-f]{64})")
_MAX_HEADER = 200
_CLOCK_SKEW = 60


def client_address(request: Request) -> str:
    """The address waits are counted against (the proxy's client under INTAKE_TRUST_PROXY,
    where uvicorn takes it from X-Forwarded-For)."""
    return request.client.host if request.client else "unknown"


class TooManyAttempts(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__("too many bad tokens from this address")
        self.retry_after = max(1, int(wait + 0.999))


class Auth:
    def __init__(self, rt: Runtime, throttle: BadTokenThrottle | None = None) -> None:
        self.rt = rt
        self.throttle = throttle or BadTokenThrottle()
        self._secret = rt.vault.derive("console-session")

    # -- tokens ---------------------------------------------------------------------------
    async def check_token(self, request: Request, presented: str) -> Caller | None:
        """The caller of a presented token, counting a bad one against the client's address.
        Raises TooManyAttempts while the address must wait (the token is not even looked at)."""
        client = client_address(request)
        wait = self.throttle.wait(client)
        if wait > 0:
            raise TooManyAttempts(wait)
        caller = await run_in_threadpool(tokens.authenticate, self.rt, presented)
        if caller is None:
            wait = self.throttle.failed(client)
            log.info("bad token from a client (waits %.0fs before the next)", wait)
            return None
        self.throttle.succeeded(client)
        return caller

    async def bearer(self, request: Request) -> Caller:
        """The API's caller, or 401 (no or bad token, revoked) / 429 (address must wait)."""
        header = request.headers.get("authorization", "")
        scheme, _, presented = header[:_MAX_HEADER + 10].partition(" ")
        if not header or scheme.lower() != "bearer" or not presented.strip():
            raise HTTPException(401, "a bearer token is needed (Authorization: Bearer itk_...)",
                                headers={"WWW-Authenticate": "Bearer"})
        if len(header) > _MAX_HEADER:
            presented = "x" * (tokens.MAX_TOKEN_CHARS + 1)  # counted as bad, never looked up
        try:
            caller = await self.check_token(request, presented.strip())
        except TooManyAttempts as exc:
            raise HTTPException(429, "too many bad tokens from this address; wait",
                                headers={"Retry-After": str(exc.retry_after)}) from None
        if caller is None:
            raise HTTPException(401, "unknown, malformed or revoked token",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return caller

    # -- console sessions ------------------------------------------------------------------
    def _sign(self, body: str) -> str:
        return hmac.new(self._secret, body.encode("ascii"), hashlib.sha256).hexdigest()

    def session_value(self, caller: Caller, now: float | None = None) -> str:
        body = f"v1.{caller.token_id}.{int(now if now is not None else time.time())}.{secrets.token_hex(8)}"
        return f"{body}.{self._sign(body)}"

    def session_token_id(self, value: str, now: float | None = None) -> int | None:
        """The token id a session cookie value names, if it is ours, untampered and fresh."""
        shape = _SESSION_SHAPE.fullmatch(value[:_MAX_HEADER])
        if shape is None:
            return None
        token_id, issued, nonce, signature = shape.groups()
        if not hmac.compare_digest(self._sign(f"v1.{token_id}.{issued}.{nonce}"), signature):
            return None
        age = (now if now is not None else time.time()) - int(issued)
        if not -_CLOCK_SKEW <= age <= SESSION_SECONDS:  # a little skew between web hosts
            return None
        return int(token_id)

    async def session(self, request: Request) -> Caller | None:
        token_id = self.session_token_id(request.cookies.get(SESSION_COOKIE, ""))
        if token_id is None:
            return None
        return await run_in_threadpool(tokens.live, self.rt, token_id)

    def start_session(self, response: Response, caller: Caller, *, secure: bool) -> None:
        response.set_cookie(SESSION_COOKIE, self.session_value(caller), max_age=SESSION_SECONDS,
                            httponly=True, samesite="strict", secure=secure, path=SESSION_PATH)

    def end_session(self, response: Response, *, secure: bool) -> None:
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict", secure=secure,
                               path=SESSION_PATH)
