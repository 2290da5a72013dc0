"""The app's intake endpoint, `POST /api/v1/intake` (JSON), for the help centre's own app.

Authentication: an app key from INTAKE_APP_KEYS (`id:secret`, comma-separated; keep two
during a rotation), named in `X-Intake-Key`, and `X-Intake-Signature` = hex
HMAC-SHA256(secret, `<X-Intake-Timestamp>` + "\\n" + body). A timestamp (Unix seconds)
more than INTAKE_APP_REPLAY_WINDOW_SECONDS away from our clock is refused, so a captured
request cannot be replayed later; within the window a replay is the same submission id,
which the capture key makes one inbox row (`web:app:<key id>:<submission id>`).

Body: {"submission_id", "type", "text", "contact", "app_user_id", "device",
"app_version", "reference"?, "language"?, "screenshots": [{"data": base64} or
{"upload": id from POST /api/v1/uploads}, ...]}.
Answers: 202 {"submission_id", "reference" (null while processing), "duplicate"};
400 bad JSON or field (named), 401 key / signature / timestamp, 409 a submission id
reused with different content, 413 over the cap, 415 not JSON, 429 rate limit, 503
nothing stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import time
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from intake.capture.web import Submission, content_digest
from intake.normalize.web import BadSubmission, parse_contact, parse_reference, parse_text, parse_type
from intake.runtime import Runtime
from intake.web import submissions, uploads
from intake.web.images import Limits, NotAnImage, check_image
from intake.work import Enqueue

log = logging.getLogger("intake.web.app")

PATH = "/api/v1/intake"
UPLOADS_PATH = "/api/v1/uploads"  # one screenshot, raw bytes, signed the same way (web/uploads.py)
_SUBMISSION_ID = re.compile(r"[A-Za-z0-9_.:-]{8,64}")
_SHORT_FIELDS = {"app_user_id": 128, "device": 128, "app_version": 64}


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _encodable(value: str) -> bool:
    """False for a str holding lone surrogates (JSON's "\\udcff"): no UTF-8 for them."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """What a client sends in X-Intake-Signature (also used by the tests and client SDKs)."""
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"\n" + body, hashlib.sha256).hexdigest()


