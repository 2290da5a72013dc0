"""XOAUTH2 tokens from a token command, with refresh tokens stored (encrypted) as they rotate."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.capture.imap import acquire_lease, oauth_token
from intake.mailboxes import get_mailbox
from intake.tickets.models import MailboxState
from tests.flows import make_runtime

pytestmark = pytest.mark.integration

# A stand-in for a provider's token helper: it trades the refresh token it is given for an
# access token and a new refresh token, as Microsoft 365 does on every refresh.
TOKEN_COMMAND = """#!/bin/sh
n=${INTAKE_OAUTH_REFRESH_TOKEN:-refresh-0}
next="refresh-$(( ${n#refresh-} + 1 ))"
printf '{"access_token": "access-for-%s", "refresh_token": "%s"}\\n' "$n" "$next"
"""


def test_token_command_rotates_refresh_tokens(tmp_path: Path) -> None:
    script = tmp_path / "token.sh"
    script.write_text(TOKEN_COMMAND)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    rt = make_runtime(f"sqlite:///{tmp_path}/i.db", tmp_path / "var", imap_host="127.0.0.1",
                      imap_user="support@example.test", imap_auth="xoauth2",
                      imap_oauth_token_command=str(script))
    box = get_mailbox(rt.settings, "default")
    with rt.sessions() as session:
        acquire_lease(session, box.name, box.folder, 30)
        assert oauth_token(rt, box, session) == "access-for-refresh-0"
        assert oauth_token(rt, box, session) == "access-for-refresh-1"
        stored = session.scalar(select(MailboxState.oauth_refresh_token))
    assert stored is not None and b"refresh-2" not in stored  # kept encrypted
    assert rt.vault.decrypt_text(stored) == "refresh-2"


def test_a_failing_token_command_is_a_clear_error(tmp_path: Path) -> None:
    rt = make_runtime(f"sqlite:///{tmp_path}/i.db", tmp_path / "var", imap_host="127.0.0.1",
                      imap_user="u", imap_auth="xoauth2", imap_oauth_token_command="exit 3")
    box = get_mailbox(rt.settings, "default")
    with rt.sessions() as session, pytest.raises(RuntimeError, match="token command exited 3"):
        acquire_lease(session, box.name, box.folder, 30)
        oauth_token(rt, box, session)
