"""Support-form and app submissions: each field checked (hostile values included), and the
stored document normalized into the one message shape."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from intake.capture.web import Submission, decode, make_item
from intake.messages import Attachment
from intake.normalize.web import BadSubmission, parse_contact, parse_reference, parse_text, parse_type, parse_web


@pytest.mark.parametrize(("value", "expected"), [
    ("Alice@Example.COM", ("email", "alice@example.com")),
    (" bob+tag@example.org ", ("email", "bob+tag@example.org")),
    ("13800001234", ("phone", "+8613800001234")),
    ("+86 138 0000 1234", ("phone", "+8613800001234")),
    ("+1 415 555 2671", ("phone", "+14155552671")),
])
def test_one_address_or_mobile(value: str, expected: tuple[str, str]) -> None:
    assert parse_contact(value) == expected


@pytest.mark.parametrize("value", [
    "", "   ",
    "a@example.com, b@example.com",  # a list of addresses
    "a@example.com;b@example.com",
    "a@example.com\r\nBcc: victim@example.org",  # header injection
    "a@example.com\nX: y",
    "Alice <alice@example.com>",  # display names are not taken
    "a@b",  # no domain dot
    "a" * 300 + "@example.com",
    "not a contact",
    "+86 010 1234 5678",  # a Beijing landline: no SMS
    "12345",
    "1" * 30,
    "a@exa mple.com",
    "a\x00@example.com",
])
def test_anything_else_is_refused(value: str) -> None:
    with pytest.raises(BadSubmission) as refused:
        parse_contact(value)
    assert refused.value.field == "contact"


def test_reference_type_and_text() -> None:
    assert parse_reference(" tk-4f7q2m ") == "TK-4F7Q2M"
    assert parse_reference("") is None
    for bad in ("TK-4F7Q2", "TK-4F7Q2MM", "TK-OOOOOO", "x TK-4F7Q2M", "TK-4F7\nQ2M"):
        with pytest.raises(BadSubmission):
            parse_reference(bad)
    assert parse_type("suggestion") == "suggestion"
    with pytest.raises(BadSubmission):
        parse_type("refund-now")
    assert parse_text("  line\r\nnext\x00  ", 100) == "line\nnext"
    with pytest.raises(BadSubmission):
        parse_text("x" * 101, 100)
    with pytest.raises(BadSubmission):
        parse_text(" \n ", 100)


def test_huge_description_is_refused_in_linear_time() -> None:
    with pytest.raises(BadSubmission):
        parse_text("中" * 5_000_000, 20_000)


def test_document_round_trip_to_message() -> None:
    shot = Attachment("screenshot1.png", "image/png", b"\x89PNG fake")
    submission = Submission("app", "payment", "充值没到账", "phone", "+8613800001234", "TK-4F7Q2M", "zh",
                            (shot,), {"submission_id": "abc12345", "device": "iPhone 15", "app_version": "31.2"})
    received = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)
    item = make_item(submission, "web:app:k:abc12345", received)
    assert item.channel == "web" and item.capture_key == "web:app:k:abc12345"
    assert b"\xe5\x85\x85" in item.raw  # the raw document is UTF-8 JSON (the inbox encrypts it)
    assert "充值" not in str(item.meta)  # meta (in the clear) carries no text
    msg = parse_web(decode(item.raw))
    assert msg.channel == "sms" and msg.sender == "+8613800001234"
    assert msg.subject == "[TK-4F7Q2M]" and msg.text == "充值没到账" and msg.sent_at == received
    assert msg.attachments == (shot,)
    assert msg.extra_value("category_hint") == "payment" and msg.extra_value("via") == "web"
    assert msg.extra_value("device") == "iPhone 15"
    email = parse_web({**decode(item.raw), "contact_kind": "email", "contact": "a@example.com",
                       "type": "other", "reference": None, "screenshots": []})
    assert email.channel == "email" and email.subject == "" and email.extra_value("category_hint") is None
    assert base64.b64encode(shot.content).decode() in item.raw.decode()
