"""Where the words that say what a number is occur: "验证码", "card", "身份证", "订单"...

`numbers.py` judges a run of digits by the nearest of these words before it (or just after
it). Each kind's words are written once (`CONTEXT_TERMS`); its pattern, the places a match
may begin and the words a prescan looks for are built from them. `Mentions` finds a kind's
words the first time a number asks, all kinds' candidate places in one pass of an
Aho-Corasick automaton, each place confirmed by the kind's own pattern.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable
from typing import Any

import ahocorasick

import intake.triage.prescan as prescan

# "error code 1004", "zip code 10001": numbers after these are not secrets.
# "Windows 11 23H2", "RTX 3060", "build 4411", "连接超时 code 10054", "Diagnostic-Code: smtp; 550",
# "[Case #4471902]": versions, models, failures and references, not secrets (privacy.py's code
# detector reads the same words before "code")
NOT_SECRET_WORDS = (r"(?<![A-Za-z])(?:error|status|zip|postal|area|country|promo|discount|coupon|build|version|ver|windows|"
                    r"ios|android|iphone|rtx|gtx|case|ticket|order|invoice|id|uid)(?![A-Za-z])|smtp;|错误|錯誤|超时|超時|失败|失敗|报错|報錯|"
                    r"版本|邮编|郵遞區號|编号|編號")
NOT_SECRET_LEAD = rf"(?:{NOT_SECRET_WORDS})[\s\"'{{}}:=,]*"

# The same words just before a code word ("area code is, um, … 555 0147"): that mention names
# no secret at all, however far on its number comes.
NOT_SECRET_CODE = re.compile(rf"{NOT_SECRET_LEAD}$", re.IGNORECASE)


# Context words; a number is judged by the nearest one before it
# (within BEFORE characters: the same sentence or the next) or just after it. Each kind's
# words are written once, here: Chinese literals (space-separated) and English words or
# phrases ("|"-separated, matched whole). Its pattern, its scan starts and its prescan
# words are built from them.
BEFORE, AFTER = 200, 30
CONTEXT_TERMS: dict[str, tuple[str, str]] = {
    "secret": ("验证码 驗證碼 校验码 動態碼 动态码 短信码 简讯码 確認碼 确认码 密码 密碼 口令 认证码 認證碼 安全码 安全碼 "
               "授权码 授權碼 位数 位數 "  # "短信里的六位数，就是 四八 二九 幺三": a code named by its length
               "验证 驗證 短信 簡訊 简讯 码是 碼是 码为 碼為 码係 碼係 "
               "yzm",  # pinyin initials of 验证码 (SMS shorthand)  # "收到的那个码是 四八…"  # "验证吗" (misheard), "短信发来的 四八二九一三"
               "code|codes|otp|pin|passcode|password|passwd|pwd|verification|one-time|digit|digits|texted"),
    "card": ("卡号 卡號 银行卡 銀行卡 信用卡 卡是 卡為 卡为 张卡 張卡 储蓄卡 儲蓄卡 借记卡 借記卡 工资卡 工資卡 卡的号 卡的號 "
             "银联 銀聯", "card|visa|mastercard|amex|debit|credit"),
    # 账号 is also the platform account: "账号ID 77310452" is a user id, no bank's
    "bank_account": ("银行账 銀行帳 收款账 收款帳 对公账 對公帳 账号(?!\\s?[iI][dD]) 帳號(?!\\s?[iI][dD]) 账户(?!\\s?[iI][dD]) "
                     "帳戶(?!\\s?[iI][dD]) 户口 戶口",
                     # "account: 0123456789 (GTBank)"; a bare "account" is too common to count
                     "account number|account no|account(?=[ \t]?[:：#])|acct|a/c|iban|routing|sort code|ifsc|bsb|"
                     "bank account|nuban"),
    "id": ("身份证 身分證 身份證 证件号 證件號",
           "id card|id number|id no|identity|identification|ic|mykad|nric|philsys|fin number|fin no|hkid|aadhaar|"
           "aadhar|pan card|pan number|pan no|ssn|social security|my social|social is|nin|bvn|tax id|tax number|tax no|tin|"
           "national insurance|ni number"),
    # "回复 138 0013 8005": a number to text back
    "phone": ("电话 電話 手机 手機 联系 聯絡 号码 號碼 回复 回覆", "phone|mobile|cell|tel|call|reach|whatsapp|viber|telegram|number is|my number|text me|text us|sms me|message me"),
    "passport": ("护照 護照", "passport"),
    "password": ("密码 密碼 口令", "password|passwd|pwd|passcode|passphrase"),
    # For long runs only (12 digits or more): a bank named shortly before makes one an account
    # or card number, whatever else the sentence calls it ("我那张招行的，六二二五 八八…").
    # Banks of the regions our users write from by name, and the words of sending money there.
    "bank": ("银行 銀行 招行 工行 建行 农行 農行 中行 交行 邮储 郵儲 支付宝 支付寶 中信 中國信託 中国信托 國泰 国泰 台新 玉山 "
             "富邦 兆豐 兆丰 合庫 合库 郵局 邮局 匯豐 汇丰 恒生 中銀 中银 渣打 東亞 东亚 微信支付 财付通 財付通 "
             "汇款 匯款 转账 轉帳 轉賬 转帐 打款 打钱 打錢 入数 入數 過數 过数",
             "bank|alipay|upi|paypal|hsbc|citi|citibank|dbs|posb|ocbc|uob|maybank|cimb|gtbank|gtb|zenith|uba|opay|"
             "palmpay|kuda|moniepoint|barclays|lloyds|natwest|monzo|revolut|chase|sbi|hdfc|icici|axis|kotak|"
             "paytm|phonepe|gcash|maya|paymaya|bdo|bpi|remit|remittance|wire|transfer to|send money|deposit to"),
    # Things, not people: a long run named by these is masked but not private.
    "reference": ("订单 訂單 单号 單號 运单 運單 快递 快遞 物流 交易号 交易號 流水号 流水號 工单 工單 视频 視頻 影片 作品 直播 "
                  "账号\\s?id 帳號\\s?id 账户\\s?id 帳戶\\s?id 用户id 用戶id",  # the platform's own account numbers
                  "order|tracking|transaction|invoice|ticket|reference|ref|video|post|room|case"),
}


def _context_pattern(literals: str, words: str) -> re.Pattern[str]:
    return re.compile("|".join(literals.split()) + rf"|\b(?:{words})\b", re.IGNORECASE)


CONTEXT = {kind: _context_pattern(*terms) for kind, terms in CONTEXT_TERMS.items()}
LOOKAROUND = re.compile(r"\(\?[^()]*\)")  # "account(?=[ \t]?[:：#])" starts as "account" does
CONTEXT_STARTS = {kind: prescan.word_starts(literals, LOOKAROUND.sub("", words).replace("|", " "))
                   for kind, (literals, words) in CONTEXT_TERMS.items()}
# a card's security code: three digits, the one number this short that is card data.
# ASCII word boundaries: "卡的CVV是" (a CJK character is no ASCII word character)
CONTEXT["cvv"] = re.compile(r"\b(?:cvv2|cvc2|cvv|cvc|csc|cvn)\b", re.IGNORECASE | re.ASCII)
CONTEXT_STARTS["cvv"] = re.compile(r"[cC](?<![A-Za-z][cC])(?=[vVsS\u017f])")  # after any non-letter, CJK too

_HEAD = re.compile(r"[^\\()\[\]{}?*+|.^$]+")  # an alternative's text before any regex syntax


def context_heads() -> dict[str, list[tuple[str, bool]]]:
    """kind -> (the literal text its alternatives begin with, in lower case; whether that
    alternative is an English word, which must start a word)."""
    heads: dict[str, list[tuple[str, bool]]] = {}
    for kind, (literals, words) in CONTEXT_TERMS.items():
        alternatives = [(literal, False) for literal in literals.split()]
        alternatives += [(word, True) for word in LOOKAROUND.sub("", words).split("|")]
        for alternative, word in alternatives:
            head = _HEAD.match(alternative)
            if head is None:
                raise ValueError(f"context word {alternative!r} of {kind!r} begins with regex syntax")
            heads.setdefault(kind, []).append((head.group().lower(), word))
    heads["cvv"] = [(word, True) for word in ("cvv", "cvc", "csc", "cvn")]
    return heads


# What every match of a kind's pattern contains (lower case), the text its alternatives begin
# with ("账号\s?id" begins with "账号"): no word, no scan (prescan).
_HEADS = context_heads()
CONTEXT_WORDS = {kind: tuple(dict.fromkeys(head for head, _ in heads)) for kind, heads in _HEADS.items()}


# Where a kind's words may begin, for all kinds in one pass: an Aho-Corasick automaton over
# the fold (`prescan.fold`) holds the literal text each alternative of a kind's pattern begins
# with. A match of the pattern begins with one of them under IGNORECASE, and the fold keeps
# every character at its place (unless the text holds U+0307, which the fold drops: then
# the kind's `CONTEXT_STARTS` are scanned instead), so each match begins at a hit; the
# pattern itself, tried at the hits in order, decides, as `prescan.finditer_from` does. An
# English word (after `\b`) is not tried inside another word. One pass of the automaton
# replaced a scan per kind from its starts (0.1 ms of the 0.18 ms that `number_spans` took
# a message).
def _context_automaton() -> Any:
    entries: dict[str, set[tuple[str, bool]]] = {}
    for kind, heads in _HEADS.items():
        for head, word in heads:
            entries.setdefault(head, set()).add((kind, word))
    automaton = ahocorasick.Automaton()
    for head, kinds in entries.items():
        automaton.add_word(head, (len(head), tuple(sorted(kinds))))
    automaton.make_automaton()
    return automaton


_AUTOMATON = _context_automaton()
# `\b` before a word: the character before it is no word character, as each pattern's own
# flags define one (the card security code's pattern is ASCII-only).
_WORD_CHAR = {kind: re.compile(r"\w", pattern.flags & re.ASCII) for kind, pattern in CONTEXT.items()}


def context_hits(text: str, folded: str) -> dict[str, list[int]] | None:
    """kind -> the positions where one of its words may begin, sorted; None when the fold
    does not keep the text's positions (then scan each kind from its starts)."""
    if len(folded) != len(text):
        return None
    hits: dict[str, set[int]] = {}
    for end, (length, kinds) in _AUTOMATON.iter(folded):
        start = end - length + 1
        for kind, word in kinds:
            if word and start and _WORD_CHAR[kind].match(text, start - 1):
                continue
            hits.setdefault(kind, set()).add(start)
    return {kind: sorted(found) for kind, found in hits.items()}


