"""`intake mailbox reconcile`: what is in the mailbox but not captured, and what was captured
but has no ticket. Read-only: it reports, ops decide."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from intake.runtime import Runtime
from intake.tickets.models import Inbox, MailboxState


def reconcile(rt: Runtime, mailbox: str | None = None) -> dict[str, Any]:
    from intake.capture.folders import server_layout, server_name
    from intake.capture.imap import close_quietly, connect
    from intake.mailboxes import load_mailboxes

    report: dict[str, Any] = {"mailboxes": []}
    for box in load_mailboxes(rt.settings):
        if mailbox and box.name != mailbox:
            continue
        with rt.sessions() as session:
            client = connect(rt, box, session)
            try:
                # the polled folder as the server names it (INBOX. prefix on Courier, Cyrus)
                folder = server_name(client, server_layout(client), box.folder) or box.folder
                selected = client.select_folder(folder, readonly=True)
                uidvalidity = int(selected[b"UIDVALIDITY"])
                uids = sorted(client.search(["ALL"]))
            finally:
                close_quietly(client)
            keys = {f"imap:{box.name}:{uidvalidity}:{uid}": uid for uid in uids}
            captured = set(session.scalars(select(Inbox.capture_key).where(Inbox.capture_key.in_(list(keys)))))
            state = session.get(MailboxState, box.name)
            watermark = state.last_uid if state and state.uidvalidity == uidvalidity else 0
            missing = [uid for key, uid in keys.items() if key not in captured]
            report["mailboxes"].append({
                "name": box.name, "folder": folder, "uidvalidity": uidvalidity,
                "messages": len(uids), "last_uid": watermark,
                # Below the watermark and not captured: skipped (poisonous) or left behind.
                "uncaptured_below_watermark": [u for u in missing if u <= watermark],
                "not_yet_polled": [u for u in missing if u > watermark],
                "skipped": state.skipped if state else [],
            })
    with rt.sessions() as session:
        orphans = session.execute(
            select(Inbox.id, Inbox.channel, Inbox.status, Inbox.last_error)
            .where((Inbox.status != "done") | (Inbox.ticket_id.is_(None) & Inbox.outcome.in_(("new_ticket", "added_to_ticket"))))
            .order_by(Inbox.id).limit(1000)).all()
    report["captures_without_ticket"] = [
        {"inbox_id": r.id, "channel": r.channel, "status": r.status, "reason": r.last_error} for r in orphans]
    return report
