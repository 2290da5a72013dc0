"""Find personal and secret data in a text, mask it, and say which of it makes a case private.

Every detector validates what it finds where a check exists (Luhn for cards, ISO 7064
mod 11-2 for Chinese resident IDs, libphonenumber for phones), so an order number is not
taken for a card. Where detectors overlap, the spans are merged and the most sensitive
kind names the merged span: a partial mask would leak the rest of the number.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator

import phonenumbers
import re2

import intake.triage.prescan as prescan
from intake.messages import PiiSpan
from intake.triage.mentions import NOT_SECRET_WORDS
from intake.triage.numbers import bracketed_code, names_a_reference, number_spans
from intake.triage.spoken import (address_spans, dotted_name_spans, handle_spans, iban_spans, spelled_id_spans, spelled_secret_spans,
                                  spoken_domain_spans, spoken_email_spans, street_spans)

MASKS = {
    "card": "[CARD]",
    "id": "[ID]",
    "passport": "[PASSPORT]",
    "phone": "[PHONE]",
    "email": "[EMAIL]",
    "secret": "[SECRET]",
    "address": "[ADDRESS]",
    "bank_account": "[BANK_ACCOUNT]",
}
# Most sensitive first: the kind a merged span is reported as.
_SENSITIVITY = ("secret", "card", "id", "passport", "bank_account", "address", "phone", "email")

# Cost: every detector is linear in the text (STYLE 16). Where `\s*` runs meet across an
# optional word (`\s*(?:is)?\s*`), the first is possessive (`\s*+`): the word and the value
# never begin with white space, so giving white space back can't make a match, and without
# it a run of spaces after "password:" is retried quadratically. Street words are bounded
# ({0,60}): every "." or "-" in a long run is a word boundary where a match may start and
# rescan the run; no real street name is that long. The one pattern that `re` cannot run
# in linear time without changing it, the Chinese address, runs on RE2.
_NOT_ALNUM_BEFORE = r"(?<![A-Za-z0-9_])"
_NOT_ALNUM_AFTER = r"(?![A-Za-z0-9_])"

# 13-19 digits, optionally grouped by single spaces or dashes.
# groups split by spaces, dashes or dots ("6217.6579.7543.2319.484"); Luhn decides
_CARD = re.compile(_NOT_ALNUM_BEFORE + r"\d(?:[ .-]?\d){12,18}" + r"(?![0-9])")
_CARD_GROUP_SPLIT = re.compile(r"[ .-]")
_ID18 = re.compile(_NOT_ALNUM_BEFORE + r"\d{17}[\dXx]" + _NOT_ALNUM_AFTER)
_ID15 = re.compile(r"(?:身份证|身份證|id card|identity)\D{0,12}?(?<![0-9])(\d{15})(?![0-9])", re.I)
_PASSPORT = re.compile(
    r"(?:passport|护照|護照)(?:\s*(?:no\.?|number|#|号码|號碼|号|號))?\D{0,12}?"
    r"(?<![A-Za-z0-9])([A-Z]{0,2}\d{6,9}[A-Z]?)(?![A-Za-z0-9])",
    re.I,
)
# An address is [A-Za-z0-9._%+-]+ "@" _EMAIL_DOMAIN. It is found from each "@" (see
# `_emails`) rather than with one regex: a regex would retry the local part from every
# letter of a long word without "@", which is quadratic (100 KB of one word took 33 s).
# A whole run of local-part characters and the "@" after it: starting only where a run
# starts, each character is read once.
_LOCAL_RUN_AT = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]++@")
_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# A bank account number given in context (not a card: no Luhn check applies).
_BANK_ACCOUNT = re.compile(
    r"(?:银行账号|銀行帳號|银行帐号|收款账号|收款帳號|对公账户|對公帳戶|银行账户|銀行帳戶|"
    r"account (?:no\.?|number|#)|routing (?:no\.?|number)|iban|acct (?:no\.?|#))"
    r"\s*+(?:是|为|為|:|：|is)?\s*+([A-Z]{2}\d{2}[A-Z0-9 ]{8,30}|\d[\d -]{5,30}\d)",
    re.I,
)
# Values end at white space, CJK text or CJK punctuation.
_VALUE = r"([^\s\u3000-\u303f\uff00-\uffef\u3400-\u9fff]{3,64})"
_SECRET_WORD = (
    r"(?:登录密码|登入密码|登錄密碼|登入密碼|支付密码|支付密碼|密码|密碼|口令|"
    r"password|passwd|passcode|pwd|pw|pin|pass(?=\s*[:=：]))"  # "pass=Sunny_Day88", not "bus pass"
)
_SECRET_EXPLICIT = re.compile(
    _SECRET_WORD + r"\s*+(?:就是|用的是|设的是|設的是|设成|設成|改成|改为|改為|是|为|為|係|:|：|=|is|was|=>)\s*+(?:是|为|:|：)?\s*+" + _VALUE, re.I  # 係: Cantonese "is"
)
# Without "is" or a colon only a value carrying a digit is taken ("pwd abc123").
_SECRET_BARE = re.compile(_SECRET_WORD + r"\s+" + r"((?=[^\s\u3000-\u9fff]*\d)[^\s\u3000-\u303f\uff00-\uffef\u3400-\u9fff]{4,64})", re.I)
_CODE = re.compile(
    r"(?:验证码|驗證碼|校验码|校驗碼|动态码|動態碼|短信码|简讯码|code|otp|pin)"
    r"\s*+(?:是|为|為|:|：|is|was)?\s*+[:：]?\s*+(?<![0-9])(\d{4,8})(?![0-9])",
    re.I,
)
_CODE_BEFORE = re.compile(r"(?<![0-9])(\d{4,8})(?![0-9])\s*+(?:是|为|為)?\s*+(?:验证码|驗證碼|is (?:the|my) code)", re.I)
# Words after "password is" that are talk about a password, not one.
_NOT_A_SECRET = frozenset(
    "incorrect wrong not too invalid correct the my a an being expired changed reset required "
    "always still now case weak strong same different compromised leaked stolen".split()
)
# "error code 1004", "zip code 10001": numbers that are not secrets.
_CODE_NOT_SECRET_BEFORE = re.compile(rf"(?:{NOT_SECRET_WORDS})\s*$", re.I)

_ZH_PLACE = r"[\x{4e00}-\x{9fff}0-9A-Za-z\-－]"
# RE2, not re: the lazy prefixes make `re` try ~500 splits at every character of a long
# run of place characters (100 KB of "省" took 32 s); RE2 tries all of them in one pass
# with the same leftmost-first answers, so the house number can stay unbounded.
_ZH_ADDRESS = re2.compile(
    # admin prefix (province / city / district / road...) then a house number, then units
    r"(?:" + _ZH_PLACE + r"{0,30}?(?:省|市|区|區|县|縣|镇|鎮|乡|鄉|村|路|街|道|巷|弄|里|园|園|苑|小区|社区|大厦|大廈|花园|花園|广场|廣場))"
    r"" + _ZH_PLACE + r"{0,16}?"
    # (a space may stand either side of a number: "天河路 385 号 2 栋 1806 房")
    r"[ \t]?(?:\p{Nd}+|[一二三四五六七八九十百]+)[ \t]?(?:号楼|號樓|号院|號院|号|號|栋|棟|幢|座|弄)"
    r"(?:[ \t]?" + _ZH_PLACE + r"{0,6}?(?:\p{Nd}+|[一二三四五六七八九十]+)[ \t]?(?:单元|單元|室|房|楼|樓|层|層|户|戶|号|號|座|栋|棟)?)*"
)
_EN_STREET = (
    r"(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|"
    r"terrace|parkway|pkwy|highway|hwy|circle|cir|square|sq)"
)
_EN_ADDRESS = re.compile(
    r"\b\d{1,6}[A-Za-z]?\s+(?:[A-Z][\w'.-]*\s+){1,4}" + _EN_STREET + r"\b\.?"
    r"(?:,?\s*(?:apt|apartment|suite|ste|unit|#|floor|fl)\.?\s*[\w-]+)?"
    r"(?:,\s*[A-Z][A-Za-z .]+)?(?:,\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?)?(?=[\s,.;]|$)"
)
# Continental style: "Lindwurmstraße 112, 80337 München, Germany".
_EU_ADDRESS = re.compile(
    r"\b[A-ZÄÖÜ][\w.-]{0,60}(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|straat|laan|gade|vej|gatan|väg)"
    r"\s+\d+[a-z]?(?:,\s*\d{4,5}\s+[^\W\d][\w -]*?)?(?:,\s*[A-Z][a-z]+)?(?=[\s,.;]|$)"
)
_PHONE_SHAPES = re.compile(
    # CN mobile "139 0123 4567" / "139-0123-4567", TW mobile "0912-345-678", US "(512) 555-0163"
    _NOT_ALNUM_BEFORE
    + r"(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?![0-9])"
    + r"|" + _NOT_ALNUM_BEFORE + r"(?:\+?886[ -]?|0)9\d{2}[ -]?\d{3}[ -]?\d{3}(?![0-9])"
    + r"|" + _NOT_ALNUM_BEFORE + r"(?:\+?1[ .-]?)?\(?[2-9]\d{2}\)?[ .-]?\d{3}[ .-]\d{4}(?![0-9])"
)
# Where a match can begin (`prescan.finditer_from`): a secret word's first character (no
# word boundary asked); a house number, or a capital, that starts a word.
_SECRET_STARTS = re.compile(r"[登支密口pP]")
_EN_ADDRESS_STARTS = re.compile(r"\d(?<!\w\d)")
_EU_ADDRESS_STARTS = re.compile(r"[A-ZÄÖÜ](?<!\w[A-ZÄÖÜ])")
# Where a phone shape can begin: "+", "(" or a digit with no letter, digit or "_" before it.
_PHONE_SHAPE_STARTS = re.compile(r"[+(0-9](?<![A-Za-z0-9_].)")
_PHONE_REGIONS = ("CN", "US", "TW", "HK")
_CARD_CONTEXT = re.compile(r"卡|card|visa|master|amex|american express|debit|credit|cc", re.I)
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}")
_PHONE_CANDIDATE = re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{5,18}\d(?![0-9])", re.ASCII)


def luhn_valid(digits: str) -> bool:
    """The Luhn mod-10 check that every payment card number passes."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def resident_id_valid(number: str) -> bool:
    """GB 11643-1999: 18 characters, a real birth date, ISO 7064 mod 11-2 check character."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    if not _birth_date_valid(number[6:14]):
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def _birth_date_valid(yyyymmdd: str) -> bool:
    try:
        born = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= born <= dt.date.today()


def _cards(text: str) -> Iterator[PiiSpan]:
    in_url = _UrlTokens(text)
    for match in _CARD.finditer(text):
        digits = _CARD_GROUP_SPLIT.sub("", match.group())
        if not (13 <= len(digits) <= 19 and luhn_valid(digits)):
            continue
        if "." in match.group() and not all(3 <= len(group) <= 6 for group in _CARD_GROUP_SPLIT.split(match.group())):
            continue  # "0.4111111111111111s": a decimal, not groups of a card
        if in_url(match.start()):
            continue
        # 13-15 digit cards are rare (old Visa, Amex) while video and order ids of that
        # length are everywhere: one in ten passes Luhn by chance, so ask for context.
        card_said = _CARD_CONTEXT.search(text, max(0, match.start() - 24), match.start())
        if len(digits) < 16 and not card_said:
            continue
        if not card_said and names_a_reference(text, match.start()):
            # "视频ID 7234567890123456789": a 19-digit video id passes Luhn one time in ten.
            yield PiiSpan("phone", match.start(), match.end())  # masked, not private
            continue
        yield PiiSpan("card", match.start(), match.end())


class _UrlTokens:
    """Whether a position lies in a URL: the space-delimited token before it holds "://"
    or starts with "www.". Asked for increasing positions, it scans each character once;
    looking back to the last space for every card-like run was quadratic in a long token.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.token_start = 0  # just after the last space before `scanned`
        self.scanned = 0
        self.has_scheme = False  # "://" seen in text[token_start:scanned]

    def __call__(self, position: int) -> bool:
        text = self.text
        if position < self.scanned:  # not asked in order: answer directly
            start = text.rfind(" ", 0, position) + 1
            return "://" in text[start:position] or text.startswith("www.", start, position)
        space = text.rfind(" ", self.scanned, position)
        if space >= 0:
            self.token_start, self.has_scheme = space + 1, False
        if not self.has_scheme:
            # "://" may straddle the previous scan end, so look two characters back.
            since = max(self.token_start, self.scanned - 2)
            self.has_scheme = text.find("://", since, position) >= 0
        self.scanned = position
        return self.has_scheme or text.startswith("www.", self.token_start, position)


