"""The FastAPI app: Twilio webhooks, /healthz and /metrics, the tickets API and ops console,
and the shared pieces of its pages.

`create_app()` checks its configuration at start (STYLE 12): without TWILIO_AUTH_TOKEN it
refuses to start, unless `require_twilio=False` (`intake run`, one machine, no Twilio yet),
where webhooks answer 503 and health and metrics are still served.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from intake.upkeep.health import BrokerCheck, counts, health
from intake.logs import setup_logging
from intake.runtime import Runtime
from intake.settings import SettingsError
from intake.settings import DEFAULTS_DIR
from intake.web.api import create_api
from intake.web.auth import Auth
from intake.web.console import Console, router as console_router
from intake.web.csrf import Csrf
from intake.web.metrics import WebhookMetrics
from intake.web.pages import Pages
from intake.web.signatures import valid_host
from intake.web.help_centre import include_help_centre
from intake.web.twilio_hooks import TwilioWebhooks, load_voice_config, router
from intake.work import Enqueue

log = logging.getLogger("intake.web")

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RejectMalformedHost:
    """400 for a request whose Host header cannot be part of a URL (`127.0.0.1:abc`),
    before any route sees it: such a value otherwise surfaces as a 500 deep in URL code."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            hosts = [value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"host"]
            if len(hosts) > 1 or (hosts and not valid_host(hosts[0])):
                log.info("request refused (400): malformed Host header")
                await PlainTextResponse("malformed Host header\n", status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(rt: Runtime, *, enqueue: Enqueue, check_broker: BrokerCheck | None,
               require_twilio: bool = True) -> FastAPI:
    """The app on a runtime; `enqueue` hands committed captures to the workers, and
    `check_broker` reports the broker in /healthz (both come from `workers/`)."""
    settings = rt.settings
    if not settings.twilio_auth_tokens:
        if require_twilio:
            raise SettingsError(
                "TWILIO_AUTH_TOKEN (or INTAKE_TWILIO_AUTH_TOKEN) is not set: the web app cannot "
                "verify Twilio webhook signatures; set it (comma-separated during a rotation)")
        log.warning("TWILIO_AUTH_TOKEN is not set: Twilio webhooks answer 503 until it is")
    if settings.public_url and not settings.public_url.startswith(("http://", "https://")):
        raise SettingsError("INTAKE_PUBLIC_URL must start with https:// (or http://)")
    voice = load_voice_config(settings.voice_config)
    # Also when served as `uvicorn --factory workers.daemons:web_app`: the redacting log
    # filter must be in place (a no-op under `intake web`, which set it up already).
    setup_logging(settings.log_level)
    if not settings.public_url:
        log.warning("INTAKE_PUBLIC_URL is not set: Twilio webhooks answer 503 until it names the "
                    "URL Twilio calls%s", " (INTAKE_DEV_TRUST_REQUEST_URL: loopback requests "
                    "are checked against their own URL)" if settings.dev_trust_request_url else "")
    metrics = WebhookMetrics()

    app = FastAPI(title="intake", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = rt
    app.state.metrics = metrics
    # The pieces every server-rendered page shares (console, support form, status page).
    app.state.pages = Pages(settings.templates_dir)
    app.state.csrf = Csrf(rt.vault.derive("csrf"))
    app.state.secure_cookies = (settings.public_url or "").startswith("https://")
    app.mount("/static", StaticFiles(directory=DEFAULTS_DIR / "templates" / "web" / "static"), name="static")
    app.include_router(router(TwilioWebhooks(rt, settings, metrics, voice, enqueue)))
    # Before the /api/v1 mount, which would otherwise take /api/v1/intake and /api/v1/uploads.
    include_help_centre(app, rt, enqueue)
    # Tickets API (/api/v1, its own OpenAPI docs) and ops console, sharing one Auth.
    app.state.auth = auth = Auth(rt)
    app.mount("/api/v1", create_api(rt, auth, enqueue))
    app.include_router(console_router(Console(rt, auth, app.state.pages, app.state.csrf, enqueue,
                                              app.state.secure_cookies)))
    app.add_middleware(RejectMalformedHost)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        report = await run_in_threadpool(health, rt, check_broker)
        return JSONResponse(report, status_code=200 if report["ok"] else 503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        def database_counts() -> dict[str, object] | None:
            try:
                return counts(rt)
            except Exception as exc:  # noqa: BLE001 - metrics must answer while the DB is away
                log.warning("metrics: database counts unavailable (%s)", type(exc).__name__)
                return None

        body = metrics.render(await run_in_threadpool(database_counts))
        return Response(body, media_type=PROMETHEUS_TYPE)

    return app
