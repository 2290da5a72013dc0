"""The tickets API over real HTTP on SQLite and PostgreSQL: every route without a token,
with a read token, a private-scope token and a revoked one; hostile tokens, paging and
search; private text never in a non-private answer nor in the logs."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from intake.tickets.models import Inbox, Outbox, Ticket
from intake.tickets.records import Correction
from tests.integration.web.conftest_desk import *  # noqa: F403 - fixtures
from tests.integration.web.conftest_desk import PRIVATE_SECRETS, Desk, call

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def routes(d: Desk) -> list[tuple[str, str, object, str]]:
    """(method, path, body, scope needed) for every route of /api/v1."""
    return [
        ("GET", "/api/v1/tickets", None, "read"),
        ("GET", f"/api/v1/tickets/{d.public}", None, "read"),
        ("GET", f"/api/v1/tickets/{d.private}", None, "read"),
        ("GET", "/api/v1/captures", None, "read"),
        ("GET", "/api/v1/mailboxes", None, "read"),
        ("GET", "/api/v1/desk", None, "read"),
        ("POST", f"/api/v1/tickets/{d.public}/reply", {"text": "We are on it."}, "write"),
        ("POST", f"/api/v1/tickets/{d.public}/status", {"status": "pending", "notify": True}, "write"),
        ("POST", f"/api/v1/tickets/{d.public}/route", {"category": "feedback"}, "write"),
        ("POST", f"/api/v1/captures/{d.failed_capture}/replay", None, "admin"),
    ]


def test_no_token_and_revoked_token_get_401_everywhere(desk: Desk) -> None:
    for n, (method, path, body, _) in enumerate(routes(desk)):
        status, headers, _text = call(desk.app.base, method, path, body=body)
        assert status == 401 and headers["www-authenticate"].startswith("Bearer"), (method, path)
        # (each from its own address: a revoked token counts as a bad one, and slows its sender)
        status, _, _text = call(desk.app.base, method, path, desk.tokens["revoked"], body=body,
                                source=f"127.0.1.{n + 1}")
        assert status == 401, (method, path)
    assert desk.app.enqueued == [] and desk.count_reads() == 0


def test_read_token_reads_with_private_content_hidden_and_may_not_write(desk: Desk) -> None:
    answers = []
    for method, path, body, scope in routes(desk):
        status, _, text = call(desk.app.base, method, path, desk.tokens["read"], body=body)
        assert status == (200 if scope == "read" else 403), (method, path, text)
        answers.append(text)
    for text in answers:
        for secret in PRIVATE_SECRETS:
            assert secret not in text
    detail = json.loads(answers[2])
    assert detail["private"] and detail["messages"][0]["private"]
    assert "[CARD]" in detail["messages"][0]["text"]  # masked, not left out: agents see the shape
    assert detail["messages"][0]["attachments"][0]["filename"] == "statement Q-#####.pdf"
    assert desk.app.enqueued == [] and desk.count_reads() == 0


def test_private_token_sees_content_and_every_read_is_recorded(desk: Desk) -> None:
    status, headers, text = call(desk.app.base, "GET", f"/api/v1/tickets/{desk.private}", desk.tokens["private"])
    assert status == 200 and "4111 1111 1111 1111" in text and "Q-77120" in text
    assert headers["cache-control"] == "no-store"
    assert json.loads(text)["messages"][0]["attachments"][0]["filename"] == "statement Q-77120.pdf"
    reads = desk.private_reads("private")
    with desk.rt.sessions() as session:
        private_id = session.scalar(select(Ticket.id).where(Ticket.ref == desk.private))
    assert [(r.ticket_id, r.via) for r in reads] == [(private_id, "api")]
    status, _, text = call(desk.app.base, "GET", "/api/v1/tickets", desk.tokens["private"])
    assert status == 200 and "Refund for order Q-77120" in text
    assert len(desk.private_reads("private")) == 2  # the list showed the private subject: recorded too
    # reading a public ticket records nothing; the private scope does not grant writes
    assert call(desk.app.base, "GET", f"/api/v1/tickets/{desk.public}", desk.tokens["private"])[0] == 200
    assert len(desk.private_reads("private")) == 2
    status, _, _ = call(desk.app.base, "POST", f"/api/v1/tickets/{desk.public}/reply", desk.tokens["private"],
                        body={"text": "hi"})
    assert status == 403
    # the audit row carries no content
    with desk.rt.sessions() as session:
        row = desk.private_reads("private")[0]
        assert set(c.name for c in row.__table__.columns) == {"id", "token_id", "ticket_id", "ticket_ref", "via",
                                                              "read_at", "actor"}
        assert row.ticket_ref == desk.private and row.actor is None  # a token's read: the token names who
        assert session is not None


def test_write_and_admin_tokens_act_and_hand_ids_to_the_workers(desk: Desk) -> None:
    status, _, text = call(desk.app.base, "POST", f"/api/v1/tickets/{desk.private}/reply", desk.tokens["write"],
                           body={"text": "We have refunded the charge."})
    assert status == 202, text
    outbox = json.loads(text)["outbox"]
    assert desk.app.enqueued[-1].send == ((outbox[0], True),)  # a private ticket's reply: private queue
    with desk.rt.sessions() as session:
        row = session.get(Outbox, outbox[0])
        assert row is not None and row.kind == "reply" and row.status == "queued"
    status, _, text = call(desk.app.base, "POST", f"/api/v1/tickets/{desk.public}/status", desk.tokens["write"],
                           body={"status": "resolved", "notify": True})
    assert status == 202 and len(json.loads(text)["outbox"]) == 1
    assert call(desk.app.base, "POST", f"/api/v1/captures/{desk.failed_capture}/replay", desk.tokens["write"])[0] == 403
    status, _, text = call(desk.app.base, "POST", f"/api/v1/captures/{desk.failed_capture}/replay", desk.tokens["admin"])
    assert status == 202, text
    assert desk.app.enqueued[-1].process == ((desk.failed_capture, False),)
    with desk.rt.sessions() as session:
        capture = session.get(Inbox, desk.failed_capture)
        assert capture is not None and capture.status == "captured" and capture.attempts == 0
        assert capture.failure_reason is None
    # replayed already: nothing queued twice
    assert call(desk.app.base, "POST", f"/api/v1/captures/{desk.failed_capture}/replay", desk.tokens["admin"])[0] == 409
    assert call(desk.app.base, "POST", "/api/v1/tickets/TK-NOSUCH/reply", desk.tokens["write"],
                body={"text": "x"})[0] == 404


def test_captures_mailboxes_and_desk(desk: Desk) -> None:
    status, _, text = call(desk.app.base, "GET", "/api/v1/captures", desk.tokens["read"])
    captures = json.loads(text)
    assert status == 200 and captures["total"] == 1
    assert captures["captures"][0]["id"] == desk.failed_capture and captures["captures"][0]["reason"] == "time_limit"
    status, _, text = call(desk.app.base, "GET", "/api/v1/mailboxes", desk.tokens["read"])
    (box,) = json.loads(text)
    assert box["name"] == "support" and box["uidvalidity"] == 1700000001 and box["lease_holder"] == "worker-1@host"
    assert 400 <= box["lag_seconds"] <= 900 and box["last_error"].startswith("IMAP4.error")
    status, _, text = call(desk.app.base, "GET", "/api/v1/desk", desk.tokens["read"])
    overview = json.loads(text)
    assert overview["open_total"] == 3 and overview["failed_captures"]["total"] == 1
    assert {row["ref"] for row in overview["oldest_unanswered"]} >= {desk.public, desk.private}


def test_filters_paging_and_search(desk: Desk) -> None:
    def refs(query: str, token: str = "read") -> list[str]:
        status, _, text = call(desk.app.base, "GET", "/api/v1/tickets" + query, desk.tokens[token])
        assert status == 200, (query, text)
        return [t["ref"] for t in json.loads(text)["tickets"]]

    assert refs("?private=true") == [desk.private]
    assert desk.public in refs("?private=false") and desk.private not in refs("?private=false")
    assert refs("?department=finance_support") == [desk.private]
    assert refs("?status=closed") == [] and refs("?channel=sms") == []
    assert len(refs("?per_page=1")) == 1 and len(refs("?per_page=1&page=2")) == 1
    status, _, text = call(desk.app.base, "GET", "/api/v1/tickets?per_page=2&page=1", desk.tokens["read"])
    assert json.loads(text)["total"] == 3
    # search: literal, case-insensitive, non-private fields only
    assert refs("?q=UPLOAD%20videos") == [desk.public]
    assert refs("?q=50%25_off") == [desk.public]
    assert refs("?q=%25") == [desk.public]  # only the subject with a literal % matches
    assert refs("?q=_") == [desk.public]
    for token in ("read", "private"):  # the private text is never searched, whoever asks
        assert refs("?q=Q-77120", token) == [] and refs("?q=4111", token) == [] and refs("?q=Refund", token) == []


@pytest.mark.parametrize("query", [
    "?page=0", "?page=-5", "?page=999999999999", "?per_page=0", "?per_page=-1", "?per_page=1000000000",
    "?page=" + "9" * 5000, "?page=abc", "?page=%C2%B2", "?per_page=%D9%A1", "?per_page=1e9", "?private=maybe",
    "?q=%27%20OR%201%3D1%20--", "?q=%25%27%3B%20DROP%20TABLE%20tickets%3B--", "?q=" + "%25" * 2000,
    "?q=" + "a" * 5000, "?q=%00", "?status=open%00", "?q=a%00b", "?q=%F0%9F%98%80" * 10, "?status=%27%3B--", "?department=" + "x" * 3000,
])
def test_hostile_queries_get_an_answer_never_a_500(desk: Desk, query: str) -> None:
    status, _, text = call(desk.app.base, "GET", "/api/v1/tickets" + query, desk.tokens["read"])
    assert status in (200, 422), (query[:60], status, text[:200])
    if status == 200:
        page = json.loads(text)
        assert 1 <= page["per_page"] <= 200 and page["page"] >= 1
    with desk.rt.sessions() as session:  # the injection attempts changed nothing
        assert len(session.scalars(select(Ticket)).all()) == 3


def test_hostile_tokens_are_refused_and_slow_down_only_their_address(desk: Desk) -> None:
    good = desk.tokens["read"]
    lookup = good.split("_")[1]
    forged = [
        "x" * 8000, good + "A", good[:-1], f"itk_{lookup}_" + "A" * 43, "itk_000000000000_" + good[-43:],
        good.upper(), " " + good + "\t", good.replace("itk_", "ITK_"), "itk_%_%", "' OR 1=1 --",
    ]
    for token in forged:
        status, _, _ = call(desk.app.base, "GET", "/api/v1/tickets", token, source="127.0.0.3")
        assert status in (401, 429), token[:40]
    status, headers, _ = call(desk.app.base, "GET", "/api/v1/tickets", good, source="127.0.0.3")
    assert status == 429 and int(headers["retry-after"]) >= 1  # even a good token waits there
    assert call(desk.app.base, "GET", "/api/v1/tickets", good, source="127.0.0.4")[0] == 200
    assert call(desk.app.base, "GET", "/api/v1/tickets", good)[0] == 200
    for header in ({"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"},
                   {"Authorization": "Bearer " + "\xe9" * 100}, {"Authorization": "bearer  " + good}):
        status, _, _ = call(desk.app.base, "GET", "/api/v1/tickets", headers=header, source="127.0.0.5")
        assert status in (200, 401), header


def test_bad_bodies_and_refs(desk: Desk) -> None:
    token = desk.tokens["write"]
    base = desk.app.base
    assert call(base, "POST", f"/api/v1/tickets/{desk.public}/reply", token, body={"text": ""})[0] == 422
    assert call(base, "POST", f"/api/v1/tickets/{desk.public}/reply", token, body={"text": "   "})[0] == 422
    assert call(base, "POST", f"/api/v1/tickets/{desk.public}/reply", token, body={"text": "x" * 20_001})[0] == 422
    assert call(base, "POST", f"/api/v1/tickets/{desk.public}/reply", token, body=["text"])[0] == 422
    assert call(base, "POST", f"/api/v1/tickets/{desk.public}/reply", token, body={"text": "a\x00b"})[0] == 422
    assert call(base, "POST", f"/api/v1/tickets/{desk.public}/status", token, body={"status": "gone"})[0] == 422
    assert call(base, "GET", "/api/v1/tickets/" + "X" * 5000, token)[0] == 404
    for ref in ("%27%20OR%201%3D1", "TK-%00", "%25", "TK-ABC%0A", "%E5%B7%A5%E5%8D%95"):
        assert call(base, "GET", f"/api/v1/tickets/{ref}", token)[0] == 404, ref
    assert call(base, "POST", "/api/v1/tickets/TK-%00/reply", token, body={"text": "x"})[0] == 404
    assert call(base, "POST", "/api/v1/captures/99999999999999999999999/replay", desk.tokens["admin"])[0] in (409, 422)
    assert call(base, "POST", "/api/v1/captures/-1/replay", desk.tokens["admin"])[0] == 409
    assert call(base, "POST", "/api/v1/captures/%C2%B2/replay", desk.tokens["admin"])[0] in (409, 422)
    assert desk.app.enqueued == []


def test_openapi_document_is_served_and_private_text_stays_out_of_logs(
        desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    status, _, text = call(desk.app.base, "GET", "/api/v1/openapi.json")
    document = json.loads(text)
    assert status == 200 and "/tickets/{ref}/reply" in document["paths"]
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    assert call(desk.app.base, "GET", "/api/v1/docs")[0] == 200
    with caplog.at_level(logging.DEBUG):
        call(desk.app.base, "GET", f"/api/v1/tickets/{desk.private}", desk.tokens["private"])
        call(desk.app.base, "POST", f"/api/v1/tickets/{desk.private}/reply", desk.tokens["write"],
             body={"text": "Refund of 45.17 for Q-77120 sent."})
        call(desk.app.base, "GET", "/api/v1/tickets", "itk_000000000000_" + "B" * 43)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "agent reply" in logged  # the log lines are there, with ids only
    for secret in (*PRIVATE_SECRETS, "itk_", desk.tokens["private"][-20:]):
        assert secret not in logged


def test_route_corrects_triage_and_a_private_category_seals_the_ticket(desk: Desk) -> None:
    path = f"/api/v1/tickets/{desk.public}/route"
    assert call(desk.app.base, "POST", path, desk.tokens["write"], body={"category": "nonsense"})[0] == 422
    assert call(desk.app.base, "POST", path, desk.tokens["write"], body={"category": "payment", "priority": "x"})[0] == 422
    assert call(desk.app.base, "POST", "/api/v1/tickets/TK-NOSUCH/route", desk.tokens["write"],
                body={"category": "payment"})[0] == 404
    status, _, text = call(desk.app.base, "POST", path, desk.tokens["write"],
                           body={"category": "payment", "priority": "high"})
    assert status == 200, text
    routed = json.loads(text)
    assert routed["category"] == "payment" and routed["priority"] == "high" and routed["private"]
    with desk.rt.sessions() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.ref == desk.public)).one()
        assert ticket.private and ticket.category == "payment"
        corrections = session.scalars(select(Correction).where(Correction.ticket_id == ticket.id)).all()
        assert [(c.category, c.by) for c in corrections] == [("payment", "token:write")]
    # now private: a read token sees it masked
    status, _, text = call(desk.app.base, "GET", f"/api/v1/tickets/{desk.public}", desk.tokens["read"])
    assert status == 200 and json.loads(text)["private"]
