"""Language guessing and text folding for triage: zh / en / mixed / unknown, no dependency.

`detect_language` counts CJK characters against Latin words; `fold` turns a text into the
one form the rules are matched against (NFKC, lower case, traditional -> simplified, no
apostrophes), so the triage config needs each term once and typed the simple way.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any, Literal

LanguageGuess = Literal["zh", "en", "mixed", "unknown"]

# Tokens that say nothing about the writer's language: links, addresses, @handles and
# ids such as "xiaoyu_0712" or "28.7.1".
_NOISE_AT = re.compile(
    r"https?://\S+|www\.\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|@[\w.]+|\b\w*[\d_]\w*\b",
    re.ASCII,
)
# The same, but an address starts only where a run of its characters does: searched
# from every letter of a long word without "@", the pattern above is quadratic.
_NOISE = re.compile(
    r"https?://\S+|www\.\S+|(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+|@[\w.]+|\b\w*[\d_]\w*\b",
    re.ASCII,
)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]{2,}")

_ADDRESS_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-")
_ADDRESS_RUN = re.compile(r"[\w.+-]*+", re.ASCII)
_ADDRESS_DOMAIN = re.compile(r"@[\w-]+(?:\.[\w-]+)+", re.ASCII)


def _without_noise(text: str) -> str:
    """`_NOISE_AT.sub(" ", text)` in linear time.

    `_NOISE` differs only where `_NOISE_AT` would start an address inside a run of address
    characters. That can happen only where the last match ended inside a run (otherwise
    the run's own start comes first, and matches the same "@" and domain), and only if
    the run ends in "@" and a domain: checked once per run, and then `_NOISE_AT` is tried
    there, anchored; its match runs past the end of the run.
    """
    pieces: list[str] = []
    position = 0
    run_end = -1
    run_has_address = False
    size = len(text)
    while True:
        match = None
        if 0 < position < size and text[position - 1] in _ADDRESS_CHARS and text[position] in _ADDRESS_CHARS:
            if position >= run_end:  # a run not looked at yet
                run = _ADDRESS_RUN.match(text, position)
                run_end = run.end() if run else position
                run_has_address = _ADDRESS_DOMAIN.match(text, run_end) is not None
            if run_has_address:
                match = _NOISE_AT.match(text, position)
        if match is None:
            match = _NOISE.search(text, position)
        if match is None:
            break
        pieces.append(text[position : match.start()])
        pieces.append(" ")
        position = match.end()
    pieces.append(text[position:])
    return "".join(pieces)


# A Chinese character carries about as much as a short English word; a message is
# "mixed" when neither side has at least this share of the units.
_DOMINANT_SHARE = 0.8


def detect_language(text: str) -> LanguageGuess:
    """Guess whether a text is Chinese, English, a mix of both, or neither."""
    cleaned = _without_noise(text)
    # About 1.5 characters make a Chinese word.
    cjk = len(_CJK.findall(cleaned)) / 1.5
    latin = len(_LATIN_WORD.findall(cleaned))
    total = cjk + latin
    if total == 0:
        return "unknown"
    share = cjk / total
    if share >= _DOMINANT_SHARE:
        return "zh"
    if share <= 1 - _DOMINANT_SHARE:
        return "en"
    return "mixed"


# Traditional characters common in support mail, mapped to their simplified form. Not a
# full converter (that needs a dictionary); enough that a rule written in simplified
# Chinese also matches Taiwanese and Hong Kong mail. Pairs are aligned character by
# character.
_TRADITIONAL = (
    "帳賬號碼錄證驗簡訊無寫換綁註銷軟體網路線載傳視頻審複誤違規權刪們這裡說話請問謝為麼"
    "錢幣儲值費單據發票稅務銀戶轉帳額餘結算應課會員續訂閱購買賣貨運號碼開關閉閃當機"
    "畫質聲音響錄製片頭輸顯標題設資訊變動態則舉檢測禁凍騙盜駭問題處理幫助緊急還沒收到"
    "過後時間點隻個們與對於從來樣讓給並經歷紀實認護照門臺灣區縣鎮鄉樓層棟單園廈華麗"
    "東車長見覽讀議見優體驗難滿歡喜愛歲顏色級舊鐘鏈結連線廣告計劃劃營業損失讓廠師傅"
    "紅燒豬雞魚鳥貓狗說話語種類頁選擇項隱私條約協議"
    "錯冊鎖圖廳啟遲斷螢覺搶領獎勵補貼詢訴復覆歸聯絡繫亂壞專團隊辦嗎爲裏纔僅雖讚評論兒價"
    "現藝術極邊熱總攝擊屬職識獲導學習兩產壓彈戲寶媽親縮綠際況嚴"
)
_SIMPLIFIED = (
    "帐账号码录证验简讯无写换绑注销软体网路线载传视频审复误违规权删们这里说话请问谢为么"
    "钱币储值费单据发票税务银户转帐额余结算应课会员续订阅购买卖货运号码开关闭闪当机"
    "画质声音响录制片头输显标题设资讯变动态则举检测禁冻骗盗骇问题处理帮助紧急还没收到"
    "过后时间点只个们与对于从来样让给并经历纪实认护照门台湾区县镇乡楼层栋单园厦华丽"
    "东车长见览读议见优体验难满欢喜爱岁颜色级旧钟链结连线广告计划划营业损失让厂师傅"
    "红烧猪鸡鱼鸟猫狗说话语种类页选择项隐私条约协议"
    "错册锁图厅启迟断萤觉抢领奖励补贴询诉复复归联络系乱坏专团队办吗为里才仅虽赞评论儿价"
    "现艺术极边热总摄击属职识获导学习两产压弹戏宝妈亲缩绿际况严"
)
assert len(_TRADITIONAL) == len(_SIMPLIFIED)
_FOLD_TABLE = str.maketrans(
    {
        **dict(zip(_TRADITIONAL, _SIMPLIFIED, strict=True)),
        "帳": "账",
        "帐": "账",  # both spellings of "account" are in use; rules name one
        "'": None,
        "\u2019": None,
        "\u2018": None,
        "\u201c": '"',
        "\u201d": '"',
    }
)


# UAX #15 §13 (Stream-Safe Text Format): NFKC sorts each run of combining marks with an
# insertion sort, quadratic in the run (40,000 alternating marks took 6.5 s). A run of more
# than 30 non-starters is broken by U+034F COMBINING GRAPHEME JOINER, as the standard
# says; no real text has such a run.
_STREAM_SAFE_RUN = 30
_GRAPHEME_JOINER = "\u034f"


def _non_starter_ranges() -> tuple[tuple[int, int], ...]:
    """The code point ranges that are, or decompose to start with, non-starters."""
    starts: list[int] = []
    ends: list[int] = []
    # Non-starters live in planes 0 and 1 only (planes 2-3 are ideographs, 14 has tags and
    # variation selectors of class 0); scanning those two takes ~0.1 s.
    for code in range(0x20000):
        char = chr(code)
        non_starter = unicodedata.combining(char) != 0
        if not non_starter and unicodedata.decomposition(char):
            decomposed = unicodedata.normalize("NFKD", char)
            non_starter = unicodedata.combining(decomposed[0]) != 0
        if non_starter:
            if ends and ends[-1] == code - 1:
                ends[-1] = code
            else:
                starts.append(code)
                ends.append(code)
    return tuple(zip(starts, ends, strict=True))


# `_non_starter_ranges()` under Unicode 14.0.0 (Python 3.11's unicodedata), written out so
# that a start (every `intake` command folds the triage terms) does not scan 130,000 code
# points; under another Unicode version the scan runs, once. A unit test keeps them equal.
NON_STARTERS_UNICODE = "14.0.0"
NON_STARTERS = (
    (0x300, 0x34E), (0x350, 0x36F), (0x483, 0x487), (0x591, 0x5BD), (0x5BF, 0x5BF), (0x5C1, 0x5C2), (0x5C4, 0x5C5),
    (0x5C7, 0x5C7), (0x610, 0x61A), (0x64B, 0x65F), (0x670, 0x670), (0x6D6, 0x6DC), (0x6DF, 0x6E4), (0x6E7, 0x6E8),
    (0x6EA, 0x6ED), (0x711, 0x711), (0x730, 0x74A), (0x7EB, 0x7F3), (0x7FD, 0x7FD), (0x816, 0x819), (0x81B, 0x823),
    (0x825, 0x827), (0x829, 0x82D), (0x859, 0x85B), (0x898, 0x89F), (0x8CA, 0x8E1), (0x8E3, 0x8FF), (0x93C, 0x93C),
    (0x94D, 0x94D), (0x951, 0x954), (0x9BC, 0x9BC), (0x9CD, 0x9CD), (0x9FE, 0x9FE), (0xA3C, 0xA3C), (0xA4D, 0xA4D),
    (0xABC, 0xABC), (0xACD, 0xACD), (0xB3C, 0xB3C), (0xB4D, 0xB4D), (0xBCD, 0xBCD), (0xC3C, 0xC3C), (0xC4D, 0xC4D),
    (0xC55, 0xC56), (0xCBC, 0xCBC), (0xCCD, 0xCCD), (0xD3B, 0xD3C), (0xD4D, 0xD4D), (0xDCA, 0xDCA), (0xE38, 0xE3A),
    (0xE48, 0xE4B), (0xEB8, 0xEBA), (0xEC8, 0xECB), (0xF18, 0xF19), (0xF35, 0xF35), (0xF37, 0xF37), (0xF39, 0xF39),
    (0xF71, 0xF75), (0xF7A, 0xF7D), (0xF80, 0xF84), (0xF86, 0xF87), (0xFC6, 0xFC6), (0x1037, 0x1037), (0x1039, 0x103A),
    (0x108D, 0x108D), (0x135D, 0x135F), (0x1714, 0x1715), (0x1734, 0x1734), (0x17D2, 0x17D2), (0x17DD, 0x17DD), (0x18A9, 0x18A9),
    (0x1939, 0x193B), (0x1A17, 0x1A18), (0x1A60, 0x1A60), (0x1A75, 0x1A7C), (0x1A7F, 0x1A7F), (0x1AB0, 0x1ABD), (0x1ABF, 0x1ACE),
    (0x1B34, 0x1B34), (0x1B44, 0x1B44), (0x1B6B, 0x1B73), (0x1BAA, 0x1BAB), (0x1BE6, 0x1BE6), (0x1BF2, 0x1BF3), (0x1C37, 0x1C37),
    (0x1CD0, 0x1CD2), (0x1CD4, 0x1CE0), (0x1CE2, 0x1CE8), (0x1CED, 0x1CED), (0x1CF4, 0x1CF4), (0x1CF8, 0x1CF9), (0x1DC0, 0x1DFF),
    (0x20D0, 0x20DC), (0x20E1, 0x20E1), (0x20E5, 0x20F0), (0x2CEF, 0x2CF1), (0x2D7F, 0x2D7F), (0x2DE0, 0x2DFF), (0x302A, 0x302F),
    (0x3099, 0x309A), (0xA66F, 0xA66F), (0xA674, 0xA67D), (0xA69E, 0xA69F), (0xA6F0, 0xA6F1), (0xA806, 0xA806), (0xA82C, 0xA82C),
    (0xA8C4, 0xA8C4), (0xA8E0, 0xA8F1), (0xA92B, 0xA92D), (0xA953, 0xA953), (0xA9B3, 0xA9B3), (0xA9C0, 0xA9C0), (0xAAB0, 0xAAB0),
    (0xAAB2, 0xAAB4), (0xAAB7, 0xAAB8), (0xAABE, 0xAABF), (0xAAC1, 0xAAC1), (0xAAF6, 0xAAF6), (0xABED, 0xABED), (0xFB1E, 0xFB1E),
    (0xFE20, 0xFE2F), (0xFF9E, 0xFF9F), (0x101FD, 0x101FD), (0x102E0, 0x102E0), (0x10376, 0x1037A), (0x10A0D, 0x10A0D), (0x10A0F, 0x10A0F),
    (0x10A38, 0x10A3A), (0x10A3F, 0x10A3F), (0x10AE5, 0x10AE6), (0x10D24, 0x10D27), (0x10EAB, 0x10EAC), (0x10F46, 0x10F50), (0x10F82, 0x10F85),
    (0x11046, 0x11046), (0x11070, 0x11070), (0x1107F, 0x1107F), (0x110B9, 0x110BA), (0x11100, 0x11102), (0x11133, 0x11134), (0x11173, 0x11173),
    (0x111C0, 0x111C0), (0x111CA, 0x111CA), (0x11235, 0x11236), (0x112E9, 0x112EA), (0x1133B, 0x1133C), (0x1134D, 0x1134D), (0x11366, 0x1136C),
    (0x11370, 0x11374), (0x11442, 0x11442), (0x11446, 0x11446), (0x1145E, 0x1145E), (0x114C2, 0x114C3), (0x115BF, 0x115C0), (0x1163F, 0x1163F),
    (0x116B6, 0x116B7), (0x1172B, 0x1172B), (0x11839, 0x1183A), (0x1193D, 0x1193E), (0x11943, 0x11943), (0x119E0, 0x119E0), (0x11A34, 0x11A34),
    (0x11A47, 0x11A47), (0x11A99, 0x11A99), (0x11C3F, 0x11C3F), (0x11D42, 0x11D42), (0x11D44, 0x11D45), (0x11D97, 0x11D97), (0x16AF0, 0x16AF4),
    (0x16B30, 0x16B36), (0x16FF0, 0x16FF1), (0x1BC9E, 0x1BC9E), (0x1D165, 0x1D169), (0x1D16D, 0x1D172), (0x1D17B, 0x1D182), (0x1D185, 0x1D18B),
    (0x1D1AA, 0x1D1AD), (0x1D242, 0x1D244), (0x1E000, 0x1E006), (0x1E008, 0x1E018), (0x1E01B, 0x1E021), (0x1E023, 0x1E024), (0x1E026, 0x1E02A),
    (0x1E130, 0x1E136), (0x1E2AE, 0x1E2AE), (0x1E2EC, 0x1E2EF), (0x1E8D0, 0x1E8D6), (0x1E944, 0x1E94A),
)


@functools.cache
def _long_mark_run() -> re.Pattern[str]:
    """Runs of more than 30 characters that are, or decompose to start with, non-starters."""
    known = unicodedata.unidata_version == NON_STARTERS_UNICODE
    ranges = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in (NON_STARTERS if known else _non_starter_ranges())
    )
    return re.compile(f"[{ranges}]{{{_STREAM_SAFE_RUN + 1},}}")


def _stream_safe(text: str) -> str:
    if text.isascii():
        return text
    return _long_mark_run().sub(
        lambda m: _GRAPHEME_JOINER.join(
            m.group()[i : i + _STREAM_SAFE_RUN] for i in range(0, len(m.group()), _STREAM_SAFE_RUN)
        ),
        text,
    )


@functools.cache
def _to_simplified() -> Any:
    """OpenCC's Traditional (Taiwan, Hong Kong) to Simplified converter: phrase-aware, in C++."""
    import opencc

    return opencc.OpenCC("t2s")


def fold(text: str) -> str:
    """Normalize a text for rule matching; lengths may change, never use for offsets."""
    folded = unicodedata.normalize("NFKC", _stream_safe(text))
    if not folded.isascii():
        try:
            folded = _to_simplified().convert(folded)
        except UnicodeEncodeError:  # lone surrogates of an undecodable mail: C++ reads UTF-8
            folded = _to_simplified().convert(folded.encode("utf-8", "replace").decode("utf-8"))
    return folded.lower().translate(_FOLD_TABLE)
