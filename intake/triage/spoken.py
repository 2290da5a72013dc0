"""Personal data written the way people speak or type it, beside the numbers of `numbers.py`:

* e-mail addresses spoken ("mary dot jones at example dot com", "zhang 点 san 艾特 qq 点 com");
* street addresses after a cue ("my address is", "地址"), to the end of the line;
* passwords spelled out after "my password is" / "密码是" ("capital P, a, s, s, one two three",
  "大写的W，小写的a，n，g，然后幺九八八"): the whole spelling, to the end of the sentence;
* payment handles without a top-level domain (UPI "ravi.k@okaxis"): private next to a UPI word.

Each is one pass with patterns that cannot backtrack over a run (bounded classes; RE2 where
a pattern has repetitions of alternatives).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import re2

import intake.triage.prescan as prescan
from intake.triage.numerals import EN_DIGITS, EN_TEENS, EN_TENS
from intake.messages import PiiSpan

# "name dot surname at example dot com", "zhang 点 san 艾特 qq 点 com", "chen jia xin 一九九五 at
# gmail dot com", "priya at the rate gmail dot com": a local part of up to seven spoken pieces
# (letters, digits, Chinese numerals) joined by spaces or spoken separators, an "at", and a
# domain spoken or typed. Bounded repetitions of classes: RE2, linear. Generous on purpose:
# "look at vidora dot com" is masked too, which costs nothing.
_SPOKEN_PIECE = r"[a-z0-9零〇一二三四五六七八九幺]+"
# "[dot]", "(at)", "【at】": the same words in brackets, as people write to keep bots out
_OPEN, _CLOSE = r"[\[(（【{<]", r"[\])）】}>]"
_SPOKEN_DOT = rf"(?:dot|点|點|\.|{_OPEN}[ \t]*(?:dot|点|點|\.)[ \t]*{_CLOSE})"
_TLD = r"(?:com|net|org|edu|gov|info|biz|io|co|uk|cn|sg|in|ng|hk|tw|me|au|my|ph|nz|ca|ke|za|ae|pk|bd|lk|id|vn|th|jp|kr|us)"
_SPOKEN_EMAIL = re2.compile(
    # a spoken "at": the local part may be pieces joined by plain spaces
    rf"(?i)(?:\b{_SPOKEN_PIECE}(?:[ \t]*(?:{_SPOKEN_DOT}|underscore|下划线|dash|_|-|[ \t])[ \t]*{_SPOKEN_PIECE}){{0,6}}[ \t,]*"
    rf"(?:\bat the rate(?: of)?\b|\bat sign\b|\bat\b|艾特|{_OPEN}[ \t]*(?:at|@|艾特)[ \t]*{_CLOSE})"
    # a typed "@": only spoken separators in the local part ("mary dot jones @ example.com")
    rf"|\b{_SPOKEN_PIECE}(?:[ \t]*(?:dot|点|點|underscore|下划线|dash)[ \t]*{_SPOKEN_PIECE}){{0,4}}[ \t]*@"
    # a "#" or "＃" for the "@" ("zhou_k#example.com（#换成@）")
    rf"|\b{_SPOKEN_PIECE}(?:[._-]{_SPOKEN_PIECE}){{0,4}}[#＃])[ \t]*"
    # a spoken domain's words may run apart ("hemu media 点 com")
    rf"[a-z0-9]+(?:[ \t]*(?:{_SPOKEN_DOT}|[ \t])[ \t]*[a-z0-9]+){{0,3}}[ \t]*{_SPOKEN_DOT}[ \t]*"
    rf"{_TLD}\b(?:[ \t]*{_SPOKEN_DOT}[ \t]*{_TLD}\b)?"
)
# A web address read out ("jackmurraymusic dot com dot au"): someone's own site names them.
_SPOKEN_DOMAIN = re2.compile(rf"(?i)\b[a-z0-9]{{2,40}}(?:[ \t]+dot[ \t]+[a-z0-9]{{1,40}}){{0,3}}[ \t]+dot[ \t]+{_TLD}\b"
                             rf"(?:[ \t]+dot[ \t]+{_TLD}\b)?")
_EMAIL_WORD = re.compile(r"电邮|電郵|邮箱|郵箱|电子邮件|電子郵件|\be-?mail\b", re.IGNORECASE)
_DOTTED_NAME = re.compile(r"(?<![\w.@/])[A-Za-z][A-Za-z0-9]{0,30}(?:[._][A-Za-z0-9]{1,30}){1,4}(?![\w@/])")
_DOTTED_REACH = 120
# An identity number spelled out ("B Q K P S four four seven one M", "B for bombay, Q for queen…"):
# six pieces or more, single letters (with a "for …" word) and digits, at least two of each.
_SPELLED_DIGIT = "zero|oh|one|two|three|four|five|six|seven|eight|nine|double|triple"
_SPELLED_PIECE = rf"(?:[A-Za-z](?:[ \t]+(?:for|as in)[ \t]+[A-Za-z]{{2,20}})?|{_SPELLED_DIGIT}|\d)"
_SPELLED_RUN = re2.compile(rf"(?i)\b{_SPELLED_PIECE}(?:[ \t,.]+{_SPELLED_PIECE}\b){{5,40}}")
_SPELLED_LETTER = re.compile(r"\b[A-Za-z]\b(?:[ \t]+(?:for|as in)[ \t]+[A-Za-z]+)?", re.IGNORECASE)
_AT_NEXT = re.compile(r"[ \t]*(?:at\b|@|艾特)", re.IGNORECASE)
_SPELLED_NUMBER = re.compile(rf"\b(?:{_SPELLED_DIGIT}|\d)\b", re.IGNORECASE)
# A street address after a cue, to the end of its line (bounded).
_ADDRESS_CUE = re.compile(
    r"(?:\b(?:my address is|address is|address:|deliver to|ship to|flat no\.?|flat|house no\.?|h\.? ?no\.?|door no\.?|plot no\.?)"
    r"|地址[是為为:：]?|住址[是為为:：]?|住在)[ \t]*", re.IGNORECASE)
_LINE_END = re.compile(r"[\n。]")
# A house number, up to five capitalised words (or ordinals: "3rd"), a capitalised street word,
# then the rest of the line (bounded; RE2). Capitals keep "2 times on the main page" out.
_STREET_WORD = ("Avenue|Ave|Street|St|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Terrace|"
                "Highway|Hwy|Parkway|Pkwy|Cross|Main|Square|Sq|Layout|Nagar|Crescent|Close|Jalan|Jln|Lorong|"
                "Row|Estate|Gardens|Grove|Mews|Wharf|Quay|Rise")
_STREET = re2.compile(rf"(?:\bNo\.?[ \t]*)?\b\d{{1,5}}[A-Za-z]?,?[ \t]+(?:(?:[A-Z][A-Za-z.'-]*|\d{{1,3}}(?:st|nd|rd|th)),?[ \t]+){{0,5}}"
                      rf"(?:{_STREET_WORD})\b[^\n<]{{0,100}}")
# A US address's last line on its own ("Springfield, IL 62704" under "221 Example Street")
_CITY_LINE = re2.compile(r"\b[A-Z][A-Za-z.'-]*(?:[ \t]+[A-Z][A-Za-z.'-]*){0,3},[ \t]*[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?\b")
_ADDRESS_MAX = 160


# After a password word and "is": the sentence, when it spells (three single letters or more,
# or a spelling word and two) or mixes a word in Latin letters with digits ("密码是我名字拼音，
# wang li hua，然后后面是幺九八八"), is the password however it is broken up; a letters-and-digits
# token shortly after it is the same password said whole ("... exclamation point. So
# Trailrunner2024!").
_PASSWORD_SAID = re.compile(r"(?:密码|密碼|口令|password|passcode|passwd|pwd|\bpw)[ \t]*(?:就是|用的是|设的是|是|为|為|係|is|was|:|：)[ \t]*",
                            re.IGNORECASE)
_SENTENCE_END = re.compile(r"[。！？!?\n]|\.(?:\s|$)")
_SPELLED_MAX = 120
_SINGLE_LETTER = re.compile(r"(?<![A-Za-z])[A-Za-z](?![A-Za-z])")
_SPELLING_WORD = re.compile(r"大写|大寫|小写|小寫|感叹号|感嘆號|下划线|符号|符號|\b(?:capital|small|lower|upper|uppercase|"
                            r"lowercase|exclamation|underscore|hash|symbol)\b", re.IGNORECASE)
# A UPI id ("ravi.k@okaxis"): local part, "@", a handle with no dot after it.
_HANDLE = re.compile(r"(?<![\w.@+-])[A-Za-z0-9][A-Za-z0-9._-]{1,63}@[A-Za-z][A-Za-z0-9]{1,24}(?![\w@-]|\.\w)")
_PAYMENT_HANDLE_WORD = re.compile(r"\b(?:upi|vpa|gpay|google pay|phonepe|paytm|bhim)\b", re.IGNORECASE)
_HANDLE_REACH = 80
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# A digit, typed, in Chinese numerals, or an English number word ("sunflower ninety two")
_DIGIT = re.compile(r"[0-9零〇一二三四五六七八九幺两洞]|(?<![A-Za-z])(?:"
                    + "|".join(w for w in (*EN_TENS, *EN_TEENS, *EN_DIGITS) if len(w) > 2) + r")(?![A-Za-z])", re.IGNORECASE)
# "my password is wrong", "密码是对的": talk about a password, not one
_NOT_SPELLED = re.compile(r"(?:wrong|incorrect|correct|right|not|invalid|expired|too|fine|ok|okay|the same|"
                          r"对的|對的|错的|錯的|错了|錯了|不对|不對|正确|正確|没错|沒錯|对|對)\b", re.IGNORECASE)
_WHOLE = re.compile(r"(?<![A-Za-z0-9])(?=[^\s\u3000-\u9fff]{0,63}\d)(?=[^\s\u3000-\u9fff]{0,63}[A-Za-z])"
                    r"[^\s\u3000-\u9fff]{6,64}")
_WHOLE_AFTER = 80
_FIRST_TOKEN = re.compile(r"[^\s\u3000-\u303f\uff00-\uffef\u3400-\u9fff,]{1,64}")
# An IBAN (ISO 13616): country, check digits, up to 30 letters and digits in groups of four;
# masked when the ISO 7064 mod 97 check holds, whatever the words around it.
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])")


def spelled_secret_spans(text: str, folded: str) -> Iterator[PiiSpan]:
    if not prescan.any_in(folded, prescan.SECRET_WORDS):
        return
    for said in _PASSWORD_SAID.finditer(text):
        end = _SENTENCE_END.search(text, said.end(), said.end() + _SPELLED_MAX)
        stop = end.start() if end else min(len(text), said.end() + _SPELLED_MAX)
        if _NOT_SPELLED.match(text, said.end()):
            continue
        letters = len(_SINGLE_LETTER.findall(text, said.end(), stop))
        words = _SPELLING_WORD.search(text, said.end(), stop) is not None
        first = _FIRST_TOKEN.match(text, said.end())
        # a password typed whole ("密码是 Qwe@881205，…") is the explicit detectors' (privacy.py)
        mixed = (not (first and any(c.isdigit() for c in first.group())) and _LATIN_WORD.search(text, said.end(), stop)
                 and _DIGIT.search(text, said.end(), stop))
        if letters >= 3 or (words and letters >= 2) or mixed:
            yield PiiSpan("secret", said.end(), stop)
            whole = _WHOLE.search(text, stop, stop + _WHOLE_AFTER)
            if whole:
                value = whole.group().rstrip(".,;:)]}'\"")
                yield PiiSpan("secret", whole.start(), whole.start() + len(value))


def _mod97(value: str) -> bool:
    moved = value[4:] + value[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def iban_spans(text: str) -> Iterator[PiiSpan]:
    for match in _IBAN.finditer(text):
        compact = match.group().replace(" ", "")
        if 15 <= len(compact) <= 34 and _mod97(compact):
            yield PiiSpan("bank_account", match.start(), match.end())


def handle_spans(text: str) -> Iterator[PiiSpan]:
    if "@" not in text:
        return
    for match in _HANDLE.finditer(text):
        word = _PAYMENT_HANDLE_WORD.search(text, max(0, match.start() - _HANDLE_REACH), match.start())
        yield PiiSpan("bank_account" if word else "email", match.start(), match.end())


def spoken_email_spans(text: str) -> Iterator[PiiSpan]:
    for match in _SPOKEN_EMAIL.finditer(text):
        yield PiiSpan("email", match.start(), match.end())


def spoken_domain_spans(text: str) -> Iterator[PiiSpan]:
    if "dot" not in text.lower():
        return
    for match in _SPOKEN_DOMAIN.finditer(text):
        yield PiiSpan("email", match.start(), match.end())


def dotted_name_spans(text: str) -> Iterator[PiiSpan]:
    """A dotted name said again after an e-mail is given ("電郵俾我 … 即係 chan.ka.yan"): the
    address's local part on its own."""
    read = 0  # windows overlap when the words crowd: each character is read once
    for word in _EMAIL_WORD.finditer(text):
        start, stop = max(word.end(), read), word.end() + _DOTTED_REACH
        if start >= stop:
            continue
        for match in _DOTTED_NAME.finditer(text, start, stop):
            yield PiiSpan("email", match.start(), match.end())
        read = stop