def _resident_ids(text: str, folded: str) -> Iterator[PiiSpan]:
    for match in _ID18.finditer(text):
        if resident_id_valid(match.group()):
            yield PiiSpan("id", match.start(), match.end())
    if not prescan.any_in(folded, prescan.ID15_WORDS):
        return
    for match in _ID15.finditer(text):
        if _birth_date_valid("19" + match.group(1)[6:12]):
            yield PiiSpan("id", match.start(1), match.end(1))


@functools.lru_cache(maxsize=4096)
def _valid_phone(candidate: str) -> bool:
    # ~0.15 ms a region: cached, since a hostile text repeats the same runs many times.
    for region in _PHONE_REGIONS:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


def _phones(text: str) -> Iterator[PiiSpan]:
    # PhoneNumberMatcher over four regions costs ~0.4 ms a message; parsing only the
    # digit runs that look like a number gives the same answers for a tenth of that.
    for match in _PHONE_CANDIDATE.finditer(text):
        candidate = match.group()
        if _DATE.match(candidate):
            continue
        if _valid_phone(candidate):
            yield PiiSpan("phone", match.start(), match.end())
    for match in prescan.finditer_from(_PHONE_SHAPES, _PHONE_SHAPE_STARTS, text):
        yield PiiSpan("phone", match.start(), match.end())


