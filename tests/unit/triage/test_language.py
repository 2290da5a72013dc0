"""detect_language counts CJK against Latin words; fold normalizes for rule matching."""

from __future__ import annotations

import unicodedata

import pytest

from intake.triage import detect_language
from intake.triage.language import NON_STARTERS, NON_STARTERS_UNICODE, _non_starter_ranges, fold


@pytest.mark.parametrize(
    "text, expected",
    [
        ("上传视频一直卡在99%，请帮忙看看", "zh"),
        ("帳號被停權申訴，請人工審查", "zh"),
        ("My video was removed last night, please review it again.", "en"),
        ("urgent!! 我的 account 被盗了, someone 正在改我密码, 快帮我 lock", "mixed"),
        ("号被封了 映号xiaoyu_0712 咋解封", "zh"),
        ("12345 ??? !!!", "unknown"),
        ("", "unknown"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_fold_maps_traditional_width_case_and_apostrophes() -> None:
    assert fold("帳號 驗證碼 Can’t ＬＯＧ") == "账号 验证码 cant log"


@pytest.mark.skipif(unicodedata.unidata_version != NON_STARTERS_UNICODE, reason="the table is for one Unicode version")
def test_written_out_non_starters_are_the_scanned_ones() -> None:
    assert _non_starter_ranges() == NON_STARTERS


def test_a_long_run_of_marks_is_broken_by_grapheme_joiners() -> None:
    folded = fold("a" + "\u0301" * 70)
    assert folded.count("\u034f") == 2
