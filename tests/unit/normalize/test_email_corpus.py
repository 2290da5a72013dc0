"""Every mail of the shared real-world corpus parses, and the reports in it are recognised.

The corpus lives in ../shared/corpus/email (override with INTAKE_SHARED_DIR); INDEX.tsv
tags each file (malformed, charset:gbk, report:delivery-status, bounce, autoreply, ...).
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from intake.messages import InboundMessage
from intake.normalize.email import ParseFailure, parse_email
from tests.support.shared import SHARED_DIR, need_shared

CORPUS = SHARED_DIR / "corpus" / "email"
NOT_MAIL = {"INDEX.tsv", "PROVENANCE.tsv"}
# RFC 3464 reports whose every Action is "delayed": progress reports, not bounces.
DELAYED_ONLY = {"enmime/dsn/testdata/delayed_dsn.raw", "ruby-mail/multipart_report_emails/report_422.eml"}


def _index() -> dict[str, set[str]]:
    path = CORPUS / "INDEX.tsv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["path"]: set(row["tags"].split(",")) for row in csv.DictReader(handle, delimiter="\t")}


def _files() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        path.relative_to(CORPUS).as_posix()
        for path in CORPUS.rglob("*")
        if path.is_file() and path.name not in NOT_MAIL
    )


TAGS = _index()
FILES = _files()


@pytest.fixture(scope="module")
def email_corpus() -> Path:
    return need_shared("corpus", "email", "INDEX.tsv")  # skips here, fails under CI=true


needs_corpus = pytest.mark.usefixtures("email_corpus")


def _parse(relative: str) -> InboundMessage | None:
    raw = (CORPUS / relative).read_bytes()
    try:
        return parse_email(raw)
    except ParseFailure:
        assert not raw.strip(), "only empty input may raise ParseFailure"
        return None


def _check_text(value: str) -> None:
    assert isinstance(value, str)
    value.encode("utf-8")  # raises on lone surrogates
    assert "\x00" not in value


@needs_corpus
@pytest.mark.parametrize("relative", FILES or ["<none>"])
def test_corpus_mail_parses(relative: str) -> None:
    message = _parse(relative)
    if message is None:
        return
    assert isinstance(message, InboundMessage) and message.channel == "email"
    for value in (message.sender, message.sender_name, message.recipient, message.subject, message.text, message.new_text):
        _check_text(value)
    assert "\n" not in message.subject and "\r" not in message.subject
    assert message.sender == message.sender.lower()
    if message.text.strip():
        assert message.new_text.strip()
    for identifier in (message.message_id, message.in_reply_to, *message.references):
        if identifier is not None:
            _check_text(identifier)
            assert identifier and "<" not in identifier and ">" not in identifier and " " not in identifier
    if message.sent_at is not None:
        assert isinstance(message.sent_at, dt.datetime) and message.sent_at.tzinfo is not None
    for attachment in message.attachments:
        _check_text(attachment.filename)
        assert attachment.filename and "/" not in attachment.filename
        assert isinstance(attachment.content, bytes)
    if message.parse_error is not None:
        assert len(message.parse_error) < 200


REPORTS = [path for path in FILES if TAGS.get(path, set()) & {"report:delivery-status", "report:disposition-notification"}]


@needs_corpus
@pytest.mark.parametrize("relative", REPORTS or ["<none>"])
def test_corpus_reports_are_recognised(relative: str) -> None:
    message = _parse(relative)
    assert message is not None
    if "report:disposition-notification" in TAGS[relative]:
        assert "read-receipt" in message.loop.reasons and not message.loop.is_bounce
    elif relative in DELAYED_ONLY:
        assert "delivery-report" in message.loop.reasons and not message.loop.is_bounce
    else:
        assert "delivery-report" in message.loop.reasons and message.loop.is_bounce


AUTOMATED = [
    path
    for path in FILES
    if any(tag == "autoreply" or tag.startswith("auto-submitted:") for tag in TAGS.get(path, set()))
]


@needs_corpus
@pytest.mark.parametrize("relative", AUTOMATED or ["<none>"])
def test_corpus_automatic_replies_are_flagged(relative: str) -> None:
    message = _parse(relative)
    assert message is not None and message.loop.automated
    if any(tag.startswith("auto-submitted:") for tag in TAGS[relative]):
        assert "auto-submitted" in message.loop.reasons


# CJK mail of the corpus and a piece of text that shows it was decoded, not mojibake.
CJK_EXPECTED = {
    "demisto-parse-emails/chinese_big5_encoding.eml": "圖形碼",
    "demisto-parse-emails/chinese_gb2312_encoding.eml": "你好，我是程序员",
    "demisto-parse-emails/chinese_gbk_encoding.eml": "你好，中国",
    "mimekit/messages/japanese.txt": "日本語メールテスト",
    "php-imap/ks_c_5601-1987_headers.eml": "회원님께",
    "php-mime-mail-parser/failure.eml": "配信に失敗しました",
    "ruby-mail/multi_charset/japanese_iso_2022.eml": "まみむめも",
    "ruby-mail/multi_charset/japanese_shift_jis.eml": "あいうえお",
    "ruby-mail/multi_charset/ks_c_5601-1987.eml": "스티해",
    "ruby-mail/plain_emails/raw_email_string_in_date_field.eml": "한국말로",
    "spamscope-mail-parser/mail_test_12": "代开各地增值税发票",  # raw 8-bit gb2312 headers
    "spamscope-mail-parser/mail_test_9": "我把镜头拉近些",
    "stalwart-mail-parser-dovecot/thirdparty/005.eml": "世界人権宣言",
}


@needs_corpus
@pytest.mark.parametrize("relative", sorted(CJK_EXPECTED))
def test_corpus_cjk_mail_is_not_mojibake(relative: str) -> None:
    message = _parse(relative)
    assert message is not None
    assert CJK_EXPECTED[relative] in message.subject + "\n" + message.text
