"""Shared fixtures: the real services the tests talk to.

    shared_dir      Path of ../shared (INTAKE_SHARED_DIR overrides); see tests/support/shared.py
    free_port       callable returning a free 127.0.0.1 port
    redis_url       redis://127.0.0.1:6379/<db 1..15>, db claimed for this test and flushed
    private_redis   RedisServer on its own port, stop()/start()/kill() to simulate outages
    pg_url          postgresql+psycopg URL whose search_path is a fresh schema (dropped after)
    db_url          parametrized: sqlite file in tmp_path, then pg_url
    dovecot         Dovecot for the whole session (support@ and finance@example.test / secret)
    mailbox         Mailbox: a fresh, empty user on that Dovecot for this test
    smtp_server     SmtpServer (aiosmtpd) with a reply script
    twilio_api      TwilioStandIn (Messages API + media) for the real twilio client

Services or shared data that are missing fail the test when CI=true and skip it otherwise,
with the reason (tests/support/ci.py; files in ../shared through tests/support/shared.py).
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.ci import unavailable
from tests.support.dovecot import Dovecot, DovecotError, Mailbox
from tests.support.ports import free_port as _free_port
from tests.support.redis_server import RedisServer
from tests.support.shared import need_shared
from tests.support.smtp import SmtpServer
from tests.support.twilio_standin import TwilioStandIn

SHARED_REDIS = ("127.0.0.1", 6379)
PG_HOST, PG_PORT, PG_DATABASE = "127.0.0.1", 5432, "test"
PG_ROLES = ("postgres", "root")  # trust auth on loopback; whichever exists


# -- paths and ports ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return need_shared()


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    return _free_port


# -- Redis -----------------------------------------------------------------------------------
@pytest.fixture
def redis_url() -> Iterator[str]:
    import redis

    host, port = SHARED_REDIS
    admin = redis.Redis(host=host, port=port, db=0, socket_connect_timeout=2)
    try:
        admin.ping()
    except redis.RedisError as exc:
        admin.close()
        unavailable(f"Redis at {host}:{port} is unreachable: {exc}")
    # Other test sessions share this server: claim a db with a lock key in db 0 so two
    # runs never flush each other's data, and let the claim expire if we are killed.
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    claimed = None
    for db in random.sample(range(1, 16), 15):
        if admin.set(f"intake-test:db-claim:{db}", token, nx=True, ex=600):
            claimed = db
            break
    if claimed is None:
        admin.close()
        pytest.fail("all Redis dbs 1..15 on 127.0.0.1:6379 are claimed by other test runs")
    client = redis.Redis(host=host, port=port, db=claimed)
    client.flushdb()
    try:
        yield f"redis://{host}:{port}/{claimed}"
    finally:
        client.flushdb()
        client.close()
        if admin.get(f"intake-test:db-claim:{claimed}") == token.encode():
            admin.delete(f"intake-test:db-claim:{claimed}")
        admin.close()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        server.start()
    except RuntimeError as exc:
        server.close()
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.close()


# -- PostgreSQL ------------------------------------------------------------------------------
_pg_role: str | None = None


def _pg_admin_role() -> str:
    """The first role that trust auth lets in, or skip/fail with what went wrong."""
    global _pg_role
    if _pg_role is not None:
        return _pg_role
    import psycopg

    errors = []
    for role in PG_ROLES:
        try:
            with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=role,
                                 connect_timeout=3):
                _pg_role = role
                return role
        except psycopg.Error as exc:
            errors.append(f"{role}: {str(exc).strip()}")
    unavailable(f"PostgreSQL {PG_HOST}:{PG_PORT}/{PG_DATABASE} refused roles "
                f"{', '.join(PG_ROLES)}: {'; '.join(errors)}")
    raise AssertionError("unreachable")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL for database `test` with search_path set to a new, empty schema, so
    tables (including alembic_version) land there and each test starts from nothing."""
    import psycopg

    role = _pg_admin_role()
    schema = f"t_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=role,
                         autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        # libpq `options` sends search_path as a startup parameter on every connection
        yield (f"postgresql+psycopg://{role}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}"
               f"?options=-csearch_path%3D{schema}&application_name={schema}")
    finally:
        with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=role,
                             autocommit=True) as conn:
            # a connection the test left open in a transaction would block the DROP: end
            # it. Only ours carry this application_name, so nobody else's session is touched.
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE application_name = %s AND pid <> pg_backend_pid()", (schema,))
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/intake.db"
    return str(request.getfixturevalue("pg_url"))


# -- Dovecot ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot()
    try:
        server.start()
    except DovecotError as exc:
        server.stop()
        pytest.fail(f"could not start the test Dovecot: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Iterator[Mailbox]:
    """A never-used user (box<N>@box.example.test / secret): empty INBOX, UIDs from 1."""
    box = dovecot.new_box()
    try:
        yield box
    finally:
        dovecot.drop_box(box)


# -- SMTP and Twilio -------------------------------------------------------------------------
@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def twilio_api() -> Iterator[TwilioStandIn]:
    with TwilioStandIn() as api:
        yield api
