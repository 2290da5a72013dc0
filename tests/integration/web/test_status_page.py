"""Status links: a token shows its own ticket only, expires into a page with no data that
offers a fresh link to the contact on record, is stored hashed, and can be revoked."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import subprocess
import threading
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, update

from intake.outbox import agents
from intake.tickets import status_links
from intake.tickets.models import Outbox, Ticket
from intake.tickets.records import StatusLink
from intake.web import limits
from tests.flows import INTAKE_BIN, make_runtime, subprocess_env
from tests.integration.web.help_centre import *  # noqa: F403 - fixtures
from tests.integration.web.help_centre import HelpApp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

_LINK = re.compile(r"https?://[^\s\"<]+/status/([A-Za-z0-9_-]+)")


def open_ticket(app: HelpApp, contact: str, text: str, kind: str = "technical") -> tuple[str, str]:
    """(ref, status token from its acknowledgement)."""
    answer = app.client().submit({"contact": contact, "description": text, "type": kind})
    assert answer.status_code == 200, answer.text
    with app.rt.sessions() as session:
        ack = session.scalars(select(Outbox).order_by(Outbox.id.desc()).limit(1)).one()
        ticket = session.get(Ticket, ack.ticket_id)
        assert ticket is not None
        body = ack.body_text
        if body.startswith("sealed:"):
            body = agents.store.outbox_bodies(app.rt.vault, ack.body_text, ack.body_html)[0]
    match = _LINK.search(body)
    assert match, body
    return ticket.ref, match.group(1)


def test_token_shows_its_own_ticket_and_replies(help_app: HelpApp) -> None:
    ref_a, token_a = open_ticket(help_app, "a@example.com", "The video upload fails with an error every time.")
    ref_b, token_b = open_ticket(help_app, "b@example.com", "Playback stutters and keeps buffering on wifi.")
    agents.reply(help_app.rt, ref_a, "Please update to version 31.3.\n\nIt fixes the upload.")
    page = requests.get(f"{help_app.base}/status/{token_a}?lang=en", timeout=10)
    assert page.status_code == 200
    assert ref_a in page.text and ref_b not in page.text
    assert "Please update to version 31.3." in page.text and "open" in page.text
    assert page.headers["referrer-policy"] == "no-referrer" and "no-store" in page.headers["cache-control"]
    other = requests.get(f"{help_app.base}/status/{token_b}", timeout=10)
    assert ref_b in other.text and ref_a not in other.text and "31.3" not in other.text
    with help_app.rt.sessions() as session:  # stored hashed: the token itself is nowhere
        rows = session.scalars(select(StatusLink)).all()
        assert {r.token_sha256 for r in rows} >= {hashlib.sha256(t.encode()).hexdigest() for t in (token_a, token_b)}
        assert token_a not in str([(r.token_sha256, r.ticket_id) for r in rows])


def test_unknown_and_malformed_tokens_show_nothing(help_app: HelpApp) -> None:
    ref, token = open_ticket(help_app, "a@example.com", "The app crashes when I open the camera.")
    for guess in (token[:-1] + ("A" if token[-1] != "A" else "B"), ref, "x" * 500, "..%2F..%2Fetc", "%00" * 20):
        page = requests.get(f"{help_app.base}/status/{guess}", timeout=10)
        assert page.status_code == 404 and ref not in page.text


def test_private_ticket_shows_status_only(help_app: HelpApp) -> None:
    ref, token = open_ticket(help_app, "p@example.com", "My refund of 500 yuan has not arrived, card 6222 0212 3456 7890.",
                             kind="payment")
    agents.reply(help_app.rt, ref, "We refunded 500 yuan to card ending 7890.")
    page = requests.get(f"{help_app.base}/status/{token}?lang=en", timeout=10)
    assert page.status_code == 200 and ref in page.text and "shows only the status" in page.text
    assert "7890" not in page.text and "500" not in page.text and "Finance" not in page.text


def test_expired_link_shows_no_data_and_sends_a_fresh_one_to_the_contact_on_record(help_app: HelpApp) -> None:
    ref, token = open_ticket(help_app, "owner@example.com", "Upload fails with error 500 when posting a draft.")
    with help_app.rt.sessions() as session:
        session.execute(update(StatusLink).values(expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)))
        session.commit()
    http = requests.Session()
    page = http.get(f"{help_app.base}/status/{token}?lang=zh", timeout=10)
    assert page.status_code == 410 and "此链接已过期" in page.text and ref not in page.text
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert csrf
    # An address typed into the request is ignored: the link goes to the contact on record.
    sent = http.post(f"{help_app.base}/status/{token}/renew?lang=zh", timeout=10,
                     data={"csrf_token": csrf.group(1), "contact": "attacker@example.org"})
    assert sent.status_code == 200 and "新链接已发送" in sent.text
    with help_app.rt.sessions() as session:
        fresh = session.scalars(select(Outbox).where(Outbox.dedupe_key.like("status_link:%"))).one()
        assert fresh.to_address == "owner@example.com" and fresh.status == "queued"
        token2 = _LINK.search(fresh.body_text)
        assert token2 and token2.group(1) != token
    assert fresh.id in help_app.sent_ids()
    assert ref in requests.get(f"{help_app.base}/status/{token2.group(1)}", timeout=10).text
    forged = requests.post(f"{help_app.base}/status/{token}/renew", data={"csrf_token": "0" * 64}, timeout=10)
    assert forged.status_code == 403
    for _ in range(5):  # renewals are limited per ticket: no mail bomb through this button
        http.post(f"{help_app.base}/status/{token}/renew", data={"csrf_token": csrf.group(1)}, timeout=10)
    with help_app.rt.sessions() as session:
        assert len(session.scalars(select(Outbox).where(Outbox.dedupe_key.like("status_link:%"))).all()) == 3


def test_rotate_revokes_a_tickets_links(help_app: HelpApp) -> None:
    ref_a, token_a = open_ticket(help_app, "a@example.com", "The app crashes when I open the camera.")
    ref_b, token_b = open_ticket(help_app, "b@example.com", "Videos will not load, spinning forever.")
    env = subprocess_env(help_app.rt.settings.database_url, help_app.rt.settings.data_dir)

    def intake(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([INTAKE_BIN, "status-links", "rotate", *args], env=env, capture_output=True,
                              text=True, timeout=60)

    done = intake(ref_a.lower())
    assert done.returncode == 0 and json.loads(done.stdout) == {"ticket": ref_a, "revoked": 1}, done.stderr
    assert requests.get(f"{help_app.base}/status/{token_a}", timeout=10).status_code == 410
    assert requests.get(f"{help_app.base}/status/{token_b}", timeout=10).status_code == 200
    missing = intake("TK-000000")
    assert missing.returncode == 1 and "no ticket TK-000000" in missing.stderr
    assert json.loads(intake().stdout)["revoked"] == 1  # every ticket: b's link is the one left
    assert requests.get(f"{help_app.base}/status/{token_b}", timeout=10).status_code == 410


def test_no_public_url_no_link(tmp_path: Path) -> None:
    rt = make_runtime(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    with rt.sessions() as session:
        assert status_links.url_for_new(session, rt, Ticket(id=1), None) is None
    rt.dispose()


def test_rate_counter_is_exact_under_concurrent_web_processes(db_url: str, tmp_path: Path) -> None:
    """Two writers (threads with their own connections, as two web processes) hitting one key."""
    rt = make_runtime(db_url, tmp_path)
    now = dt.datetime.now(dt.timezone.utc)
    results: list[bool] = []
    lock = threading.Lock()

    def writer() -> None:
        for _ in range(15):
            with rt.sessions() as session:
                allowed = limits.hit(session, "address:shared", 20, now)
                session.commit()
            with lock:
                results.append(allowed)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with rt.sessions() as session:
        assert session.scalar(select(limits.RateCounter.count).where(limits.RateCounter.key == "address:shared")) == 30
    assert results.count(True) == 20 and results.count(False) == 10
    rt.dispose()