class AppIntake:
    def __init__(self, rt: Runtime, enqueue: Enqueue) -> None:
        self.rt, self.enqueue, self.settings = rt, enqueue, rt.settings
        self.keys = rt.settings.app_key_map()  # SettingsError at start names a bad entry

    def _authenticate(self, request: Request, body: bytes) -> str:
        key_id = request.headers.get("x-intake-key", "")
        timestamp = request.headers.get("x-intake-timestamp", "")
        given = request.headers.get("x-intake-signature", "")
        secret = self.keys.get(key_id)
        if secret is None or not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
            raise Refused(401, "unknown app key or missing timestamp")
        # bytes: compare_digest refuses str with non-ASCII characters (a header may carry them)
        if not hmac.compare_digest(signature(secret, timestamp, body).encode("ascii"),
                                   given.strip().lower().encode("utf-8")):
            raise Refused(401, "bad signature")
        if abs(time.time() - int(timestamp)) > self.settings.app_replay_window_seconds:
            raise Refused(401, "timestamp outside the replay window")
        return key_id

    def _submission(self, document: Any, language: str, key_id: str) -> tuple[Submission, str]:
        if not isinstance(document, dict):
            raise Refused(400, "the body must be a JSON object")
        submission_id = document.get("submission_id")
        if not isinstance(submission_id, str) or not _SUBMISSION_ID.fullmatch(submission_id):
            raise Refused(400, "submission_id: 8 to 64 of A-Z a-z 0-9 _ . : -")
        strings = {name: document.get(name, "") for name in ("type", "text", "contact", "reference")}
        if not all(isinstance(v, str) for v in strings.values()):
            raise Refused(400, "type, text, contact and reference are strings")
        app = {"submission_id": submission_id}
        for name, limit in _SHORT_FIELDS.items():
            value = document.get(name, "")
            if not isinstance(value, str) or len(value) > limit or not value.isprintable() or not _encodable(value):
                raise Refused(400, f"{name}: a string of at most {limit} printable characters")
            if value:
                app[name] = value
        try:
            kind, contact = parse_contact(strings["contact"], "CN" if language == "zh" else "US")
            submission = Submission(
                "app", parse_type(strings["type"]), parse_text(strings["text"], self.settings.web_max_text_chars),
                kind, contact, parse_reference(strings["reference"]), language,
                self._screenshots(document.get("screenshots", []), key_id), app)
        except BadSubmission as bad:
            raise Refused(400, str(bad)) from None
        return submission, submission_id

    def _screenshots(self, items: Any, key_id: str) -> tuple[Any, ...]:
        if not isinstance(items, list):
            raise Refused(400, "screenshots: a list")
        if len(items) > self.settings.web_max_screenshots:
            raise Refused(400, f"screenshots: at most {self.settings.web_max_screenshots}")
        limits = Limits(self.settings.web_max_screenshot_bytes, self.settings.web_max_image_pixels)
        checked = []
        for index, item in enumerate(items, start=1):
            if isinstance(item, dict) and "upload" in item:
                with self.rt.sessions() as session:
                    found = uploads.load(session, self.rt.vault, key_id, item["upload"], index)
                if found is None:
                    raise Refused(400, f"screenshots[{index}]: no such upload (or past its 24 hours)")
                checked.append(found)
                continue
            data = item.get("data") if isinstance(item, dict) else None
            if not isinstance(data, str) or len(data) > limits.max_bytes * 4 // 3 + 4:
                raise Refused(400, f"screenshots[{index}]: base64 `data` within the size cap")
            try:
                checked.append(check_image(base64.b64decode(data, validate=True), index, limits))
            except (binascii.Error, ValueError) as exc:
                reason = str(exc) if isinstance(exc, NotAnImage) else "not base64"
                raise Refused(400, f"screenshots[{index}]: {reason}") from None
        return tuple(checked)

    def _handle(self, request: Request, body: bytes) -> JSONResponse:
        key_id = self._authenticate(request, body)
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise Refused(400, "the body is not UTF-8 JSON") from None
        language = document.get("language") if isinstance(document, dict) else None
        submission, submission_id = self._submission(document, language if language in ("zh", "en") else "en", key_id)
        checks = [("app", f"{key_id}:{document.get('app_user_id') or '-'}", self.settings.web_rate_per_address_per_hour),
                  ("contact", submission.contact, self.settings.web_rate_per_contact_per_hour)]
        if not submissions.within_limits(self.rt, checks):
            raise Refused(429, "rate limit")
        try:
            accepted = submissions.accept(self.rt, submission, f"web:app:{key_id}:{submission_id}", self.enqueue)
        except Exception as exc:  # noqa: BLE001 - nothing was kept: the app must send again
            log.error("app submission not stored, answering 503 (%s)", type(exc).__name__)
            raise Refused(503, "not stored; send again") from None
        if not accepted.created and accepted.body_sha256 not in (None, content_digest(submission)):
            raise Refused(409, "submission_id was used before for different content")
        return JSONResponse({"submission_id": submission_id, "reference": accepted.ref,
                             "duplicate": not accepted.created}, status_code=202)

    def _upload(self, request: Request, body: bytes) -> JSONResponse:
        key_id = self._authenticate(request, body)
        limits = Limits(self.settings.web_max_screenshot_bytes, self.settings.web_max_image_pixels)
        try:
            image = check_image(body, 1, limits)
        except NotAnImage as refused:
            raise Refused(400, f"upload: {refused}") from None
        with self.rt.sessions() as session:
            upload_id = uploads.store(session, self.rt.vault, key_id, image)
            session.commit()
        return JSONResponse({"upload": upload_id, "content_type": image.content_type, "size": image.size},
                            status_code=201)

    async def handle(self, request: Request) -> JSONResponse:
        return await self._serve(request, self._handle, "application/json", self.settings.web_max_body_bytes)

    async def upload(self, request: Request) -> JSONResponse:
        return await self._serve(request, self._upload, None, self.settings.web_max_screenshot_bytes)

    async def _serve(self, request: Request, handler: Any, media_type: str | None, cap: int) -> JSONResponse:
        try:
            if not self.keys:
                raise Refused(503, "INTAKE_APP_KEYS is not set")
            given = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type is not None and given != media_type:
                raise Refused(415, f"{media_type} only")
            try:
                body = await submissions.read_capped(request, cap)
            except submissions.TooLarge:
                raise Refused(413, "body over the cap") from None
            return await run_in_threadpool(handler, request, body)  # type: ignore[no-any-return]
        except Refused as refused:
            level = logging.WARNING if refused.status == 401 else logging.INFO
            log.log(level, "app intake refused (%s): %s", refused.status, refused.detail)
            return JSONResponse({"error": refused.detail}, status_code=refused.status)


def router(intake: AppIntake) -> APIRouter:
    api = APIRouter()
    api.add_api_route(PATH, intake.handle, methods=["POST"], include_in_schema=False)
    api.add_api_route(UPLOADS_PATH, intake.upload, methods=["POST"], include_in_schema=False)
    return api
