"""A database written by an earlier version, whose sealed values are Fernet tokens: this
version opens every one of them (captures, private subjects and texts, sealed follow-up
bodies), processes a capture still waiting, and `intake keys rotate` rewrites them all in
the current form (AES-256-GCM), after which the old key can go."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from intake.capture.inbox import CaptureItem, capture
from intake.crypto import VERSION, InvalidToken, Vault, generate_key
from intake.process import pipeline
from intake.tickets.models import InboxRaw, Message, Outbox, Ticket
from intake.tickets.sealing import SEALED_PREFIX
from intake.tickets.store import open_message, outbox_bodies, ticket_subject
from intake.upkeep.keys import rotate_keys
from tests.flows import ingest_raw, mail, make_runtime

pytestmark = pytest.mark.integration


def sealed_values(rt) -> dict[str, list[bytes]]:  # type: ignore[no-untyped-def]
    with rt.sessions() as session:
        return {"raw": [bytes(r) for r in session.scalars(select(InboxRaw.raw))],
                "subject": [bytes(r) for r in session.scalars(select(Ticket.subject_secret)) if r is not None],
                "text": [bytes(r) for r in session.scalars(select(Message.text_secret)) if r is not None],
                "body": [b.encode() for b in session.scalars(select(Outbox.body_text)) if b and b.startswith(SEALED_PREFIX)]}


def test_values_sealed_by_an_earlier_version_open_process_and_rotate(db_url: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = generate_key(), generate_key()
    rt = make_runtime(db_url, tmp_path / "var", encryption_key=old)
    with monkeypatch.context() as earlier:  # how the earlier version sealed: Fernet tokens
        earlier.setattr(Vault, "encrypt", lambda self, data: self._fernet.encrypt(data))
        earlier.setattr(Vault, "seal_ascii", lambda self, data: self._fernet.encrypt(data).decode("ascii"))
        done = ingest_raw(rt, mail(sender="zw@example.com", subject="locked out, password hunter2horse",
                                   body="My password is hunter2horse, please unlock my account."))
        with rt.sessions() as session:
            waiting = capture(session, rt.vault, CaptureItem(
                "email", "earlier:2", mail(sender="li@example.com", subject="提现没到账", message_id="<e2@example.com>",
                                          body="提现三千元没到账，银行卡 6222021234567890123。")))
            session.commit()
    assert done.private and done.outbox_ids
    before = sealed_values(rt)
    assert all(v.startswith(b"gAAAAA") for v in before["raw"] + before["subject"] + before["text"])
    assert before["body"] and all(v.startswith(b"sealed:gAAAAA") for v in before["body"])

    later = pipeline.process_inbox(rt, waiting.inbox_id)  # this version reads the earlier capture
    assert later.outcome == "new_ticket" and later.private
    with rt.sessions() as session:
        first = session.get(Message, done.message_id)
        assert first is not None
        assert "hunter2horse" in open_message(rt.vault, first)[0]
        ticket = session.get(Ticket, first.ticket_id)
        assert ticket is not None and "hunter2horse" in ticket_subject(rt.vault, ticket, show_private=True)
        ack = session.get(Outbox, done.outbox_ids[0])
        assert ack is not None and outbox_bodies(rt.vault, ack.body_text, ack.body_html)[0]
    rt.dispose()

    both = make_runtime(db_url, tmp_path / "var", encryption_key=f"{new},{old}")
    counts = rotate_keys(both)
    assert counts["inbox.raw"] == 2 and counts["outbox.body_text"] >= 1
    after = sealed_values(both)
    assert all(v[:1] == VERSION for v in after["raw"] + after["subject"] + after["text"])
    assert all(not v.startswith(b"sealed:gAAAAA") for v in after["body"])
    both.dispose()

    only_new = Vault([new])
    assert all(only_new.decrypt(v) for v in after["raw"] + after["subject"] + after["text"])
    assert all(only_new.open_ascii(v.decode()[len(SEALED_PREFIX):]) for v in after["body"])
    with pytest.raises(InvalidToken):
        Vault([old]).decrypt(after["raw"][0])


def test_rotation_reaches_every_sealed_column(db_url: str, tmp_path: Path) -> None:
    """Corrections' sealed text (training data) and the web form's screenshots were left
    under the old key by `keys rotate`: once the old key was dropped, `intake triage train`
    could not open them. Every sealed column is rotated now, and a new sealed column
    cannot be forgotten (the test below walks the schema)."""
    from intake.messages import Attachment
    from intake.tickets.records import Correction, WebUpload
    from intake.web import uploads

    old, new = generate_key(), generate_key()
    rt = make_runtime(db_url, tmp_path / "var", encryption_key=old)
    done = ingest_raw(rt, mail(sender="zw@example.com", subject="locked out", body="I cannot log in."))
    with rt.sessions() as session:
        session.add(Correction(ticket_id=done.ticket_id, category_before="general", priority_before="normal",
                               category="account", priority="high", channel="email",
                               text_secret=rt.vault.encrypt_text('{"subject": "locked out", "text": "x"}')))
        upload_id = uploads.store(session, rt.vault, "key1", Attachment("s.png", "image/png", b"\x89PNG screenshot"))
        session.commit()
    rt.dispose()
    both = make_runtime(db_url, tmp_path / "var", encryption_key=f"{new},{old}")
    counts = rotate_keys(both)
    assert counts["triage_corrections.text_secret"] == 1 and counts["web_uploads.content"] == 1
    with both.sessions() as session:
        correction = session.scalars(select(Correction)).one()
        upload = session.get(WebUpload, upload_id)
        assert correction.text_secret is not None and upload is not None
        assert Vault([new]).decrypt_text(correction.text_secret).startswith('{"subject"')
        assert Vault([new]).decrypt(upload.content) == b"\x89PNG screenshot"
    both.dispose()


def test_every_sealed_column_of_the_schema_is_rotated() -> None:
    from sqlalchemy import LargeBinary

    from intake.tickets.models import Base
    from intake.upkeep.keys import SEALED_COLUMNS

    binary = {(table.name, column.name) for table in Base.metadata.tables.values()
              for column in table.columns if isinstance(column.type, LargeBinary)}
    rotated = {(model.__tablename__, column) for model, column, _ in SEALED_COLUMNS}
    assert binary - rotated == {("key_checks", "token")}  # one per key, recorded at start-up
    assert rotated <= binary
