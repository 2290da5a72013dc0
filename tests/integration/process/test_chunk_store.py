"""The chunk store (`flow.store_messages` via `pipeline.process_batch`) gives the same
tickets, messages, threads, follow-ups and outcomes as processing the same captures one by
one, and one bad message in a chunk costs its neighbours nothing."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from intake.capture.inbox import CaptureItem, capture_many
from intake.crypto import generate_key
from intake.process import pipeline
from intake.process.batch import Processor, process_captured
from intake.runtime import Runtime
from intake.tickets import chunk, store
from intake.tickets.models import AttachmentRow, Contact, Inbox, Message, Outbox, Ticket
from tests.flows import ingest_raw, mail, make_runtime

pytestmark = pytest.mark.integration

CARD = "6222 0212 3456 7894"  # passes Luhn
SECRETS = [b"6222 0212", b"hunter2", b"dark mode to the editor", b"STATEMENT-LINE-123456"]


def corpus(owner_ref: str) -> list[bytes]:
    """Mixed mail for one chunk. `owner_ref` is a ticket of owner@example.com opened before."""
    return [
        mail(subject="Cannot upload videos", body="Upload fails with error 500.", sender="Ann <ann@example.com>",
             message_id="<a1@example.com>"),
        # a reply inside the chunk, from its sender: joins the ticket a1 opened
        mail(subject="Re: Cannot upload videos", body="Still failing today.", sender="ann@example.com",
             message_id="<a2@example.com>", extra_headers="In-Reply-To: <a1@example.com>"),
        # the same reference from someone else: a ticket of their own
        mail(subject="Re: Cannot upload videos", body="Me too!", sender="mallory@example.net",
             message_id="<m1@example.net>", extra_headers="In-Reply-To: <a1@example.com>"),
        # a duplicate inside the chunk (the same mail through another relay)
        mail(subject="Cannot upload videos", body="Upload fails with error 500.", sender="Ann <ann@example.com>",
             message_id="<a1@example.com>", extra_headers="Received: from relay2.example.com"),
        # a private case, in Chinese
        mail(subject="提现没有到账", body=f"我的提现48,500元到银行卡{CARD}一直没到账，密码是hunter2",
             sender="李雷 <lilei@example.cn>", message_id="<z1@example.cn>"),
        # a public ticket made private by a later message of the same chunk
        mail(subject="Suggestion: dark mode", body="Please add a dark mode to the editor",
             sender="bo@example.com", message_id="<s1@example.com>"),
        mail(subject="Re: Suggestion: dark mode", body=f"Also my card {CARD} was charged twice",
             sender="bo@example.com", message_id="<s2@example.com>", extra_headers="In-Reply-To: <s1@example.com>"),
        # the owner's ref joins their ticket; a stranger's opens a linked one
        mail(subject=f"Update on [{owner_ref}]", body="Any news?", sender="owner@example.com",
             message_id="<o2@example.com>"),
        mail(subject=f"About [{owner_ref}]", body="I know this ticket", sender="eve@example.org",
             message_id="<e1@example.org>"),
        # automated mail and a plus-tagged flood: suppressed acknowledgements
        mail(subject="Out of office", body="I am away", sender="away@example.com", message_id="<ooo@example.com>",
             extra_headers="Auto-Submitted: auto-replied"),
        *[mail(subject=f"Help {i}", body="Please help with my login", sender=f"victim+{i}@example.com",
               message_id=f"<v{i}@example.com>") for i in range(5)],
        # a private attachment
        (b"Message-ID: <att@example.com>\r\nFrom: c@example.com\r\nTo: support@example.test\r\n"
         b"Subject: refund for double charge\r\nMIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n"
         b"I was charged twice, please refund.\r\n--XX\r\nContent-Type: text/plain; name=statement.txt\r\n"
         b"Content-Disposition: attachment; filename=statement.txt\r\n\r\nSTATEMENT-LINE-123456\r\n--XX--\r\n"),
        # nothing to read at all: fails before the store, with its reason
        b"\r\n\r\n",
    ]


def setup(db_url: str, path: Path, key: str) -> tuple[Runtime, list[int]]:
    rt = make_runtime(db_url, path, encryption_key=key)
    with rt.engine.begin() as conn:  # the same database twice: from nothing each time
        for table in ("attachments", "outbox", "messages", "inbox", "tickets", "contacts", "mailbox_state"):
            conn.execute(text(f"DELETE FROM {table}"))
    owner = ingest_raw(rt, mail(subject="My account is locked", body="I cannot log in", sender="owner@example.com",
                                message_id="<o1@example.com>"))
    with rt.sessions() as session:
        ids = [c.inbox_id for c in capture_many(session, rt.vault, [
            CaptureItem("email", f"chunk:{i}", raw) for i, raw in enumerate(corpus(str(owner.ticket_ref)))])]
        session.commit()
    return rt, ids


def unref(subject: str) -> str:
    return store.REF_RE.sub("TK-ref", subject)  # refs are random: the same text around them


def picture(rt: Runtime, ids: list[int], outcomes: dict[int, Any]) -> dict[str, Any]:
    """Everything stored, with database ids and random refs replaced by first-seen order."""
    names: dict[int, int] = {}

    def name(ticket_id: int | None) -> int | None:
        return None if ticket_id is None else names.setdefault(ticket_id, len(names))

    with rt.sessions() as session:
        tickets = {t.id: t for t in session.scalars(select(Ticket))}
        refs = {t.ref: t.id for t in tickets.values()}
        shown = [(o.outcome, name(o.ticket_id), o.private, o.parse_error, len(o.outbox_ids)) if o else None
                 for o in (outcomes[i] for i in ids)]
        inbox = [(r.status, r.outcome, name(r.ticket_id), r.private, r.failure_reason)
                 for r in (session.get(Inbox, i) for i in ids) if r is not None]
        ticket_rows = sorted(
            (name(t.id), t.status, t.category, t.department, t.priority, t.language, t.private,
             sorted(t.private_reasons), sorted(t.triage_reasons) if not t.private else t.triage_reasons,
             name(refs.get(t.linked_ref or "")), t.subject_secret is not None,
             unref(t.subject) if not t.private else "sealed", session.get(Contact, t.contact_id).address)  # type: ignore[union-attr]
            for t in tickets.values())
        # sealed text and attachments as they decrypt: the chunk seals what one by one seals
        messages = sorted((name(m.ticket_id), m.header_message_id, m.private, m.text is None, m.text_secret is not None,
                           m.category, m.language, sorted(m.private_reasons), sorted(m.extra),
                           rt.vault.decrypt_text(m.text_secret) if m.text_secret else m.text)
                          for m in session.scalars(select(Message)))
        attachments = sorted((a.filename, a.encrypted, a.size, rt.vault.decrypt(a.content) if a.encrypted else a.content)
                             for a in session.scalars(select(AttachmentRow)))
        outbox = sorted((name(r.ticket_id), r.kind, r.channel, r.status, r.suppressed_reason, r.to_address,
                         r.rcpt, r.rcpt_domain, r.from_address, r.body_text.startswith("sealed:"),
                         unref(r.subject), r.header_message_id is not None, r.headers.get("in_reply_to"))
                        for r in session.scalars(select(Outbox)))
        contacts = sorted((c.address, c.display_name, c.language) for c in session.scalars(select(Contact)))
    return {"outcomes": shown, "inbox": inbox, "tickets": ticket_rows, "messages": messages,
            "attachments": attachments, "outbox": outbox, "contacts": contacts}


def dump(rt: Runtime) -> bytes:
    out = b""
    with rt.engine.connect() as conn:
        for table in ("tickets", "messages", "attachments", "outbox", "contacts"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                out += b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    return out


def one_by_one(db_url: str, tmp_path: Path, key: str) -> dict[str, Any]:
    """The picture of the corpus processed one capture at a time: what every chunked path must store."""
    rt, ids = setup(db_url, tmp_path / "one", key)
    outcomes = {i: pipeline.process_with_retries(rt, i) for i in ids}
    expected = picture(rt, ids, outcomes)
    rt.dispose()
    return expected


def test_a_chunk_stores_what_one_by_one_stores(db_url: str, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    key = generate_key()
    expected = one_by_one(db_url, tmp_path, key)

    rt, ids = setup(db_url, tmp_path / "chunk", key)
    with caplog.at_level(logging.WARNING, logger="intake.process"):
        outcomes = process_captured(rt, ids, workers=1, chunk=len(ids), send=False)
    assert "rolled back" not in caplog.text  # the chunk path itself, not its fallback
    got = picture(rt, ids, outcomes)
    assert got == expected

    names = [o[0] if o else None for o in got["outcomes"]]
    assert names[:4] == ["new_ticket", "added_to_ticket", "new_ticket", "duplicate"]
    assert got["outcomes"][1][1] == got["outcomes"][0][1] == got["outcomes"][3][1]  # one thread
    assert names[7:9] == ["added_to_ticket", "new_ticket"] and names[-1] is None
    assert got["inbox"][-1][0] == "failed" and got["inbox"][-1][4] == "user_error"
    stored = dump(rt)
    assert not [s for s in SECRETS if s in stored]
    statuses = [r[3] for r in got["outbox"] if r[5].startswith("victim")]
    assert statuses.count("queued") == 3 and statuses.count("suppressed") == 2  # INTAKE_ACK_LIMIT_PER_HOUR


@pytest.mark.timeout(240)
def test_captures_fed_in_pieces_to_a_pool_store_what_one_by_one_stores(db_url: str, tmp_path: Path) -> None:
    """`poll --once` feeds each committed capture batch to a Processor while it fetches the
    next: chunks prepared by a pool of processes, stored here in capture order, so a reply
    whose original is in an earlier piece still threads, exactly as one by one."""
    key = generate_key()
    expected = one_by_one(db_url, tmp_path, key)

    rt, ids = setup(db_url, tmp_path / "fed", key)
    with Processor(rt, workers=2, chunk=2, send=False) as processor:
        for start in range(0, len(ids), 3):  # pieces that do not line up with the chunks
            processor.feed(ids[start:start + 3])
    assert sorted(processor.outcomes) == sorted(ids)
    assert picture(rt, ids, processor.outcomes) == expected


def test_a_failed_poll_stores_what_was_fed_and_leaves_the_rest_captured(db_url: str, tmp_path: Path) -> None:
    """A poll that dies mid-way (the connection dropped) leaves the Processor with an error:
    what it stored stays stored, nothing is half-written, the rest waits as `captured`."""
    rt, ids = setup(db_url, tmp_path / "died", generate_key())
    with pytest.raises(ConnectionError):
        with Processor(rt, workers=1, chunk=4, send=False) as processor:
            processor.feed(ids[:4])
            raise ConnectionError("server went away")
    with rt.sessions() as session:
        statuses = dict(session.execute(select(Inbox.id, Inbox.status).where(Inbox.id.in_(ids))).all())
    assert all(statuses[i] == "done" for i in ids[:4])
    assert all(statuses[i] == "captured" for i in ids[4:])
    assert set(processor.outcomes) == set(ids[:4])


@pytest.mark.timeout(240)
def test_a_poll_dying_with_a_pool_leaves_each_capture_done_or_captured(db_url: str, tmp_path: Path) -> None:
    """With a pool the store runs in a thread of its own: a poll that dies while chunks are
    still being prepared or stored ends with each capture either stored whole or left
    `captured` for the next poll, the stored ones a prefix of the capture order."""
    rt, ids = setup(db_url, tmp_path / "died", generate_key())
    with pytest.raises(ConnectionError):
        with Processor(rt, workers=2, chunk=2, send=False) as processor:
            processor.feed(ids)
            deadline = time.monotonic() + 60
            while not processor.outcomes and time.monotonic() < deadline:  # mid-way: some stored
                time.sleep(0.005)
            raise ConnectionError("server went away")
    with rt.sessions() as session:
        statuses = dict(session.execute(select(Inbox.id, Inbox.status).where(Inbox.id.in_(ids))).all())
        messages = session.scalar(select(text("count(*)")).select_from(Message))  # type: ignore[arg-type]
    stored = [i for i in ids if i in processor.outcomes]
    assert stored and stored == ids[:len(stored)]  # capture order
    assert all(statuses[i] in ("done", "failed") for i in stored)
    assert all(statuses[i] == "captured" for i in ids if i not in processor.outcomes)
    assert messages == 1 + sum(1 for i in stored if processor.outcomes[i] is not None
                               and processor.outcomes[i].outcome != "duplicate")  # the owner's own, and no half chunk
    # The next poll (here: the same rows fed again) finishes the rest exactly once.
    with Processor(rt, workers=2, chunk=2, send=False) as again:
        again.feed([i for i in ids if statuses[i] == "captured"])
    with rt.sessions() as session:
        assert "captured" not in set(session.scalars(select(Inbox.status).where(Inbox.id.in_(ids))))


@pytest.mark.timeout(240)
def test_a_store_that_fails_stops_the_poll_and_leaves_the_rest_captured(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store thread's failure (the database went away) reaches the poll at its next
    batch or at the end, not lost in the thread; what it did not store waits as `captured`."""
    from intake.process import batch

    rt, ids = setup(db_url, tmp_path / "store", generate_key())
    real, calls = batch._store, []

    def failing(rt_: Runtime, chunk_ids: list[int], prepared: Any) -> Any:
        calls.append(chunk_ids)
        if len(calls) == 2:
            raise ConnectionResetError("database went away")
        return real(rt_, chunk_ids, prepared)

    monkeypatch.setattr(batch, "_store", failing)
    with pytest.raises(ConnectionResetError):
        with Processor(rt, workers=2, chunk=3, send=False) as processor:
            for start in range(0, len(ids), 3):
                processor.feed(ids[start:start + 3])
    assert set(processor.outcomes) == set(ids[:3])
    with rt.sessions() as session:
        statuses = dict(session.execute(select(Inbox.id, Inbox.status).where(Inbox.id.in_(ids))).all())
    assert all(statuses[i] == "captured" for i in ids[3:])


