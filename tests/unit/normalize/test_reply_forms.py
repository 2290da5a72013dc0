"""Reply forms the reference suites do not cover, through `parse_email` where the mail
matters: format=flowed quoting (RFC 3676), a forwarded complaint kept as the case, a reply
written below the quote, and the `intake parse` summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intake.normalize._mime import unflow
from intake.normalize._reply import cut_reply, strip_reply
from intake.normalize.email import parse_email


def _mail(body: str, *, subject: str = "Re: order", ctype: str = "text/plain; charset=utf-8") -> bytes:
    return (
        f"From: Ann <ann@example.com>\nTo: help@example.com\nSubject: {subject}\n"
        f"Content-Type: {ctype}\n\n{body}"
    ).encode("utf-8")


def test_flowed_quoted_line_is_not_joined_to_the_reply_below() -> None:
    # Thunderbird: "> Hi " ends in a space (a soft break), but RFC 3676 §4.5 joins only
    # lines of the same quote depth.
    raw = _mail("On 04/02/2012 06:26 PM, Megan wrote:\r\n> Hi \r\nHello\r\n",
                ctype='text/plain; charset="us-ascii"; format="flowed"')
    message = parse_email(raw)
    assert message.new_text == "Hello"
    assert "> Hi" in message.text and "Hi Hello" not in message.text


@pytest.mark.parametrize(("flowed", "plain"), [
    ("a soft \nbreak", "a soft break"),
    ("> quoted soft \n> break\nnew", "> quoted soft break\nnew"),
    (">> deep \n> shallow", ">> deep \n> shallow"),
    (" From the top", "From the top"),  # §4.4: a space-stuffed line is unstuffed
    ("> stuffed", "> stuffed"),
    ("text \n-- \nsig", "text \n-- \nsig"),  # §4.3: the signature separator never joins
])
def test_unflow(flowed: str, plain: str) -> None:
    assert unflow(flowed, delsp=False) == plain


def test_unflow_delsp() -> None:
    assert unflow("abc \ndef", delsp=True) == "abcdef"


COMPLAINT = "Your courier broke my parcel and nobody answers the phone. I want a refund."


def test_forwarded_complaint_is_kept_as_the_case() -> None:
    body = (
        "FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Bob <bob@example.org>\n"
        "Date: Tue, Sep 4, 2012 at 1:35 PM\nSubject: Broken parcel\nTo: ann@example.com\n\n" + COMPLAINT
    )
    message = parse_email(_mail(body, subject="Fwd: Broken parcel"))
    assert message.new_text.startswith("FYI, see below.")
    assert COMPLAINT in message.new_text and "Forwarded message" in message.new_text
    assert message.extra_value("forwarded") == "yes"


def test_outlook_forward_is_kept_when_the_subject_says_so() -> None:
    body = (
        "Please handle.\n\n________________________________\nFrom: Bob <bob@example.org>\n"
        "Sent: Tuesday, 4 September 2012 13:35\nTo: Ann\nSubject: Broken parcel\n\n" + COMPLAINT
    )
    forwarded = parse_email(_mail(body, subject="FW: Broken parcel"))
    assert COMPLAINT in forwarded.new_text and forwarded.extra_value("forwarded") == "yes"
    replied = parse_email(_mail(body, subject="RE: Broken parcel"))
    assert replied.new_text == "Please handle."
    assert replied.extra_value("forwarded") is None
    assert int(replied.extra_value("quoted_cut_chars") or 0) > len(COMPLAINT)


def test_reply_after_a_forward_marker_inside_a_quote_is_still_a_reply() -> None:
    text = "Thanks\n\nOn 1 May 2025, Bob <bob@example.org> wrote:\n> ---------- Forwarded message ----------\n> x"
    cut = cut_reply(text)
    assert cut.text == "Thanks" and not cut.forwarded and cut.cut_chars == len(text) - len("Thanks")


@pytest.mark.parametrize("text", [
    "Test reply\n\nOn 04/19/2011 07:10 AM, Roman wrote:\n\n>\n> Test\n\nRegards, Roman",
    "Test reply\n\nEm 19/04/2011 07:10, Roman <r@example.com> escreveu:\n\n> Test\n\nRegards, Roman",
    "Test reply\n\nEl 19/04/2011 07:10, Roman <r@example.com> escribió:\n\n> Test\n\nRegards, Roman",
    "Test reply\n\nIl 19/04/2011 07:10, Roman <r@example.com> ha scritto:\n\n> Test\n\nRegards, Roman",
])
def test_reply_below_the_quote_is_kept(text: str) -> None:
    assert strip_reply(text) == "Test reply\n\nRegards, Roman"


def test_prose_that_mentions_writing_is_not_a_header() -> None:
    text = "On 3 May I wrote to you about my order\nand nobody sent anything."
    assert strip_reply(text) == text


def test_signature_is_cut_when_the_mail_opens_with_the_quote() -> None:
    text = "On 1 May 2025, Bob <bob@example.org> wrote:\n> question?\n> more\n\nMy answer.\n\n-- \nAnn, Acme Ltd"
    assert strip_reply(text) == "My answer."


def test_mailing_list_footer_is_cut() -> None:
    text = ("Hello list\n\n_______________________________________________\nusers mailing list\n"
            "users@lists.example.org\nhttps://lists.example.org/mailman/listinfo/users")
    assert strip_reply(text) == "Hello list"


def test_intake_parse_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from intake.cli.parse import parse_files

    path = tmp_path / "reply.eml"
    path.write_bytes(_mail("Yes, please.\n\nOn 1 May 2025, Bob <bob@example.org> wrote:\n> Refund?\n> ok"))
    lines: list[dict[str, object]] = []
    assert parse_files([str(path), str(tmp_path / "absent.eml")], True, lines.append, print) == 1
    summary, failure = lines
    assert summary["new_text"] == "Yes, please." and summary["sender"] == "ann@example.com"
    assert summary["language"] == "en" and summary["quoted_cut_chars"] and summary["forwarded"] is False
    assert summary["automated"] == [] and summary["bounce"] is False
    assert "cannot read" in str(failure["error"])
    json.dumps(summary)  # one JSON object per line
    assert parse_files([str(path)], False, lines.append, print) == 0
    assert "Yes, please." in capsys.readouterr().out
