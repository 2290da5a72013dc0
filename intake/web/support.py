"""The support form at `/support` (zh and en): a type of problem, a description, one
contact for replies, up to INTAKE_WEB_MAX_SCREENSHOTS screenshots and an optional ticket
reference.

Refusals store nothing and say why, in the page's language:
    413  body over the cap (checked on Content-Length, then while reading: never buffered)
    400  unreadable multipart, honeypot filled, a field to correct (form shown again), a
         screenshot that is not an image by content, too many screenshots
    403  CSRF token missing or not this client's
    429  rate limit per client address or per contact (counted in the database)
    503  the database is away (nothing was kept: send again)
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response

from intake.capture.web import Submission
from intake.normalize.web import TYPES, BadSubmission, parse_contact, parse_reference, parse_text, parse_type
from intake.runtime import Runtime
from intake.web.auth import client_address
from intake.web import submissions
from intake.web.csrf import COOKIE, FIELD, set_cookie
from intake.web.images import Limits, NotAnImage, check_image
from intake.web.pages import language
from intake.work import Enqueue

log = logging.getLogger("intake.web.support")

_MAX_FIELDS = 16
_MAX_FILES = 32  # parts named as files; more than the limit of screenshots is refused by count
_FIELD_BYTES = 256 * 1024


class SupportForm:
    def __init__(self, rt: Runtime, enqueue: Enqueue, app_state: Any) -> None:
        self.rt, self.enqueue, self.state = rt, enqueue, app_state
        self.settings = rt.settings

    def _page(self, request: Request, lang: str, name: str, status: int = 200, **context: Any) -> Response:
        token, cookie = self.state.csrf.token(request)
        context.setdefault("values", {"type": "technical", "description": "", "contact": "", "reference": ""})
        response = self.state.pages.render(
            name, lang, status, csrf_token=token, nonce=secrets.token_hex(16), types=list(TYPES),
            max_text=self.settings.web_max_text_chars, error=context.pop("error", None),
            detail=context.pop("detail", None), field=context.pop("field", None), **context)
        set_cookie(response, cookie, secure=self.state.secure_cookies)
        return response

    def _refused(self, lang: str, status: int, error: str, why: str) -> Response:
        log.info("support form refused (%s): %s", status, why)
        return self.state.pages.render("support/refused.html", lang, status, error=error)  # type: ignore[no-any-return]

    async def show(self, request: Request) -> Response:
        return self._page(request, language(request), "support/form.html")

    async def submit(self, request: Request) -> Response:
        lang = language(request)
        cap = self.settings.web_max_body_bytes
        if submissions.declared_too_large(request, cap):
            return self._refused(lang, 413, "support_err_too_large", "declared body over the cap")
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
            return self._refused(lang, 400, "support_err_malformed", "not multipart/form-data")
        try:
            form = await submissions.capped(request, cap).form(
                max_files=_MAX_FILES, max_fields=_MAX_FIELDS, max_part_size=_FIELD_BYTES)
        except submissions.TooLarge:
            return self._refused(lang, 413, "support_err_too_large", "body over the cap")
        except (MultiPartException, ValueError, UnicodeDecodeError) as exc:
            return self._refused(lang, 400, "support_err_malformed", f"unreadable multipart ({type(exc).__name__})")
        try:
            return await self._submit(request, form, lang)
        finally:
            await form.close()

    async def _submit(self, request: Request, form: FormData, lang: str) -> Response:
        if str(form.get("lang", "")) in ("zh", "en") and "lang" not in request.query_params:
            lang = str(form.get("lang"))
        if not self.state.csrf.valid(request, form.get(FIELD)):
            return self._refused(lang, 403, "support_err_csrf", "missing or wrong CSRF token")
        if str(form.get("website", "")).strip():
            return self._refused(lang, 400, "support_err_honeypot", "honeypot field filled")
        address = client_address(request)
        per_address = [("address", address, self.settings.web_rate_per_address_per_hour)]
        if not await run_in_threadpool(submissions.within_limits, self.rt, per_address):
            return self._refused(lang, 429, "support_err_rate", "rate limit per client address")
        values = {name: _text(form.get(name)) for name in ("type", "description", "contact", "reference")}
        try:
            kind, contact = parse_contact(values["contact"], "CN" if lang == "zh" else "US")
            fields = (parse_type(values["type"]), parse_text(values["description"], self.settings.web_max_text_chars),
                      parse_reference(values["reference"]))
        except BadSubmission as bad:
            log.info("support form refused (400): %s", bad.field)
            return self._page(request, lang, "support/form.html", 400, error="support_err_field",
                              field=bad.field, values=values)
        files = [f for f in form.getlist("screenshots") if isinstance(f, UploadFile) and (f.filename or f.size)]
        if len(files) > self.settings.web_max_screenshots:
            return self._page(request, lang, "support/form.html", 400, error="support_err_too_many", values=values)
        limits = Limits(self.settings.web_max_screenshot_bytes, self.settings.web_max_image_pixels)
        screenshots = []
        for index, upload in enumerate(files, start=1):
            data = await upload.read(limits.max_bytes + 1)
            try:
                screenshots.append(await run_in_threadpool(check_image, data, index, limits))
            except NotAnImage as refused:
                log.info("support form refused (400): screenshot %d: %s", index, refused)
                return self._page(request, lang, "support/form.html", 400, error="support_err_not_image",
                                  detail=f"{index}: {refused}", values=values)
        per_contact = [("contact", contact, self.settings.web_rate_per_contact_per_hour)]
        if not await run_in_threadpool(submissions.within_limits, self.rt, per_contact):
            return self._refused(lang, 429, "support_err_rate", "rate limit per contact")
        submission = Submission("form", fields[0], fields[1], kind, contact, fields[2], lang, tuple(screenshots))
        try:
            accepted = await run_in_threadpool(submissions.accept, self.rt, submission,
                                               self._capture_key(request, form), self.enqueue)
        except Exception as exc:  # noqa: BLE001 - nothing was kept: the sender must send again
            log.error("support form not stored, answering 503 (%s)", type(exc).__name__)
            return self._refused(lang, 503, "support_err_unavailable", "could not store")
        return self.state.pages.render("support/done.html", lang, ref=accepted.ref)  # type: ignore[no-any-return]

    def _capture_key(self, request: Request, form: FormData) -> str:
        """A double click sends the same nonce with the same cookie: one inbox row. The key
        is an HMAC, so neither the cookie nor the nonce is stored."""
        nonce = _text(form.get("nonce"))[:64] or secrets.token_hex(16)
        secret = self.rt.cached("web.form_key", lambda: self.rt.vault.derive("web-form-capture-key"))
        material = f"{request.cookies.get(COOKIE, '')}\x00{nonce}".encode("utf-8", "surrogatepass")
        return "web:form:" + hmac.new(secret, material, hashlib.sha256).hexdigest()[:48]


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def router(form: SupportForm) -> APIRouter:
    api = APIRouter()
    api.add_api_route("/support", form.show, methods=["GET"], include_in_schema=False)
    api.add_api_route("/support", form.submit, methods=["POST"], include_in_schema=False)
    return api
