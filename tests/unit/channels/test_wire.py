"""`to_wire` builds follow-ups directly; parsed back with the stdlib parser they say what
`build_message` (EmailMessage, SMTP policy) says, header by header and part by part."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import EmailMessage

import pytest

from intake.channels.smtp import EmailSendError, OutgoingEmail, build_message, serialize, to_wire

DATE = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)
OUTLOOK = "DB9PR03MB56079F636023DD9EBC2189DBA9CF33BA675D@DB9PR03MB5607.eurprd03.prod.outlook.com"


def _mail(**overrides: object) -> OutgoingEmail:
    values: dict[str, object] = dict(
        message_id="outbox-7.0123456789abcdef.TK-7QX2M9@help.example.test", from_address="support@example.test",
        to_address="alice@example.com", to_name="Alice", subject="Re: Upload [TK-7QX2M9]",
        text="Hello\n", html="<p>Hello</p>\n", in_reply_to="m1@example.com",
        references=("m0@example.com", "m1@example.com"), extra_headers=(("X-Intake-Ticket", "TK-7QX2M9"),))
    values.update(overrides)
    return OutgoingEmail(**values)  # type: ignore[arg-type]


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def _seen(raw: bytes) -> dict[str, object]:
    parsed = _parse(raw)
    parts = list(parsed.iter_parts()) if parsed.is_multipart() else [parsed]
    return {
        "headers": {name: str(parsed[name]) if parsed[name] is not None else None for name in (
            "Subject", "Message-ID", "In-Reply-To", "References", "Auto-Submitted", "X-Auto-Response-Suppress",
            "X-Intake-Ticket", "Date", "MIME-Version")},
        # The stdlib's address parser keeps the space between two encoded-words of a long
        # name (RFC 2047 section 6.2 says to drop it), for either builder: compared without.
        "from": [("".join(a.display_name.split()), a.addr_spec) for a in parsed["From"].addresses],
        "to": [("".join(a.display_name.split()), a.addr_spec) for a in parsed["To"].addresses],
        "type": parsed.get_content_type(),
        "parts": [(p.get_content_type(), p.get_content_charset(),
                   p.get_content().replace("\r\n", "\n").rstrip("\n")) for p in parts],
        "defects": [type(d).__name__ for p in [parsed, *parts] for d in p.defects],
    }


CASES = {
    "plain": {},
    "zh subject and name": dict(subject="Re: 提现没到账，请尽快处理 [TK-7QX2M9]", to_name="刘建国"),
    "long zh subject": dict(subject="Re: " + "我的账号被盗了并且提现一直没有到账" * 40 + " [TK-7QX2M9]"),
    "long ascii subject": dict(subject="Re: " + " ".join(["upload"] * 120) + " [TK-7QX2M9]"),
    "long unbroken subject": dict(subject="Re: " + "x" * 850),
    "mixed subject": dict(subject="Re: Video 上传失败 error 500 café [TK-7QX2M9]"),
    "name with specials": dict(to_name='Doe, John "JD" (work)\\home'),
    "long zh name": dict(to_name="欧阳" * 100),
    "no name": dict(to_name=""),
    "emoji": dict(subject="Re: 😀 thanks [TK-7QX2M9]", to_name="Zoë 😀"),
    "text only": dict(html=None),
    "zh bodies": dict(text="您好，\n\n我们已收到您的请求。\n" * 50, html="<p>您好</p>\n" * 30),
    "long lines": dict(text="a" * 5000 + "\n", html="<p>" + "b " * 3000 + "</p>"),
    "crlf body": dict(text="line one\r\nline two\r\n"),
    "dot lines": dict(text=".\n..\nfrom the start\nFrom here\n"),
    "no threading": dict(in_reply_to=None, references=()),
    "long chain": dict(references=tuple(f"r{i}@example.com" for i in range(30)) + (OUTLOOK,), in_reply_to=OUTLOOK),
    "personal": dict(auto_submitted=False),
    "injection": dict(subject="Help\r\nBcc: victim@evil.example", to_name="Eve\r\nBcc: victim@evil.example",
                      in_reply_to="m1@example.com>\r\nBcc: <victim@evil.example"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_direct_build_reads_back_as_the_email_message_build(case: str) -> None:
    mail = _mail(**CASES[case])
    fast = to_wire(mail, DATE)
    reference = serialize(build_message(mail, DATE))
    assert _seen(fast.data) == _seen(reference)
    assert _seen(fast.data)["defects"] == []
    head, _, body = fast.data.partition(b"\r\n\r\n")
    assert fast.data.isascii()  # 7bit all through: no server needs 8BITMIME or SMTPUTF8
    assert all(len(line) <= 998 for line in fast.data.split(b"\r\n"))
    assert b"\n" not in fast.data.replace(b"\r\n", b"")  # CRLF only
    assert _parse(fast.data)["Bcc"] is None
    assert (fast.envelope_from, fast.rcpt) == ("support@example.test", "alice@example.com")


def test_text_that_looks_like_an_encoded_word_reads_back_as_written() -> None:
    """The EmailMessage path writes it through, and readers then decode it; here it is
    encoded, so they show what was written."""
    fast = to_wire(_mail(subject="Re: =?utf-8?q?not_encoded?= [TK-7QX2M9]", to_name="=?utf-8?q?x?="), DATE)
    parsed = _parse(fast.data)
    assert str(parsed["Subject"]) == "Re: =?utf-8?q?not_encoded?= [TK-7QX2M9]"
    assert parsed["To"].addresses[0].display_name == "=?utf-8?q?x?="


def test_headers_fold_within_the_recommended_line_length() -> None:
    fast = to_wire(_mail(**CASES["long zh subject"]), DATE)
    head = fast.data.split(b"\r\n\r\n", 1)[0].split(b"\r\nMessage-ID:")[0]  # msg-ids are never split
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert b"=?utf-8?b?" in head


def test_message_ids_stay_literal_and_fold_between_ids() -> None:
    head = to_wire(_mail(**CASES["long chain"]), DATE).data.split(b"\r\n\r\n", 1)[0]
    assert f"In-Reply-To: <{OUTLOOK}>".encode() in head
    assert b"=?" not in head.split(b"Subject:")[0] and b"\r\n <r29@example.com>" in head


def test_an_internationalised_address_takes_the_smtputf8_path() -> None:
    fast = to_wire(_mail(to_address="用户@例子.测试"), DATE)
    assert fast.rcpt == "用户@例子.测试"
    parsed = email.message_from_string(fast.data.decode("utf-8"), policy=email.policy.default)
    assert parsed["To"].addresses[0].addr_spec == "用户@例子.测试"


@pytest.mark.parametrize("address", ["alice@example.com\r\nBcc: x@evil.example", "no-at-sign", "a@b@c", ""])
def test_a_bad_address_is_a_permanent_failure(address: str) -> None:
    with pytest.raises(EmailSendError) as info:
        to_wire(_mail(to_address=address), DATE)
    assert info.value.permanent and info.value.code == "bad_address"