def _secrets(text: str, folded: str) -> Iterator[PiiSpan]:
    secret_words = prescan.any_in(folded, prescan.SECRET_WORDS)
    for pattern in (_SECRET_EXPLICIT, _SECRET_BARE) if secret_words else ():
        for match in prescan.finditer_from(pattern, _SECRET_STARTS, text):
            value = match.group(1).rstrip(".,;:!?)]}'\"")
            if len(value) < 3 or value.lower() in _NOT_A_SECRET:
                continue
            yield PiiSpan("secret", match.start(1), match.start(1) + len(value))
    for match in _CODE.finditer(text) if prescan.any_in(folded, prescan.CODE_WORDS) else ():
        if _CODE_NOT_SECRET_BEFORE.search(text, max(0, match.start() - 20), match.start()) \
                or bracketed_code(text, match.start(1)):
            continue
        yield PiiSpan("secret", match.start(1), match.end(1))
    for match in _CODE_BEFORE.finditer(text) if prescan.any_in(folded, prescan.CODE_BEFORE_WORDS) else ():
        yield PiiSpan("secret", match.start(1), match.end(1))


def _emails(text: str) -> Iterator[PiiSpan]:
    """What `finditer` of local-part "@" domain would find, in linear time.

    A match starting anywhere in a run of local-part characters ends at the same "@" with
    the same domain, so the leftmost one starts where the run does (or where the last
    match ended, if that was inside the run). Each run, "@" and domain is read once.
    """
    position = 0
    for run in _LOCAL_RUN_AT.finditer(text):
        start, at = max(run.start(), position), run.end() - 1
        if start == at:
            continue  # the run before this "@" was part of the last match
        domain = _EMAIL_DOMAIN.match(text, at + 1)
        if domain is not None:
            yield PiiSpan("email", start, domain.end())
            position = domain.end()


