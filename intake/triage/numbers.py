"""Numbers however they are written, and what the words around them say they are.

The validating detectors of `privacy.py` miss numbers written the way people speak and type
them: spaced or dashed groups, groups split over lines, full-width digits, Chinese numerals
(六二一七, 幺 for one, 叉 for a final X) and English words ("oh two oh, seven nine four six",
"double five") in voicemail transcripts. Here every such run of digits is found in one
linear pass, whatever it is written with, and masked by its length and its context:

* 7 or more digits: always masked (a phone, card, account or ID number; over-masking an order
  number costs less than a leak). Its kind comes from the words around it and from checks
  (Luhn for cards, an 18th character X for resident IDs).
* 4 to 9 digits: masked as a secret when a code, PIN or password was mentioned shortly
  before ("验证码是", "the code ... Latest one was 749216") or right after.
* letters-and-digits tokens in the shapes of regional identity numbers (Hong Kong, Taiwan,
  Singapore, India, UK), and any such token after "passport", "ID", "护照", "身份证"...

Everything here is a single left-to-right scan with patterns that cannot backtrack over a
run (alternations of literals and bounded classes), so a megabyte of digits costs a few
tenths of a second.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

import intake.triage.prescan as prescan
from intake.triage.mentions import CONTEXT, NOT_SECRET_LEAD, Mentions
from intake.triage.numerals import Run, luhn, resident_id, runs
from intake.messages import PiiSpan

_TIME = re.compile(r"\d{1,2}[:：]\d{2}(?:[:：]\d{2})?(?:\s*[-–~至到]\s*\d{1,2}[:：]\d{2}(?:[:：]\d{2})?)?")
_DATE = re.compile(r"(?:\d{4}[-./年]\d{1,2}[-./月]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")
_NOT_SECRET_BEFORE = re.compile(  # '{"error":{"code":5003' too
    rf"{NOT_SECRET_LEAD}(?:code|码|碼|代码|代碼)?[\s\"'{{}}:=,]*"
    r"(?:是|为|為|is)?\s*[:：#]?\s*(?:负|負|-|minus)?\s*$", re.IGNORECASE)  # "错误码是负 1004"
# Capitals and a dash before digits: an id of some system ("ADV-7701535"), except the
# abbreviations that name a bank account ("IBAN-", "ACCT-")
_CODE_PREFIX = re.compile(r"(?<![A-Za-z])(?!(?:IBAN|ACCT|AC|BVN|NUBAN|IFSC|BSB|TIN|NIN|SSN|PAN|NRIC|HKID)[-‐])[A-Z]{2,6}[-‐]$")
# 'the error says "Stream interrupted (code 1102)"': a message's code in brackets, not a secret
_PAREN_CODE = re.compile(r"[(（\[]\s*(?:code|err)\s*[:：#=]?\s*$", re.IGNORECASE)
# "观众从3000多掉到几百", "3000 followers": a quantity, not a code
_QUANTITY_AFTER = re.compile(r"\s?(?:多|余|餘|来|來|人|个|個|元|块|塊|次|万|萬|千|分钟|分鐘|秒|天|小时|小時|倍|条|條|位|岁|歲|名|粉|赞|讚|%|"
                             r"(?:followers|views|likes|people|times|minutes|hours|days|mins|secs|users|viewers)\b)", re.IGNORECASE)


# After a password word: a token with a letter and a digit ("Rosegarden52", "P@ss-w0rd!").
# It may follow CJK text directly ("我密码Xy8866@qq"); the look-aheads are bounded (linear).
_NOT_CJK = r"[^\s\u3000-\u303f\uff00-\uffef\u3400-\u9fff]"
_PASSWORDISH = re.compile(rf"(?<!{_NOT_CJK})(?={_NOT_CJK}{{0,63}}\d)(?={_NOT_CJK}{{0,63}}[A-Za-z]){_NOT_CJK}{{6,64}}")
_PASSWORD_AFTER = 80
_COUNTED = re.compile(r"\d{1,3}-(?:digits?|steps?|factor|characters?|chars?|letters?|days?|hours?|minutes?|months?|years?)",
                      re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?)]}'\"”’"

# Regional identity numbers by shape: HKID A123456(7), Taiwan A123456789, Singapore NRIC
# S1234567D, India PAN ABCDE1234F (split by a line break too), UK National Insurance
# QQ123456C, Brazil CPF 123.456.789-09.
_ID_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-Z]{1,2}\d{6}\s?[(（]?[\dA][)）]?|[A-Z][12]\d{8}|[STFGM]\d{7}[A-Z]|"
    r"[A-Z]{5}[.\s-]?\d{4}[.\s-]?[A-Z]|\d{3}\.\d{3}\.\d{3}-\d{2}|"
    r"[A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D])(?![A-Za-z0-9])",
)
_ID_SHAPE_STARTS = re.compile(r"[A-Z\d](?<![A-Za-z0-9].)")  # an upper-case letter or digit that starts a token
_ID_SAID = re.compile(r"\bID\b|证|證", re.IGNORECASE | re.ASCII)
_SAME_SENTENCE = 40
# After "passport"/"ID" words: any token of letters and digits with at least four digits.
_ALNUM_TOKEN = re.compile(r"(?<![A-Za-z0-9])(?=[A-Za-z]*\d)(?=(?:[A-Za-z]*\d){4})[A-Za-z0-9]{6,20}(?![A-Za-z0-9])")


_PRIVATE_BY_CONTEXT = ("passport", "id", "bank_account", "card")
# "my card number is ...": a phone word this close after a card, ID or account word is part
# of the same phrase, and the number is the card's.
# "no BVN needed. Call 0809 …": a phone word further on than that is the number's own.
_SAME_PHRASE = 8


def _kind_of(run: Run, text: str, mentions: Mentions) -> str | None:
    """The kind of a number run: by checks, then by the nearest context word before it."""
    digits, count, start, end = run.digits, len(run.digits), run.start, run.end
    # No kind of personal data is shorter than 4 digits, but a card's security code (3 or 4).
    cvv = count in (3, 4) and mentions.near("cvv", start, end)
    if count < 4 and not cvv:
        return None
    if count >= 7 and not run.spoken and _DATE.fullmatch(text, start, end):
        return None
    if not run.spoken and _TIME.fullmatch(text, start, end):
        return None  # "9:00-21:00": opening hours
    if start > 0 and text[start - 1].isascii() and text[start - 1].isalpha() and not run.spoken:
        return None  # part of a token like "TX4111...": an order id, judged by the ID shapes
    if start > 0 and text[start - 1] in "/=@?&_":  # part of a link: not personal data
        return None
    if not run.spoken and _CODE_PREFIX.search(text, max(0, start - 8), start):
        return None  # "广告账户（ID：ADV-7701535）", "TX-88213": a system's id, its letters joined by a dash
    if start > 0 and text[start - 1] == "+" and count >= 7 and not run.spoken:
        return "phone"  # "+91 98450 31277": no card or account number starts with a "+"
    if end < len(text) and text[end].isascii() and text[end].isalpha() and not run.spoken and count < 16:
        return None  # "91440300MA5G7K2X3P" (a company's credit code), "23H2": the start of a token
    if start > 1 and text[start - 1] in "-−" and text[start - 2] in "/=@?&_:":  # "code=-88213": a log's value
        return None
    if cvv and _plain(text, run):
        return "secret"
    if count < 4:
        return None
    if digits.endswith("X"):
        return "id"
    # "verification for payouts … reach me at five five five oh one four seven": a phone word
    # between the code word and a number of phone length makes it the phone's
    phone_said = count >= 7 and mentions.nearest(("secret", "phone"), start) == "phone"
    if 4 <= count <= 9 and mentions.near("secret", start, end) and not phone_said and not _looks_like_year(digits) \
            and _plain(text, run):
        if not _NOT_SECRET_BEFORE.search(text, max(0, start - 20), start) and not _QUANTITY_AFTER.match(text, end) \
                and not bracketed_code(text, start):
            return "secret"
    context = mentions.nearest(_PRIVATE_BY_CONTEXT, start)
    if context is None or _phone_said_after(text, mentions, context, start):
        context = mentions.nearest(("phone", *_PRIVATE_BY_CONTEXT), start)
    if context is not None and _end_before(mentions, context, start) < mentions.last_before("reference", start) \
            and mentions.last_before("reference", start) >= start - _REFERENCE_REACH:
        return "phone" if count >= 7 else None  # "账号 yingshi88，作品ID 7234…": the video's number
    if context == "card" and (count >= 12 or count >= 6 and _plain(text, run) and not _after_currency(text, start)):
        return "card"  # a whole card number, or a piece of one read out in parts (not "credit up to $250,000")
    if context in ("passport", "id", "bank_account") and count >= 6:
        return context
    if count >= 12:
        named = _long_run_kind(digits, start, mentions)
        if named is not None:
            return named
    if count >= 7:
        return "phone"  # phone-shaped, valid or not: masked, though not private on its own
    return None


def bracketed_code(text: str, start: int) -> bool:
    """Whether the number at `start` follows "(code " or "[err ": a message's code quoted in
    brackets ('the error says "Stream interrupted (code 1102)"'), not a secret."""
    return _PAREN_CODE.search(text, max(0, start - 12), start) is not None


def names_a_reference(text: str, start: int, reach: int = 24) -> bool:
    """Whether an order, video or other reference word ends shortly before `start`."""
    return CONTEXT["reference"].search(text, max(0, start - reach), start) is not None


def _phone_said_after(text: str, mentions: Mentions, kind: str, start: int) -> bool:
    """A phone word after the last `kind` word, in a later phrase: further on than
    _SAME_PHRASE, or past the end of a sentence ("卡号我之前发过了。电话是 139…")."""
    phone, end = mentions.last_before("phone", start), _end_before(mentions, kind, start)
    return phone > end + _SAME_PHRASE or (phone >= end >= 0 and _SENTENCE_END.search(text, end, phone) is not None)


def _end_before(mentions: Mentions, kind: str, start: int) -> int:
    at = mentions.last_before(kind, start)
    return mentions.end_of(kind, at) if at >= 0 else -1


def _long_run_kind(digits: str, start: int, mentions: Mentions) -> str | None:
    """A run of 12 digits or more with no card, ID or account word nearest before it.

    Unless an order, a video or another reference is named closest: no phone number has 16
    digits, so 16 to 19 are a card's (the Luhn check passes, spoken or typed) or a bank
    account's; 18 with a birth date and a valid resident-ID check character are an ID; and
    12 to 15 are an account's when a bank is named closer than a phone word."""
    count = len(digits)
    nearest = mentions.nearest(("phone", "bank", "reference"), start)
    if (nearest == "reference" and mentions.last_before("reference", start) >= start - _REFERENCE_REACH) or count > 19:
        return None
    if count >= 16 and luhn(digits):
        return "card"
    if count == 18 and resident_id(digits):
        return "id"
    if nearest == "bank" or count >= 16:
        return "bank_account"
    return None


