"""Acknowledgements by email through the real pipeline to a real SMTP server (aiosmtpd):
threading, exactly-once delivery, retries, permanent failures, bounces and the loop guard."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from intake.send.delivery import RetryLater, send_now, send_outbox
from intake.tickets.models import Message
from tests.flows import ingest_raw, mail
from tests.integration.outbox.test_followups_support import (
    DATA, MAIL_DOMAIN, SUPPORT, all_text, email_runtime, parse, row, rows, time_passes,
    worker_died_mid_send,
)
from tests.support.shared import need_shared
from tests.support.smtp import SmtpServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_ack_arrives_threaded_and_the_reply_to_it_joins_without_a_second_ack(
        db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    first = ingest_raw(rt, mail(message_id="<m1@example.com>"))
    assert first.outcome == "new_ticket" and len(first.outbox_ids) == 1
    assert send_outbox(rt, first.outbox_ids[0]) == "sent"

    received = smtp_server.wait_for(1)[0]
    assert received.rcpt_tos == ("alice@example.com",)
    assert received.mail_from == SUPPORT
    ack = parse(received.raw)
    ref = first.ticket_ref
    # A first acknowledgement names the reference, never the stranger's own subject.
    assert ack["Subject"] == f"Re: [{ref}] We have received your request"
    assert ack["From"] == SUPPORT and ack["To"] == "Alice <alice@example.com>"
    assert ack["In-Reply-To"] == "<m1@example.com>"
    assert ack["References"] == "<m1@example.com>"
    assert ack["Auto-Submitted"] == "auto-replied"
    our_id = row(rt, first.outbox_ids[0]).header_message_id or ""
    assert our_id.startswith(f"outbox-{first.outbox_ids[0]}.") and our_id.endswith(f".{ref}@{MAIL_DOMAIN}")
    assert ack["Message-ID"] == f"<{our_id}>"
    assert ack.get_content_type() == "multipart/alternative"
    assert [p.get_content_charset() for p in ack.iter_parts()] == ["utf-8", "utf-8"]
    assert ref in ack.get_body(("plain",)).get_content()
    assert row(rt, first.outbox_ids[0]).header_message_id == our_id

    # Their answer threads by In-Reply-To alone (no ref in the subject) and gets no ack.
    answer = mail(subject="Re: Cannot upload videos", message_id="<m2@example.com>",
                  body="Still broken, here is a screenshot.",
                  extra_headers=f"In-Reply-To: <{our_id}>\nReferences: <m1@example.com> <{our_id}>")
    second = ingest_raw(rt, answer)
    assert second.outcome == "added_to_ticket" and second.ticket_ref == ref
    assert second.outbox_ids == []
    suppressed = rows(rt, kind="ack", status="suppressed")
    assert [r.suppressed_reason for r in suppressed] == ["joined_ticket"]
    assert len(smtp_server.received()) == 1


def test_tempfail_451_then_250_delivers_exactly_once(db_url: str, tmp_path: Path,
                                                     smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    outbox_id = ingest_raw(rt, mail()).outbox_ids[0]
    smtp_server.fail_next("RCPT", 1, "451 4.7.1 greylisted, try again later")
    with pytest.raises(RetryLater) as later:
        send_outbox(rt, outbox_id)
    assert 30 <= later.value.delay <= 60
    queued = row(rt, outbox_id)
    assert (queued.status, queued.attempts, queued.error_code) == ("queued", 1, "smtp_451")
    assert queued.next_attempt_at is not None and "greylisted" in (queued.last_error or "")
    # too early: the row waits for its time
    with pytest.raises(RetryLater):
        send_outbox(rt, outbox_id)
    assert row(rt, outbox_id).attempts == 1
    time_passes(rt, outbox_id)
    assert send_outbox(rt, outbox_id) == "sent"
    assert len(smtp_server.wait_for(1)) == 1
    done = row(rt, outbox_id)
    assert (done.status, done.attempts, done.error_code, done.next_attempt_at) == ("sent", 2, None, None)


def test_a_send_task_run_twice_sends_one_email(db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    outbox_id = ingest_raw(rt, mail()).outbox_ids[0]
    assert send_outbox(rt, outbox_id) == "sent"
    assert send_outbox(rt, outbox_id) == "sent"
    assert send_now(rt, outbox_id) == "sent"
    assert len(smtp_server.received()) == 1
    assert smtp_server.count_attempts("MAIL") == 1
    assert row(rt, outbox_id).attempts == 1


def test_a_row_being_sent_by_another_worker_is_left_alone(db_url: str, tmp_path: Path,
                                                          smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    outbox_id = ingest_raw(rt, mail()).outbox_ids[0]
    worker_died_mid_send(rt, outbox_id)
    with rt.sessions() as session:  # ... but the claim is fresh: someone is on it
        from intake.tickets.models import Outbox, utcnow

        found = session.get(Outbox, outbox_id)
        assert found is not None
        found.headers = {**found.headers, "send": {"attempt_started_at": utcnow().isoformat()}}
        session.commit()
    with pytest.raises(RetryLater):
        send_outbox(rt, outbox_id)
    assert smtp_server.count_attempts("MAIL") == 0


def test_worker_killed_after_the_server_accepted_resends_an_identical_message(
        db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    """The documented residual window for email: the duplicate is byte-identical in its
    Message-ID and Date, so mail stores that dedupe by Message-ID drop it."""
    rt = email_runtime(db_url, tmp_path, smtp_server)
    outbox_id = ingest_raw(rt, mail()).outbox_ids[0]
    assert send_outbox(rt, outbox_id) == "sent"
    worker_died_mid_send(rt, outbox_id)
    assert send_outbox(rt, outbox_id) == "sent"
    first, second = (parse(m.raw) for m in smtp_server.wait_for(2))
    assert first["Message-ID"] == second["Message-ID"] and first["Date"] == second["Date"]
    assert row(rt, outbox_id).attempts == 1 + 1


def test_permanent_550_fails_at_once_and_is_visible(db_url: str, tmp_path: Path,
                                                    smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    outcome = ingest_raw(rt, mail())
    smtp_server.script("RCPT", "550 5.1.1 no such user")
    assert send_outbox(rt, outcome.outbox_ids[0]) == "failed"
    failed = row(rt, outcome.outbox_ids[0])
    assert (failed.status, failed.error_code, failed.attempts) == ("failed", "smtp_550", 1)
    assert "no such user" in (failed.last_error or "")
    assert send_outbox(rt, outcome.outbox_ids[0]) == "failed"
    assert smtp_server.count_attempts("RCPT") == 1

    from intake.tickets import views as ops

    with rt.sessions() as session:
        detail = ops.ticket_detail(session, rt.vault, outcome.ticket_ref or "")
    assert detail is not None
    assert detail["followups"][0]["status"] == "failed"
    assert detail["followups"][0]["error_code"] == "smtp_550"


def test_starttls_and_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpServer(tls=True, auth=("desk", "s3cret")) as server:
        assert server.cert_path is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cert_path))  # trust the test CA, verify on
        rt = email_runtime(f"sqlite:///{tmp_path}/i.db", tmp_path, server, smtp_security="starttls",
                           smtp_user="desk", smtp_password="s3cret")
        outbox_id = ingest_raw(rt, mail()).outbox_ids[0]
        assert send_outbox(rt, outbox_id) == "sent"
        received = server.wait_for(1)[0]
        assert received.tls and received.authenticated_as == "desk"


def test_wrong_smtp_password_is_retried_not_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpServer(tls=True, auth=("desk", "s3cret")) as server:
        assert server.cert_path is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cert_path))
        rt = email_runtime(f"sqlite:///{tmp_path}/i.db", tmp_path, server, smtp_security="starttls",
                           smtp_user="desk", smtp_password="wrong")
        outbox_id = ingest_raw(rt, mail()).outbox_ids[0]
        with pytest.raises(RetryLater):
            send_outbox(rt, outbox_id)
        assert (row(rt, outbox_id).status, row(rt, outbox_id).error_code) == ("queued", "smtp_535")


def test_an_auto_reply_to_our_ack_gets_no_ack(db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    first = ingest_raw(rt, mail())
    send_outbox(rt, first.outbox_ids[0])
    our_id = row(rt, first.outbox_ids[0]).header_message_id or ""
    raw = (DATA / "out_of_office_reply_to_our_ack.eml").read_text()
    raw = raw.replace("{{REF}}", first.ticket_ref or "").replace("{{OUR_ID}}", our_id)
    ooo = ingest_raw(rt, raw.encode())
    assert ooo.ticket_ref == first.ticket_ref and ooo.outbox_ids == []
    assert rows(rt, kind="ack")[-1].suppressed_reason.startswith("automated:")  # type: ignore[union-attr]
    assert len(smtp_server.received()) == 1


def test_a_bounce_of_our_ack_marks_it_failed(db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    first = ingest_raw(rt, mail())
    assert send_outbox(rt, first.outbox_ids[0]) == "sent"
    our_id = row(rt, first.outbox_ids[0]).header_message_id or ""
    raw = (DATA / "bounce_dsn_of_our_ack.eml").read_text()
    raw = raw.replace("{{REF}}", first.ticket_ref or "").replace("{{OUR_ID}}", our_id)
    bounce = ingest_raw(rt, raw.encode())
    assert bounce.outbox_ids == []
    bounced = row(rt, first.outbox_ids[0])
    assert (bounced.status, bounced.error_code, bounced.suppressed_reason) == ("failed", "bounced", "bounced")
    assert len(smtp_server.received()) == 1


@pytest.mark.parametrize("name", ["list_mail_with_list_id_and_precedence_bulk.eml"])
def test_list_mail_gets_no_ack(db_url: str, tmp_path: Path, smtp_server: SmtpServer, name: str) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    outcome = ingest_raw(rt, (DATA / name).read_bytes())
    assert outcome.outcome == "new_ticket" and outcome.outbox_ids == []
    (ack,) = rows(rt, kind="ack")
    assert ack.status == "suppressed" and "list" in (ack.suppressed_reason or "")


def test_mail_from_our_own_address_gets_no_ack(db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    outcome = ingest_raw(rt, mail(sender=f"Support <{SUPPORT}>"))
    assert outcome.outbox_ids == []
    assert rows(rt, kind="ack")[0].suppressed_reason == "own_address"


def test_ten_mails_in_a_minute_from_one_sender_get_at_most_the_hourly_limit(
        db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server, ack_limit_per_hour=3)
    queued = []
    for n in range(10):
        outcome = ingest_raw(rt, mail(subject=f"Problem number {n}", message_id=f"<flood-{n}@example.com>",
                                      body=f"Upload fails again, attempt {n}."))
        assert outcome.outcome == "new_ticket"
        queued.extend(outcome.outbox_ids)
        for outbox_id in outcome.outbox_ids:
            send_outbox(rt, outbox_id)
    assert len(queued) == 3
    assert len(smtp_server.received()) == 3
    reasons = [r.suppressed_reason for r in rows(rt, kind="ack") if r.status == "suppressed"]
    assert reasons == ["rate_limited"] * 7
    # another sender is not affected
    other = ingest_raw(rt, mail(sender="Bob <bob@example.com>", message_id="<bob-1@example.com>"))
    assert len(other.outbox_ids) == 1


def test_from_is_the_address_the_mail_came_to_only_when_it_is_ours(
        db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server, from_address="help@example.test",
                       our_addresses="support@example.test,finance@example.test")
    to_finance = mail(message_id="<f1@example.com>").replace(b"To: support@example.test", b"To: finance@example.test")
    assert row(rt, ingest_raw(rt, to_finance).outbox_ids[0]).from_address == "finance@example.test"
    # Bcc'd to us, To: someone else: never send as them
    bcc = mail(message_id="<b1@example.com>", subject="Other").replace(
        b"To: support@example.test", b"To: someone@elsewhere.example")
    assert row(rt, ingest_raw(rt, bcc).outbox_ids[0]).from_address == "help@example.test"


def test_header_injection_through_encoded_subject_and_name(db_url: str, tmp_path: Path,
                                                          smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    name = "subject_and_name_with_encoded_crlf_injection.eml"
    outcome = ingest_raw(rt, (DATA / name).read_bytes())
    assert send_outbox(rt, outcome.outbox_ids[0]) == "sent"
    received = smtp_server.wait_for(1)[0]
    assert received.rcpt_tos == ("eve@example.com",)
    ack = parse(received.raw)
    assert ack["Bcc"] is None and ack["X-Injected"] is None
    head = received.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in head and b"\nX-Injected:" not in head
    assert "\n" not in str(ack["Subject"]) and f"[{outcome.ticket_ref}]" in str(ack["Subject"])


def test_file_backend_writes_one_eml_per_followup(db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server, email_backend="file")
    outbox_id = ingest_raw(rt, mail()).outbox_ids[0]
    assert send_outbox(rt, outbox_id) == "sent"
    worker_died_mid_send(rt, outbox_id)  # even a resend is the same single file
    assert send_outbox(rt, outbox_id) == "sent"
    assert rt.settings.outbox_dir is not None
    files = sorted(p.name for p in rt.settings.outbox_dir.iterdir())
    assert files == [f"outbox-{outbox_id}.eml"]
    written = parse((rt.settings.outbox_dir / files[0]).read_bytes())
    assert written["Auto-Submitted"] == "auto-replied"
    assert smtp_server.received() == []


def test_agent_ack_message_rows_are_not_touched(db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    """The ack is an outbox row only; the ticket's messages stay the sender's own."""
    rt = email_runtime(db_url, tmp_path, smtp_server)
    outcome = ingest_raw(rt, mail())
    send_outbox(rt, outcome.outbox_ids[0])
    with rt.sessions() as session:
        directions = list(session.scalars(select(Message.direction)))
    assert directions == ["in"]


def test_private_finance_case_ack_says_nothing_of_it(db_url: str, tmp_path: Path, smtp_server: SmtpServer,
                                                     shared_dir: Path) -> None:
    sample = need_shared("samples", "email_034.eml")  # the private card purchase case
    rt = email_runtime(db_url, tmp_path, smtp_server)
    outcome = ingest_raw(rt, sample.read_bytes())
    assert outcome.private
    assert send_outbox(rt, outcome.outbox_ids[0]) == "sent"
    ack = parse(smtp_server.wait_for(1)[0].raw)
    everything = all_text(ack)
    for secret in ("5425", "7230", "1,964", "1964", "Unauthorized", "coin", "brooksfamilyipad", "iPad"):
        assert secret not in everything, secret
    assert ack["Subject"] == f"Re: [{outcome.ticket_ref}] We have received your request"
    # Outlook's long Message-ID stays literal, or the ack would not thread
    assert ack["In-Reply-To"] == "<DB9PR03MB56079F636023DD9EBC2189DBA9CF33BA675D@DB9PR03MB5607.eurprd03.prod.outlook.com>"
    assert "passwords" in ack.get_body(("plain",)).get_content()


@pytest.mark.parametrize(("sample", "lang", "marker"), [
    ("email_001.eml", "zh", "您好"), ("email_007.eml", "en", "Hello,")])
def test_acknowledgement_language_follows_the_ticket(tmp_path: Path, smtp_server: SmtpServer, shared_dir: Path,
                                                     sample: str, lang: str, marker: str) -> None:
    path = need_shared("samples", sample)
    rt = email_runtime(f"sqlite:///{tmp_path}/i.db", tmp_path, smtp_server)
    outcome = ingest_raw(rt, path.read_bytes())
    send_outbox(rt, outcome.outbox_ids[0])
    ack = parse(smtp_server.wait_for(1)[0].raw)
    assert marker in ack.get_body(("plain",)).get_content()
    assert row(rt, outcome.outbox_ids[0]).headers["lang"] == lang


def test_log_lines_carry_ids_and_refs_never_addresses_subjects_or_bodies(
        tmp_path: Path, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG, logger="intake")
    rt = email_runtime(f"sqlite:///{tmp_path}/i.db", tmp_path, smtp_server)
    outcome = ingest_raw(rt, mail(subject="Zanzibar refund question", sender="Quentin <quentin.q@example.org>",
                                  body="My secret word is pomegranate."))
    smtp_server.fail_next("RCPT", 1, "451 4.3.0 <quentin.q@example.org> try later")
    with pytest.raises(RetryLater):
        send_outbox(rt, outcome.outbox_ids[0])
    time_passes(rt, outcome.outbox_ids[0])
    send_outbox(rt, outcome.outbox_ids[0])
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("intake.outbox.follow_ups")]
    assert any(f"outbox {outcome.outbox_ids[0]}" in line and outcome.ticket_ref in line for line in lines)
    for line in lines:
        for secret in ("quentin", "Zanzibar", "pomegranate", "example.org"):
            assert secret not in line, line
