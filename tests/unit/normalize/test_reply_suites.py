"""The reply cutter against the test suites of two reference reply parsers.

../shared/corpus/replies/cases.json holds every case of zapier/email-reply-parser (MIT)
and mailgun/talon's `extract_from_plain` tests and standard-reply fixtures (Apache-2.0),
with the new text each expects (see that folder's README for origin and how to compare).
Text cases go through `strip_reply`, .eml cases through `parse_email(...).new_text`.
Cases we do not pass are listed in XFAIL with the reason, strict: passing one fails the
suite until it is taken off the list.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from intake.normalize._reply import strip_reply
from intake.normalize.email import parse_email
from tests.support.shared import SHARED_DIR, need_shared

REPLIES = SHARED_DIR / "corpus" / "replies"

XFAIL = {
    "talon-eml:sparrow.eml": "talon keeps the signature ('-- ' and 'Sent with Sparrow'); intake cuts it by design",
    "talon-inline:test_too_many_lines": "holds in talon only under a lowered line limit; intake keeps 'Hi'",
}


def _cases() -> list[Any]:
    path = REPLIES / "cases.json"
    if not path.is_file():
        return [pytest.param(None, id="<no shared corpus>")]
    params = []
    seen: dict[str, int] = {}
    for case in json.loads(path.read_text(encoding="utf-8")):
        name = f"{case['suite']}:{case['id']}"
        seen[name] = seen.get(name, 0) + 1
        case_id = name if seen[name] == 1 else f"{name}#{seen[name]}"
        marks = [pytest.mark.xfail(strict=True, reason=XFAIL[case_id])] if case_id in XFAIL else []
        params.append(pytest.param(case, id=case_id, marks=marks))
    return params


def _normal(text: str) -> str:
    """The README's comparison: LF line ends, no trailing spaces, one blank line at most."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n")).strip()
    return re.sub(r"\n{3,}", "\n\n", text)


@pytest.mark.parametrize("case", _cases())
def test_reference_suite_case(case: dict[str, Any] | None) -> None:
    folder: Path = need_shared("corpus", "replies", "cases.json").parent
    assert case is not None
    if case["kind"] == "text":
        got = strip_reply(case["input"])
    else:
        got = parse_email((folder / case["file"]).read_bytes()).new_text
    got = _normal(got)
    expect = case["expect"]
    if "equals" in expect:
        assert got == _normal(expect["equals"])
    for piece in expect.get("contains", []):
        assert _normal(piece) in got
    for piece in expect.get("not_contains", []):
        assert _normal(piece) not in got


def test_xfail_list_names_real_cases() -> None:
    path = need_shared("corpus", "replies", "cases.json")
    ids = {param.id for param in _cases()}
    assert set(XFAIL) <= ids, path
