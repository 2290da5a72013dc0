"""Several mailboxes from a config file, each with its own default department."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from intake.process import pipeline
from intake.capture import imap
from intake.mailboxes import load_mailboxes
from intake.settings import SettingsError, load_settings
from intake.tickets.models import Ticket
from tests.flows import mail, make_runtime

pytestmark = pytest.mark.integration


def test_each_mailbox_is_polled_with_its_department(dovecot, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    support, finance = dovecot.new_box(), dovecot.new_box()
    monkeypatch.setenv("FINANCE_IMAP_PASSWORD", finance.password)
    config = tmp_path / "mailboxes.yaml"
    config.write_text(yaml.safe_dump({"mailboxes": [
        {"name": "support", "host": support.host, "port": support.port, "user": support.user,
         "password": support.password, "security": "none", "start": "all"},
        {"name": "finance", "host": finance.host, "port": finance.port, "user": finance.user,
         "password_env": "FINANCE_IMAP_PASSWORD", "security": "none", "start": "all",
         "department": "finance_support"},
    ]}))
    rt = make_runtime(f"sqlite:///{tmp_path}/i.db", tmp_path / "var", mailboxes_file=config)
    greeting = mail(subject="Hello", body="Hi there, have a nice day!", message_id="<hello@example.com>")
    finance.append(greeting)
    support.append(mail(subject="Hello again", body="Good morning team", message_id="<hello2@example.com>"))
    departments = {}
    for box in load_mailboxes(rt.settings):
        result = imap.poll(rt, box)
        [inbox_id] = result.captured
        outcome = pipeline.process_inbox(rt, inbox_id)
        with rt.sessions() as session:
            ticket = session.get(Ticket, outcome.ticket_id)
            departments[box.name] = (ticket.category, ticket.department, ticket.mailbox)
    assert departments["finance"] == ("other", "finance_support", "finance")
    assert departments["support"] == ("other", "general", "support")
    dovecot.drop_box(support)
    dovecot.drop_box(finance)


def test_a_bad_mailbox_file_names_the_problem(tmp_path: Path) -> None:
    config = tmp_path / "mailboxes.yaml"
    config.write_text("mailboxes:\n  - name: finance\n    host: imap.example.com\n    colour: blue\n")
    with pytest.raises(SettingsError, match="unknown keys.*colour"):
        load_mailboxes(load_settings(mailboxes_file=config))
    config.write_text("mailboxes:\n  - name: finance\n    host: h\n    password_env: NOT_SET_ANYWHERE\n")
    with pytest.raises(SettingsError, match="NOT_SET_ANYWHERE"):
        load_mailboxes(load_settings(mailboxes_file=config))
