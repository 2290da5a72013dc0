"""The loop guard's pure decisions: who never gets an automatic answer, and why."""

from __future__ import annotations

import re

from pathlib import Path

import pytest

from intake.messages import InboundMessage, LoopSignals
from intake.outbox.follow_ups import email_message_id, loop_guard
from intake.settings import load_settings

OURS = frozenset({"support@example.test", "finance@example.test"})


def msg(sender: str = "alice@example.com", **kw: object) -> InboundMessage:
    return InboundMessage(channel=kw.pop("channel", "email"), sender=sender, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("message", "is_new", "reason"), [
    (msg(), True, None),
    (msg(), False, "joined_ticket"),
    (msg(""), True, "no_sender"),
    (msg("anonymous", channel="voice"), True, "no_sender"),
    (msg("Support@Example.test"), True, "own_address"),
    (msg(loop=LoopSignals(reasons=("auto-submitted", "x-autoreply"))), True, "automated:auto-submitted,x-autoreply"),
    (msg(loop=LoopSignals(reasons=("list",))), True, "automated:list"),
    (msg("mailer-daemon@mx.example.com", loop=LoopSignals(reasons=("delivery-report",), is_bounce=True)),
     True, "automated:delivery-report"),
    (msg("+8613800001234", channel="sms"), True, None),
])
def test_message_reason(message: InboundMessage, is_new: bool, reason: str | None) -> None:
    assert loop_guard.message_reason(message, is_new, OURS) == reason


def test_our_addresses_cover_settings_and_every_mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    boxes = tmp_path / "mailboxes.yaml"
    boxes.write_text("mailboxes:\n  - name: finance\n    host: imap.example.test\n"
                     "    user: Finance@Example.test\n    password: x\n")
    settings = load_settings(data_dir=tmp_path, imap_host="imap.example.test", imap_user="support@example.test",
                             mailboxes_file=boxes, from_address="noreply-help@example.test",
                             our_addresses="desk@example.test, alias@example.test", mail_domain="help.example.test")
    ours = loop_guard.our_addresses(settings)
    assert {"support@example.test", "finance@example.test", "noreply-help@example.test",
            "desk@example.test", "alias@example.test", "support@help.example.test"} <= ours
    assert "example.test" in loop_guard.our_domains(settings)


def test_message_id_carries_a_random_part() -> None:
    first, second = (email_message_id(42, "TK-7QX2M9", "help.example.test") for _ in range(2))
    assert re.fullmatch(r"outbox-42\.[0-9a-f]{16}\.TK-7QX2M9@help\.example\.test", first)
    assert first != second  # unguessable: only the row stores it
