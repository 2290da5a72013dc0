"""`intake ingest` and `intake poll`: capture, process and send, synchronously."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from intake.cli.common import emit, freeze_heap, runtime, send_inline
from intake.cli.files import ingest_item

def cmd_ingest(args: argparse.Namespace) -> int:
    from intake.process import pipeline
    from intake.capture.inbox import capture

    rt = runtime()
    status = 0
    for path in args.files:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            emit({"source": path, "error": f"cannot read file: {exc.strerror or exc}"})
            status = 1
            continue
        if not raw.strip():
            emit({"source": path, "error": "empty file: holds no message"})
            status = 1
            continue
        try:
            item = ingest_item(args.channel, path, raw)
        except ValueError as exc:
            emit({"source": path, "error": str(exc)})
            status = 1
            continue
        with rt.sessions() as session:
            captured = capture(session, rt.vault, item)
            session.commit()
        outcome = pipeline.process_with_retries(rt, captured.inbox_id)
        if outcome is None:
            emit({"source": path, "error": "processing failed; kept as inbox row "
                   f"{captured.inbox_id} (see intake reprocess)"})
            status = 1
            continue
        send_inline(rt, outcome.outbox_ids)
        emit({"source": path, "ticket": outcome.ticket_ref, "outcome": outcome.outcome,
               "parse_error": outcome.parse_error})
    return status


def cmd_poll(args: argparse.Namespace) -> int:
    import time

    from intake.process.batch import Processor
    from intake.capture.imap import MailboxBusy, poll
    from intake.mailboxes import get_mailbox, load_mailboxes

    rt = runtime()
    boxes = [get_mailbox(rt.settings, args.mailbox)] if args.mailbox else load_mailboxes(rt.settings)
    if not boxes:
        print("no mailbox configured (set INTAKE_IMAP_HOST or INTAKE_MAILBOXES_FILE)", file=sys.stderr)
        return 2
    rt.rules  # noqa: B018 - loaded before the freeze and the pool's fork: shared by its processes
    freeze_heap()
    while True:
        for box in boxes:
            started = time.monotonic()
            # Each committed batch of captures goes to the processor while the next is fetched.
            with Processor(rt, send=True) as processor:
                try:
                    result = poll(rt, box, on_captured=processor.feed)
                except MailboxBusy:
                    emit({"mailbox": box.name, "busy": True})
                    continue
            outcomes: dict[str, int] = {}
            failed = 0
            for outcome in processor.outcomes.values():
                if outcome is None:
                    failed += 1
                    continue
                outcomes[outcome.outcome] = outcomes.get(outcome.outcome, 0) + 1
            emit({"mailbox": box.name, "captured": len(result.captured),
                   "duplicates": result.duplicates, "oversize": result.oversize,
                   "skipped": result.skipped, "failed": failed, "outcomes": outcomes,
                   "uidvalidity_changed": result.uidvalidity_changed,
                   "folder_problems": list(result.folder_problems),
                   "seconds": round(time.monotonic() - started, 3)})
        if args.once:
            return 0
        time.sleep(rt.settings.poll_interval)
