"""IMAP capture: fetch new mail, store it raw, then flag and move it (STYLE 1 and 2).

The watermark is (UIDVALIDITY, last UID) per mailbox, never the \\Seen flag: a person reading
the mailbox in a mail client must not hide mail from intake. One poller per mailbox at a
time holds a lease in the database that expires if its holder dies.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import ssl
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from intake.mailboxes import FOLDER_PROBLEM, MailboxConfig, get_mailbox
from intake.runtime import Runtime
from intake.tickets.models import MailboxState, utcnow
from intake.capture.folders import FolderUnusable, prepare, switch_off, uid_next
from intake.capture.inbox import CaptureItem, capture_many
from intake.db import insert_for
from intake.work import Enqueue, Work

log = logging.getLogger("intake.imap")
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
OnCaptured = Callable[[list[int]], object]  # gets the new inbox ids of a committed batch


class MailboxBusy(Exception):
    """Another poller holds this mailbox's lease."""


@dataclass
class PollResult:
    mailbox: str
    captured: list[int] = field(default_factory=list)  # inbox ids created by this poll
    duplicates: int = 0
    oversize: int = 0
    skipped: int = 0
    skipped_uids: list[tuple[int, str]] = field(default_factory=list)
    uidvalidity_changed: bool = False
    # processed/quarantine folders this poll could not use, each naming its setting
    folder_problems: list[str] = field(default_factory=list)
    lease_lost: bool = False  # another poller took the mailbox mid-poll: this one stopped


# -- lease ---------------------------------------------------------------------------------------

def acquire_lease(session: Session, name: str, folder: str, seconds: float, owner: str = WORKER_ID) -> bool:
    session.execute(insert_for(session)(MailboxState).values(
        name=name, folder=folder, last_uid=0, skipped=[]).on_conflict_do_nothing())
    now = utcnow()
    result = session.execute(
        update(MailboxState)
        .where(MailboxState.name == name,
               or_(MailboxState.lease_owner.is_(None), MailboxState.lease_until < now,
                   MailboxState.lease_owner == owner))
        .values(lease_owner=owner, lease_until=now + dt.timedelta(seconds=seconds)))
    session.commit()
    return result.rowcount == 1  # type: ignore[attr-defined]


def release_lease(session: Session, name: str, owner: str = WORKER_ID) -> None:
    session.execute(update(MailboxState).where(MailboxState.name == name, MailboxState.lease_owner == owner)
                    .values(lease_owner=None, lease_until=None))
    session.commit()


# -- connection -----------------------------------------------------------------------------------

def oauth_token(rt: Runtime, box: MailboxConfig, session: Session) -> str:
    """An XOAUTH2 access token from config or from a token command.

    The command may print a bare token, or JSON {"access_token": ..., "refresh_token": ...}.
    Providers that rotate refresh tokens hand a new one each time: we store it (encrypted)
    and pass the latest to the next run in $INTAKE_OAUTH_REFRESH_TOKEN.
    """
    if box.oauth_token:
        return box.oauth_token
    state = session.get(MailboxState, box.name)
    env = dict(os.environ)
    if state is not None and state.oauth_refresh_token:
        env["INTAKE_OAUTH_REFRESH_TOKEN"] = rt.vault.decrypt_text(state.oauth_refresh_token)
    done = subprocess.run(box.oauth_token_command, shell=True, capture_output=True, text=True,
                          timeout=box.timeout, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"mailbox {box.name}: token command exited {done.returncode}")
    out = done.stdout.strip()
    if out.startswith("{"):
        data = json.loads(out)
        if data.get("refresh_token") and state is not None:
            state.oauth_refresh_token = rt.vault.encrypt_text(data["refresh_token"])
            session.commit()
        expires_in = str(data.get("expires_in"))  # RFC 6749 5.1 (some send a string); for /metrics
        if expires_in.isascii() and expires_in.isdigit() and len(expires_in) < 9 and state is not None:
            state.oauth_expires_at = utcnow() + dt.timedelta(seconds=int(expires_in))
            session.commit()
        return str(data["access_token"])
    return out


