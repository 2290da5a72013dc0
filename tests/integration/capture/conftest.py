"""Dovecot variants that stand in for other IMAP servers, one each for the session.

    courier_box   a fresh user on a Dovecot laid out as Courier-IMAP (and stock Cyrus) are:
                  personal namespace prefix `INBOX.`, separator `.`, so CREATE `Processed`
                  fails; `INBOX.Archive` and `INBOX.Junk` carry \\Archive and \\Junk
    nomove_box    a fresh user on a Dovecot whose capability list has no MOVE (RFC 6851),
                  so intake must COPY, flag \\Deleted and UID EXPUNGE (RFC 4315)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.dovecot import Dovecot, DovecotError, Mailbox

# Dovecot 2.3's own list, less MOVE (and the extensions intake never uses).
CAPABILITIES_WITHOUT_MOVE = ("IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE NAMESPACE "
                             "UIDPLUS CHILDREN UNSELECT LIST-EXTENDED SPECIAL-USE CONDSTORE ESEARCH")


def _serve(server: Dovecot) -> Iterator[Dovecot]:
    try:
        server.start()
    except DovecotError as exc:
        server.stop()
        pytest.fail(f"could not start the test Dovecot variant: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def courier_dovecot() -> Iterator[Dovecot]:
    yield from _serve(Dovecot(prefix="INBOX.", separator=".",
                              special_use={"Archive": "\\Archive", "Junk": "\\Junk"}))


@pytest.fixture(scope="session")
def nomove_dovecot() -> Iterator[Dovecot]:
    yield from _serve(Dovecot(capabilities=CAPABILITIES_WITHOUT_MOVE))


def _box(server: Dovecot) -> Iterator[Mailbox]:
    box = server.new_box()
    try:
        yield box
    finally:
        server.drop_box(box)


@pytest.fixture
def courier_box(courier_dovecot: Dovecot) -> Iterator[Mailbox]:
    yield from _box(courier_dovecot)


@pytest.fixture
def nomove_box(nomove_dovecot: Dovecot) -> Iterator[Mailbox]:
    yield from _box(nomove_dovecot)
