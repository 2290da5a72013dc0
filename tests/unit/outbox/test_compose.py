"""Follow-up composition: languages, response times, subjects, SMS segment limits, privacy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from intake.channels.sms import sms_size
from intake.outbox.compose import (
    KINDS, LANGUAGES, Composer, TemplateError, choose_language, clean_subject, email_subject,
    response_time,
)
from intake.settings import DEFAULTS_DIR

TEMPLATES = DEFAULTS_DIR / "templates"
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def composer() -> Composer:
    c = Composer(TEMPLATES)
    c.check()
    return c


def context(composer: Composer, lang: str, private: bool, **more: object) -> dict[str, object]:
    base: dict[str, object] = {
        "ref": "TK-7QX2M9", "private": private,
        "department": composer.department_name("finance_support", lang),
        "response_time": response_time(NOW + dt.timedelta(hours=4), NOW, lang),
        "status": composer.status_name("resolved", lang), "status_code": "resolved",
        "text": "Your refund was issued today.", "tickets": [],
    }
    base.update(more)
    return base


@pytest.mark.parametrize(("ticket", "contact", "text", "expected"), [
    ("zh", "en", "", "zh"),
    ("en", "zh", "", "en"),
    ("mixed", "unknown", "我的账号被封了 please help", "zh"),
    ("mixed", "unknown", "My 抖音 account was banned yesterday, please help me", "en"),
    ("mixed", "en", "", "en"),
    ("mixed", "unknown", "", "zh"),
    ("unknown", "zh", "", "zh"),
    ("unknown", "unknown", "", "en"),
])
def test_choose_language(ticket: str, contact: str, text: str, expected: str) -> None:
    assert choose_language(ticket, contact, text) == expected


@pytest.mark.parametrize(("delta", "en", "zh"), [
    (dt.timedelta(minutes=30), "within 30 minutes", "在30分钟内"),
    (dt.timedelta(hours=1), "within 1 hour", "在1小时内"),
    (dt.timedelta(hours=4), "within 4 hours", "在4小时内"),
    (dt.timedelta(hours=24), "within 24 hours", "在24小时内"),
    (dt.timedelta(hours=72), "within 3 days", "在3天内"),
    (dt.timedelta(days=14), "within 14 days", "在14天内"),
    (dt.timedelta(hours=-1), "as soon as possible", "尽快"),
])
def test_response_time_reads_the_target_even_a_moment_later(delta: dt.timedelta, en: str, zh: str) -> None:
    later = NOW + dt.timedelta(milliseconds=40)  # the ack is composed just after the ticket
    assert response_time(NOW + delta, later, "en") == en
    assert response_time(NOW + delta, later, "zh") == zh
    assert response_time(None, NOW, "en") == "as soon as possible"


def test_subject_threads_and_never_doubles_prefix_or_ref() -> None:
    assert email_subject("Cannot upload", "TK-7QX2M9", "x", False) == "Re: Cannot upload [TK-7QX2M9]"
    assert email_subject("RE: Re: 回复：Cannot upload [TK-7QX2M9]", "TK-7QX2M9", "x", False) == \
        "Re: Cannot upload [TK-7QX2M9]"
    assert email_subject("", "TK-7QX2M9", "We have received your request", False) == \
        "Re: [TK-7QX2M9] We have received your request"


def test_private_subject_never_carries_their_words() -> None:
    subject = email_subject("Card 5425 1491 3167 7230 charged $1,964", "TK-7QX2M9", "We have received your request", True)
    assert subject == "Re: [TK-7QX2M9] We have received your request"


def test_subject_cannot_inject_headers() -> None:
    subject = email_subject("Help\r\nBcc: victim@evil.example\n\tX: y", "TK-7QX2M9", "x", False)
    assert "\r" not in subject and "\n" not in subject and "\t" not in subject
    assert clean_subject("a" * 500).endswith("…") and len(clean_subject("a" * 500)) == 200


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("private", [False, True])
def test_every_template_renders_and_every_sms_fits_two_segments(composer: Composer, kind: str, lang: str,
                                                                  private: bool) -> None:
    tickets = [{"ref": "TK-7QX2M9", "status": composer.status_name("open", lang),
                "department": None if private else composer.department_name("account_management", lang)},
               {"ref": "TK-8RY3N0", "status": composer.status_name("pending", lang),
                "department": composer.department_name("content_review", lang)},
               {"ref": "TK-9SZ4P1", "status": composer.status_name("open", lang), "department": None}]
    ctx = context(composer, lang, private, tickets=tickets if kind == "status_query" else [])
    mail = composer.email(kind, lang, ctx, "Original subject")
    assert "TK-7QX2M9" in mail.subject and "TK-7QX2M9" in mail.text and "TK-7QX2M9" in (mail.html or "")
    sms = composer.sms(kind, lang, ctx)
    size = sms_size(sms.text)
    assert size.segments <= 2, sms.text
    assert "TK-7QX2M9" in sms.text
    if lang == "zh" and size.encoding == "ucs2":
        assert size.units <= 134
    if lang == "en":
        assert size.encoding == "gsm7", f"English SMS left GSM-7: {sms.text!r}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_private_ack_is_ref_generic_line_and_reminder_only(composer: Composer, lang: str) -> None:
    ctx = context(composer, lang, True)
    mail = composer.email("ack", lang, ctx, "Card 5425 1491 3167 7230")
    sms = composer.sms("ack", lang, ctx)
    for body in (mail.text, mail.html or "", sms.text, mail.subject):
        assert "5425" not in body
        assert composer.department_name("finance_support", lang) not in body
    reminder = "passwords" if lang == "en" else "密码"
    assert reminder in mail.text and reminder in sms.text


def test_english_and_chinese_acks_differ(composer: Composer) -> None:
    assert "Hello" in composer.email("ack", "en", context(composer, "en", False), "x").text
    zh = composer.email("ack", "zh", context(composer, "zh", False), "x")
    assert "您好" in zh.text and "在4小时内" in zh.text and "支付与账单" in zh.text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_long_agent_reply_by_sms_is_shortened_never_the_ref(composer: Composer, lang: str) -> None:
    text = ("退款已经处理，请留意银行通知。" if lang == "zh" else "Your refund was processed today. ") * 40
    sms = composer.sms("reply", lang, context(composer, lang, False, text=text))
    assert sms.truncated and sms_size(sms.text).segments == 2
    assert sms.text.startswith("TK-7QX2M9") and "…" in sms.text


def test_html_is_escaped(composer: Composer) -> None:
    mail = composer.email("reply", "en", context(composer, "en", False, text="<script>x</script>\n\nbye"), "s")
    assert "<script>" not in (mail.html or "") and "&lt;script&gt;" in (mail.html or "")
    assert "<script>x</script>" in mail.text


def test_department_names_fall_back_readably(composer: Composer) -> None:
    assert composer.department_name("technical_support", "zh") == "技术支持"
    assert composer.department_name("vip_desk", "en") == "Vip Desk"


def test_missing_template_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="ack.en.sms.txt"):
        Composer(tmp_path).sms("ack", "en", {"ref": "TK-7QX2M9"})


def test_sms_that_cannot_fit_is_an_error_not_a_cut(tmp_path: Path) -> None:
    (tmp_path / "ack.en.sms.txt").write_text("{{ ref }} " + "x" * 400)
    with pytest.raises(TemplateError, match="segments"):
        Composer(tmp_path).sms("ack", "en", {"ref": "TK-7QX2M9"})


def test_sms_template_that_drops_the_ref_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ack.en.sms.txt").write_text("We got it.")
    with pytest.raises(TemplateError, match="reference"):
        Composer(tmp_path).sms("ack", "en", {"ref": "TK-7QX2M9"})


def test_templates_are_used_as_loaded_until_restart(tmp_path: Path) -> None:
    """What the start-up check loaded is what is sent: an edit to a template file (perhaps
    a broken one) takes effect at the next start, where it is checked, not mid-run."""
    import shutil

    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES, folder)
    running = Composer(folder)
    running.check()
    context = {"ref": "TK-ABC123", "department": "technical support", "response_time": "within a day",
               "private": False}
    before = running.email("ack", "en", context, "Upload fails").text
    (folder / "ack.en.email.txt").write_text("{% if broken %}", encoding="utf-8")
    assert running.email("ack", "en", context, "Upload fails").text == before
    with pytest.raises(TemplateError, match="ack.en.email.txt"):
        Composer(folder).check()  # the next start names the broken file
