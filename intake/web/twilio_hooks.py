"""Twilio webhook endpoints: verify, store raw, enqueue, answer (STYLE 13).

Every endpoint reads the body itself (size limit, content type, strict UTF-8), checks
`X-Twilio-Signature` against the URL Twilio called, commits the parameters to the inbox
under their idempotency key, enqueues the inbox id, and only then answers. A request that
could not be kept gets a 5xx, so Twilio retries it: never a 200 for something lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from intake.normalize.twilio import mask_number
from intake.capture.twilio import invalid_params, make_item, missing_params
from intake.process.transcription import transcriber
from intake.runtime import Runtime
from intake.work import Enqueue, Work
from intake.settings import Settings
from intake.capture.inbox import Captured, capture
from intake.web.metrics import WebhookMetrics
from intake.web.signatures import SIGNATURE_HEADER, FormParams, UrlRefused, base_url, is_valid, signed_url
from intake.web.voice_twiml import (
    PREFIX, VoiceConfig, call_twiml, closing_twiml, language_twiml, load_voice_config, menu_language,
    voicemail_twiml,
)

__all__ = ["PREFIX", "Refused", "TwilioWebhooks", "VoiceConfig", "load_voice_config", "router", "voicemail_twiml"]

log = logging.getLogger("intake.web.twilio")

FORM_TYPE = "application/x-www-form-urlencoded"
XML_TYPE = "text/xml"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
_MAX_FIELDS = 1000


class Refused(Exception):
    """The request is answered `status` without being stored; `result` names why (metrics)."""

    def __init__(self, status: int, result: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.result, self.detail = status, result, detail


# -- the endpoints --------------------------------------------------------------------------------

class TwilioWebhooks:
    def __init__(self, rt: Runtime, settings: Settings, metrics: WebhookMetrics,
                 voice: VoiceConfig, enqueue: Enqueue) -> None:
        self.rt, self.settings, self.metrics, self.voice = rt, settings, metrics, voice
        self.enqueue = enqueue

    async def _body(self, request: Request) -> bytes:
        limit = self.settings.max_webhook_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise Refused(413, "too_large", f"body of {declared} bytes over {limit}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Refused(413, "too_large", f"body over {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _params(self, request: Request, body: bytes) -> FormParams:
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != FORM_TYPE:
            raise Refused(415, "bad_content_type", f"content type {media_type or 'none'}")
        try:
            text = body.decode("utf-8")
            # Repeated names are kept: Twilio signs every value (RequestValidator sorts them).
            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict",
                              max_num_fields=_MAX_FIELDS)
        except UnicodeDecodeError:
            raise Refused(400, "bad_encoding", "body is not UTF-8") from None
        except ValueError:
            raise Refused(400, "bad_form", "too many form fields") from None
        return FormParams(pairs)

    def _url(self, request: Request) -> str:
        """The URL Twilio signed (INTAKE_PUBLIC_URL + path), or Refused (503 without it)."""
        scope = request.scope
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else scope.get("path", "/")
        client = scope.get("client")
        try:
            return signed_url(scope.get("scheme", "http"), request.headers.get("host", ""), path,
                              scope.get("query_string", b"").decode("latin-1"), request.headers,
                              client[0] if client else None, self.settings)
        except UrlRefused as refused:
            raise Refused(refused.status, refused.result, refused.detail) from None

    def _verify(self, request: Request, params: FormParams, url: str) -> None:
        if not is_valid(self.settings.twilio_auth_tokens, url, params, request.headers.get(SIGNATURE_HEADER)):
            raise Refused(403, "bad_signature", "missing or wrong X-Twilio-Signature")

    def _store(self, kind: str, params: FormParams, url: str) -> Captured:
        """Commit the capture, then enqueue it (STYLE 10); one threadpool hop for both.
        The enqueue never raises: if the broker is away the sweeper resends the row."""
        item = make_item(kind, params, url, repeated=params.repeated(),
                         received_at=dt.datetime.now(dt.timezone.utc))
        with self.rt.sessions() as session:
            captured = capture(session, self.rt.vault, item)
            session.commit()
        if captured.created:
            self.enqueue(Work.of(process=[captured.inbox_id]))
        return captured

    async def handle(self, request: Request, kind: str) -> Response:
        started = time.monotonic()
        sid = "-"
        try:
            if not self.settings.twilio_auth_tokens:
                raise Refused(503, "not_configured", "TWILIO_AUTH_TOKEN is not set")
            url = self._url(request)
            params = self._params(request, await self._body(request))
            sid = _safe_sid(params.get(_SID_PARAM[kind]))
            self._verify(request, params, url)
            # After the signature: what a signed request may still do wrong. Twilio signs
            # names and values run together, so a replay can shift a boundary and keep the
            # signature; checked shapes make that a 400, never a new capture.
            missing = missing_params(kind, params)
            if missing:
                raise Refused(400, "missing_params", "missing " + ", ".join(missing))
            invalid = invalid_params(kind, params)
            if invalid:
                raise Refused(400, "bad_params", "malformed " + ", ".join(invalid))
            try:
                captured = await run_in_threadpool(self._store, kind, params, url)
            except Exception as exc:  # noqa: BLE001 - any storage failure: Twilio must retry
                # (enqueue_process never raises, so this is the database: nothing was kept)
                log.error("twilio %s %s not stored, answering 503 (%s)", kind, sid, type(exc).__name__)
                raise Refused(503, "store_failed", "could not store the webhook") from None
            if captured.created:
                log.info("twilio %s %s captured as inbox %s from %s", kind, sid, captured.inbox_id,
                         mask_number(params.get("From")))
            else:
                self.metrics.duplicate(kind)
                log.info("twilio %s %s delivered again (inbox %s)", kind, sid, captured.inbox_id)
            response = self._answer(kind, params, url, request)
            self.metrics.observe(kind, "duplicate" if not captured.created else "stored",
                                 time.monotonic() - started)
            return response
        except Refused as refused:
            if refused.status == 403:
                self.metrics.signature_failed(kind)
                log.warning("twilio %s %s refused: %s", kind, sid, refused.detail)
            elif refused.result == "no_public_url":
                log.error("twilio %s refused (503): %s", kind, refused.detail)
            elif refused.status != 503:
                log.info("twilio %s %s refused (%s): %s", kind, sid, refused.status, refused.detail)
            self.metrics.observe(kind, refused.result, time.monotonic() - started)
            return Response(refused.detail + "\n", status_code=refused.status, media_type="text/plain")

    def _answer(self, kind: str, params: Mapping[str, str], url: str, request: Request) -> Response:
        caller = params.get("From") or params.get("Caller")
        if kind in ("voice", "menu"):
            raw_path = request.scope.get("raw_path")
            path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else request.scope.get("path", "/")
            callback_base = base_url(url, path)
            backend = transcriber(self.settings.voice_transcription)
            if kind == "menu":  # the caller's key (or none): the voicemail in that language
                twiml = language_twiml(self.voice, backend, menu_language(self.voice, params.get("Digits")),
                                       callback_base)
            else:
                twiml = call_twiml(self.voice, backend, caller, callback_base)
            return Response(twiml, media_type=XML_TYPE)
        if kind == "recording" and ("Digits" in params or "CallStatus" in params):
            # The <Record action> request (not the status callback): the call goes on with
            # the TwiML we answer, so say goodbye and hang up.
            return Response(closing_twiml(self.voice, caller), media_type=XML_TYPE)
        return Response(EMPTY_TWIML, media_type=XML_TYPE)


def _safe_sid(value: str | None) -> str:
    # Logged before the signature is checked: only something shaped like a SID gets in.
    return value if value and _SID_SHAPE.fullmatch(value) else "-"


_SID_SHAPE = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
_SID_PARAM = {"sms": "MessageSid", "voice": "CallSid", "recording": "RecordingSid",
              "transcription": "TranscriptionSid", "status": "MessageSid", "menu": "CallSid",
              "transcript": "TranscriptionSid"}


def router(hooks: TwilioWebhooks) -> APIRouter:
    api = APIRouter(prefix=PREFIX)

    def endpoint(kind: str) -> Any:
        async def webhook(request: Request) -> Response:
            return await hooks.handle(request, kind)
        webhook.__name__ = f"twilio_{kind}"
        return webhook

    # transcript: real-time transcription callbacks; menu: the language menu's <Gather action>
    for kind in ("sms", "voice", "menu", "recording", "transcription", "transcript", "status"):
        api.add_api_route(f"/{kind}", endpoint(kind), methods=["POST"], include_in_schema=False)
    return api
