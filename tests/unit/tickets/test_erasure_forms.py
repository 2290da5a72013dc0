"""The pure parts of erasure: the stored forms of an address an operator types, and who a
raw capture is from. Hostile values give a clear UserError or no match, never a crash, in
time linear in their size."""

from __future__ import annotations

import json
import time

import pytest

from intake.failures import UserError
from intake.tickets.erasure import MAX_HEADER_BYTES, _names_person, person_of


def test_email_forms_fold_case() -> None:
    person = person_of("  Alice.Erased@Example.COM ")
    assert person.kind == "email" and "alice.erased@example.com" in person.forms
    assert person.names("ALICE.erased@example.com")


@pytest.mark.parametrize("typed", ["+86 138 0013 8000", "(+86) 138-0013-8000", "8613800138000",
                                   "whatsapp:+8613800138000", "+86.138.0013.8000"])
def test_phone_forms(typed: str) -> None:
    person = person_of(typed)
    assert person.kind == "phone"
    assert "+8613800138000" in person.forms and "whatsapp:+8613800138000" in person.forms


@pytest.mark.parametrize("value", ["", "   ", "x" * 400, "a\x00@b.example", "no digits here", "\u202e",
                                   "+" * 100, "@" * 321, "+86138\n00138000", "+1" * 20, "9"])
def test_values_that_are_no_address(value: str) -> None:
    with pytest.raises(UserError) as raised:
        person_of(value)
    message = str(raised.value)
    assert "international form" in message
    assert not value.strip() or value.strip() not in message  # the value is not echoed


def test_an_odd_but_plausible_address_is_looked_up() -> None:
    assert person_of("\u202e@evil.example").kind == "email"  # looked up; finds nothing, harms nothing


def mail_from(sender: str, extra: bytes = b"") -> bytes:
    return b"From: " + sender.encode() + b"\r\n" + extra + b"Subject: x\r\n\r\nbody\r\n"


def test_who_a_capture_is_from() -> None:
    alice = person_of("alice@example.com")
    assert _names_person(alice, "email", mail_from("Alice <ALICE@example.com>")) == (True, "")
    assert _names_person(alice, "email", mail_from("Bob <bob@example.com>", b"Cc: alice@example.com\r\n"))[0] is False
    assert _names_person(alice, "email", b"Reply-To: alice@example.com\r\n\r\n")[0] is True
    phone = person_of("+8613800138000")
    sms = json.dumps({"params": {"From": "+8613800138000", "To": "+15555550100", "Body": "hi"}}).encode()
    status = json.dumps({"params": {"To": "+8613800138000", "MessageStatus": "delivered"}}).encode()
    call = json.dumps({"params": {"From": "+8613800138000", "CallSid": "CA" + "1" * 32}}).encode()
    assert _names_person(phone, "sms", sms) == (True, "")
    assert _names_person(phone, "status", status) == (True, "")
    assert _names_person(phone, "sms", status) == (False, "")  # To names them only on a delivery status
    assert _names_person(phone, "voice", call) == (True, "CA" + "1" * 32)
    assert _names_person(phone, "email", mail_from("+8613800138000"))[0] is False


@pytest.mark.parametrize("raw", [
    b"", b"\xff\xfe\x00", b"not json", b"[1, 2, 3]", b'{"params": "x"}', b'{"params": {"From": 5}}',
    b"[" * 100_000, json.dumps({"params": {"From": "+1" * 100_000}}).encode(),
])
def test_hostile_twilio_captures_match_nobody(raw: bytes) -> None:
    assert _names_person(person_of("+8613800138000"), "sms", raw)[0] is False


def test_hostile_mail_headers_are_read_in_linear_time() -> None:
    alice = person_of("alice@example.com")
    folded = b"From: " + b"a" * 10 + (b"\r\n " + b"x" * 70) * 50_000 + b"\r\n\r\n"
    many = b"".join(b"From: x%d@example.com\r\n" % i for i in range(40_000)) + b"\r\n"
    angles = b"From: " + b"<" * 200_000 + b"\r\n\r\n"
    for raw in (folded, many, angles, b"From: \x00\xff\r\n\r\n", b"\r\n" * 100_000):
        started = time.process_time()
        assert _names_person(alice, "email", raw)[0] is False
        assert time.process_time() - started < 5  # a backstop against a quadratic path, not a speed test
    # past the bounded header read, nothing is looked at
    late = b"X: " + b"y" * MAX_HEADER_BYTES + b"\r\nFrom: alice@example.com\r\n\r\n"
    assert _names_person(alice, "email", late)[0] is False
