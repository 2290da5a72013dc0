"""PII detectors validate what they find; redaction masks by kind and leaks nothing."""

from __future__ import annotations

import pytest

from intake.messages import PiiSpan
from intake.triage import detect_pii, redact
from intake.triage.privacy import luhn_valid, resident_id_valid


def kinds(text: str) -> list[tuple[str, str]]:
    return [(span.kind, text[span.start : span.end]) for span in detect_pii(text)]


@pytest.mark.parametrize(
    "number", ["4111 1111 1111 1111", "4111-1111-1111-1111", "6222020206797016873", "5425 1491 3167 7230"]
)
def test_valid_cards_are_found(number: str) -> None:
    text = f"卡号 {number} 谢谢"
    assert kinds(text) == [("card", number)]
    assert redact(text) == "卡号 [CARD] 谢谢"


def test_order_number_failing_luhn_is_not_a_card() -> None:
    assert not luhn_valid("1234567812345678")
    assert [k for k, _ in kinds("order no 1234567812345678 not credited")] != ["card"]
    assert "card" not in {k for k, _ in kinds("订单号 4111111111111112")}


def test_order_number_with_letter_prefix_is_not_a_card() -> None:
    # 4111111111111111 passes Luhn, but TX... is an order id, not a card number
    assert kinds("单号TX4111111111111111") == []


def test_phone_number_is_not_a_card() -> None:
    assert kinds("手机号 13905711234") == [("phone", "13905711234")]


def test_short_id_in_a_url_is_not_a_card() -> None:
    assert kinds("https://vidora.com/@x/video/7360014452198") == []


@pytest.mark.parametrize("number", ["330106197911215961", "12010119910208092X", "12010119910208092x"])
def test_valid_resident_ids(number: str) -> None:
    assert resident_id_valid(number)
    assert kinds(f"身份证号是{number}。") == [("id", number)]


@pytest.mark.parametrize("number", ["330106197911215962", "120101199102080921", "330106197913215961"])
def test_invalid_resident_ids_are_rejected(number: str) -> None:
    assert not resident_id_valid(number)
    assert "id" not in {k for k, _ in kinds(f"编号 {number}")}


@pytest.mark.parametrize(
    "text, phone",
    [
        ("旧号 139 0123 4567 停机了", "139 0123 4567"),
        ("我的門號是 0912-345-678（中華電信）", "0912-345-678"),
        ("call me at +1 (646) 555-0137 asap", "+1 (646) 555-0137"),
        ("My number is 512-555-0163. Again", "512-555-0163"),
        ("手机15012345678帮我看下", "15012345678"),
    ],
)
def test_phones(text: str, phone: str) -> None:
    assert ("phone", phone) in kinds(text)


def test_dates_and_amounts_are_not_phones() -> None:
    assert kinds("扣款时间：2025-05-03 06:12，金额 3260.50 元") == []


@pytest.mark.parametrize(
    "text, secret",
    [
        ("登录密码是 Qwe@881205，技术同学可以直接登", "Qwe@881205"),
        ("密码：abc12345", "abc12345"),
        ("password: hunter2", "hunter2"),
        ("my pwd abc12345 pls", "abc12345"),
        ("code: 381920", "381920"),
        ("验证码 123456 不是我发的", "123456"),
        ("驗證碼是 654321", "654321"),
        ("刚收到 code 381920 不是我 request 的", "381920"),
    ],
)
def test_secrets_in_context(text: str, secret: str) -> None:
    assert ("secret", secret) in kinds(text)
    assert secret not in redact(text)
    assert "[SECRET]" in redact(text)


@pytest.mark.parametrize(
    "text",
    ["I forgot my password and the reset link fails", "收不到验证码", "error code 1004 again", "my password is incorrect"],
)
def test_talk_about_secrets_is_not_a_secret(text: str) -> None:
    assert "secret" not in {k for k, _ in kinds(text)}


@pytest.mark.parametrize(
    "text, address",
    [
        ("地址还是那个，朝阳区望京西园三区312号楼2单元1101。", "朝阳区望京西园三区312号楼2单元1101"),
        ("寄到北京市海淀区中关村大街27号，谢谢", "北京市海淀区中关村大街27号"),
        ("Ship to 1600 Amphitheatre Parkway, Mountain View, CA 94043 please", "1600 Amphitheatre Parkway, Mountain View, CA 94043"),
        ("Lumen Outdoor GmbH\nLindwurmstraße 112, 80337 München, Germany\n", "Lindwurmstraße 112, 80337 München, Germany"),
    ],
)
def test_addresses(text: str, address: str) -> None:
    assert address not in redact(text)
    assert "[ADDRESS]" in redact(text)


def test_passport_and_email_and_bank_account() -> None:
    text = "Passport No. E12345678, mail me at a.b@example.com, bank account number: 6217 0000 1234 5678 90"
    redacted = redact(text)
    assert "E12345678" not in redacted and "[PASSPORT]" in redacted
    assert "a.b@example.com" not in redacted and "[EMAIL]" in redacted
    assert "6217 0000 1234 5678 90" not in redacted


def test_overlapping_spans_merge_and_most_sensitive_kind_wins() -> None:
    text = "x 1234567890 y"
    spans = (PiiSpan("phone", 2, 8), PiiSpan("card", 5, 12))
    assert redact(text, spans) == "x [CARD] y"


def test_redact_without_spans_detects_first() -> None:
    assert redact("mail a@b.io now") == "mail [EMAIL] now"
    assert redact("nothing here") == "nothing here"
