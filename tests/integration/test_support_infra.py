"""The test fixtures themselves work: real Dovecot, SMTP, Twilio stand-in, Redis, PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import smtplib
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from imapclient import IMAPClient
from twilio.base.exceptions import TwilioRestException

from tests.support import gen_mail
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.redis_server import RedisServer
from tests.support.smtp import SmtpServer
from tests.support.twilio_standin import TwilioStandIn, make_twilio_client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

REPO_ROOT = Path(__file__).resolve().parents[2]


# -- gen_mail --------------------------------------------------------------------------------
def test_gen_mail_is_deterministic_and_parses() -> None:
    raws = [gen_mail.generate(i, seed=5) for i in range(60)]
    gen_mail.describe.cache_clear()
    assert gen_mail.generate(42, seed=5) == raws[42]
    ids = set()
    for i, raw in enumerate(raws):
        message = email.message_from_bytes(raw, policy=email.policy.default)
        ids.add(message["Message-ID"])
        assert message["Message-ID"] == gen_mail.describe(i, 5).message_id
        assert message.get_body(("plain", "html")) is not None
    assert len(ids) == 60


def test_gen_mail_cli_writes_a_maildir(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "tests.support.gen_mail", "--maildir",
                             str(tmp_path / "md"), "--count", "5", "--seed", "2"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert '"count": 5' in result.stdout
    assert len(list((tmp_path / "md" / "new").iterdir())) == 5


# -- Dovecot ---------------------------------------------------------------------------------
@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_dovecot_login(mailbox: Mailbox, security: str) -> None:
    mailbox.append(gen_mail.generate(0, 3))
    client = mailbox.connect(security)  # type: ignore[arg-type]
    try:
        assert isinstance(client.socket(), ssl.SSLSocket) is (security != "none")
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 1
    finally:
        client.logout()


def test_dovecot_tls_certificate_verifies(dovecot: Dovecot) -> None:
    context = ssl.create_default_context(cafile=str(dovecot.cert_path))  # hostname checked
    with IMAPClient(dovecot.host, port=dovecot.tls_port, ssl=True, ssl_context=context,
                    timeout=10) as client:
        client.login("finance@example.test", "secret")


def test_dovecot_rejects_a_wrong_password(dovecot: Dovecot) -> None:
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10) as client:
        with pytest.raises(Exception, match="(?i)auth"):
            client.login("support@example.test", "wrong")


def test_mailbox_append_count_and_fresh_uids(mailbox: Mailbox) -> None:
    assert mailbox.count() == 0
    assert mailbox.append(gen_mail.generate(0, 9)) == 1
    assert mailbox.append(gen_mail.generate(1, 9), flags=[b"\\Seen"]) == 2
    assert mailbox.uids() == [1, 2]
    assert mailbox.status()["unseen"] == 1


def test_mailbox_load_gives_uid_i_plus_one(mailbox: Mailbox) -> None:
    infos = mailbox.load(30, seed=3)
    assert mailbox.count() == 30
    with mailbox.connect("starttls") as client:
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch([1, 17, 30], ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    for uid in (1, 17, 30):
        header = fetched[uid][b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode()
        assert infos[uid - 1].message_id in header


def test_mailbox_folders_and_uidvalidity_reset(mailbox: Mailbox) -> None:
    mailbox.load(5, seed=4)
    mailbox.create_folder("Processed")
    mailbox.append(b"Subject: moved\r\n\r\nbody\r\n", folder="Processed")
    old, new = mailbox.reset_uidvalidity()
    assert new != old and mailbox.uidvalidity() == new
    assert mailbox.count() == 5 and mailbox.uids() == [1, 2, 3, 4, 5]
    with mailbox.connect() as client:  # a new session sees the new UIDVALIDITY
        assert client.select_folder("INBOX")[b"UIDVALIDITY"] == new
    old_p, new_p = mailbox.reset_uidvalidity("Processed")
    assert new_p != old_p and mailbox.count("Processed") == 1


def test_mailbox_kick_disconnects_sessions(mailbox: Mailbox) -> None:
    client = mailbox.connect()
    client.select_folder("INBOX")
    assert len(mailbox.server.sessions(mailbox.user)) == 1
    mailbox.kick()
    assert mailbox.server.sessions(mailbox.user) == []
    with pytest.raises(Exception):
        client.noop()
    client.shutdown()


# -- SMTP ------------------------------------------------------------------------------------
def test_smtp_receives(smtp_server: SmtpServer) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.sendmail("desk@example.test", ["user@example.org"],
                      "Subject: hello\r\n\r\n你好\r\n".encode())
    [message] = smtp_server.wait_for(1)
    assert message.mail_from == "desk@example.test"
    assert message.rcpt_tos == ("user@example.org",)
    assert "你好".encode() in message.raw


def test_smtp_tempfail_script_then_accept(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next("RCPT", times=2)
    for _attempt in range(2):
        with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                smtp.sendmail("desk@example.test", ["u@example.org"], b"Subject: x\r\n\r\ny\r\n")
            assert refused.value.recipients["u@example.org"][0] == 451
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.sendmail("desk@example.test", ["u@example.org"], b"Subject: x\r\n\r\ny\r\n")
    assert len(smtp_server.wait_for(1)) == 1
    assert smtp_server.count_attempts("RCPT") == 3


def test_smtp_starttls_and_auth() -> None:
    with SmtpServer(tls=True, auth=("desk", "pw")) as server:
        assert server.cert_path is not None
        context = ssl.create_default_context(cafile=str(server.cert_path))
        with smtplib.SMTP(server.host, server.port, timeout=10) as smtp:
            smtp.starttls(context=context)
            smtp.login("desk", "pw")
            smtp.sendmail("desk@example.test", ["u@example.org"], b"Subject: x\r\n\r\ny\r\n")
        [message] = server.wait_for(1)
        assert message.tls and message.authenticated_as == "desk"


# -- Twilio ----------------------------------------------------------------------------------
def test_twilio_client_sends_to_the_standin(twilio_api: TwilioStandIn) -> None:
    client = make_twilio_client(twilio_api.account_sid, twilio_api.auth_token, twilio_api.base_url)
    message = client.messages.create(to="+8613800138000", from_="+15005550006", body="您好，工单已收到")
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued" and message.to == "+8613800138000"
    assert message.num_segments == "1"
    [request] = twilio_api.message_requests()
    assert request.authorized
    assert request.params == {"To": "+8613800138000", "From": "+15005550006",
                              "Body": "您好，工单已收到"}
    assert client.messages(message.sid).fetch().body == "您好，工单已收到"


def test_twilio_scripted_errors(twilio_api: TwilioStandIn) -> None:
    client = make_twilio_client(twilio_api.account_sid, twilio_api.auth_token, twilio_api.base_url)
    twilio_api.script(
        TwilioStandIn.error(400, 21610, "Attempt to send to unsubscribed recipient"), 500, 429)
    with pytest.raises(TwilioRestException) as unsubscribed:
        client.messages.create(to="+15005550001", from_="+15005550006", body="x")
    assert unsubscribed.value.code == 21610 and unsubscribed.value.status == 400
    for status in (500, 429):
        with pytest.raises(TwilioRestException) as failed:
            client.messages.create(to="+15005550001", from_="+15005550006", body="x")
        assert failed.value.status == status
    assert client.messages.create(to="+15005550001", from_="+15005550006", body="x").sid


def test_twilio_wrong_credentials_and_media(twilio_api: TwilioStandIn) -> None:
    import requests

    wrong = make_twilio_client(twilio_api.account_sid, "not-the-token", twilio_api.base_url)
    with pytest.raises(TwilioRestException) as denied:
        wrong.messages.create(to="+15005550001", from_="+15005550006", body="x")
    assert denied.value.status == 401
    url = twilio_api.add_media("/media/rec.wav", b"RIFF0000WAVE", "audio/wav")
    assert requests.get(url, timeout=5).status_code == 401
    got = requests.get(url, auth=(twilio_api.account_sid, twilio_api.auth_token), timeout=5)
    assert got.status_code == 200 and got.content == b"RIFF0000WAVE"
    assert got.headers["Content-Type"] == "audio/wav"


# -- Redis -----------------------------------------------------------------------------------
def test_redis_url_is_a_private_db(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.dbsize() == 0
        client.set("k", "v")
        assert int(redis_url.rsplit("/", 1)[1]) in range(1, 16)
    finally:
        client.close()


def test_private_redis_outage(private_redis: RedisServer) -> None:
    client = redis.Redis.from_url(private_redis.url, socket_connect_timeout=1)
    try:
        assert client.ping()
        assert private_redis.port != 6379
        private_redis.stop()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        private_redis.start()
        assert client.ping()
    finally:
        client.close()


# -- PostgreSQL and SQLite -------------------------------------------------------------------
def test_pg_url_lands_in_its_own_schema(pg_url: str) -> None:
    schema = pg_url.split("search_path%3D", 1)[1].split("&", 1)[0]
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE probe (id int primary key)"))
            assert conn.execute(sa.text("SELECT current_schema()")).scalar() == schema
            # other test runs create their own "probe" tables at the same time
            assert conn.execute(sa.text(f"SELECT to_regclass('\"{schema}\".probe')")).scalar()
            assert conn.execute(sa.text("SELECT to_regclass('public.probe')")).scalar() is None
        assert sa.inspect(engine).get_table_names() == ["probe"]
    finally:
        engine.dispose()


def test_db_url_works(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE probe (id int primary key)"))
            conn.execute(sa.text("INSERT INTO probe VALUES (1)"))
            assert conn.execute(sa.text("SELECT count(*) FROM probe")).scalar() == 1
    finally:
        engine.dispose()


def test_shared_dir(shared_dir: Path) -> None:
    assert shared_dir.is_dir()
