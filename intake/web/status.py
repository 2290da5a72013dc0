"""The status page an acknowledgement links to: `/status/<token>`.

A good token shows its own ticket's reference, status, department, last update and the
replies sent to the user; a private ticket shows its status only. An expired or revoked
token shows no data, only a button that sends a fresh link to the contact on record
(never to an address typed into the page), at most RENEW_PER_HOUR times an hour per
ticket. An unknown token gets the same 404 page whatever it looks like.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response

from intake.outbox.compose import composer_for
from intake.runtime import Runtime
from intake.tickets import status_links
from intake.tickets.models import Message, Ticket
from intake.tickets.store import open_message
from intake.web import submissions
from intake.web.csrf import FIELD, set_cookie
from intake.web.pages import LANGUAGES, language
from intake.work import Enqueue, Work

log = logging.getLogger("intake.web.status")

RENEW_PER_HOUR = 3
_MAX_REPLIES = 50


class StatusPages:
    def __init__(self, rt: Runtime, enqueue: Enqueue, app_state: Any) -> None:
        self.rt, self.enqueue, self.state = rt, enqueue, app_state

    def _lookup(self, token: str, lang_asked: str | None) -> tuple[str, dict[str, Any]]:
        """(page, context) for a token: show, expired or missing."""
        with self.rt.sessions() as session:
            found = status_links.resolve(session, token)
            if found is None:
                return "missing", {}
            ticket = session.get(Ticket, found.ticket_id)
            if ticket is None:
                return "missing", {}
            lang = lang_asked or (ticket.language if ticket.language in LANGUAGES else "")
            if not found.usable:
                return "expired", {"lang": lang}
            context: dict[str, Any] = {"lang": lang, "ref": ticket.ref, "status": ticket.status,
                                       "private": ticket.private}
            if not ticket.private:
                page_lang = lang or "en"
                context["department"] = composer_for(self.rt).department_name(ticket.department, page_lang)
                context["updated"] = ticket.updated_at.strftime("%Y-%m-%d %H:%M UTC")
                context["replies"] = self._replies(session, ticket)
            return "show", context

    def _replies(self, session: Any, ticket: Ticket) -> list[dict[str, Any]]:
        rows = session.scalars(select(Message).where(
            Message.ticket_id == ticket.id, Message.direction == "out").order_by(Message.id).limit(_MAX_REPLIES))
        replies = []
        for message in rows:
            if (message.extra or {}).get("kind") != "agent_reply":
                continue
            text = open_message(self.rt.vault, message)[0]
            replies.append({"at": message.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                            "paragraphs": [p.strip() for p in text.split("\n\n") if p.strip()]})
        return replies

    async def show(self, request: Request, token: str) -> Response:
        asked = request.query_params.get("lang")
        page, context = await run_in_threadpool(self._lookup, token, asked if asked in LANGUAGES else None)
        lang = context.pop("lang", "") or language(request)
        pages = self.state.pages
        if page == "missing":
            return pages.render("status/message.html", lang, 404, title="status_missing_title",  # type: ignore[no-any-return]
                                text="status_missing_text")
        if page == "expired":
            csrf_token, cookie = self.state.csrf.token(request)
            response = pages.render("status/expired.html", lang, 410, token=token, csrf_token=csrf_token)
            set_cookie(response, cookie, secure=self.state.secure_cookies)
            return response  # type: ignore[no-any-return]
        return pages.render("status/show.html", lang, **context)  # type: ignore[no-any-return]

    def _renew(self, token: str) -> None:
        with self.rt.sessions() as session:
            found = status_links.resolve(session, token)
            ticket = session.get(Ticket, found.ticket_id) if found is not None else None
            if ticket is None:
                return
        if not submissions.within_limits(self.rt, [("renew", str(ticket.id), RENEW_PER_HOUR)]):
            log.info("status link renewal for ticket %s over its limit", ticket.ref)
            return
        from intake.outbox.agents import send_status_link

        with self.rt.sessions() as session:
            ticket = session.get(Ticket, ticket.id)
            assert ticket is not None
            row = send_status_link(session, self.rt, ticket)
            session.commit()
            if row is not None and row.status == "queued":
                self.enqueue(Work.of(send=[row.id], private=ticket.private))

    async def renew(self, request: Request, token: str) -> Response:
        lang = language(request)
        try:
            form = await submissions.capped(request, 4096).form(max_files=0, max_fields=4)
        except (submissions.TooLarge, MultiPartException, ValueError, UnicodeDecodeError):
            form = FormData()
        if not self.state.csrf.valid(request, form.get(FIELD)):
            return self.state.pages.render("support/refused.html", lang, 403,  # type: ignore[no-any-return]
                                           error="support_err_csrf")
        if status_links.well_formed(token):
            await run_in_threadpool(self._renew, token)
        # The same answer whatever the token: the page is no oracle for which tokens exist.
        return self.state.pages.render("status/message.html", lang, title="status_sent_title",  # type: ignore[no-any-return]
                                       text="status_sent_text")


def router(pages: StatusPages) -> APIRouter:
    api = APIRouter()
    api.add_api_route("/status/{token}", pages.show, methods=["GET"], include_in_schema=False)
    api.add_api_route("/status/{token}/renew", pages.renew, methods=["POST"], include_in_schema=False)
    return api