_SENTENCE_END = re.compile(r"[。！？!?\n]|\.\s")
_PIECE_GAP = 16  # between two pieces of one card number read out in parts
_REFERENCE_REACH = 40  # "订单号是 …", "video ID …": the thing is named right before its number
def _after_currency(text: str, start: int) -> bool:
    return text[max(0, start - 2):start].strip()[-1:] in ("$", "¥", "￥", "€", "£", "₹", "₦")


def _plain(text: str, run: Run) -> bool:
    """Digits grouped by spaces or dashes only: not a time (10:30), amount (4,999.00) or version."""
    chunk = text[run.start : run.end]
    return ":" not in chunk and "." not in chunk and ("," not in chunk or run.spoken)


def _looks_like_year(digits: str) -> bool:
    return len(digits) == 4 and digits[:2] in ("19", "20")


def number_spans(text: str, folded: str | None = None) -> Iterator[PiiSpan]:
    """Every number run that is (or may be) personal data, and tokens shaped like IDs.

    `folded` is `prescan.fold(text)`, if the caller has it."""
    mentions = Mentions(text, folded)
    card_end = -_PIECE_GAP - 1
    for run in runs(text):
        kind = _kind_of(run, text, mentions)
        if 4 <= len(run.digits) <= 5 and run.start - card_end <= _PIECE_GAP and kind != "secret":
            kind = "card"  # "卡号开头是六二一四八三，中间是五五幺二，最后是…": the pieces between
        if kind == "card":
            card_end = run.end
        if kind is not None:
            yield PiiSpan(kind, run.start, run.end)
    for match in prescan.finditer_from(_ID_SHAPES, _ID_SHAPE_STARTS, text):
        # Masked always; private only where the words say it is an ID (message ids in headers
        # of a bounce have the same shapes).
        said = mentions.nearest(("id", "passport"), match.start())
        if said is None and _ID_SAID.search(text, max(0, match.start() - _SAME_SENTENCE), match.start()):
            said = "id"  # "我個ID係 A123456(7)": the shape and a bare "ID" or 證 shortly before
        yield PiiSpan(said or "phone", match.start(), match.end())
    for match in _PASSWORDISH.finditer(text) if mentions.starts("password") else ():
        positions = mentions.starts("password")
        index = bisect.bisect_right(positions, match.start())
        if index and positions[index - 1] >= match.start() - _PASSWORD_AFTER:
            value = match.group().rstrip(_TRAILING_PUNCTUATION)
            if not _COUNTED.fullmatch(value):  # "your password and the 6-digit code"
                yield PiiSpan("secret", match.start(), match.start() + len(value))
    for match in _ALNUM_TOKEN.finditer(text) if mentions.starts("passport") or mentions.starts("id") else ():
        for kind in ("passport", "id"):
            if mentions.near(kind, match.start(), match.end()):
                yield PiiSpan(kind, match.start(), match.end())
                break
