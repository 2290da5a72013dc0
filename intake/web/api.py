"""The tickets API under /api/v1 (OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs).

Every route needs a bearer token (`intake tokens create`); scopes as in
intake/access/tokens.py. Private tickets' content only reaches a `private` token, and each
such read is recorded before the answer leaves. Actions return the outbox or inbox ids
they queued; the workers get them through the app's `enqueue`, after the commit.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from intake.access.tokens import Caller
from intake.outbox import agents
from intake.process.reprocess import replay
from intake.runtime import Runtime
from intake.tickets import corrections, queries
from intake.tickets.views import MAX_SEARCH_CHARS, TicketFilter
from intake.web.auth import Auth
from intake.work import Enqueue, Work

MAX_REPLY_CHARS = 20_000
MAX_REF_CHARS = 32
# Declared for the OpenAPI document ("Authorize" in the docs); Auth does the checking.
_scheme = HTTPBearer(auto_error=False, description="a token from `intake tokens create NAME --scope ...`")


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_REPLY_CHARS)


class StatusIn(BaseModel):
    status: Literal["open", "pending", "resolved", "closed"]
    notify: bool = False


class RouteIn(BaseModel):
    category: str = Field(min_length=1, max_length=32)
    priority: str | None = Field(default=None, max_length=16)


class Queued(BaseModel):
    ticket: str
    outbox: list[int]


def valid_ref(ref: str) -> bool:
    """A ticket reference's shape (letters, digits, dashes): anything else names no ticket
    and never reaches the database (PostgreSQL refuses a NUL in a text parameter)."""
    return 0 < len(ref) <= MAX_REF_CHARS and ref.isascii() and ref.replace("-", "").isalnum()


def _ref(ref: str) -> str:
    if not valid_ref(ref.strip()):
        raise HTTPException(404, "no such ticket")
    return ref.strip().upper()


def _needs(scope: str) -> Any:
    async def caller(request: Request, _: Annotated[Any, Depends(_scheme)]) -> Caller:
        auth: Auth = request.app.state.auth
        who = await auth.bearer(request)
        if not who.may(scope):
            raise HTTPException(403, f"this token lacks the {scope} scope")
        return who
    return caller


Reader = Annotated[Caller, Depends(_needs("read"))]
Writer = Annotated[Caller, Depends(_needs("write"))]
Admin = Annotated[Caller, Depends(_needs("admin"))]


def _serve_docs(api: FastAPI) -> None:
    """Swagger UI at /docs from the fastapi-offline package's copy: no CDN, so the page works
    on a desk with no way out to the internet (FastAPI's own /docs loads it from jsDelivr)."""
    from pathlib import Path

    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    api.mount("/docs-assets", StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static"), name="docs-assets")

    @api.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json", title="intake tickets API",
            swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs-assets/favicon.png")


def create_api(rt: Runtime, auth: Auth, enqueue: Enqueue) -> FastAPI:
    api = FastAPI(title="intake tickets API", version="1", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json",
                  description="Tickets, failed captures and mailboxes of the intake desk.")
    api.state.auth = auth
    _serve_docs(api)

    @api.middleware("http")
    async def no_store(request: Request, call_next: Any) -> Any:
        # Answers may hold private content (for a private token): no cache keeps a copy.
        response = await call_next(request)
        response.headers["Cache-Control"] = "no-store"
        return response

    @api.get("/tickets", summary="List and filter tickets, newest first")
    async def list_tickets(
            caller: Reader, status: str | None = None, department: str | None = None,
            category: str | None = None, channel: str | None = None, private: bool | None = None,
            q: Annotated[str | None, Query(max_length=10 * MAX_SEARCH_CHARS,
                                           description="text in ref, subject, contact or non-private messages")] = None,
            page: Annotated[int, Query(description="1-based; clamped to 1..100000")] = 1,
            per_page: Annotated[int, Query(description="clamped to 1..200")] = 50) -> dict[str, Any]:
        where = TicketFilter(status=status, department=department, category=category, channel=channel,
                             private=private, text=q)
        return await run_in_threadpool(queries.find_tickets, rt, caller, "api", where, page, per_page)

    @api.get("/tickets/{ref}", summary="A ticket: messages, attachment metadata, follow-ups")
    async def show_ticket(ref: str, caller: Reader) -> dict[str, Any]:
        detail = await run_in_threadpool(queries.show_ticket, rt, caller, "api", _ref(ref))
        if detail is None:
            raise HTTPException(404, "no such ticket")
        return detail

    async def _queued(ref: str, outbox: list[int] | None) -> Queued:
        if outbox is None:
            raise HTTPException(404, "no such ticket")
        private = await run_in_threadpool(queries.ticket_private, rt, ref)
        enqueue(Work.of(send=outbox, private=private))
        return Queued(ticket=ref, outbox=outbox)

    @api.post("/tickets/{ref}/reply", status_code=202, summary="Queue an agent's reply")
    async def reply(ref: str, body: ReplyIn, caller: Writer) -> Queued:
        ref = _ref(ref)
        if not body.text.strip() or "\x00" in body.text:
            raise HTTPException(422, "the reply is empty or holds a NUL character")
        return await _queued(ref, await run_in_threadpool(agents.reply, rt, ref, body.text))

    @api.post("/tickets/{ref}/status", status_code=202, summary="Change status (notify: tell the sender)")
    async def set_status(ref: str, body: StatusIn, caller: Writer) -> Queued:
        ref = _ref(ref)
        return await _queued(ref, await run_in_threadpool(agents.set_status, rt, ref, body.status, body.notify))

    @api.post("/tickets/{ref}/route", summary="Re-route a ticket (an agent's correction of triage)")
    async def route(ref: str, body: RouteIn, caller: Writer) -> dict[str, Any]:
        ref = _ref(ref)
        try:
            outcome = await run_in_threadpool(corrections.route, rt, ref, body.category, body.priority,
                                              f"token:{caller.name}")
        except corrections.RouteError as exc:
            raise HTTPException(422, str(exc)) from None
        if outcome is None:
            raise HTTPException(404, "no such ticket")
        return outcome

    @api.get("/captures", summary="Failed (quarantined) captures, newest first")
    async def captures(caller: Reader, page: int = 1, per_page: int = 50) -> dict[str, Any]:
        offset, limit = queries.page_bounds(page, per_page)
        return await run_in_threadpool(queries.failed_captures, rt, limit, offset)

    @api.post("/captures/{inbox_id}/replay", status_code=202, summary="Replay a failed capture")
    async def replay_capture(inbox_id: int, caller: Admin) -> dict[str, Any]:
        work = await run_in_threadpool(replay, rt, inbox_id) if 0 < inbox_id < 2**62 else None
        if work is None:
            raise HTTPException(409, "not a failed capture (replayed already, or no such capture)")
        enqueue(work)
        return {"inbox": inbox_id, "queued": True}

    @api.get("/mailboxes", summary="Mailbox state: last poll, lag, lease holder, UIDVALIDITY, errors")
    async def mailboxes(caller: Reader) -> list[dict[str, Any]]:
        return await run_in_threadpool(queries.mailboxes, rt)

    @api.get("/desk", summary="The desk at a glance (what the console's first page shows)")
    async def desk(caller: Reader) -> dict[str, Any]:
        return await run_in_threadpool(queries.desk, rt)

    return api
