"""Mailbox declarations: the default one from INTAKE_IMAP_*, more from a YAML file.

    # config/mailboxes.yaml (INTAKE_MAILBOXES_FILE)
    mailboxes:
      - name: finance
        host: imap.example.com
        user: finance@example.com
        password_env: FINANCE_IMAP_PASSWORD   # or password: ..., or auth: xoauth2 + token_command
        department: finance_support
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, fields, replace
from typing import Any

import yaml

from intake.settings import Settings, SettingsError


@dataclass(frozen=True)
class MailboxConfig:
    name: str
    host: str
    port: int
    user: str
    password: str = ""
    security: str = "ssl"  # ssl | starttls | none
    tls_verify: bool = True
    auth: str = "password"  # password | xoauth2
    oauth_token: str = ""
    oauth_token_command: str = ""
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    department: str = ""
    # A mailbox that only receives private cases (finance@): its captures are processed on
    # the `private` Celery queue from the start, since privacy is otherwise known only
    # after parsing.
    private: bool = False
    start: str = "now"
    timeout: float = 30.0
    batch_size: int = 100
    max_message_bytes: int = 25 * 1024 * 1024
    from_file: bool = False  # declared in INTAKE_MAILBOXES_FILE, not by INTAKE_IMAP_*

    def start_since(self) -> dt.date | None:
        return dt.date.fromisoformat(self.start[6:]) if self.start.startswith("since:") else None


def _default(settings: Settings) -> MailboxConfig:
    port = settings.imap_port or (993 if settings.imap_security == "ssl" else 143)
    return MailboxConfig(
        name="default", host=settings.imap_host, port=port, user=settings.imap_user,
        password=settings.imap_password, security=settings.imap_security,
        tls_verify=settings.imap_tls_verify, auth=settings.imap_auth,
        oauth_token=settings.imap_oauth_token, oauth_token_command=settings.imap_oauth_token_command,
        folder=settings.imap_folder, processed_folder=settings.imap_processed_folder,
        quarantine_folder=settings.imap_quarantine_folder, department=settings.imap_department,
        start=settings.imap_start, timeout=settings.imap_timeout, batch_size=settings.imap_batch_size,
        max_message_bytes=settings.max_message_bytes,
    )


def load_mailboxes(settings: Settings) -> list[MailboxConfig]:
    base = _default(settings)
    boxes = [base] if settings.imap_host else []
    if settings.mailboxes_file:
        path = settings.mailboxes_file
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"INTAKE_MAILBOXES_FILE {path}: {exc}") from None
        known = {f.name for f in fields(MailboxConfig)} - {"from_file"}
        for index, entry in enumerate(data.get("mailboxes", [])):
            if not isinstance(entry, dict) or "name" not in entry or "host" not in entry:
                raise SettingsError(f"{path}: mailboxes[{index}] needs at least name and host")
            values: dict[str, Any] = dict(entry)
            if "password_env" in values:
                env = values.pop("password_env")
                if env not in os.environ:
                    raise SettingsError(f"{path}: mailbox {entry['name']}: ${env} is not set")
                values["password"] = os.environ[env]
            unknown = set(values) - known
            if unknown:
                raise SettingsError(f"{path}: mailbox {entry['name']}: unknown keys {sorted(unknown)}")
            if "port" not in values:
                values["port"] = 993 if values.get("security", "ssl") == "ssl" else 143
            boxes.append(replace(base, **values, from_file=True))
    names = [b.name for b in boxes]
    if len(set(names)) != len(names):
        raise SettingsError("mailbox names must be unique: " + ", ".join(names))
    return boxes


def get_mailbox(settings: Settings, name: str) -> MailboxConfig:
    for box in load_mailboxes(settings):
        if box.name == name:
            return box
    raise SettingsError(f"no mailbox named {name!r} (see INTAKE_IMAP_HOST / INTAKE_MAILBOXES_FILE)")


def setting_name(box: MailboxConfig, field: str) -> str:
    """The setting an operator changes to change `field` of this mailbox, for messages
    that tell them what to set: INTAKE_IMAP_PROCESSED_FOLDER, or
    mailboxes[finance].processed_folder in INTAKE_MAILBOXES_FILE."""
    if box.from_file:
        return f"mailboxes[{box.name}].{field}"
    return f"INTAKE_IMAP_{field.upper()}"


# A poll that captured but could not move mail records its folder problems in
# MailboxState.last_error under this prefix, one "SETTING='value': why" per problem,
# joined by " | ", so health and metrics can show them without a column of their own.
FOLDER_PROBLEM = "folder problem: "
_PROBLEM_SETTING = re.compile(r"(?:^|\s\|\s)([\w.\[\]-]+)=")


def folder_problem_settings(last_error: str | None) -> list[str]:
    """The settings named by the folder problems in a MailboxState.last_error, if any."""
    if not last_error or not last_error.startswith(FOLDER_PROBLEM):
        return []
    return _PROBLEM_SETTING.findall(last_error[len(FOLDER_PROBLEM):])