def connect(rt: Runtime, box: MailboxConfig, session: Session) -> IMAPClient:
    # Plain IMAP (loopback, a test server) needs no context: loading the system's CA
    # certificates costs every poll about 50 ms.
    context = ssl.create_default_context() if box.security != "none" else None
    if context is not None and not box.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    client = IMAPClient(box.host, port=box.port, ssl=box.security == "ssl", ssl_context=context,
                        timeout=box.timeout)
    try:
        if box.security == "starttls":
            client.starttls(context)
        if box.auth == "xoauth2":
            client.oauth2_login(box.user, oauth_token(rt, box, session))
        else:
            client.login(box.user, box.password)
    except Exception:
        close_quietly(client)
        raise
    return client


def close_quietly(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # noqa: BLE001 - the connection may already be gone
        try:
            client.shutdown()
        except Exception:  # noqa: BLE001
            pass


def _start_uid(client: IMAPClient, box: MailboxConfig, uidnext: int) -> int:
    """The watermark for a mailbox seen for the first time (INTAKE_IMAP_START)."""
    if box.start == "all":
        return 0
    since = box.start_since()
    if since is not None:
        uids = client.search(["SINCE", since])
        return min(uids) - 1 if uids else uidnext - 1
    return uidnext - 1


def _move(client: IMAPClient, uids: list[int], folder: str) -> None:
    if not uids:
        return
    client.add_flags(uids, [b"\\Seen"], silent=True)
    if not folder:
        return
    try:
        if client.has_capability("MOVE"):
            client.move(uids, folder)
            return
        client.copy(uids, folder)
    except IMAPClientAbortError:
        raise  # the connection is gone: the whole poll is retried later
    except IMAPClientError as exc:  # the server refused this folder: the mail stays put
        raise FolderUnusable(folder, str(exc)) from exc
    client.delete_messages(uids, silent=True)
    # UID EXPUNGE of these UIDs only (RFC 4315): never expunge what a person deleted.
    client.uid_expunge(uids)


# -- polling ----------------------------------------------------------------------------------------

def poll(rt: Runtime, box: MailboxConfig, on_captured: OnCaptured | None = None) -> PollResult:
    """Capture everything new in one mailbox. Raises MailboxBusy if another poller has it.
    `on_captured` gets each batch's new inbox ids as soon as the batch is committed, so the
    caller can hand them on while the next batch is fetched."""
    with rt.sessions() as session:
        if not acquire_lease(session, box.name, box.folder, rt.settings.lease_seconds):
            raise MailboxBusy(box.name)
        try:
            client = open_connection(rt, box, session)
            try:
                return poll_connected(rt, box, session, client, on_captured)
            finally:
                close_quietly(client)
        finally:
            release_lease(session, box.name)


def poll_connected(rt: Runtime, box: MailboxConfig, session: Session, client: IMAPClient,
                   on_captured: OnCaptured | None = None) -> PollResult:
    """One poll on a connection whose mailbox lease this process holds (the IDLE watcher
    keeps both between polls); records the poll's time or error on the mailbox."""
    result = PollResult(box.name)
    try:
        _poll_folder(rt, box, session, client, result, on_captured)
        problems = " | ".join(result.folder_problems)
        if problems:  # once per poll, naming the settings to change
            log.warning("mailbox %s: %s%s", box.name, FOLDER_PROBLEM, problems)
        session.execute(update(MailboxState).where(MailboxState.name == box.name)
                        .values(last_poll_at=utcnow(), last_error_class=None,
                                last_error=FOLDER_PROBLEM + problems if problems else None))
        session.commit()
    except Exception as exc:
        _record_error(session, box.name, exc)
        raise
    return result


def open_connection(rt: Runtime, box: MailboxConfig, session: Session) -> IMAPClient:
    """`connect`, with a failure recorded on the mailbox for `intake health`."""
    try:
        return connect(rt, box, session)
    except Exception as exc:
        _record_error(session, box.name, exc)
        raise


def _record_error(session: Session, name: str, exc: Exception) -> None:
    session.rollback()
    session.execute(update(MailboxState).where(MailboxState.name == name)
                    .values(last_error=f"{type(exc).__name__}: {str(exc)[:200]}",
                            last_error_class=type(exc).__name__[:64]))
    session.commit()


def _poll_folder(rt: Runtime, configured: MailboxConfig, session: Session, client: IMAPClient,
                 result: PollResult, on_captured: OnCaptured | None) -> None:
    # Folder names as this server has them; an unusable move target is switched off ("").
    box, result.folder_problems = prepare(client, configured)
    selected = client.select_folder(box.folder)
    uidvalidity = int(selected[b"UIDVALIDITY"])
    state = session.get(MailboxState, box.name)
    assert state is not None
    if state.uidvalidity is None:
        state.last_uid = _start_uid(client, box, uid_next(client, box.folder, selected)[0])
    elif state.uidvalidity != uidvalidity:
        # The server renumbered the folder: re-scan it whole. Captures are deduplicated on
        # their bytes, so mail already taken is not stored twice.
        log.warning("mailbox %s: UIDVALIDITY changed %s -> %s, re-scanning", box.name,
                    state.uidvalidity, uidvalidity)
        state.last_uid = 0
        result.uidvalidity_changed = True
    state.uidvalidity = uidvalidity
    session.commit()

    present = sorted(client.search(["ALL"]))
    state.server_uid = present[-1] if present else 0  # messages waiting = this - last_uid (/metrics)
    # A poller that died between commit and MOVE leaves its last batch or two behind.
    below = [u for u in present if u <= state.last_uid][-2 * box.batch_size:]
    try:
        _tidy_captured(rt, box, session, client, uidvalidity, below)
    except FolderUnusable as failure:
        box = _switched_off(box, failure, configured, result)
    uids = [u for u in present if u > state.last_uid]
    if not uids:
        return
    sizes = {uid: data.get(b"RFC822.SIZE", 0) for uid, data in client.fetch(uids, ["RFC822.SIZE"]).items()}
    for start in range(0, len(uids), box.batch_size):
        batch = uids[start:start + box.batch_size]
        try:
            _capture_batch(rt, box, session, client, state, uidvalidity, batch, sizes, result, on_captured)
        except FolderUnusable as failure:  # captured and committed; only the move failed
            box = _switched_off(box, failure, configured, result)
        if result.lease_lost:
            log.warning("mailbox %s: lease lost mid-poll; the poller that holds it now moves the rest", box.name)
            return


def _switched_off(box: MailboxConfig, failure: FolderUnusable, configured: MailboxConfig,
                  result: PollResult) -> MailboxConfig:
    box, problem = switch_off(box, failure, configured)
    result.folder_problems.append(problem)
    return box


def _tidy_captured(rt: Runtime, box: MailboxConfig, session: Session, client: IMAPClient,
                   uidvalidity: int, below_watermark: list[int]) -> None:
    """Move mail that was captured but not moved (the poller died between the commit and
    the MOVE). Mail below the watermark with no capture (skipped as unreadable) stays put
    for a person and is listed by `intake mailbox reconcile`."""
    if not below_watermark or not box.processed_folder:
        return
    from intake.tickets.models import Inbox

    keys = {f"imap:{box.name}:{uidvalidity}:{uid}": uid for uid in below_watermark}
    captured = session.execute(select(Inbox.capture_key, Inbox.meta).where(Inbox.capture_key.in_(list(keys)))).all()
    normal = [keys[row.capture_key] for row in captured if not (row.meta or {}).get("oversize")]
    oversize = [keys[row.capture_key] for row in captured if (row.meta or {}).get("oversize")]
    if normal or oversize:
        log.info("mailbox %s: moving %d captured but unmoved messages", box.name, len(normal) + len(oversize))
    _move(client, sorted(normal), box.processed_folder)
    _move(client, sorted(oversize), box.quarantine_folder)


def _capture_batch(rt: Runtime, box: MailboxConfig, session: Session, client: IMAPClient,
                   state: MailboxState, uidvalidity: int, batch: list[int], sizes: dict[int, int],
                   result: PollResult, on_captured: OnCaptured | None) -> None:
    normal = [u for u in batch if sizes.get(u, 0) <= box.max_message_bytes]
    oversize = [u for u in batch if u not in normal]
    fetched: dict[int, dict[bytes, object]] = {}
    if normal:
        fetched.update(_fetch(client, normal, [b"BODY.PEEK[]", b"INTERNALDATE", b"FLAGS"], result))
    if oversize:
        # Too big to take whole: keep the headers so the sender still gets a ticket, and
        # leave the mail itself in the quarantine folder for a person.
        fetched.update(_fetch(client, oversize, [b"BODY.PEEK[HEADER]", b"INTERNALDATE"], result))
    items = []
    for uid in batch:
        data = fetched.get(uid)
        if data is None:
            continue
        raw = data.get(b"BODY[]") or data.get(b"BODY[HEADER]") or b""
        assert isinstance(raw, bytes)
        meta = {"uid": uid, "uidvalidity": uidvalidity, "department": box.department or None}
        internal = data.get(b"INTERNALDATE")
        if isinstance(internal, dt.datetime):
            meta["internaldate"] = internal.isoformat()
        if uid in oversize:
            meta.update(oversize=True, size=sizes.get(uid, 0))
            result.oversize += 1
        items.append(CaptureItem("email", f"imap:{box.name}:{uidvalidity}:{uid}", raw,
                                 mailbox=box.name, meta=meta, private=box.private))
    captured = capture_many(session, rt.vault, items)
    state.last_uid = max(batch)
    if result.skipped_uids:
        # Visible to ops (`intake mailbox reconcile`), and the mail stays on the server.
        state.skipped = [*state.skipped, *({"uid": u, "uidvalidity": uidvalidity, "reason": r}
                                           for u, r in result.skipped_uids)][-500:]
        result.skipped_uids.clear()
    session.commit()  # persist before we acknowledge: only now touch the messages
    created = [cap.inbox_id for cap in captured if cap.created]
    result.captured += created
    result.duplicates += len(captured) - len(created)
    if created and on_captured is not None:
        on_captured(created)  # committed: the workers may start on them now
    # Move only while the lease is still ours (renewed here, committed): a poller whose lease
    # ran out meanwhile would move mail the new holder is moving too, and COPY-based moves
    # leave a second copy. What is captured but not moved, the holder tidies up.
    result.lease_lost = not acquire_lease(session, box.name, box.folder, rt.settings.lease_seconds)
    session.commit()
    if result.lease_lost:
        return
    _move(client, [u for u in normal if u in fetched], box.processed_folder)
    _move(client, [u for u in oversize if u in fetched], box.quarantine_folder)


def _fetch(client: IMAPClient, uids: list[int], parts: list[bytes], result: PollResult) -> dict[int, dict[bytes, object]]:
    """Fetch a batch; if the server chokes on it, fetch one by one so a single poisonous
    mail cannot block the ones behind it."""
    try:
        return client.fetch(uids, parts)  # type: ignore[no-any-return]
    except (socket.timeout, ConnectionError, ssl.SSLError):
        raise  # the connection is gone: the whole poll is retried later
    except Exception:  # noqa: BLE001 - a server-side error about some message in the batch
        pass
    out: dict[int, dict[bytes, object]] = {}
    for uid in uids:
        try:
            out.update(client.fetch([uid], parts))
        except (socket.timeout, ConnectionError, ssl.SSLError):
            raise
        except Exception as exc:  # noqa: BLE001
            log.error("uid %s could not be fetched (%s); skipped and recorded", uid, type(exc).__name__)
            result.skipped += 1
            result.skipped_uids.append((uid, type(exc).__name__))
    return out


def poll_named(rt: Runtime, mailbox: str, enqueue: Enqueue) -> int:
    """Poll one mailbox by name, handing each committed batch of captures to `enqueue`;
    returns how many were captured. A mailbox another poller holds the lease on yields
    nothing."""
    box = get_mailbox(rt.settings, mailbox)
    try:
        result = poll(rt, box, lambda ids: enqueue(Work.of(process=ids, private=box.private)))
    except MailboxBusy:
        log.info("mailbox %s is being polled by another worker", mailbox)
        return 0
    return len(result.captured)