def test_one_bad_message_in_a_chunk_fails_alone(db_url: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    rt, ids = setup(db_url, tmp_path / "chunk", generate_key())
    real = chunk._message_row

    def failing(item: chunk.Item, now: Any) -> Any:
        if item.msg.message_id == "s1@example.com":
            raise RuntimeError("disk on fire")
        return real(item, now)

    monkeypatch.setattr(chunk, "_message_row", failing)
    outcomes = process_captured(rt, ids, workers=1, chunk=len(ids), send=False)
    bad = ids[5]
    assert outcomes[bad] is None
    with rt.sessions() as session:
        row = session.get(Inbox, bad)
        assert row is not None and row.status == "failed" and row.failure_reason == "error"
        assert row.last_error and "RuntimeError" in row.last_error
        done = session.scalars(select(Inbox.status).where(Inbox.id.in_(ids))).all()
    assert done.count("done") == len(ids) - 2  # all but the bad one and the empty one
    assert outcomes[ids[6]] is not None and outcomes[ids[6]].outcome == "new_ticket"  # its reply: a new ticket
    assert sum(1 for o in outcomes.values() if o is not None and o.outcome == "duplicate") == 1



@pytest.mark.timeout(240)
def test_two_workers_on_chunks_store_each_capture_once(db_url: str, tmp_path: Path) -> None:
    """Two processes' chunks at once: the same captures (claims let one take each), and
    different captures from the same new senders (one contact each, one thread each)."""
    import threading

    key = generate_key()
    runtimes = [make_runtime(db_url, tmp_path / f"w{n}", encryption_key=key) for n in range(2)]
    rt = runtimes[0]
    raws = [mail(subject=f"Upload fails {i}", body="Upload fails with error 500.", sender=f"user{i % 4}@example.com",
                 message_id=f"<c{i}@example.com>",
                 extra_headers=f"In-Reply-To: <c{i - 4}@example.com>" if i >= 4 else "")
            for i in range(16)]
    with rt.sessions() as session:
        ids = [c.inbox_id for c in capture_many(session, rt.vault, [
            CaptureItem("email", f"race:{i}", raw) for i, raw in enumerate(raws)])]
        session.commit()
    halves = [ids[:8] + ids[8:12], ids[8:] + ids[4:8]]  # overlapping, and the same senders in both
    barrier = threading.Barrier(2)
    results: list[dict[int, Any]] = [{}, {}]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[n] = process_captured(runtimes[n], halves[n], workers=1, chunk=8, send=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=200)
    assert not errors
    leftover = [i for i in ids if all(r.get(i) is None for r in results)]
    for inbox_id in leftover:  # a capture the other worker held when this one came: finished now
        pipeline.process_with_retries(rt, inbox_id)
    with rt.sessions() as session:
        assert set(session.scalars(select(Inbox.status).where(Inbox.id.in_(ids)))) == {"done"}
        assert session.scalar(select(text("count(*)")).select_from(Message)) == 16  # type: ignore[arg-type]
        assert sorted(session.scalars(select(Contact.address))) == [f"user{n}@example.com" for n in range(4)]
        per_contact = {c: set(session.scalars(select(Ticket.id).where(Ticket.contact_id == c)))
                       for c in session.scalars(select(Contact.id))}
        assert all(len(t) >= 1 for t in per_contact.values())
        acks = session.scalars(select(Outbox.dedupe_key)).all()
        assert len(acks) == len(set(acks)) == 16
    for r in runtimes:
        r.dispose()


@pytest.mark.timeout(240)
def test_a_processor_fed_again_after_a_drain_stores_the_new_chunks(db_url: str, tmp_path: Path) -> None:
    rt, ids = setup(db_url, tmp_path / "again", generate_key())
    with Processor(rt, workers=2, chunk=3, send=False) as processor:
        processor.feed(ids[:6])
        processor.drain()
        assert set(processor.outcomes) == set(ids[:6])
        processor.feed(ids[6:])
    assert sorted(processor.outcomes) == sorted(ids)
