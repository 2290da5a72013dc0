"""Erasure against a worker storing a new message from the same person, at the same time.

The semantics (intake/tickets/erasure.py): what was captured before the erasure began is
erased, even while a worker is processing it (the worker then ends with its capture gone,
nothing half-stored); a message captured after the erasure is new and opens a new contact.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from intake.capture.inbox import CaptureItem, capture
from intake.process import flow, pipeline
from intake.runtime import Runtime
from intake.tickets.erasure import erase_contact
from intake.tickets.models import Contact, Inbox, Message, Ticket, utcnow
from tests.flows import ingest_raw, mail, make_runtime
from tests.integration.tickets.test_erasure import holds
from tests.integration.tickets.test_private_bytes_at_rest import database_bytes

pytestmark = pytest.mark.integration

ALICE = "alice.race@example.com"


def worker(rt: Runtime, inbox_id: int, results: list[Any]) -> None:
    """What the Celery task does: process, and on our fault record the attempt and retry."""
    for _ in range(5):
        try:
            results.append(pipeline.process_inbox(rt, inbox_id).outcome)
            return
        except pipeline.UserError as exc:  # the capture is gone: erased under the worker
            results.append(f"user_error:{exc}")
            return
        except Exception as exc:  # noqa: BLE001 - e.g. a foreign key to the erased contact
            results.append(type(exc).__name__)
            pipeline.record_failure(rt, inbox_id, exc)


def orphans(rt: Runtime) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Message).where(
            Message.ticket_id.not_in(select(Ticket.id)))) or 0) + int(session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.contact_id.not_in(select(Contact.id)))) or 0)


@pytest.mark.timeout(300)
def test_erasure_racing_a_worker_on_the_same_person(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path)
    ingest_raw(rt, mail(sender=ALICE, body="RACE-OLD-0001", message_id="<old@example.com>"))
    for round_number in range(4):
        with rt.sessions() as session:
            inbox_id = capture(session, rt.vault, CaptureItem("email", f"test:race{round_number}", mail(
                sender=ALICE, body=f"RACE-NEW-{round_number:04d}", message_id=f"<r{round_number}@example.com>",
                subject="Re: my case"))).inbox_id
            session.commit()
        results: list[Any] = []
        reports: list[Any] = []
        start = threading.Barrier(2)

        def run_worker() -> None:
            start.wait()
            worker(rt, inbox_id, results)

        def run_erasure() -> None:
            start.wait()
            reports.append(erase_contact(rt, ALICE))

        threads = [threading.Thread(target=run_worker), threading.Thread(target=run_erasure)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert reports and reports[0].found, results  # the erasure never fails
        # Captured before the erasure began: erased, whoever got there first.
        with rt.sessions() as session:
            assert session.get(Inbox, inbox_id) is None
            assert session.scalar(select(func.count()).select_from(Contact)) == 0
            assert session.scalar(select(func.count()).select_from(Message)) == 0
        assert orphans(rt) == 0
        assert not holds(database_bytes(db_url, tmp_path), f"RACE-NEW-{round_number:04d}".encode())
        # the worker ended: stored it before the erasure, or found its capture gone
        assert results and (results[-1] in (pipeline.NEW_TICKET, pipeline.ADDED, pipeline.DUPLICATE)
                            or str(results[-1]).startswith("user_error")), results
    # After the erasure the person may write again: a new contact, a new ticket.
    outcome = ingest_raw(rt, mail(sender=ALICE, body="RACE-AFTER", message_id="<after@example.com>"))
    assert outcome.outcome == pipeline.NEW_TICKET
    assert erase_contact(rt, ALICE).counts["messages"] == 1


@pytest.mark.timeout(120)
def test_erasure_waits_for_a_worker_holding_the_person_and_erases_its_message(db_url: str, tmp_path: Path) -> None:
    """A worker in the middle of storing a message from the person (it holds the contact's
    lock, uncommitted): the erasure waits for it, then erases that message too."""
    rt = make_runtime(db_url, tmp_path)
    ingest_raw(rt, mail(sender=ALICE, body="HELD-OLD", message_id="<held-old@example.com>"))
    raw = mail(sender=ALICE, body="HELD-NEW-4242", message_id="<held-new@example.com>")
    with rt.sessions() as session:
        inbox_id = capture(session, rt.vault, CaptureItem("email", "test:held", raw)).inbox_id
        session.commit()
    reports: list[Any] = []
    with rt.sessions() as held:
        inbox = held.get(Inbox, inbox_id)
        assert inbox is not None
        ctx = flow.Context(rt=rt, session=held, inbox=inbox, now=utcnow())
        prepared = flow.prepare_email(raw, None, rt.rules)
        stored = flow.message_flow(ctx, prepared.msg, prepared=prepared)  # holds the contact lock
        held.flush()
        eraser = threading.Thread(target=lambda: reports.append(erase_contact(rt, ALICE)))
        eraser.start()
        eraser.join(2)
        assert eraser.is_alive() and not reports  # waiting for the worker
        held.commit()
    eraser.join(60)
    assert reports and reports[0].counts["messages"] == 2
    with rt.sessions() as session:
        assert session.get(Message, stored.message_id) is None
        assert session.scalar(select(func.count()).select_from(Contact)) == 0
    assert orphans(rt) == 0
    assert not holds(database_bytes(db_url, tmp_path), b"HELD-NEW-4242")


@pytest.mark.timeout(240)
def test_an_erasure_killed_midway_is_all_or_nothing_and_can_be_run_again(db_url: str, tmp_path: Path) -> None:
    """`intake contacts erase` killed (SIGKILL) at some point of its run: the person's data
    is either all there or all gone (one transaction), and running it again finishes."""
    import random
    import signal
    import subprocess
    import time

    from intake.capture.twilio import make_item
    from intake.capture.inbox import capture_many
    from tests.flows import INTAKE_BIN, subprocess_env

    rt = make_runtime(db_url, tmp_path)
    for n in range(3):
        ingest_raw(rt, mail(sender=ALICE, body=f"KILLED-{n}", message_id=f"<k{n}@example.com>"))
    with rt.sessions() as session:  # captures the erasure must open one by one: it takes a while
        capture_many(session, rt.vault, [make_item("status", {
            "MessageSid": f"SM{n:032x}", "MessageStatus": "delivered", "To": f"+1555{n:07d}"}, "u")
            for n in range(6000)])
        session.commit()
    env = subprocess_env(db_url, tmp_path)
    for attempt in range(3):
        proc = subprocess.Popen([INTAKE_BIN, "contacts", "erase", ALICE], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(random.uniform(0.3, 1.5))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        with rt.sessions() as session:
            messages = session.scalar(select(func.count()).select_from(Message))
            contacts = session.scalar(select(func.count()).select_from(Contact))
        assert (messages, contacts) in ((3, 1), (0, 0)), (attempt, messages, contacts)
        assert orphans(rt) == 0
        if messages == 0:
            break
    done = subprocess.run([INTAKE_BIN, "contacts", "erase", ALICE], env=env, capture_output=True, timeout=120)
    assert done.returncode in (0, 1)
    assert not holds(database_bytes(db_url, tmp_path), b"KILLED-1")