# "reference, er, C R I seven seven four one two": a case's reference read out, no person's ID
_REFERENCE_BEFORE = re.compile(r"\b(?:reference|ref|case|ticket|order|tracking)(?:[ \t]+(?:number|no|id|code))?"
                               r"(?:[ \t]+(?:is|was))?[\s,.:#]*(?:(?:uh|um|er|erm|ah)[\s,.]*)?$", re.IGNORECASE)


def spelled_id_spans(text: str) -> Iterator[PiiSpan]:
    """An identity number read out letter by letter and digit by digit (see _SPELLED_RUN)."""
    for match in _SPELLED_RUN.finditer(text):
        value = match.group()
        # "for" pieces count as letters; a run of words that only look like pieces ("a b c")
        # needs digits as well, and digits alone are the number detectors'.
        letters = len(_SPELLED_LETTER.findall(value))
        if letters >= 2 and len(_SPELLED_NUMBER.findall(value)) >= 2 \
                and not _REFERENCE_BEFORE.search(text, max(0, match.start() - 40), match.start()):
            # "r dot m e h t a nine one at gmail…": an address read out, not an ID
            address = _AT_NEXT.match(text, match.end()) is not None
            yield PiiSpan("email" if address else "id", match.start(), match.end())


def street_spans(text: str) -> Iterator[PiiSpan]:
    """A street address with no cue, as signatures write them ("1180 Avenue of the Americas, 8th
    Floor, New York, NY 10036", "No. 14, 3rd Cross, Indiranagar, Bengaluru 560038"): from its
    house number to the end of its line."""
    for pattern in (_STREET, _CITY_LINE):
        for match in pattern.finditer(text):
            yield PiiSpan("address", match.start(), match.end())


def address_spans(text: str, folded: str | None = None) -> Iterator[PiiSpan]:
    """After an address cue, the rest of its line (at most 160 characters)."""
    if not prescan.any_in(prescan.fold(text) if folded is None else folded, prescan.ADDRESS_CUE_WORDS):
        return
    for cue in _ADDRESS_CUE.finditer(text):
        end = _LINE_END.search(text, cue.end(), cue.end() + _ADDRESS_MAX)
        stop = end.start() if end else min(len(text), cue.end() + _ADDRESS_MAX)
        if stop - cue.end() >= 8:
            yield PiiSpan("address", cue.end(), stop)