def _simple(text: str, folded: str) -> Iterator[PiiSpan]:
    if "@" in text:
        yield from _emails(text)
    if prescan.any_in(folded, prescan.PASSPORT_WORDS):
        for match in _PASSPORT.finditer(text):
            yield PiiSpan("passport", match.start(1), match.end(1))
    if prescan.any_in(folded, prescan.BANK_ACCOUNT_WORDS):
        for match in _BANK_ACCOUNT.finditer(text):
            yield PiiSpan("bank_account", match.start(1), match.end(1))
    if not text.isascii():  # every match holds a CJK place word (省, 市, 路...)
        for match in _ZH_ADDRESS.finditer(_utf8_safe(text)):  # same offsets: one character each
            yield PiiSpan("address", match.start(), match.end())
    for pattern, starts in ((_EN_ADDRESS, _EN_ADDRESS_STARTS), (_EU_ADDRESS, _EU_ADDRESS_STARTS)):
        for match in prescan.finditer_from(pattern, starts, text):
            yield PiiSpan("address", match.start(), match.end())


def _utf8_safe(text: str) -> str:
    """`text` with lone surrogates (which RE2's UTF-8 cannot carry) as U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)
    return text


def detect_pii(text: str) -> tuple[PiiSpan, ...]:
    """All personal or secret data in `text`, sorted, overlaps merged."""
    folded = prescan.fold(text)
    found = [
        *_cards(text),
        *_resident_ids(text, folded),
        *_phones(text),
        *_secrets(text, folded),
        *_simple(text, folded),
        *number_spans(text, folded),
        *spoken_email_spans(text),
        *address_spans(text, folded),
        *spelled_secret_spans(text, folded),
        *handle_spans(text),
        *iban_spans(text),
        *spelled_id_spans(text),
        *spoken_domain_spans(text),
        *dotted_name_spans(text),
        *street_spans(text),
    ]
    return _merge(found)


def _merge(spans: list[PiiSpan]) -> tuple[PiiSpan, ...]:
    """Union overlapping spans; the merged span takes the most sensitive kind among them."""
    merged: list[PiiSpan] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if span.end <= span.start:
            continue
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            kind = min(last.kind, span.kind, key=_SENSITIVITY.index)
            merged[-1] = PiiSpan(kind, last.start, max(last.end, span.end))
        else:
            merged.append(span)
    return tuple(merged)


def redact(text: str, spans: tuple[PiiSpan, ...] | None = None) -> str:
    """`text` with every span replaced by its typed mask, e.g. "[CARD]"."""
    if spans is None:
        spans = detect_pii(text)
    pieces: list[str] = []
    cursor = 0
    for span in _merge(list(spans)):
        pieces.append(text[cursor : span.start])
        pieces.append(MASKS.get(span.kind, "[PII]"))
        cursor = span.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def private_pii_reasons(spans: tuple[PiiSpan, ...], sensitive_kinds: frozenset[str]) -> tuple[str, ...]:
    """`pii:<kind>` for each sensitive kind present, in a stable order."""
    kinds = {span.kind for span in spans if span.kind in sensitive_kinds}
    return tuple(f"pii:{kind}" for kind in _SENSITIVITY if kind in kinds)
