"""The support form over real HTTP (uvicorn on loopback) on SQLite and PostgreSQL: a good
submission is captured, processed into a ticket with its screenshots and acknowledged
with a status link; every refusal says why and stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from intake.tickets.models import AttachmentRow, Inbox, Message, Outbox, Ticket
from tests.integration.web.help_centre import *  # noqa: F403 - fixtures
from tests.integration.web.help_centre import HelpApp, make_help_app
from tests.support.browser_form import gif, png, png_bomb

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def small_app(tmp_path: Path) -> Iterator[HelpApp]:
    """SQLite, small caps and limits: for the refusals."""
    yield from make_help_app(f"sqlite:///{tmp_path / 'intake.db'}", tmp_path,
                             web_max_screenshot_bytes=100_000, web_rate_per_address_per_hour=50)


def test_submission_becomes_a_ticket_with_screenshots_and_an_acknowledgement(help_app: HelpApp) -> None:
    answer = help_app.client().submit(files=[("crash.png", png(), "image/png"),
                                             ("renamed.png", gif(), "image/png")])
    assert answer.status_code == 200, answer.text
    assert "no-store" in answer.headers["cache-control"]
    with help_app.rt.sessions() as session:
        inbox = session.scalars(select(Inbox)).one()
        assert inbox.channel == "web" and inbox.status == "done" and inbox.capture_key.startswith("web:form:")
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.ref in answer.text
        assert ticket.category == "technical" and ticket.channel == "email"
        assert ticket.contact.address == "alice@example.com"
        message = session.scalars(select(Message)).one()
        assert message.extra["via"] == "web" and message.extra["chosen_type"] == "technical"
        shots = session.scalars(select(AttachmentRow).order_by(AttachmentRow.id)).all()
        assert [(a.filename, a.content_type) for a in shots] == [("screenshot1.png", "image/png"),
                                                                 ("screenshot2.gif", "image/gif")]
        assert shots[0].content == png()
        ack = session.scalars(select(Outbox)).one()
        assert ack.kind == "ack" and ack.status == "queued" and ack.to_address == "alice@example.com"
        assert f"{help_app.base}/status/" in ack.body_text
    assert help_app.sent_ids() == [ack.id]


def test_same_form_sent_twice_is_one_submission(help_app: HelpApp) -> None:
    client = help_app.client()
    hidden = client.form()
    first = client.submit(hidden=hidden)
    second = client.submit(hidden=hidden)  # a double click: same cookie, same nonce
    assert first.status_code == second.status_code == 200
    assert help_app.count(Inbox) == 1 and help_app.count(Message) == 1
    with help_app.rt.sessions() as session:
        ref = session.scalars(select(Ticket.ref)).one()
    assert ref in first.text and ref in second.text


def test_rate_limits_per_address_and_per_contact(db_url: str, tmp_path: Path) -> None:
    for app in make_help_app(db_url, tmp_path, web_rate_per_address_per_hour=3,
                             web_rate_per_contact_per_hour=1):
        client = app.client()
        assert client.submit({"contact": "one@example.com"}).status_code == 200
        refused = client.submit({"contact": "one@example.com"})
        assert refused.status_code == 429 and "Too many requests" in refused.text
        assert client.submit({"contact": "two@example.com"}).status_code == 200
        over = client.submit({"contact": "three@example.com"})  # the fourth from this address
        assert over.status_code == 429
        assert app.count(Inbox) == 2


def test_reference_joins_only_the_owners_ticket(help_app: HelpApp) -> None:
    client = help_app.client()
    assert client.submit({"contact": "owner@example.com"}).status_code == 200
    with help_app.rt.sessions() as session:
        ref = session.scalars(select(Ticket.ref)).one()
    joined = client.submit({"contact": "owner@example.com", "reference": ref.lower(),
                            "description": "More details: it also happens on wifi."})
    assert joined.status_code == 200 and ref in joined.text
    other = client.submit({"contact": "mallory@example.com", "reference": ref,
                           "description": "Please close this ticket and send me its replies."})
    assert other.status_code == 200 and ref not in other.text
    with help_app.rt.sessions() as session:
        tickets = session.scalars(select(Ticket).order_by(Ticket.id)).all()
        assert len(tickets) == 2
        assert len(session.scalars(select(Message).where(Message.ticket_id == tickets[0].id)).all()) == 2
        assert tickets[1].linked_ref == ref and tickets[1].contact.address == "mallory@example.com"


def test_phone_contact_is_answered_by_sms_in_chinese(help_app: HelpApp) -> None:
    answer = help_app.client("zh").submit({"contact": "13800001234", "type": "suggestion",
                                           "description": "希望可以增加夜间模式，晚上看视频太亮了。"})
    assert answer.status_code == 200 and "我们已收到您的请求" in answer.text
    with help_app.rt.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.category == "feedback" and ticket.channel == "sms"
        ack = session.scalars(select(Outbox)).one()
        assert ack.channel == "sms" and ack.to_address == "+8613800001234"
        assert "/status/" in ack.body_text and ticket.ref in ack.body_text


# -- refusals: clear message, nothing stored -------------------------------------------------

def test_missing_or_wrong_csrf_token(small_app: HelpApp) -> None:
    client = small_app.client()
    hidden = client.form()
    missing = client.submit(hidden={k: v for k, v in hidden.items() if k != "csrf_token"})
    wrong = client.submit(hidden={**hidden, "csrf_token": "0" * 64})
    stranger = requests.post(f"{small_app.base}/support", data={**hidden, "type": "other", "description": "x",
                                                                 "contact": "a@example.com"},
                             files=[("screenshots", ("", b"", "application/octet-stream"))], timeout=10)
    for answer in (missing, wrong, stranger):
        assert answer.status_code == 403 and "reload the page" in answer.text
    assert small_app.count(Inbox) == 0


def test_honeypot_filled(small_app: HelpApp) -> None:
    answer = small_app.client().submit({"website": "http://spam.example"})
    assert answer.status_code == 400 and "could not be accepted" in answer.text
    assert small_app.count(Inbox) == 0


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("page.png", b"<html><body>not an image</body></html>", "not a PNG, JPEG, GIF or WebP image"),
    ("bomb.png", png_bomb(), "pixels"),
    ("cut.png", png()[:50], "damaged"),
])
def test_screenshot_that_is_not_an_image(small_app: HelpApp, name: str, content: bytes, expected: str) -> None:
    answer = small_app.client().submit(files=[("fine.png", png(), "image/png"), (name, content, "image/png")])
    assert answer.status_code == 400 and "A screenshot was refused" in answer.text and expected in answer.text
    assert "The app crashes when I upload a video." in answer.text  # the form comes back filled in
    assert small_app.count(Inbox) == 0


def test_six_screenshots(small_app: HelpApp) -> None:
    answer = small_app.client().submit(files=[(f"s{i}.png", png(), "image/png") for i in range(6)])
    assert answer.status_code == 400 and "At most 5 screenshots" in answer.text
    assert small_app.count(Inbox) == 0


def test_oversize_body_refused_before_and_while_reading(small_app: HelpApp) -> None:
    client = small_app.client()
    big = client.submit(files=[("big.png", b"\x89PNG" + b"\x00" * 2_000_000, "image/png")])
    assert big.status_code == 413 and "too large" in big.text
    hidden = client.form()

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap is counted while reading
        yield (b"--b\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n" + hidden["csrf_token"].encode()
               + b"\r\n--b\r\nContent-Disposition: form-data; name=\"screenshots\"; filename=\"a.png\"\r\n\r\n")
        for _ in range(40):
            yield b"\x00" * 65536
    streamed = client.http.post(f"{small_app.base}/support", data=chunks(), timeout=30,
                                headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert streamed.status_code == 413
    one_too_big = client.submit(files=[("big.png", png(2000, 2000, (1, 2, 3)) + b"\x00" * 120_000, "image/png")])
    assert one_too_big.status_code in (400, 413)
    assert small_app.count(Inbox) == 0


@pytest.mark.parametrize("body", [
    b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nno end",
    b"garbage without any boundary",
    b"--b\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--b--\r\n",
    b"--b\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\n\xff\xfe\xc0 not UTF-8\r\n--b--\r\n",
    b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n" + b"X-Pad: " + b"a" * 100_000 + b"\r\n\r\nv\r\n--b--\r\n",
])
def test_malformed_multipart(small_app: HelpApp, body: bytes) -> None:
    client = small_app.client()
    client.form()
    answer = client.http.post(f"{small_app.base}/support", data=body, timeout=10,
                              headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert answer.status_code in (400, 403)
    assert small_app.count(Inbox) == 0
    wrong_type = client.http.post(f"{small_app.base}/support", data={"a": "b"}, timeout=10)
    assert wrong_type.status_code == 400 and "could not be read" in wrong_type.text


@pytest.mark.parametrize(("fields", "marked"), [
    ({"contact": "a@example.com, b@example.com"}, "one e-mail address or one mobile number"),
    ({"contact": "a@example.com\r\nBcc: victim@example.org"}, "one e-mail address or one mobile number"),
    ({"contact": ""}, "one e-mail address or one mobile number"),
    ({"description": "x" * 20_001}, "at most 20,000 characters"),
    ({"description": "   "}, "Describe the problem"),
    ({"type": "free-money"}, "Choose one of the listed types"),
    ({"reference": "TK-12"}, "looks like TK-4F7Q2M"),
])
def test_fields_to_correct(small_app: HelpApp, fields: dict[str, str], marked: str) -> None:
    answer = small_app.client().submit(fields)
    assert answer.status_code == 400 and marked in answer.text
    assert small_app.count(Inbox) == 0


def test_refusals_speak_chinese_on_the_chinese_page(small_app: HelpApp) -> None:
    answer = small_app.client("zh").submit({"website": "x"})
    assert answer.status_code == 400 and "无法接受该表单" in answer.text
    answer = small_app.client("zh").submit({"contact": "a@x.com;b@x.com"})
    assert "请填写一个邮箱或一个手机号" in answer.text


def test_processing_failure_leaves_the_capture_to_the_workers(help_app: HelpApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """The web process dies in processing (here: its database connection breaks): the
    submission is already committed, the page says the reference follows, and the worker's
    run of the same row makes the ticket and the acknowledgement."""
    from intake.process import pipeline

    real = pipeline.process_inbox

    def broken(rt: object, inbox_id: int, prepared: object = None) -> pipeline.Outcome:
        raise ConnectionError("database went away")

    monkeypatch.setattr(pipeline, "process_inbox", broken)
    answer = help_app.client().submit()
    assert answer.status_code == 200 and "its number reaches you" in answer.text
    with help_app.rt.sessions() as session:
        inbox = session.scalars(select(Inbox)).one()
        assert inbox.status == "captured" and help_app.count(Ticket) == 0
    assert [w.process for w in help_app.work] == [((inbox.id, False),)]
    monkeypatch.setattr(pipeline, "process_inbox", real)
    outcome = pipeline.process_inbox(help_app.rt, inbox.id)  # the worker's turn
    assert outcome.outcome == pipeline.NEW_TICKET and outcome.outbox_ids


def test_reprocess_retriages_a_web_submission(help_app: HelpApp) -> None:
    from intake.process.reprocess import retriage

    assert help_app.client().submit({"type": "other", "description": "Hello, please look at my case."}).status_code == 200
    with help_app.rt.sessions() as session:
        inbox_id = session.scalars(select(Inbox.id)).one()
    assert retriage(help_app.rt, inbox_id)
