"""Folder names and numbers as each IMAP server has them.

Servers differ where intake needs them to agree: Courier-IMAP and stock Cyrus keep every
folder under the personal namespace prefix `INBOX.` and refuse to CREATE `Processed` outside
it; Gmail and Microsoft 365 have no prefix and use `/`; Courier's SELECT carries no UIDNEXT.
So a configured folder name is placed in the personal namespace the server announces
(RFC 2342), a value such as `\\Archive` names the folder with that special-use attribute
(RFC 6154), and UIDNEXT comes from STATUS or the highest UID when SELECT leaves it out.

A processed or quarantine folder that cannot be created or used never blocks capture: the
poll goes on with that folder switched off (the mail stays where it is, the UID watermark
keeps capture exactly-once), and the problem, naming the setting to change, is reported.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from intake.mailboxes import MailboxConfig, setting_name

# The folders of a mailbox that intake may create (the polled one it never creates).
MOVE_TARGETS = ("processed_folder", "quarantine_folder")
# RFC 6154 special-use attributes, and RFC 8457's \Important.
SPECIAL_USE = frozenset(("\\all", "\\archive", "\\drafts", "\\flagged", "\\junk", "\\sent",
                         "\\trash", "\\important"))


class FolderUnusable(Exception):
    """The server refused to move mail into a folder (the connection itself is fine)."""

    def __init__(self, folder: str, reason: str) -> None:
        super().__init__(f"{folder}: {reason}")
        self.folder = folder
        self.reason = reason


@dataclass(frozen=True)
class Layout:
    """What the server says about its folder names."""

    prefix: str  # personal namespace prefix: "INBOX." (Courier, Cyrus) or "" (Dovecot, Gmail)
    delimiter: str  # hierarchy separator: "." or "/"; "" for a flat server
    namespace: dict[str, list[list[str]]] = field(default_factory=dict)
    special: dict[str, str] = field(default_factory=dict)  # "\\Junk" -> folder, if asked for

    def special_folder(self, flag: str) -> str | None:
        return next((name for f, name in self.special.items() if f.lower() == flag.lower()), None)


@dataclass(frozen=True)
class Folder:
    """One configured folder, resolved on the server."""

    setting: str  # what an operator sets to change it, e.g. INTAKE_IMAP_PROCESSED_FOLDER
    configured: str
    name: str  # the name on the server; "" means none (leave captured mail in place)
    exists: bool = False
    created: bool = False
    problem: str = ""  # why it cannot be used, and what to set instead

    def report(self) -> dict[str, Any]:
        return {"setting": self.setting, "configured": self.configured, "name": self.name,
                "exists": self.exists, "created": self.created, "problem": self.problem or None}


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def _reason(exc: Exception) -> str:
    return str(exc).strip()[:200] or type(exc).__name__


def server_layout(client: IMAPClient, special_use: bool = False) -> Layout:
    """The personal namespace (RFC 2342 NAMESPACE) and separator; with `special_use`, also the
    folders carrying RFC 6154 special-use attributes in LIST (Dovecot, Gmail, Microsoft 365
    return them without being asked for them with LIST-EXTENDED)."""
    prefix, delimiter = "", ""
    namespace: dict[str, list[list[str]]] = {}
    if client.has_capability("NAMESPACE"):
        spaces = client.namespace()
        for kind, entries in zip(("personal", "other", "shared"), spaces):
            namespace[kind] = [[_text(p), _text(s)] for p, s in entries or ()]
        if namespace.get("personal"):
            prefix, delimiter = namespace["personal"][0]
    if not delimiter:
        # LIST "" "" answers with the hierarchy delimiter alone (RFC 3501 6.3.8).
        listed = client.list_folders("", "")
        delimiter = _text(listed[0][1]) if listed and listed[0][1] else ""
    special: dict[str, str] = {}
    if special_use:
        for flags, _delimiter, name in client.list_folders():
            for flag in map(_text, flags):
                if flag.lower() in SPECIAL_USE:
                    special.setdefault(flag, name)
    return Layout(prefix, delimiter, namespace, special)


def server_name(client: IMAPClient, layout: Layout, configured: str) -> str | None:
    """The server's name for a configured folder, None if a special-use value names none.

    "" stays "" (no folder); `\\Archive` is the folder with that attribute; INBOX, a name
    that already starts with the personal prefix, and a name that exists as given (say in a
    shared namespace) are used as given; any other name is placed under the prefix."""
    if not configured:
        return ""
    if configured.startswith("\\"):
        return layout.special_folder(configured)
    if configured.upper() == "INBOX" or not layout.prefix:
        return configured
    if configured.upper().startswith(layout.prefix.upper()) or client.folder_exists(configured):
        return configured
    prefix = layout.prefix
    if layout.delimiter and not prefix.endswith(layout.delimiter):
        prefix += layout.delimiter
    return prefix + configured


def _hint(layout: Layout) -> str:
    where = f"names start with {layout.prefix!r}, " if layout.prefix else ""
    return f" (on this server {where}the hierarchy separator is {layout.delimiter!r})"


def resolve(client: IMAPClient, box: MailboxConfig, field_name: str, layout: Layout,
            create: bool) -> Folder:
    """Resolve one folder field of a mailbox; with `create`, create it if missing (and
    subscribe it, so people see it in their mail clients)."""
    setting = setting_name(box, field_name)
    configured = str(getattr(box, field_name))
    name = server_name(client, layout, configured)
    if name is None:
        return Folder(setting, configured, "", problem=(
            f"{setting}={configured!r}: no folder has the {configured} special-use attribute "
            f"(RFC 6154) on this server; set {setting} to a folder name{_hint(layout)}"))
    if not name or client.folder_exists(name):
        return Folder(setting, configured, name, exists=bool(name))
    if field_name not in MOVE_TARGETS:
        return Folder(setting, configured, name, problem=(
            f"{setting}={configured!r}: there is no folder {name!r}; set {setting} to an "
            f"existing folder{_hint(layout)}"))
    if not create:
        return Folder(setting, configured, name)
    try:
        client.create_folder(name)
    except IMAPClientAbortError:
        raise
    except IMAPClientError as exc:
        if client.folder_exists(name):  # another poller created it a moment ago
            return Folder(setting, configured, name, exists=True)
        return Folder(setting, configured, name, problem=cannot_create(setting, configured, name, exc, layout))
    try:
        client.subscribe_folder(name)
    except IMAPClientAbortError:
        raise
    except IMAPClientError:
        pass  # some servers have no subscriptions; the folder is there all the same
    return Folder(setting, configured, name, exists=True, created=True)


def cannot_create(setting: str, configured: str, name: str, exc: Exception, layout: Layout) -> str:
    return (f"{setting}={configured!r}: cannot create {name!r} ({_reason(exc)}); captured mail "
            f"stays where it is until {setting} names a folder that exists or can be "
            f"created{_hint(layout)}, or is empty")


def probe_create(client: IMAPClient, folder: Folder, layout: Layout) -> Folder:
    """Whether a missing folder could be created, without creating it: create and delete a
    sibling with the same name plus a unique suffix (same parent, same characters).
    Creating and deleting the folder itself could delete mail a poller moved into it."""
    probe = f"{folder.name}-intake-check-{secrets.token_hex(4)}"
    try:
        client.create_folder(probe)
    except IMAPClientAbortError:
        raise
    except IMAPClientError as exc:
        return replace(folder, problem=cannot_create(folder.setting, folder.configured, folder.name,
                                                     exc, layout))
    try:
        client.delete_folder(probe)
    except IMAPClientAbortError:
        raise
    except IMAPClientError:
        pass  # an empty folder named intake-check-* is left; harmless
    return folder


def prepare(client: IMAPClient, box: MailboxConfig) -> tuple[MailboxConfig, list[str]]:
    """The mailbox with its folders as the server names them, the move targets created if
    missing, and the folder problems of this poll. A move target that cannot be used is
    switched off (""), so capture goes on and the mail stays where it is."""
    wanted = [box.folder, *(str(getattr(box, f)) for f in MOVE_TARGETS)]
    layout = server_layout(client, special_use=any(v.startswith("\\") for v in wanted))
    problems: list[str] = []
    source = resolve(client, box, "folder", layout, create=False)
    targets: dict[str, str] = {}
    for field_name in MOVE_TARGETS:
        folder = resolve(client, box, field_name, layout, create=True)
        if folder.problem:
            problems.append(folder.problem)
        targets[field_name] = "" if folder.problem else folder.name
    return replace(box, folder=source.name or box.folder, processed_folder=targets["processed_folder"],
                   quarantine_folder=targets["quarantine_folder"]), problems


def switch_off(box: MailboxConfig, failure: FolderUnusable, configured: MailboxConfig) -> tuple[MailboxConfig, str]:
    """After a refused MOVE/COPY: the mailbox with that folder switched off for the rest of
    the poll, and the problem naming the setting (`configured` holds the values as set)."""
    fields = [f for f in MOVE_TARGETS if getattr(box, f) == failure.folder] or list(MOVE_TARGETS[:1])
    setting = setting_name(box, fields[0])
    problem = (f"{setting}={getattr(configured, fields[0])!r}: cannot move mail into "
               f"{failure.folder!r} ({failure.reason[:200]}); captured mail stays where it is")
    return replace(box, processed_folder="" if "processed_folder" in fields else box.processed_folder,
                   quarantine_folder="" if "quarantine_folder" in fields else box.quarantine_folder), problem


def uid_next(client: IMAPClient, folder: str, selected: dict[bytes, Any]) -> tuple[int, str]:
    """The folder's next UID and where it came from.

    RFC 3501 (7.1) has SELECT return UIDNEXT, but Courier-IMAP's SELECT does not; assuming
    1 there made `INTAKE_IMAP_START=now` take every old mail. So: SELECT, else STATUS
    (UIDNEXT), else one more than the highest UID in use (UID SEARCH UID *)."""
    if b"UIDNEXT" in selected:
        return int(selected[b"UIDNEXT"]), "SELECT"
    try:
        status = client.folder_status(folder, [b"UIDNEXT"])
        if b"UIDNEXT" in status:
            return int(status[b"UIDNEXT"]), "STATUS"
    except IMAPClientAbortError:
        raise
    except IMAPClientError:
        pass
    try:
        # "*" is the highest UID in use (RFC 3501 6.4.8, 9 seq-number); an empty folder
        # matches nothing, or is refused by a strict server.
        uids = client.search(["UID", "*"])
    except IMAPClientAbortError:
        raise
    except IMAPClientError:
        uids = client.search(["ALL"])
    return (max(uids) + 1 if uids else 1), "SEARCH"
