"""Agents re-route tickets: the correction is stored with the triage hits it overrides, a
ticket re-routed to account or finance is sealed at once, and `intake triage train` learns
from the correction so that a near-identical later message is routed the corrected way."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, text

from intake.crypto import generate_key
from intake.messages import InboundMessage
from intake.tickets.corrections import RouteError, corrected_messages, route
from intake.tickets.models import Message, Ticket
from intake.tickets.records import Correction
from intake.triage import load_rules, triage_message
from intake.triage.model import MODEL_FILE, save_model
from intake.triage.training import Sample, train
from tests.flows import INTAKE_BIN, ingest_raw, mail, make_runtime, subprocess_env

pytestmark = pytest.mark.integration

# Triage reads this as feedback; the desk decides otherwise.
MAIL = mail(subject="Suggestion", body="I would love a dark mode in the app, it is so bright at night. Just a suggestion!",
            message_id="<route-1@example.com>")


@pytest.fixture
def rt(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    runtime = make_runtime(db_url, tmp_path / "var", encryption_key=generate_key())
    yield runtime
    runtime.dispose()


def _ref(rt) -> str:  # type: ignore[no-untyped-def]
    with rt.sessions() as session:
        return session.scalars(select(Ticket.ref)).one()


def test_route_to_account_seals_the_ticket_and_keeps_the_overridden_hits(rt) -> None:  # type: ignore[no-untyped-def]
    ingest_raw(rt, MAIL)
    ref = _ref(rt)
    with rt.sessions() as session:
        triaged = session.scalars(select(Ticket.category)).one()
    assert triaged != "account"
    result = route(rt, ref.lower(), "account", by="agent-7")
    assert result is not None and result["category"] == "account" and result["private"]
    assert result["department"] == "account_management" and result["before"]["category"] == triaged
    with rt.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
        message = session.scalars(select(Message)).one()
        correction = session.scalars(select(Correction)).one()
        assert ticket.private and "correction:account" in ticket.private_reasons
        assert message.text is None and message.text_secret is not None
        assert correction.category_before == triaged and correction.by == "agent-7"
        assert correction.overridden  # what triage had said, rule ids only now the case is private
        assert all("@" not in reason for reason in correction.overridden) or not ticket.private
    with rt.engine.connect() as connection:
        stored = b"".join(str(v).encode() if not isinstance(v, bytes) else v
                          for row in connection.execute(text("SELECT * FROM triage_corrections")) for v in row)
    assert b"bright at night" not in stored  # the text is kept sealed
    [opened] = corrected_messages(rt)
    assert "bright at night" in opened["text"] and opened["category"] == "account"


def test_route_refuses_unknown_names_and_missing_tickets(rt) -> None:  # type: ignore[no-untyped-def]
    ingest_raw(rt, MAIL)
    with pytest.raises(RouteError):
        route(rt, _ref(rt), "billing")
    with pytest.raises(RouteError):
        route(rt, _ref(rt), "account", priority="asap")
    assert route(rt, "TK-NOPE00", "account") is None


def test_two_agents_routing_at_once_leave_one_ticket_state_and_two_corrections(rt) -> None:  # type: ignore[no-untyped-def]
    ingest_raw(rt, MAIL)
    ref = _ref(rt)
    errors: list[BaseException] = []

    def agent(category: str) -> None:
        try:
            route(rt, ref, category, by=category)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=agent, args=(c,)) for c in ("payment", "technical")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    with rt.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
        corrections = session.scalars(select(Correction).order_by(Correction.id)).all()
    assert len(corrections) == 2 and ticket.category == corrections[-1].category
    if any(c.category == "payment" for c in corrections):
        assert ticket.private  # privacy is sticky once a correction made it private


def test_a_correction_changes_a_later_near_identical_message(rt, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ingest_raw(rt, MAIL)
    words = "I would love a dark mode in the app, it is too bright at night. Just a suggestion"
    near_identical = InboundMessage(channel="email", sender="bob@example.com", subject="Suggestion",
                                    text=words, new_text=words)
    data_dir = tmp_path / "var"
    base = [Sample("the app crashes on start", "technical", "normal"), Sample("提现没到账", "payment", "high"),
            Sample("please add dark mode", "feedback", "low"), Sample("the new page design looks weird", "feedback", "low"),
            Sample("i cannot log in to my account", "account", "normal")]
    save_model(train(base), data_dir / MODEL_FILE)
    folder = tmp_path / "labelled"
    folder.mkdir()
    labels = {}
    for number, sample in enumerate(base):
        (folder / f"sms_{number:03}.txt").write_text(sample.text, encoding="utf-8")
        labels[f"sms_{number:03}.txt"] = {"channel": "sms", "category": sample.category, "priority": sample.priority,
                                          "private": False, "pii": []}
    (folder / "labels.json").write_text(json.dumps(labels), encoding="utf-8")
    before = triage_message(near_identical, load_rules(data_dir=data_dir))
    route(rt, _ref(rt), "content_review")
    done = subprocess.run([INTAKE_BIN, "triage", "train", str(folder)], env=subprocess_env(db_url, data_dir, INTAKE_ENCRYPTION_KEY=rt.settings.encryption_key),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["corrections"] == 1
    after = triage_message(near_identical, load_rules(data_dir=data_dir))
    assert before.category != "content_review" and after.category == "content_review"
