"""parse_email on hand-made edge cases; each input is a file in tests/data/email/."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import intake.normalize.email as email_module
from intake.messages import InboundMessage
from intake.normalize.email import ParseFailure, decode_header_value, parse_email
from intake.normalize.loop import loop_signals

DATA = Path(__file__).resolve().parents[2] / "data" / "email"


def parse(name: str, **kwargs: int) -> InboundMessage:
    return parse_email((DATA / name).read_bytes(), **kwargs)


# --- headers -----------------------------------------------------------------------


def test_rfc2047_subject_split_multibyte_and_mixed_charsets() -> None:
    message = parse("rfc2047_subject_split_multibyte_and_mixed_charsets.eml")
    assert message.subject == "账号被封了求助 (urgent)"
    assert message.sender == "zhangwei@example.com"
    assert message.sender_name == "张伟"
    assert message.recipient == "support@vidora.cn"
    assert message.message_id == "r2047@test.example"
    assert message.sent_at == dt.datetime(2025, 2, 12, 12, 20, 9, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert message.channel == "email"
    assert message.parse_error is None


def test_subject_crlf_injection_is_flattened() -> None:
    message = parse("subject_crlf_injection_encoded_words.eml")
    assert "\r" not in message.subject and "\n" not in message.subject
    assert message.subject == "Hello Bcc: victim@example.org X-Evil: 1 tail"


def test_sender_falls_back_to_sender_header_and_bad_date_is_none() -> None:
    message = parse("no_from_sender_header_bad_date.eml")
    assert (message.sender, message.sender_name) == ("liming@example.cn", "Li Ming")
    assert message.recipient == "help@vidora.cn"  # Delivered-To when there is no To
    assert message.sent_at is None
    assert message.message_id is None
    assert message.in_reply_to == "parent@x"
    assert message.references == ("root@x", "parent@x")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?B?5L2g5aW9?=", "你好"),
        ("=?UTF-8*zh?Q?=E4=BD=A0=E5=A5=BD?=", "你好"),  # RFC 2231 §5 language tag
        ("=?gb2312?B?xOO6ww?=", "你好"),  # missing base64 padding
        ("=?utf-8?B?5L2g?= =?utf-8?B?5aW9?= !", "你好 !"),  # RFC 2047 §6.2 space between words
        ("plain =?bogus-charset?Q?abc?= text", "plain abc text"),
        ("Re:\r\n  folded", "Re:  folded"),
        ("", ""),
    ],
)
def test_decode_header_value(raw: str, expected: str) -> None:
    assert decode_header_value(raw) == expected


def test_decode_header_value_raw_8bit_bytes() -> None:
    assert decode_header_value("退款".encode("gbk")) == "退款"
    assert decode_header_value("帳號".encode("big5"), hint="big5") == "帳號"


# --- charsets ----------------------------------------------------------------------


def test_gb2312_label_over_gbk_only_characters() -> None:
    message = parse("gb2312_label_over_gbk_only_characters.eml")
    assert message.subject == "陶喆的视频无法播放"
    assert message.sender_name == "朱镕"
    assert "我是朱镕，陶喆的视频" in message.text


def test_raw_8bit_gbk_headers_and_body_without_charset() -> None:
    message = parse("raw_8bit_gbk_headers_and_body_no_charset.eml")
    assert message.subject == "退款申请 订单 2025"
    assert message.sender_name == "李娜"
    assert message.text == "请帮我退款，订单号 123456。\n谢谢！"


def test_big5_label_with_cp950_extension_and_raw_subject() -> None:
    message = parse("big5_label_with_cp950_extension_and_raw_subject.eml")
    assert message.subject == "帳號無法登入"  # raw big5 bytes, read with the body's charset
    assert "碁盤街，裏面" in message.text


def test_iso_2022_jp() -> None:
    message = parse("iso_2022_jp_body_and_subject.eml")
    assert message.subject == "ログインできません"
    assert message.text == "こんにちは。ログインできません。"


def test_latin1_label_over_utf8_bytes() -> None:
    message = parse("latin1_label_over_utf8_bytes.eml")
    assert message.subject == "Café"
    assert message.text == "Olá, não consigo entrar — ajuda!"


def test_html_charset_from_meta_tag() -> None:
    assert parse("html_only_gbk_meta_charset_no_mime_charset.eml").text == "直播间被封禁了"


def test_format_flowed_is_joined() -> None:
    message = parse("format_flowed_delsp_yes.eml")
    assert message.text == "This is a long paragraph that was wrapped.\nNext line."


# --- body and attachments ----------------------------------------------------------


def test_html_only_is_converted() -> None:
    message = parse("html_only_script_style_entities_blockquote.eml")
    assert "alert" not in message.text and "color:red" not in message.text
    assert "Hello team & friends," in message.text
    assert "Line two <b>" in message.text
    assert "- one" in message.text
    assert "> old text here" in message.text
    assert "old text" not in message.new_text and "wrote:" not in message.new_text
    assert message.new_text.startswith("Hello team & friends,")


def test_rfc2231_and_rfc2047_filenames() -> None:
    message = parse("rfc2231_filename_continuations_and_rfc2047_name.eml")
    assert message.text == "See attached."
    pdf, png = message.attachments
    assert (pdf.filename, pdf.content_type, pdf.content) == ("支付凭证.pdf", "application/pdf", b"%PDF-1.4 fake")
    assert not pdf.inline and pdf.content_id is None
    assert (png.filename, png.content_type, png.content_id, png.inline) == ("截图.png", "image/png", "img1@test", True)
    assert png.content.startswith(b"\x89PNG")


def test_oversize_attachments_are_counted_not_kept() -> None:
    message = parse("rfc2231_filename_continuations_and_rfc2047_name.eml", max_attachment_bytes=50)
    assert [a.filename for a in message.attachments] == ["支付凭证.pdf"]
    assert message.extra_value("attachments_skipped") == "1"


def test_multipart_whose_boundary_never_occurs_is_recovered() -> None:
    message = parse("multipart_boundary_never_occurs.eml")
    assert message.text == "Please help, the text is here."


def test_garbage_bytes_still_give_a_message() -> None:
    message = parse("garbage_random_bytes_no_headers.eml")
    assert message.sender == "" and message.text
    assert message.parse_error == "no message headers; body read as raw text"
    message.text.encode("utf-8")  # no lone surrogates


@pytest.mark.parametrize("raw", [b"", b"  \r\n\r\n"])
def test_empty_input_raises_parse_failure(raw: bytes) -> None:
    with pytest.raises(ParseFailure):
        parse_email(raw)


def test_parser_crash_falls_back_to_raw_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: object) -> None:
        raise RecursionError("too deep")

    monkeypatch.setattr(email_module, "_parse_tree", crash)
    message = parse("raw_8bit_gbk_headers_and_body_no_charset.eml")
    assert message.parse_error == (
        "compat32 parser: RecursionError; default parser: RecursionError; read as raw text"
    )
    assert message.subject == "退款申请 订单 2025"
    assert message.text == "请帮我退款，订单号 123456。\n谢谢！"
    assert message.message_id == "raw8@test.example"


def nested(depth: int) -> bytes:
    return b"Content-Type: multipart/mixed; boundary=b0\n\n" + b"".join(
        b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1) for i in range(depth)
    ) + b"--b%d\nContent-Type: text/plain\n\ndeep text\n" % depth


def test_nesting_within_limit_is_read() -> None:
    message = parse_email(nested(20))
    assert message.text == "deep text" and message.parse_error is None


def test_absurd_nesting_is_reported_not_raised() -> None:
    message = parse_email(nested(200))
    assert message.parse_error == "MIME nesting too deep; inner parts skipped"


# --- reply cutting -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "new_text"),
    [
        ("zh_reply_wrote_header_qq.eml", "还是不行，请再帮我看看。"),
        ("zh_reply_original_message_separator.eml", "好的，我已经提交了截图。"),
        ("zh_reply_outlook_header_block_fullwidth_colon.eml", "谢谢，问题解决了。"),
        ("en_reply_outlook_underscore_from_sent.eml", "It still crashes on launch.\n\nMary"),
        ("en_reply_gmail_wrapped_wrote_line.eml", "Any update on my refund?"),
        ("signature_dash_dash_space.eml", "The app crashes when I open messages."),
    ],
)
def test_new_text_cuts_history_and_signature(name: str, new_text: str) -> None:
    message = parse(name)
    assert message.new_text == new_text
    assert len(message.text) > len(message.new_text)


def test_new_text_never_empty_for_bottom_posted_reply() -> None:
    raw = (
        "From: a@example.com\nSubject: Re: x\nContent-Type: text/plain; charset=utf-8\n\n"
        "在 2025年2月12日 12:20，客服 <s@vidora.cn> 写道：\n> 旧内容\n\n新的回复在下面。\n"
    ).encode()
    assert parse_email(raw).new_text == "新的回复在下面。"
    only_quote = b"From: a@example.com\n\n> quoted only\n"
    assert parse_email(only_quote).new_text == "> quoted only"


# --- loop signals ------------------------------------------------------------------


def test_chinese_auto_reply() -> None:
    loop = parse("auto_reply_chinese_subject_auto_submitted.eml").loop
    assert loop.reasons == ("auto-submitted", "autoreply-subject")
    assert loop.automated and not loop.is_bounce


def test_out_of_office_by_headers() -> None:
    loop = parse("out_of_office_x_autoreply_precedence_bulk.eml").loop
    assert loop.reasons == ("precedence:bulk", "x-autoreply", "x-auto-response-suppress", "autoreply-subject")


def test_list_mail() -> None:
    assert parse("list_mail_with_list_id_and_unsubscribe.eml").loop.reasons == ("precedence:list", "list")


def test_robot_sender_and_null_return_path() -> None:
    loop = parse("noreply_sender_null_return_path.eml").loop
    assert loop.reasons == ("null-return-path", "robot-sender")
    assert not loop.is_bounce


def test_dsn_bounce_reports_the_lost_message_id() -> None:
    message = parse("bounce_dsn_failed_with_original_message.eml")
    assert message.loop.is_bounce
    assert "delivery-report" in message.loop.reasons
    assert message.loop.bounced_message_ids == ("outbox-42@vidora.cn",)
    assert message.text.startswith("I'm sorry")
    assert [a.content_type for a in message.attachments] == ["message/rfc822"]


def test_delayed_dsn_is_not_a_bounce() -> None:
    loop = parse("dsn_delayed_is_not_a_bounce.eml").loop
    assert "delivery-report" in loop.reasons
    assert not loop.is_bounce and loop.bounced_message_ids == ()


def test_plain_text_bounce_from_mailer_daemon() -> None:
    loop = parse("bounce_plain_text_from_mailer_daemon.eml").loop
    assert loop.is_bounce
    assert loop.bounced_message_ids == ("outbox-44@vidora.cn",)


def test_person_mail_has_no_loop_reasons() -> None:
    message = parse("zh_reply_wrote_header_qq.eml")
    assert message.loop.reasons == () and not message.loop.automated


def test_loop_signals_from_headers_alone() -> None:
    assert loop_signals({"auto-submitted": ["no"]}).reasons == ()
    assert loop_signals({"auto-submitted": ["auto-generated"]}).reasons == ("auto-submitted",)
    assert loop_signals({}, sender="MAILER-DAEMON@x.org").reasons == ("robot-sender",)
    assert loop_signals({}, subject="Automatic reply: hello").reasons == ("autoreply-subject",)
