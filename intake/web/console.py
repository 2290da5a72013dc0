"""The ops console: server-rendered pages (no JavaScript) for the desk at a glance, the
ticket list and a ticket with its reply and status forms, in zh or en.

Sign-in turns a token into a session cookie (auth.py). Every form carries the CSRF token
bound to the client's cookie (csrf.py) and is refused without it. Private content is shown
only to a session whose token holds the private scope, and each such view is recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from intake.access.tokens import Caller
from intake.outbox import agents
from intake.outbox.compose import composer_for
from intake.process.reprocess import replay
from intake.runtime import Runtime
from intake.tickets import corrections, queries
from intake.tickets.store import OPEN_STATUSES
from intake.tickets.views import TicketFilter
from intake.triage.rules import CATEGORIES, PRIORITIES
from intake.web.api import MAX_REPLY_CHARS, valid_ref
from intake.web.auth import Auth, TooManyAttempts
from intake.web.csrf import FIELD, Csrf, set_cookie
from intake.web.pages import Pages, language
from intake.work import Enqueue, Work

log = logging.getLogger("intake.web.console")

MAX_FORM_BYTES = 4 * MAX_REPLY_CHARS + 4096  # a reply in percent-encoded UTF-8, and the rest
PER_PAGE = 50
FILTERS = ("status", "department", "category", "channel", "private", "q")


class Console:
    def __init__(self, rt: Runtime, auth: Auth, pages: Pages, csrf: Csrf, enqueue: Enqueue,
                 secure_cookies: bool) -> None:
        self.rt, self.auth, self.pages, self.csrf = rt, auth, pages, csrf
        self.enqueue, self.secure_cookies = enqueue, secure_cookies

    def secure(self, request: Request) -> bool:
        return self.secure_cookies or request.url.scheme == "https"

    def page(self, request: Request, name: str, caller: Caller | None, status_code: int = 200,
             **context: Any) -> Response:
        token, new_cookie = self.csrf.token(request)
        lang, composer = language(request), composer_for(self.rt)
        response = self.pages.render(
            f"console/{name}", lang, status_code=status_code, csrf_field=FIELD, csrf_token=token,
            caller=caller, departments=sorted(composer.departments),
            department_name=lambda department: composer.department_name(department, lang),
            status_name=lambda status: composer.status_name(status, lang), **context)
        set_cookie(response, new_cookie, secure=self.secure(request))
        return response

    def refuse(self, request: Request, caller: Caller | None, status_code: int, key: str) -> Response:
        return self.page(request, "notice.html", caller, status_code=status_code, message_key=key)

    async def form(self, request: Request) -> dict[str, str] | None:
        """The posted form, or None when it is too large, not UTF-8, or not a form."""
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return None
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return None
        try:
            pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, encoding="utf-8",
                              errors="strict", max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            return None
        return dict(pairs)

    async def posted(self, request: Request, scope: str | None
                     ) -> tuple[dict[str, str], Caller | None] | Response:
        """A POST's form when its CSRF token is right and its session holds `scope`, else the
        page that refuses it."""
        form = await self.form(request)
        if form is None:
            return self.refuse(request, None, 400, "console_bad_form")
        if not self.csrf.valid(request, form.get(FIELD)):
            log.info("console: form refused (CSRF token missing or wrong)")
            return self.refuse(request, None, 403, "console_csrf")
        if scope is None:
            return form, None
        caller = await self.auth.session(request)
        if caller is None:
            return self.refuse(request, None, 401, "console_signed_out")
        if not caller.may(scope):
            return self.refuse(request, caller, 403, f"console_needs_{scope}")
        return form, caller

    def enqueue_send(self, ref: str, outbox: list[int]) -> None:
        self.enqueue(Work.of(send=outbox, private=queries.ticket_private(self.rt, ref)))


def _filter(request: Request) -> TicketFilter:
    params = {k: request.query_params.get(k, "")[:400] for k in FILTERS}
    private = {"yes": True, "no": False}.get(params["private"])
    return TicketFilter(status=params["status"] or None, department=params["department"] or None,
                        category=params["category"] or None, channel=params["channel"] or None,
                        private=private, text=params["q"] or None)


def _int(value: str | None, default: int) -> int:
    """A small non-negative number from a query or path value (ASCII digits only: "²" is a
    digit to str.isdigit but not to int())."""
    text = (value or "")[:12]
    return int(text) if text.isascii() and text.isdigit() else default


def _back(ref: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/console/tickets/{ref}?{urlencode({'done': done})}", status_code=303)


def router(console: Console) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    signed_in = Callable[[Request, Caller], Awaitable[Response]]

    def page_route(path: str) -> Callable[[signed_in], signed_in]:
        def wrap(handler: signed_in) -> signed_in:
            async def endpoint(request: Request) -> Response:
                caller = await console.auth.session(request)
                if caller is None:
                    return RedirectResponse("/console/signin", status_code=303)
                return await handler(request, caller)
            routes.add_api_route(path, endpoint, methods=["GET"])
            return handler
        return wrap

    @routes.get("/")
    @routes.get("/console")
    async def root() -> Response:
        return RedirectResponse("/console/", status_code=303)

    @routes.get("/console/signin")
    async def signin_page(request: Request) -> Response:
        return console.page(request, "signin.html", None)

    @routes.post("/console/signin")
    async def signin(request: Request) -> Response:
        outcome = await console.posted(request, None)
        if isinstance(outcome, Response):
            return outcome
        try:
            caller = await console.auth.check_token(request, outcome[0].get("token", "").strip())
        except TooManyAttempts as exc:
            response = console.refuse(request, None, 429, "console_slow_down")
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        if caller is None:
            return console.page(request, "signin.html", None, status_code=401, error_key="console_bad_token")
        response = RedirectResponse("/console/", status_code=303)
        console.auth.start_session(response, caller, secure=console.secure(request))
        return response

    @routes.post("/console/signout")
    async def signout(request: Request) -> Response:
        outcome = await console.posted(request, None)
        if isinstance(outcome, Response):
            return outcome
        response = RedirectResponse("/console/signin", status_code=303)
        console.auth.end_session(response, secure=console.secure(request))
        return response

    @page_route("/console/")
    async def desk(request: Request, caller: Caller) -> Response:
        return console.page(request, "desk.html", caller, desk=await run_in_threadpool(queries.desk, console.rt),
                            done=request.query_params.get("done", "")[:20])

    @page_route("/console/tickets")
    async def tickets(request: Request, caller: Caller) -> Response:
        where, page = _filter(request), _int(request.query_params.get("page"), 1)
        found = await run_in_threadpool(queries.find_tickets, console.rt, caller, "console", where, page, PER_PAGE)
        query = {k: request.query_params.get(k, "")[:400] for k in FILTERS}
        pages = max(1, -(-found["total"] // found["per_page"]))
        return console.page(request, "tickets.html", caller, found=found, query=query, pages=pages,
                            statuses=agents.STATUSES, link=lambda p: "?" + urlencode({**query, "page": p}))

    @page_route("/console/tickets/{ref}")
    async def ticket(request: Request, caller: Caller) -> Response:
        ref = request.path_params["ref"]
        detail = None
        if valid_ref(ref):
            detail = await run_in_threadpool(queries.show_ticket, console.rt, caller, "console", ref)
        if detail is None:
            return console.refuse(request, caller, 404, "console_no_ticket")
        return console.page(request, "ticket.html", caller, ticket=detail, statuses=agents.STATUSES,
                            open_statuses=OPEN_STATUSES, done=request.query_params.get("done", "")[:20],
                            max_reply=MAX_REPLY_CHARS, categories=CATEGORIES, priorities=PRIORITIES)

    async def queued(request: Request, caller: Caller | None, ref: str, outbox: list[int] | None,
                     done: str) -> Response:
        """After an action that queued follow-ups: hand them to the workers, back to the ticket."""
        if outbox is None:
            return console.refuse(request, caller, 404, "console_no_ticket")
        await run_in_threadpool(console.enqueue_send, ref, outbox)
        return _back(ref, done)

    @routes.post("/console/tickets/{ref}/reply")
    async def reply(request: Request, ref: str) -> Response:
        outcome = await console.posted(request, "write")
        if isinstance(outcome, Response):
            return outcome
        text = outcome[0].get("text", "")
        if not text.strip() or "\x00" in text or len(text) > MAX_REPLY_CHARS or not valid_ref(ref):
            return console.refuse(request, outcome[1], 400, "console_reply_invalid")
        ref = ref.strip().upper()
        outbox = await run_in_threadpool(agents.reply, console.rt, ref, text)
        return await queued(request, outcome[1], ref, outbox, "reply")

    @routes.post("/console/tickets/{ref}/status")
    async def status(request: Request, ref: str) -> Response:
        outcome = await console.posted(request, "write")
        if isinstance(outcome, Response):
            return outcome
        form = outcome[0]
        if form.get("status") not in agents.STATUSES or not valid_ref(ref):
            return console.refuse(request, outcome[1], 400, "console_bad_form")
        ref = ref.strip().upper()
        outbox = await run_in_threadpool(agents.set_status, console.rt, ref, form["status"], form.get("notify") == "yes")
        return await queued(request, outcome[1], ref, outbox, "status")

    @routes.post("/console/tickets/{ref}/route")
    async def route(request: Request, ref: str) -> Response:
        outcome = await console.posted(request, "write")
        if isinstance(outcome, Response):
            return outcome
        form, caller = outcome
        if not valid_ref(ref):
            return console.refuse(request, caller, 400, "console_bad_form")
        ref = ref.strip().upper()
        try:
            routed = await run_in_threadpool(corrections.route, console.rt, ref, str(form.get("category", "")),
                                             str(form.get("priority", "")) or None, f"console:{caller.name if caller else ''}")
        except corrections.RouteError:
            return console.refuse(request, caller, 400, "console_bad_form")
        if routed is None:
            return console.refuse(request, caller, 404, "console_no_ticket")
        return _back(ref, "route")

    @routes.post("/console/captures/{inbox_id}/replay")
    async def replay_capture(request: Request, inbox_id: str) -> Response:
        outcome = await console.posted(request, "admin")
        if isinstance(outcome, Response):
            return outcome
        number = _int(inbox_id, 0)
        work = await run_in_threadpool(replay, console.rt, number) if number > 0 else None
        if work is None:
            return console.refuse(request, outcome[1], 409, "console_not_failed")
        console.enqueue(work)
        return RedirectResponse("/console/?done=replay", status_code=303)

    return routes
