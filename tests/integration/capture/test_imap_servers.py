"""IMAP servers as they are: Courier's `INBOX.` namespace, no MOVE, folders that cannot be
created, SELECT without UIDNEXT, special-use folders; and `intake mailbox check` on them.

Each server is a real Dovecot configured the other server's way (see conftest.py)."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from sqlalchemy import select

from intake.capture import imap
from intake.capture.folders import uid_next
from intake.mailboxes import FOLDER_PROBLEM, get_mailbox
from intake.tickets.models import Inbox, MailboxState
from intake.upkeep.health import counts
from intake.web.metrics import WebhookMetrics
from tests.flows import INTAKE_BIN, mail, subprocess_env
from tests.integration.capture.test_imap_poll import count, poll_and_process, runtime_for, seen_flags

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def state_of(rt: Any) -> MailboxState:
    with rt.sessions() as session:
        state = session.get(MailboxState, "default")
        assert state is not None
        session.expunge(state)
        return state


def folders(box: Any) -> list[str]:
    client = box.connect("none")
    try:
        return sorted(name for _flags, _delimiter, name in client.list_folders())
    finally:
        client.logout()


# -- Courier's layout: every folder under INBOX., separator "." -----------------------------

def test_courier_layout_refuses_a_top_level_folder(courier_box) -> None:  # type: ignore[no-untyped-def]
    """The variant reproduces the report: CREATE outside the INBOX. namespace fails."""
    client = courier_box.connect("none")
    try:
        assert client.namespace().personal == (("INBOX.", "."),)
        with pytest.raises(IMAPClientError):
            client.create_folder("Processed")
    finally:
        client.logout()


def test_courier_layout_with_default_settings_captures_and_moves_under_the_namespace(courier_box, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        courier_box.append(mail(subject=f"Login fails {i}", message_id=f"<c{i}@example.com>"))
    courier_box.append(mail(subject="Huge", body="x" * 20000, message_id="<big@example.com>"))
    rt = runtime_for(courier_box, tmp_path, max_message_bytes=5000)  # Processed, Quarantine
    result, outcomes = poll_and_process(rt)
    assert len(result.captured) == 6 and result.folder_problems == []
    assert courier_box.count("INBOX") == 0
    assert courier_box.count("INBOX.Processed") == 5 and courier_box.count("INBOX.Quarantine") == 1
    assert all(b"\\Seen" in flags for flags in seen_flags(courier_box, "INBOX.Processed"))
    assert state_of(rt).last_error is None
    again, _ = poll_and_process(rt)
    assert again.captured == [] and count(rt, Inbox) == 6


def test_full_names_are_used_as_given(courier_box, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    courier_box.append(mail())
    rt = runtime_for(courier_box, tmp_path, imap_processed_folder="INBOX.Done")
    result, _ = poll_and_process(rt)
    assert len(result.captured) == 1 and courier_box.count("INBOX.Done") == 1
    assert "INBOX.INBOX.Done" not in folders(courier_box)


def test_special_use_values_name_the_folder_with_that_attribute(courier_box, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    courier_box.append(mail(message_id="<small@example.com>"))
    courier_box.append(mail(subject="Huge", body="x" * 20000, message_id="<huge@example.com>"))
    rt = runtime_for(courier_box, tmp_path, imap_processed_folder="\\Archive",
                     imap_quarantine_folder="\\Junk", max_message_bytes=5000)
    result, _ = poll_and_process(rt)
    assert len(result.captured) == 2 and result.folder_problems == []
    assert courier_box.count("INBOX.Archive") == 1 and courier_box.count("INBOX.Junk") == 1


def test_a_special_use_folder_the_server_lacks_is_a_problem_not_a_stop(mailbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mailbox.append(mail())
    rt = runtime_for(mailbox, tmp_path, imap_processed_folder="\\Archive")
    result, _ = poll_and_process(rt)
    assert len(result.captured) == 1 and mailbox.count("INBOX") == 1
    [problem] = result.folder_problems
    assert problem.startswith("INTAKE_IMAP_PROCESSED_FOLDER='\\\\Archive'") and "special-use" in problem


# -- no MOVE: COPY, \Deleted, UID EXPUNGE ---------------------------------------------------

def test_without_move_copy_and_uid_expunge_move_only_our_mail(nomove_box, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = nomove_box.connect("none")
    try:
        assert not client.has_capability("MOVE") and client.has_capability("UIDPLUS")
    finally:
        client.logout()
    # A person deleted this one in their mail client but has not expunged it yet: a plain
    # EXPUNGE would destroy it; UID EXPUNGE of our UIDs leaves it alone.
    nomove_box.append(mail(message_id="<person@example.com>", body="theirs"), flags=[b"\\Deleted"])
    rt = runtime_for(nomove_box, tmp_path, imap_start="now")
    poll_and_process(rt)
    for i in range(3):
        nomove_box.append(mail(message_id=f"<m{i}@example.com>", body=f"ours {i}"))
    result, _ = poll_and_process(rt)
    assert len(result.captured) == 3
    assert nomove_box.count("INBOX") == 1 and nomove_box.count("Processed") == 3
    flags = seen_flags(nomove_box, "Processed")
    assert all(b"\\Seen" in f and b"\\Deleted" not in f for f in flags)


# -- a folder that cannot be created or used ------------------------------------------------

def test_a_processed_folder_that_cannot_be_created_does_not_stop_capture(mailbox, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    # Dovecot's "." separator forbids "/" in names: CREATE fails as it does on Courier and Cyrus.
    for i in range(3):
        mailbox.append(mail(message_id=f"<k{i}@example.com>", body=f"body {i}"))
    rt = runtime_for(mailbox, tmp_path, imap_processed_folder="Done/2026")
    with caplog.at_level(logging.WARNING, logger="intake.imap"):
        result, outcomes = poll_and_process(rt)
    assert len(result.captured) == 3 and len(outcomes) == 3
    assert mailbox.count("INBOX") == 3  # the mail stays where it is
    [problem] = result.folder_problems
    assert problem.startswith("INTAKE_IMAP_PROCESSED_FOLDER='Done/2026': cannot create")
    assert [r.getMessage() for r in caplog.records if "folder problem" in r.getMessage()] == [
        f"mailbox default: {FOLDER_PROBLEM}{problem}"]  # once per poll
    assert state_of(rt).last_error == FOLDER_PROBLEM + problem
    [entry] = counts(rt)["mailboxes"]
    assert entry["folder_problem"] == problem
    assert entry["folder_problem_settings"] == ["INTAKE_IMAP_PROCESSED_FOLDER"]
    exposition = WebhookMetrics().render(counts(rt))
    assert ('intake_mailbox_folder_problem{mailbox="default",setting="INTAKE_IMAP_PROCESSED_FOLDER"} 1'
            in exposition)

    # exactly once: later polls take only the new mail, though the old stays in INBOX
    again, _ = poll_and_process(rt)
    assert again.captured == [] and again.folder_problems == [problem]
    mailbox.append(mail(message_id="<later@example.com>", body="later"))
    third, _ = poll_and_process(rt)
    assert len(third.captured) == 1 and count(rt, Inbox) == 4 and mailbox.count("INBOX") == 4

    # fixed: the problem clears, and the recent captures still in INBOX are moved
    fixed = runtime_for(mailbox, tmp_path, imap_processed_folder="Processed")
    fourth, _ = poll_and_process(fixed)
    assert fourth.captured == [] and fourth.folder_problems == []
    assert state_of(fixed).last_error is None and mailbox.count("Processed") == 4
    assert 'setting=""} 0' in WebhookMetrics().render(counts(fixed))


def test_a_folder_that_refuses_the_move_mid_poll_is_switched_off(mailbox, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for i in range(4):
        mailbox.append(mail(message_id=f"<g{i}@example.com>", body=f"gone {i}"))
    rt = runtime_for(mailbox, tmp_path, imap_batch_size=2)
    real_prepare = imap.prepare

    # The folder disappears between the poll's check and its MOVE (a person deleted it):
    # the seam is the only injected part; the server really refuses the MOVE.
    def prepare_then_delete(client: IMAPClient, box: Any) -> Any:
        prepared = real_prepare(client, box)
        with mailbox.server.session(mailbox.user) as other:
            other.delete_folder("Processed")
        return prepared

    monkeypatch.setattr(imap, "prepare", prepare_then_delete)
    result, _ = poll_and_process(rt)
    assert len(result.captured) == 4 and mailbox.count("INBOX") == 4
    [problem] = result.folder_problems  # reported once, the second batch not tried again
    assert problem.startswith("INTAKE_IMAP_PROCESSED_FOLDER='Processed': cannot move mail into 'Processed'")
    monkeypatch.undo()
    again, _ = poll_and_process(rt)
    assert again.captured == [] and mailbox.count("Processed") == 4 and mailbox.count("INBOX") == 0


# -- SELECT without UIDNEXT ------------------------------------------------------------------

@pytest.mark.parametrize("source", ["STATUS", "SEARCH"])
def test_start_now_takes_no_old_mail_when_select_omits_uidnext(courier_box, tmp_path: Path, monkeypatch, source: str) -> None:  # type: ignore[no-untyped-def]
    courier_box.load(50, seed=5)
    # Courier-IMAP's SELECT reply has no UIDNEXT; Dovecot's always has one, so this one reply
    # is a test double: the real SELECT runs and UIDNEXT is removed from its answer. With
    # source=SEARCH the STATUS answer loses it too, leaving the highest UID in use.
    real_select, real_status = IMAPClient.select_folder, IMAPClient.folder_status

    def select_without_uidnext(self: IMAPClient, *args: Any, **kwargs: Any) -> Any:
        reply = dict(real_select(self, *args, **kwargs))
        reply.pop(b"UIDNEXT", None)
        return reply

    def status_without_uidnext(self: IMAPClient, *args: Any, **kwargs: Any) -> Any:
        reply = dict(real_status(self, *args, **kwargs))
        reply.pop(b"UIDNEXT", None)
        return reply

    monkeypatch.setattr(IMAPClient, "select_folder", select_without_uidnext)
    if source == "SEARCH":
        monkeypatch.setattr(IMAPClient, "folder_status", status_without_uidnext)
    client = courier_box.connect("none")
    try:
        assert uid_next(client, "INBOX", client.select_folder("INBOX")) == (51, source)
    finally:
        client.logout()
    rt = runtime_for(courier_box, tmp_path, imap_start="now")
    result, _ = poll_and_process(rt)
    assert result.captured == [] and courier_box.count("INBOX") == 50
    assert state_of(rt).last_uid == 50
    courier_box.append(mail(message_id="<fresh@example.com>", body="fresh"))
    result, _ = poll_and_process(rt)
    assert len(result.captured) == 1 and courier_box.count("INBOX") == 50


# -- intake mailbox check ------------------------------------------------------------------

def check(box: Any, tmp_path: Path, *args: str, **settings: str) -> tuple[int, Any]:
    env = subprocess_env(f"sqlite:///{tmp_path}/intake.db", tmp_path / "var",
                         **{**box.imap_settings("starttls"), **settings})
    done = subprocess.run([INTAKE_BIN, "mailbox", "check", *args], env=env, capture_output=True,
                          text=True, timeout=90, check=False)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return done.returncode, done.stdout if "--text" in args else json.loads(done.stdout)


def test_check_on_courier_layout_resolves_under_the_namespace(courier_box, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, report = check(courier_box, tmp_path)
    assert code == 0 and report["ok"]
    [box] = report["mailboxes"]
    assert box["prefix"] == "INBOX." and box["separator"] == "."
    assert box["namespace"]["personal"] == [["INBOX.", "."]]
    assert {"IMAP4REV1", "NAMESPACE", "MOVE"} <= set(box["capabilities"])
    assert box["special_use"] == {"\\Archive": "INBOX.Archive", "\\Junk": "INBOX.Junk"}
    by_setting = {f["setting"]: f for f in box["folders"]}
    assert by_setting["INTAKE_IMAP_FOLDER"]["name"] == "INBOX" and by_setting["INTAKE_IMAP_FOLDER"]["exists"]
    processed = by_setting["INTAKE_IMAP_PROCESSED_FOLDER"]
    assert processed["name"] == "INBOX.Processed" and processed["can_create"] and not processed["exists"]
    assert box["uidnext"] == {"value": 1, "from": "SELECT"}
    # it changed nothing: no folder created, no probe left behind
    assert folders(courier_box) == ["INBOX", "INBOX.Archive", "INBOX.Junk"]


def test_check_says_what_to_set_when_a_folder_cannot_be_created(mailbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, report = check(mailbox, tmp_path, INTAKE_IMAP_QUARANTINE_FOLDER="Bad/Name")
    assert code == 1 and not report["ok"]
    [problem] = report["mailboxes"][0]["problems"]
    assert problem.startswith("INTAKE_IMAP_QUARANTINE_FOLDER='Bad/Name': cannot create 'Bad/Name'")
    assert "separator is '.'" in problem
    code, text = check(mailbox, tmp_path, "--text", INTAKE_IMAP_QUARANTINE_FOLDER="Bad/Name")
    assert code == 1 and "NOT usable" in text and "problem: INTAKE_IMAP_QUARANTINE_FOLDER" in text


def test_check_without_move_shows_the_capabilities(nomove_box, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, text = check(nomove_box, tmp_path, "--text", INTAKE_IMAP_PROCESSED_FOLDER="\\Archive")
    assert code == 1  # this server has no \Archive folder
    assert "MOVE" not in text.split("capabilities:")[1].splitlines()[0].split()
    assert "INTAKE_IMAP_PROCESSED_FOLDER='\\\\Archive'" in text
    code, report = check(nomove_box, tmp_path)
    assert code == 0 and report["mailboxes"][0]["prefix"] == ""


def test_check_reports_a_failed_login(mailbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, report = check(mailbox, tmp_path, INTAKE_IMAP_PASSWORD="wrong")
    assert code == 1 and report["mailboxes"][0]["problems"][0].startswith("cannot log in")


def test_poll_after_check_reaches_the_same_folders(courier_box, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    courier_box.append(mail())
    rt = runtime_for(courier_box, tmp_path)
    box = get_mailbox(rt.settings, "default")
    result = imap.poll(rt, box)
    assert len(result.captured) == 1
    with rt.sessions() as session:
        assert session.scalar(select(Inbox.mailbox)) == "default"
    code, report = check(courier_box, tmp_path)
    by_setting = {f["setting"]: f for f in report["mailboxes"][0]["folders"]}
    assert code == 0 and by_setting["INTAKE_IMAP_PROCESSED_FOLDER"]["exists"]
