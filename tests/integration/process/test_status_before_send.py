"""Twilio status callbacks that arrive before the send recorded its MessageSid are kept as
`pending` and applied when the send is recorded (or by a later callback), never failed."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.capture.inbox import capture
from intake.capture.twilio import make_item
from intake.process import pipeline, status
from intake.runtime import Runtime
from intake.tickets import store
from intake.tickets.models import Inbox, Outbox, Ticket, utcnow
from tests.flows import make_runtime

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def new_ticket(rt: Runtime) -> int:
    with rt.sessions() as session:
        contact = store.get_or_create_contact(session, "+15555550123", "phone")
        ticket = Ticket(ref=store.new_ref(), status="open", channel="sms", contact_id=contact.id,
                        created_at=utcnow(), updated_at=utcnow(), last_message_at=utcnow())
        session.add(ticket)
        session.commit()
        return ticket.id


def sending_row(rt: Runtime, ticket_id: int, key: str) -> int:
    """An SMS the send task has handed to Twilio but not yet recorded."""
    with rt.sessions() as session:
        row = Outbox(ticket_id=ticket_id, dedupe_key=key, kind="ack", channel="sms",
                     to_address="+15555550123", status="sending", created_at=utcnow(), updated_at=utcnow())
        session.add(row)
        session.commit()
        return row.id


def record_send(rt: Runtime, outbox_id: int, sid: str) -> int:
    """What the send path does once Twilio answered, plus the one call it adds."""
    with rt.sessions() as session:
        row = session.get(Outbox, outbox_id)
        assert row is not None
        row.status, row.provider_id, row.sent_at = "sent", sid, utcnow()
        applied = status.apply_pending_statuses(session, sid)
        session.commit()
        return applied


def callback(rt: Runtime, sid: str, reported: str, error_code: str = "") -> int:
    params = {"AccountSid": "AC" + "0" * 32, "MessageSid": sid, "MessageStatus": reported}
    if error_code:
        params["ErrorCode"] = error_code
    with rt.sessions() as session:
        inbox_id = capture(session, rt.vault, make_item("status", params, "https://x/status")).inbox_id
        session.commit()
    return inbox_id


def inbox(rt: Runtime, inbox_id: int) -> Inbox:
    with rt.sessions() as session:
        row = session.get(Inbox, inbox_id)
        assert row is not None
        return row


def outbox(rt: Runtime, outbox_id: int) -> Outbox:
    with rt.sessions() as session:
        row = session.get(Outbox, outbox_id)
        assert row is not None
        return row


def test_an_early_callback_waits_pending_and_the_send_applies_it(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    row_id = sending_row(rt, new_ticket(rt), "t:1")
    sid = "SM" + "1" * 32
    early = callback(rt, sid, "undelivered", error_code="30003")
    assert pipeline.process_inbox(rt, early).outcome == status.PENDING
    assert (inbox(rt, early).status, inbox(rt, early).outcome) == ("pending", "pending")
    assert pipeline.process_inbox(rt, early).outcome == status.PENDING  # a redelivered task: same
    assert record_send(rt, row_id, sid) == 1
    row = outbox(rt, row_id)
    assert (row.status, row.provider_status, row.error_code) == ("undelivered", "undelivered", "30003")
    assert (inbox(rt, early).status, inbox(rt, early).outcome) == ("done", pipeline.UPDATED)
    assert inbox(rt, early).ticket_id == row.ticket_id
    rt.dispose()


def test_a_later_callback_applies_the_early_ones_first(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    row_id = sending_row(rt, new_ticket(rt), "t:2")
    sid = "SM" + "2" * 32
    early = callback(rt, sid, "delivered")
    assert pipeline.process_inbox(rt, early).outcome == status.PENDING
    with rt.sessions() as session:  # the send path records the sid without the new call
        session.get(Outbox, row_id).provider_id = sid  # type: ignore[union-attr]
        session.commit()
    late = callback(rt, sid, "sent")
    assert pipeline.process_inbox(rt, late).outcome == pipeline.UPDATED
    row = outbox(rt, row_id)
    assert row.status == "delivered" and row.provider_status == "sent"  # never steps back
    assert inbox(rt, early).status == "done" and inbox(rt, early).outcome == pipeline.UPDATED
    rt.dispose()


def test_any_later_callback_settles_kept_ones_and_sets_old_ones_aside(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    ticket_id = new_ticket(rt)
    recorded_id = sending_row(rt, ticket_id, "t:4")
    sending_row(rt, ticket_id, "t:5")  # stays in flight throughout
    recorded, never = "SM" + "3" * 32, "SM" + "4" * 32
    kept = callback(rt, recorded, "delivered")
    stale = callback(rt, never, "delivered")
    assert [pipeline.process_inbox(rt, i).outcome for i in (kept, stale)] == [status.PENDING] * 2
    with rt.sessions() as session:
        session.get(Outbox, recorded_id).provider_id = recorded  # type: ignore[union-attr]
        session.get(Inbox, stale).captured_at = utcnow() - status.PENDING_PATIENCE - dt.timedelta(minutes=1)  # type: ignore[union-attr]
        session.commit()
    other = callback(rt, "SM" + "5" * 32, "sent")  # about some other message
    assert pipeline.process_inbox(rt, other).outcome == status.PENDING
    assert outbox(rt, recorded_id).status == "delivered"
    assert (inbox(rt, kept).status, inbox(rt, kept).outcome) == ("done", pipeline.UPDATED)
    assert (inbox(rt, stale).status, inbox(rt, stale).outcome) == ("done", pipeline.IGNORED)
    rt.dispose()


def test_a_callback_with_nothing_in_flight_is_ignored(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    stray = callback(rt, "SM" + "6" * 32, "delivered")
    assert pipeline.process_inbox(rt, stray).outcome == pipeline.IGNORED
    assert inbox(rt, stray).status == "done"
    rt.dispose()


def test_a_callback_racing_the_send_is_applied_every_time(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    ticket_id = new_ticket(rt)
    sender, processor = Runtime.from_settings(rt.settings), Runtime.from_settings(rt.settings)
    try:
        for attempt in range(12):
            row_id = sending_row(rt, ticket_id, f"race:{attempt}")
            sid = f"SM{attempt:032d}"
            inbox_id = callback(rt, sid, "delivered")
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def run(work: Callable[[], object]) -> None:
                try:
                    barrier.wait(timeout=10)
                    work()
                except BaseException as exc:  # noqa: BLE001
                    errors.append(exc)

            threads = [threading.Thread(target=run, args=(lambda: record_send(sender, row_id, sid),)),
                       threading.Thread(target=run, args=(lambda: pipeline.process_inbox(processor, inbox_id),))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert errors == []
            assert outbox(rt, row_id).status == "delivered", f"attempt {attempt}"
            assert inbox(rt, inbox_id).status == "done"
    finally:
        sender.dispose()
        processor.dispose()
    rt.dispose()


def test_no_status_callback_is_pending_once_applied(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    row_id = sending_row(rt, new_ticket(rt), "t:7")
    sid = "SM" + "7" * 32
    ids = [callback(rt, sid, s) for s in ("queued", "sent", "delivered")]
    assert [pipeline.process_inbox(rt, i).outcome for i in ids] == [status.PENDING] * 3
    assert record_send(rt, row_id, sid) == 3
    with rt.sessions() as session:
        assert session.scalars(select(Inbox).where(Inbox.status == "pending")).all() == []
    assert outbox(rt, row_id).status == "delivered"
    rt.dispose()
