"""A burst of SMS from one number, processed concurrently, joins one ticket (the thread
lookup holds the contact's lock), and racing workers create one contact, on SQLite and
PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from intake.capture.inbox import capture
from intake.capture.twilio import make_item
from intake.process import pipeline
from intake.runtime import Runtime
from intake.tickets import store
from intake.tickets.models import Contact, Message, Ticket
from tests.flows import make_runtime

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

BURST = 20
NUMBER = "+15555550177"


def sms_params(index: int, number: str = NUMBER) -> dict[str, str]:
    return {"AccountSid": "AC" + "0" * 32, "MessageSid": f"SM{index:032d}", "From": number,
            "To": "+15555550100", "Body": f"my video upload keeps failing, part {index}", "NumMedia": "0"}


def capture_burst(rt: Runtime, count: int, number: str = NUMBER) -> list[int]:
    with rt.sessions() as session:
        ids = [capture(session, rt.vault, make_item("sms", sms_params(i, number), "https://x/sms")).inbox_id
               for i in range(count)]
        session.commit()
    return ids


def run_together(count: int, work: Callable[[int], object]) -> list[BaseException]:
    """Run work(i) in `count` threads released at once; the errors they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(index)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=150)
    return errors


@pytest.mark.parametrize("known_number", [True, False], ids=["known_number", "new_number"])
def test_twenty_concurrent_sms_from_one_number_open_one_ticket(db_url: str, tmp_path: Path,
                                                               known_number: bool) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    if known_number:  # no contact insert to queue the workers: only the thread lock does
        with rt.sessions() as session:
            store.get_or_create_contact(session, NUMBER, "phone")
            session.commit()
    inbox_ids = capture_burst(rt, BURST)
    # One runtime (engine, connection pool) per thread: as separate worker processes would.
    runtimes = [Runtime.from_settings(rt.settings) for _ in range(BURST)]
    outcomes: dict[int, str] = {}

    def process(index: int) -> None:
        outcomes[index] = pipeline.process_inbox(runtimes[index], inbox_ids[index]).outcome

    try:
        errors = run_together(BURST, process)
    finally:
        for other in runtimes:
            other.dispose()
    assert errors == []
    assert sorted(outcomes.values()) == [pipeline.ADDED] * (BURST - 1) + [pipeline.NEW_TICKET]
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
        assert session.scalar(select(func.count()).select_from(Contact)) == 1
        assert session.scalar(select(func.count()).select_from(Message)) == BURST
    rt.dispose()


def test_racing_workers_create_one_contact(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    runtimes = [Runtime.from_settings(rt.settings) for _ in range(8)]
    contact_ids: list[int] = []

    def create(index: int) -> None:
        with runtimes[index].sessions() as session:
            contact_ids.append(store.get_or_create_contact(session, "+15555550188", "phone").id)
            session.commit()

    try:
        errors = run_together(len(runtimes), create)
    finally:
        for other in runtimes:
            other.dispose()
    assert errors == [] and len(set(contact_ids)) == 1 and len(contact_ids) == len(runtimes)
    rt.dispose()
