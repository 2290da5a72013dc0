"""The pure parts of the channels: SMS segment arithmetic, SMS capability, building mail."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from intake.channels.local import atomic_write_once
from intake.channels.sms import sms_capability, sms_size
from intake.channels.smtp import (
    EmailSendError, OutgoingEmail, build_message, clean_header, serialize, to_wire,
)


@pytest.mark.parametrize(("body", "encoding", "units", "segments"), [
    ("a" * 160, "gsm7", 160, 1),
    ("a" * 161, "gsm7", 161, 2),
    ("a" * 306, "gsm7", 306, 2),
    ("a" * 307, "gsm7", 307, 3),
    ("{}" * 40, "gsm7", 160, 1),  # extension characters cost two septets
    ("中" * 70, "ucs2", 70, 1),
    ("中" * 71, "ucs2", 71, 2),
    ("中" * 134, "ucs2", 134, 2),
    ("中" * 135, "ucs2", 135, 3),
    ("a’b", "ucs2", 3, 1),  # one curly quote makes the whole message UCS-2
    ("😀" * 35, "ucs2", 70, 1),  # an emoji is two UTF-16 units
])
def test_sms_size(body: str, encoding: str, units: int, segments: int) -> None:
    size = sms_size(body)
    assert (size.encoding, size.units, size.segments) == (encoding, units, segments)


@pytest.mark.parametrize(("number", "strict", "ok"), [
    ("+8613800001234", True, True),  # CN mobile
    ("+14155550123", True, True),  # US: fixed line or mobile
    ("+442079460018", True, False),  # UK landline
    ("+18005550199", True, False),  # US toll free
    ("anonymous", True, False),
    ("restricted", False, False),
    ("+266696687", True, False),  # what Twilio sends for a withheld caller id
    ("12345", False, False),  # short code: a machine
    ("VIDORA", False, False),  # alphanumeric sender id
    ("whatsapp:+8613800001234", False, False),
    ("+442079460018", False, True),  # they texted us from it: possible is enough
])
def test_sms_capability(number: str, strict: bool, ok: bool) -> None:
    assert (sms_capability(number, strict=strict) is None) == ok


def _mail(**overrides: object) -> OutgoingEmail:
    values: dict[str, object] = dict(
        message_id="outbox-7.TK-7QX2M9@help.example.test", from_address="support@example.test",
        to_address="alice@example.com", to_name="Alice", subject="Re: Upload [TK-7QX2M9]",
        text="Hello\n", html="<p>Hello</p>\n", in_reply_to="m1@example.com",
        references=("m0@example.com", "m1@example.com"))
    values.update(overrides)
    return OutgoingEmail(**values)  # type: ignore[arg-type]


def _parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_built_message_threads_and_says_auto_replied() -> None:
    parsed = _parse(serialize(build_message(_mail())))
    assert parsed["Message-ID"] == "<outbox-7.TK-7QX2M9@help.example.test>"
    assert parsed["In-Reply-To"] == "<m1@example.com>"
    assert parsed["References"] == "<m0@example.com> <m1@example.com>"
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    personal = _parse(serialize(build_message(_mail(auto_submitted=False))))
    assert personal["Auto-Submitted"] is None


def test_non_ascii_headers_are_rfc2047_encoded() -> None:
    raw = serialize(build_message(_mail(subject="Re: 提现没到账 [TK-7QX2M9]", to_name="刘建国")))
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"=?utf-8?" in head
    parsed = _parse(raw)
    assert str(parsed["Subject"]) == "Re: 提现没到账 [TK-7QX2M9]"
    assert parsed["To"].addresses[0].display_name == "刘建国"


def test_header_injection_through_name_and_subject_is_impossible() -> None:
    raw = serialize(build_message(_mail(
        subject="Help\r\nBcc: victim@evil.example", to_name="Eve\r\nBcc: victim@evil.example",
        in_reply_to="m1@example.com>\r\nBcc: <victim@evil.example")))
    parsed = _parse(raw)
    assert parsed["Bcc"] is None
    assert b"\r\nBcc:" not in raw and b"\nBcc:" not in raw
    assert parsed["To"].addresses[0].addr_spec == "alice@example.com"
    assert len(parsed["To"].addresses) == 1


def test_bad_recipient_address_is_permanent() -> None:
    with pytest.raises(EmailSendError) as info:
        build_message(_mail(to_address="alice@example.com\r\nBcc: x@evil.example"))
    assert info.value.permanent


def test_clean_header() -> None:
    assert clean_header("a\r\nb\x00c\u2028d") == "a b c d"


def test_atomic_write_once_is_idempotent(tmp_path: Path) -> None:
    assert atomic_write_once(tmp_path, "outbox-1.eml", b"first") is True
    assert atomic_write_once(tmp_path, "outbox-1.eml", b"second") is False
    assert (tmp_path / "outbox-1.eml").read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["outbox-1.eml"]  # no temp files left


def test_long_message_ids_stay_literal_and_thread() -> None:
    """Outlook ids are longer than a header line; the stock folder would RFC 2047-encode
    them, and no client threads on an encoded In-Reply-To."""
    outlook = "DB9PR03MB56079F636023DD9EBC2189DBA9CF33BA675D@DB9PR03MB5607.eurprd03.prod.outlook.com"
    raw = serialize(build_message(_mail(in_reply_to=outlook, references=("a@x.example", outlook))))
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"=?" not in head.split(b"Subject:")[0]
    assert f"In-Reply-To: <{outlook}>".encode() in head
    assert f"References: <a@x.example>\r\n <{outlook}>".encode() in head
    parsed = _parse(raw)
    assert parsed["In-Reply-To"] == f"<{outlook}>"
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    from intake.failures import backoff
    from intake.send.delivery import BACKOFF_BASE, BACKOFF_CAP

    for attempt in range(1, 12):
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        delays = {backoff(attempt, BACKOFF_BASE, BACKOFF_CAP) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jitter: retries of many rows spread out


def test_console_senders_write_to_stderr_not_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    from intake.channels.sms import ConsoleSmsSender, OutgoingSms
    from intake.channels.local import ConsoleEmailSender

    ConsoleEmailSender().send(to_wire(_mail()), 7)
    ConsoleSmsSender().send(OutgoingSms(to="+8613800001234", body="编号TK-7QX2M9", ticket_ref="TK-7QX2M9"), 8)
    out, err = capsys.readouterr()
    assert out == ""
    assert "outbox 7" in err and "Auto-Submitted: auto-replied" in err and "编号TK-7QX2M9" in err


def test_file_sms_sender_writes_one_json_per_followup(tmp_path: Path) -> None:
    import json

    from intake.channels.sms import FileSmsSender, OutgoingSms

    sender = FileSmsSender(tmp_path, "+15555550100")
    sms = OutgoingSms(to="+8613800001234", body="我们已收到您的信息，编号TK-7QX2M9。", ticket_ref="TK-7QX2M9")
    first = sender.send(sms, 3)
    assert sender.send(OutgoingSms(to="+1", body="other", ticket_ref="TK-7QX2M9"), 3) == first
    data = json.loads((tmp_path / "outbox-3.json").read_text(encoding="utf-8"))
    assert (data["to"], data["from"], data["ticket"], data["encoding"]) == (
        "+8613800001234", "+15555550100", "TK-7QX2M9", "ucs2")
    assert data["body"] == sms.body
    assert sender.find_sent(sms, 3, since=__import__("datetime").datetime.now()) is not None
