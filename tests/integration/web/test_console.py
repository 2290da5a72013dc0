"""The ops console over real HTTP: sign-in, sessions, CSRF on every form, scopes, private
content only for a private-scope session, zh and en."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from intake.access import tokens
from intake.tickets.models import Inbox, Outbox
from intake.web.auth import SESSION_COOKIE
from intake.web.csrf import COOKIE as CSRF_COOKIE
from tests.flows import make_runtime
from tests.integration.web.conftest_desk import *  # noqa: F403 - fixtures
from tests.integration.web.conftest_desk import PRIVATE_SECRETS, Desk
from tests.support.served import served_app

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


def csrf_of(page: requests.Response) -> str:
    found = _CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


def signed_in(desk: Desk, scope: str, lang: str = "en") -> tuple[requests.Session, str]:
    """A browser-like client signed in with the token of `scope`; its CSRF token."""
    client = requests.Session()
    client.headers["Accept-Language"] = lang
    page = client.get(desk.app.base + "/console/signin", timeout=10)
    answer = client.post(desk.app.base + "/console/signin", timeout=10,
                         data={"token": desk.tokens[scope], "csrf_token": csrf_of(page)})
    assert answer.status_code == 200 and answer.url.endswith("/console/"), answer.text[:300]
    return client, csrf_of(answer)


def test_root_leads_to_sign_in_and_cookies_are_strict(desk: Desk) -> None:
    page = requests.get(desk.app.base + "/", timeout=10)
    assert page.url.endswith("/console/signin") and "Access token" in page.text
    assert requests.get(desk.app.base + "/console", timeout=10).url.endswith("/console/signin")
    assert "HttpOnly" in page.headers["set-cookie"] and "SameSite=strict" in page.headers["set-cookie"]
    assert "Secure" not in page.headers["set-cookie"]  # plain HTTP on loopback
    assert "script-src" not in page.headers["content-security-policy"] and "<script" not in page.text
    client = requests.Session()
    token = csrf_of(client.get(desk.app.base + "/console/signin", timeout=10))
    answer = client.post(desk.app.base + "/console/signin", data={"token": desk.tokens["read"], "csrf_token": token},
                         allow_redirects=False, timeout=10)
    cookie = answer.headers["set-cookie"]
    assert answer.status_code == 303 and SESSION_COOKIE in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert desk.tokens["read"] not in cookie  # the session names the token, never holds it


def test_secure_cookies_behind_tls(tmp_path: Path) -> None:
    rt = make_runtime(f"sqlite:///{tmp_path}/tls.db", tmp_path / "data", public_url="https://desk.example.com")
    secret, _ = tokens.create(rt, "agent", ["read"])
    with served_app(rt) as app:
        page = requests.get(app.base + "/console/signin", timeout=10)
        assert "Secure" in page.headers["set-cookie"]
        # (a client keeps Secure cookies for https: sent by hand over the loopback's http)
        answer = requests.post(app.base + "/console/signin", data={"token": secret, "csrf_token": csrf_of(page)},
                               headers={"Cookie": f"{CSRF_COOKIE}={page.cookies[CSRF_COOKIE]}"},
                               allow_redirects=False, timeout=10)
        assert "Secure" in answer.headers["set-cookie"] and SESSION_COOKIE in answer.headers["set-cookie"]
    rt.dispose()


def test_forms_without_a_right_csrf_token_are_refused(desk: Desk) -> None:
    client, token = signed_in(desk, "write")
    other, other_token = signed_in(desk, "write")
    reply = f"{desk.app.base}/console/tickets/{desk.public}/reply"
    cases = {
        "missing": {"text": "hello"},
        "empty": {"text": "hello", "csrf_token": ""},
        "forged": {"text": "hello", "csrf_token": "0" * 64},
        "another client's": {"text": "hello", "csrf_token": other_token},
        "huge": {"text": "hello", "csrf_token": "a" * 100_000},
        "repeated": {"text": "hello", "csrf_token": token[:-1] + ("0" if token[-1] != "0" else "1")},
    }
    for name, form in cases.items():
        answer = client.post(reply, data=form, timeout=10)
        assert answer.status_code in (400, 403), name
    # a cross-site form: the browser sends no SameSite=Strict cookie, so no CSRF cookie either
    bare = requests.post(reply, data={"text": "hello", "csrf_token": token},
                         cookies={SESSION_COOKIE: str(client.cookies[SESSION_COOKIE])}, timeout=10)
    assert bare.status_code == 403
    # the sign-in form is protected too (no login CSRF)
    assert requests.post(desk.app.base + "/console/signin", data={"token": desk.tokens["write"]},
                         timeout=10).status_code == 403
    assert desk.app.enqueued == []
    with desk.rt.sessions() as session:
        assert session.scalars(select(Outbox).where(Outbox.kind == "reply")).all() == []
    ok = client.post(reply, data={"text": "We are looking into it.", "csrf_token": token}, timeout=10)
    assert ok.status_code == 200 and "Reply queued" in ok.text
    assert len(desk.app.sent()) == 1
    assert other.get(desk.app.base + "/console/", timeout=10).status_code == 200


def test_tampered_expired_or_revoked_sessions_are_signed_out(desk: Desk) -> None:
    client, token = signed_in(desk, "write")
    value = str(client.cookies[SESSION_COOKIE])
    version, token_id, issued, nonce, signature = value.split(".")
    admin_id = desk.token_ids["admin"]
    # The tampered signature must differ from the real one (which ends in "00" one time in 256).
    tampered = value[:-2] + ("00" if value[-2:] != "00" else "11")
    for forged in (f"{version}.{admin_id}.{issued}.{nonce}.{signature}", tampered, "v1." + "9" * 500,
                   "", "x" * 4000):
        jar = requests.Session()
        jar.cookies.set(SESSION_COOKIE, forged, path="/console")
        page = jar.get(desk.app.base + "/console/", allow_redirects=False, timeout=10)
        assert page.status_code == 303 and page.headers["location"] == "/console/signin", forged[:40]
    other, other_token = signed_in(desk, "read")
    out = other.post(desk.app.base + "/console/signout", data={"csrf_token": other_token},
                     allow_redirects=False, timeout=10)
    assert out.status_code == 303 and f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]
    assert other.get(desk.app.base + "/console/", allow_redirects=False, timeout=10).status_code == 303
    tokens.revoke(desk.rt, "write")
    page = client.get(desk.app.base + "/console/", allow_redirects=False, timeout=10)
    assert page.status_code == 303  # revoking the token ended the session at once
    answer = client.post(f"{desk.app.base}/console/tickets/{desk.public}/reply",
                         data={"text": "hi", "csrf_token": token}, timeout=10)
    assert answer.status_code == 401 and desk.app.enqueued == []


def test_private_content_only_for_a_private_session_and_recorded(
        desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    reader, token = signed_in(desk, "write")
    reader.post(f"{desk.app.base}/console/tickets/{desk.private}/reply", timeout=10,
                data={"text": "Your refund of 45.17 for Q-77120 is on its way.", "csrf_token": token})
    pages = [reader.get(desk.app.base + path, timeout=10).text for path in (
        "/console/", "/console/tickets", f"/console/tickets/{desk.private}", "/console/tickets?private=yes")]
    for page in pages:
        for secret in PRIVATE_SECRETS:
            assert secret not in page
    assert "its text is masked" in pages[2] and desk.count_reads() == 0
    private, _ = signed_in(desk, "private")
    page = private.get(f"{desk.app.base}/console/tickets/{desk.private}", timeout=10).text
    assert "4111 1111 1111 1111" in page and "Q-77120" in page
    assert 'id="reply-form"' not in page  # private alone does not grant writes
    reads = desk.private_reads("private")
    assert [r.via for r in reads] == ["console"]
    assert "45.17" in page  # the agent's reply, sealed at rest, shown to the private session
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "agent reply" in logged
    for secret in PRIVATE_SECRETS:
        assert secret not in logged


def test_scopes_decide_the_forms(desk: Desk) -> None:
    reader, token = signed_in(desk, "read")
    page = reader.get(f"{desk.app.base}/console/tickets/{desk.public}", timeout=10).text
    assert 'id="reply-form"' not in page and 'class="replay"' not in reader.get(desk.app.base + "/console/").text
    answer = reader.post(f"{desk.app.base}/console/tickets/{desk.public}/status",
                         data={"status": "closed", "csrf_token": token}, timeout=10)
    assert answer.status_code == 403 and "write scope" in answer.text
    writer, token = signed_in(desk, "write")
    answer = writer.post(f"{desk.app.base}/console/captures/{desk.failed_capture}/replay",
                         data={"csrf_token": token}, timeout=10)
    assert answer.status_code == 403
    answer = writer.post(f"{desk.app.base}/console/tickets/{desk.public}/status",
                         data={"status": "pending", "notify": "yes", "csrf_token": token}, timeout=10)
    assert answer.status_code == 200 and '<td id="status" data-status="pending">pending</td>' in answer.text
    page = writer.get(f"{desk.app.base}/console/tickets/{desk.public}", timeout=10).text
    assert 'id="route-form"' in page
    assert writer.post(f"{desk.app.base}/console/tickets/{desk.public}/route",
                       data={"category": "feedback"}, timeout=10).status_code in (400, 403)  # no CSRF token
    answer = writer.post(f"{desk.app.base}/console/tickets/{desk.public}/route",
                         data={"category": "nonsense", "csrf_token": token}, timeout=10)
    assert answer.status_code == 400
    answer = writer.post(f"{desk.app.base}/console/tickets/{desk.public}/route",
                         data={"category": "feedback", "priority": "", "csrf_token": token}, timeout=10)
    assert answer.status_code == 200 and 'id="done"' in answer.text
    admin, token = signed_in(desk, "admin")
    assert 'class="replay"' in admin.get(desk.app.base + "/console/", timeout=10).text
    answer = admin.post(f"{desk.app.base}/console/captures/{desk.failed_capture}/replay",
                        data={"csrf_token": token}, timeout=10)
    assert answer.status_code == 200 and "queued again" in answer.text
    assert desk.app.enqueued[-1].process == ((desk.failed_capture, False),)
    with desk.rt.sessions() as session:
        assert session.get(Inbox, desk.failed_capture).status == "captured"  # type: ignore[union-attr]


def test_console_speaks_zh_by_accept_language(desk: Desk) -> None:
    client, _ = signed_in(desk, "read", lang="zh-CN,zh;q=0.9,en;q=0.5")
    page = client.get(desk.app.base + "/console/", timeout=10)
    assert '<html lang="zh-CN">' in page.text and "未结工单" in page.text and "邮箱状态" in page.text
    assert "支付与账单" in page.text  # department names from departments.yaml, in the page's language
    listing = client.get(desk.app.base + "/console/tickets", timeout=10).text
    assert "处理中" in listing and "技术支持" in listing
    assert "Open tickets" in client.get(desk.app.base + "/console/?lang=en", timeout=10).text


def test_hostile_console_input(desk: Desk) -> None:
    client, token = signed_in(desk, "write")
    base = desk.app.base
    for query in ("?page=-1", "?page=99999999999999", "?page=abc", "?q=%25%27%20OR%201%3D1--", "?q=%00",
                  "?status=open%00", "?q=" + "x" * 5000, "?private=%FF", "?page=%C2%B2", "?page=%D9%A1"):
        assert client.get(base + "/console/tickets" + query, timeout=10).status_code == 200, query
    for ref in ("TK-%00", "%27--", "X" * 200):
        assert client.get(f"{base}/console/tickets/{ref}", timeout=10).status_code == 404
    for capture in ("%C2%B2", "-1", "9" * 40, "0"):
        answer = client.post(f"{base}/console/captures/{capture}/replay", data={"csrf_token": token}, timeout=10)
        assert answer.status_code == 403  # a write session may not replay: refused before the id is read
    admin, admin_token = signed_in(desk, "admin")
    for capture in ("%C2%B2", "-1", "9" * 40, "0", "%00"):
        answer = admin.post(f"{base}/console/captures/{capture}/replay", data={"csrf_token": admin_token}, timeout=10)
        assert answer.status_code in (404, 409), capture
    reply = f"{base}/console/tickets/{desk.public}/reply"
    assert client.post(reply, data={"text": "x" * 90_000, "csrf_token": token}, timeout=10).status_code == 400
    assert client.post(reply, data={"text": "a\x00b", "csrf_token": token}, timeout=10).status_code == 400
    assert client.post(reply, data=b"\xff\xfe=1", timeout=10,
                       headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 400
    assert client.post(reply, json={"text": "x", "csrf_token": token}, timeout=10).status_code == 400
    many = "&".join(f"f{n}=1" for n in range(5000)) + f"&csrf_token={token}&text=hi"
    assert client.post(reply, data=many, timeout=10,
                       headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 400
    # markup in a customer's text is shown as text, never as markup
    assert "<script" not in client.get(f"{base}/console/tickets?q=%3Cscript%3E", timeout=10).text
    assert desk.app.enqueued == []


def test_bad_tokens_at_sign_in_slow_down_that_client_only(desk: Desk) -> None:
    attacker = requests.Session()
    token = csrf_of(attacker.get(desk.app.base + "/console/signin", timeout=10))
    statuses = [attacker.post(desk.app.base + "/console/signin", data={"token": f"itk_{n:012x}_" + "A" * 43,
                                                                          "csrf_token": token}, timeout=10).status_code
                for n in range(8)]
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429
    assert "Wait a minute" in attacker.post(desk.app.base + "/console/signin",
                                            data={"token": "x", "csrf_token": token}, timeout=10).text
    # Over loopback every client is 127.0.0.1: the per-address rule is shown in test_api.py
    # (other source addresses); here the wait ends for everyone at that address once over.
    desk.app.app.state.auth.throttle.succeeded("127.0.0.1")
    signed_in(desk, "read")