def _mentions_at(text: str, kind: str, positions: Iterable[int]) -> dict[int, int]:
    """Start -> end of each mention of `kind`, the pattern tried at `positions` (increasing,
    every place a match may begin) as `finditer` would meet them."""
    ends: dict[int, int] = {}
    match, end = CONTEXT[kind].match, 0
    for position in positions:
        if position < end:
            continue
        found = match(text, position)
        if found is None:
            continue
        end = found.end()
        if kind == "secret" and NOT_SECRET_CODE.search(text, max(0, position - 16), position):
            continue  # "area code", "error code": not a code that is a secret
        ends[position] = end
    return ends


def mentions_by_scan(text: str, folded: str, kind: str) -> dict[int, int]:
    """What `Mentions` finds of `kind`, by scanning from the kind's starts: the way when the
    fold moved positions, and the reference the tests hold the automaton's hits to."""
    if not prescan.any_in(folded, CONTEXT_WORDS[kind]):
        return {}
    return _mentions_at(text, kind, (m.start() for m in CONTEXT_STARTS[kind].finditer(text)))


class Mentions:
    """Where each kind of context word occurs; nearest-before lookups by bisection.

    A kind's words are looked for the first time a number asks: most messages hold no number
    worth judging, and then no context scan runs at all.
    """

    def __init__(self, text: str, folded: str | None = None) -> None:
        self.text = text
        self.folded = prescan.fold(text) if folded is None else folded
        self.found: dict[str, list[int]] = {}
        self.ends: dict[str, dict[int, int]] = {}

    @functools.cached_property
    def _hits(self) -> dict[str, list[int]] | None:
        """All kinds' candidate places, from one pass on the first kind asked for."""
        return context_hits(self.text, self.folded)

    def starts(self, kind: str) -> list[int]:
        found = self.found.get(kind)
        if found is None:
            if self._hits is None:
                ends = mentions_by_scan(self.text, self.folded, kind)
            else:
                ends = _mentions_at(self.text, kind, self._hits.get(kind, []))
            found = self.found[kind] = list(ends)
            self.ends[kind] = ends
        return found

    def nearest(self, kinds: tuple[str, ...], start: int) -> str | None:
        """The kind whose mention is closest before `start`, within reach."""
        best, best_at = None, -1
        for kind in kinds:
            positions = self.starts(kind)
            index = bisect.bisect_right(positions, start)
            if index and positions[index - 1] >= start - BEFORE and positions[index - 1] > best_at:
                best, best_at = kind, positions[index - 1]
        return best

    def last_before(self, kind: str, start: int) -> int:
        """Where the last mention of `kind` before `start` (within reach) begins; -1 if none."""
        positions = self.starts(kind)
        index = bisect.bisect_right(positions, start)
        return positions[index - 1] if index and positions[index - 1] >= start - BEFORE else -1

    def end_of(self, kind: str, at: int) -> int:
        """Where the mention of `kind` that begins at `at` ends."""
        return self.ends[kind][at]

    def near(self, kind: str, start: int, end: int) -> bool:
        positions = self.starts(kind)
        index = bisect.bisect_right(positions, end + AFTER)
        return index > 0 and positions[index - 1] >= start - BEFORE


