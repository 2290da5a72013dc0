"""`nesting_cut`'s shortcut (few declared boundaries: no scan) answers what the scan answers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from intake.normalize._mime import _BOUNDARY_EVENT, nesting_cut


def _scanned(raw: bytes, max_nesting: int) -> int | None:
    """The scan alone, as it was before the shortcut."""
    declared: set[bytes] = set()
    open_levels: list[bytes] = []
    for match in _BOUNDARY_EVENT.finditer(raw):
        if match.group(1) is not None:
            declared.add(match.group(1))
            continue
        marker = match.group(2)
        closing = marker.endswith(b"--") and marker[:-2] in open_levels
        name = marker[:-2] if closing else marker
        if name in open_levels:
            del open_levels[open_levels.index(name) + (0 if closing else 1) :]
        elif name in declared and not closing:
            open_levels.append(name)
            if len(open_levels) > max_nesting:
                return match.start()
    return None


LINES = [
    b'Content-Type: multipart/mixed; boundary="a"\n', b"Content-Type: multipart/mixed; BOUNDARY=b\n",
    b"content-type: multipart/alternative; Boundary = c\n", b"--a\n", b"--b\n", b"--c\n", b"--a--\n",
    b"--b--\n", b"--c--\n", b"--d\n", b"\n", b"text\n", b"boundary\n",
]


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.sampled_from(LINES), max_size=40), max_nesting=st.integers(0, 4))
def test_the_shortcut_answers_what_the_scan_answers(lines: list[bytes], max_nesting: int) -> None:
    raw = b"".join(lines)
    assert nesting_cut(raw, max_nesting) == _scanned(raw, max_nesting)


def test_three_levels_over_a_cap_of_two_are_cut() -> None:
    raw = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(3))
    assert nesting_cut(raw, 2) == raw.rindex(b"--b2")
    assert nesting_cut(raw, 3) is None
