"""The FastAPI app: Twilio webhooks, /healthz and /metrics.

`create_app()` checks its configuration at start (STYLE 12): without TWILIO_AUTH_TOKEN it
refuses to start, unless `require_twilio=False` (`intake run`, one machine, no Twilio yet),
where webhooks answer 503 and health and metrics are still served.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from intake.upkeep.health import BrokerCheck, counts, health
from intake.logs import setup_logging
from intake.runtime import Runtime
from intake.settings import SettingsError
from intake.web.metrics import WebhookMetrics
from intake.web.twilio_hooks import TwilioWebhooks, load_voice_config, router
from intake.work import Enqueue

log = logging.getLogger("intake.web")

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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
    metrics = WebhookMetrics()

    app = FastAPI(title="intake", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = rt
    app.state.metrics = metrics
    app.include_router(router(TwilioWebhooks(rt, settings, metrics, voice, enqueue)))

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
