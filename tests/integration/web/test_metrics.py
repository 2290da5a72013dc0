"""The series ops alert on (issue 13), each seen to move when what it measures changes:
per mailbox (real Dovecot) the messages waiting, the seconds since the last successful poll,
the last poll's failure by error class and the OAuth token's time left; the oldest input
not yet processed, failed captures, follow-ups by status and the oldest queued one. No
label carries text from a message."""

from __future__ import annotations

import datetime as dt
import re
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from intake.capture import imap
from intake.capture.inbox import CaptureItem, capture
from intake.mailboxes import get_mailbox
from intake.process import pipeline
from intake.tickets.models import Inbox, Outbox, utcnow
from intake.upkeep.health import counts
from intake.web.metrics import WebhookMetrics
from tests.flows import ingest_raw, mail, make_runtime
from tests.integration.capture.test_imap_poll import runtime_for

pytestmark = pytest.mark.integration

SECRET_SUBJECT = "Refund 8841 for Wang Fang"
SECRET_BODY = "card 6222021234567894 password hunter2"
# What a label value may be: a route, status, reason, mailbox, task or setting name, or an
# exception class, or a histogram bound; never free text.
LABEL_VALUE = re.compile(r"[A-Za-z0-9_.:+\-\[\]]*")


def scrape(rt: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The exposition as prometheus_client's parser reads it, checked for label hygiene."""
    text = WebhookMetrics().render(counts(rt))
    assert SECRET_SUBJECT not in text and "hunter2" not in text and "6222" not in text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for value in sample.labels.values():
                assert LABEL_VALUE.fullmatch(value), (sample.name, value)
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def secret_mail(n: int) -> bytes:
    return mail(subject=SECRET_SUBJECT, body=f"{SECRET_BODY} {n}", message_id=f"<m{n}@example.com>",
                sender=f"Wang Fang <wang{n}@example.com>")


@pytest.mark.timeout(120)
def test_mailbox_series_move_with_the_mailbox(mailbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = runtime_for(mailbox, tmp_path, imap_batch_size=2)
    box = get_mailbox(rt.settings, "default")
    for n in range(2):
        mailbox.append(secret_mail(n))
    imap.poll(rt, box)
    polled = scrape(rt)
    assert value(polled, "intake_mailbox_messages_waiting", mailbox="default") == 0
    assert value(polled, "intake_mailbox_last_poll_failed", mailbox="default", error_class="") == 0
    assert (value(polled, "intake_mailbox_seconds_since_poll", mailbox="default") or 99) < 5

    # Five new mails; the poll stores the first batch of two, then the database fails.
    for n in range(2, 7):
        mailbox.append(secret_mail(n))
    real_capture = imap.capture_many
    calls: list[int] = []

    def database_fails_on_the_second_batch(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("INSERT INTO inbox", {}, Exception("database is locked"))
        return real_capture(*args, **kwargs)

    monkeypatch.setattr(imap, "capture_many", database_fails_on_the_second_batch)
    time.sleep(1.1)
    with pytest.raises(OperationalError):
        imap.poll(rt, box)
    failed = scrape(rt)
    assert value(failed, "intake_mailbox_messages_waiting", mailbox="default") == 3
    assert value(failed, "intake_mailbox_last_poll_failed", mailbox="default", error_class="OperationalError") == 1
    assert (value(failed, "intake_mailbox_seconds_since_poll", mailbox="default") or 0) >= 1.0

    monkeypatch.setattr(imap, "capture_many", real_capture)
    imap.poll(rt, box)
    recovered = scrape(rt)
    assert value(recovered, "intake_mailbox_messages_waiting", mailbox="default") == 0
    assert value(recovered, "intake_mailbox_last_poll_failed", mailbox="default", error_class="") == 0
    assert (value(recovered, "intake_mailbox_seconds_since_poll", mailbox="default") or 99) < 1.0


def test_backlog_series_move(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path)
    empty = scrape(rt)
    assert value(empty, "intake_inbox_oldest_unprocessed_age_seconds") == 0
    assert value(empty, "intake_outbox_oldest_queued_age_seconds") == 0
    assert value(empty, "intake_captures_failed") == 0

    with rt.sessions() as session:  # captured ten minutes ago, not processed yet
        waiting = capture(session, rt.vault, CaptureItem("email", "test:waiting", secret_mail(1))).inbox_id
        session.execute(update(Inbox).where(Inbox.id == waiting).values(
            captured_at=utcnow() - dt.timedelta(minutes=10)))
        session.commit()
    outcome = ingest_raw(rt, secret_mail(2))  # its acknowledgement is queued
    with rt.sessions() as session:
        session.execute(update(Outbox).values(created_at=utcnow() - dt.timedelta(minutes=3)))
        session.commit()
    backlog = scrape(rt)
    assert 595 <= (value(backlog, "intake_inbox_oldest_unprocessed_age_seconds") or 0) < 700
    assert 175 <= (value(backlog, "intake_outbox_oldest_queued_age_seconds") or 0) < 300
    assert value(backlog, "intake_outbox_rows", status="queued") == len(outcome.outbox_ids) == 1

    pipeline.record_failure(rt, waiting, pipeline.UserError("unreadable email: test"), final=True)
    with rt.sessions() as session:
        session.execute(update(Outbox).values(status="sent"))
        session.commit()
    after = scrape(rt)
    assert value(after, "intake_inbox_oldest_unprocessed_age_seconds") == 0
    assert value(after, "intake_captures_failed") == 1
    assert value(after, "intake_inbox_quarantined", reason="user_error") == 1
    assert value(after, "intake_outbox_oldest_queued_age_seconds") == 0
    assert value(after, "intake_outbox_rows", status="sent") == 1


TOKEN_COMMAND = """#!/bin/sh
printf '{"access_token": "a", "expires_in": %s}\\n' "$(cat "$0.expires")"
"""


def test_oauth_token_expiry_series(tmp_path: Path) -> None:
    script = tmp_path / "token.sh"
    script.write_text(TOKEN_COMMAND)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    rt = make_runtime(f"sqlite:///{tmp_path}/i.db", tmp_path / "var", imap_host="127.0.0.1",
                      imap_user="support@example.test", imap_auth="xoauth2",
                      imap_oauth_token_command=str(script))
    box = get_mailbox(rt.settings, "default")
    with rt.sessions() as session:
        imap.acquire_lease(session, box.name, box.folder, 30)
        assert value(scrape(rt), "intake_mailbox_oauth_token_expires_in_seconds", mailbox="default") is None
        for expires_in, low, high in ((3600, 3590, 3600), (60, 50, 60)):
            Path(f"{script}.expires").write_text(str(expires_in))
            imap.oauth_token(rt, box, session)
            left = value(scrape(rt), "intake_mailbox_oauth_token_expires_in_seconds", mailbox="default")
            assert left is not None and low <= left <= high
        # what a token command may print instead: ignored, the token still used, the last expiry kept
        for odd in ('"3600"', '-5', '1e30', 'true', '"\u00b2"', '"99999999999"', 'null', '[1]'):
            Path(f"{script}.expires").write_text(odd)
            assert imap.oauth_token(rt, box, session) == "a"
        left = value(scrape(rt), "intake_mailbox_oauth_token_expires_in_seconds", mailbox="default")
        assert left is not None and 3590 <= left <= 3600  # '"3600"' (a string, as some providers send) counted
