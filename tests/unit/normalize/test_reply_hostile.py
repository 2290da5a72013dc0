"""The reply cutter's header forms stay linear on hostile input: many long lines that
almost look like a header (see test_hostile.py for the general property tests)."""

from __future__ import annotations

import pytest

from intake.normalize._reply import strip_reply
from tests.unit.normalize.test_hostile import within_bound


@pytest.mark.parametrize("line", [
    "x On 1 " * 90 + "wrote:",  # a reply and its header on one line: "On" tried a few times only
    "2025-01-01 " + "a@b " * 150 + "x",  # "date <address>:" with no end
    "On 2025 " + "wrote " * 100 + "x",  # "On ... wrote" verbs without the colon
    "在 2025 " + "写道 " * 200,
    "Thu, 26 Jun 2014 " + "@" * 300,
    "On 1 Jan 2025 " + "x" * 2_000 + " wrote:",  # longer than any header: not looked at
])
def test_reply_headers_on_many_long_lines_are_bounded(line: str) -> None:
    text = "\n".join([line] * 3_000 + ["> q"] * 1_000 + [""] * 1_000 + ["reply"])
    within_bound(strip_reply, text)


def test_many_headers_each_before_a_blank_run_are_bounded() -> None:
    text = ("On 1 Jan 2025, a <a@b.c> wrote:\n" + "\n" * 50 + "> q\n") * 2_000 + "reply"
    assert within_bound(strip_reply, text) == "reply"
