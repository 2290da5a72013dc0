"""html_to_text on lxml: what the text looks like, and the cases where libxml2 could differ
from the hand-written tokenizer it replaced (depth limit, encodings, stopping early)."""

from __future__ import annotations

import time

import pytest

from intake.normalize._html import MAX_QUOTE_DEPTH, html_to_text


def test_blocks_entities_and_skipped_content() -> None:
    document = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<p>Hello &amp; welcome,\n   friend</p><script>alert(1)</script>"
        "<div>Line <b>bold</b>&nbsp;end<br>next</div><img alt='logo'>"
        "<table><tr><td>a<td>b</table></body></html>"
    )
    assert html_to_text(document) == "Hello & welcome, friend\n\nLine bold end\nnext\n[logo]\n\na\tb"


def test_list_items_are_one_line_each_whether_closed_or_not() -> None:
    expected = "before\n\n- one\n- two\n\nafter"
    assert html_to_text("<p>before</p><ul><li>one<li>two</ul><p>after") == expected
    assert html_to_text("<p>before</p><ul><li>one</li>\n<li>two</li></ul><p>after</p>") == expected


def test_unclosed_paragraphs_are_closed() -> None:
    # libxml2 reports the implied "</p>", so paragraphs are set apart as when closed.
    assert html_to_text("Hello,<p>first<p>second") == "Hello,\nfirst\n\nsecond"
    assert html_to_text("Hello,<p>first</p><p>second</p>") == "Hello,\nfirst\n\nsecond"


def test_pre_keeps_its_lines() -> None:
    assert html_to_text("<pre>a  b\nc</pre>") == "a  b\nc"


def test_blockquote_is_quoted_and_capped() -> None:
    assert html_to_text("<p>new</p><blockquote>old<blockquote>older</blockquote></blockquote>") == (
        "new\n\n> old\n> > older"
    )
    assert html_to_text("<blockquote>" * 50 + "deep", max_quote_depth=3) == "> > > deep"


def test_nesting_beyond_libxml2s_tree_limit_is_read_whole() -> None:
    # libxml2 stops trees at 256 levels without huge_tree; the target interface keeps no
    # tree, so the text after 1,000 levels is still there, quoted at the cap.
    text = html_to_text("<blockquote>line\n" * 1_000 + "</blockquote>" * 1_000 + "<p>after")
    lines = text.splitlines()
    assert lines.count("> " * MAX_QUOTE_DEPTH + "line") == 1_000 - MAX_QUOTE_DEPTH + 1
    assert lines[-1] == "after"


def test_a_meta_charset_does_not_decode_the_text_again() -> None:
    document = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gbk"></head><body>直播间 é</body>'
    assert html_to_text(document) == "直播间 é"
    assert html_to_text('<meta charset="iso-8859-1"><p>Olá — ajuda</p>') == "Olá — ajuda"


def test_text_across_feed_pieces_is_whole() -> None:
    word = "直播间被封禁了é"  # multi-byte characters straddle the 64 KB pieces
    assert html_to_text("<p>" + word * 20_000 + "</p>") == word * 20_000


@pytest.mark.parametrize("document", ["", "  \n", "<", "</>", "<!--", "<a ", "&#123456789012345678901234567890;"])
def test_odd_documents_give_text_not_errors(document: str) -> None:
    assert isinstance(html_to_text(document), str)


def test_lone_surrogates_and_nul_do_not_reach_the_text() -> None:
    text = html_to_text("a\ud800b\x00c")
    text.encode("utf-8")
    assert "\x00" not in text and text.startswith("a") and text.endswith("c")


def test_parsing_stops_once_the_text_is_full() -> None:
    document = "<p>word</p>" * 1_000_000  # 11 MB: ~6 s to read whole
    start = time.perf_counter()
    text = html_to_text(document, max_chars=1_000)
    assert time.perf_counter() - start < 2.0
    assert len(text) == 1_000
