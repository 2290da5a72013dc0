"""The `intake` command: run the daemons, ingest files, poll, inspect and act on tickets."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from intake.settings import SettingsError
from intake.work import Work


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _runtime(upgrade: bool = True, check: bool = False) -> Any:
    from intake.db import upgrade as db_upgrade
    from intake.runtime import get_runtime

    rt = get_runtime()
    if upgrade:
        db_upgrade(rt.settings.database_url)
    if check:
        # Daemons check their config at start: a broken triage rule or template stops
        # start-up naming the file and line, instead of failing on the first message.
        from intake.mailboxes import load_mailboxes
        from intake.outbox.compose import composer_for

        rt.rules  # noqa: B018
        composer_for(rt).check()
        load_mailboxes(rt.settings)
    return rt


def _send_inline(rt: Any, outbox_ids: list[int]) -> None:
    """One-shot commands deliver the follow-ups they cause before returning."""
    from intake.send.batch import send_batch

    send_batch(rt, outbox_ids)


def _dispatcher(rt: Any) -> Any:
    """The task layer's enqueue, for the commands that hand work to the daemons (the CLI
    is the one room of intake/ that reaches workers/)."""
    from workers.app import make_celery
    from workers.dispatch import Dispatcher

    return Dispatcher(make_celery(rt.settings))


def _is_private(rt: Any, ref: str) -> bool:
    from sqlalchemy import select

    from intake.tickets.models import Ticket

    with rt.sessions() as session:
        return bool(session.scalar(select(Ticket.private).where(Ticket.ref == ref.upper())))


# -- ingest / poll ------------------------------------------------------------------------------

def cmd_ingest(args: argparse.Namespace) -> int:
    from intake.process import pipeline
    from intake.capture.inbox import capture

    rt = _runtime()
    status = 0
    for path in args.files:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            _emit({"source": path, "error": f"cannot read file: {exc.strerror or exc}"})
            status = 1
            continue
        if not raw.strip():
            _emit({"source": path, "error": "empty file: holds no message"})
            status = 1
            continue
        try:
            item = _ingest_item(args.channel, path, raw)
        except ValueError as exc:
            _emit({"source": path, "error": str(exc)})
            status = 1
            continue
        with rt.sessions() as session:
            captured = capture(session, rt.vault, item)
            session.commit()
        outcome = pipeline.process_with_retries(rt, captured.inbox_id)
        if outcome is None:
            _emit({"source": path, "error": "processing failed; kept as inbox row "
                   f"{captured.inbox_id} (see intake reprocess)"})
            status = 1
            continue
        _send_inline(rt, outcome.outbox_ids)
        _emit({"source": path, "ticket": outcome.ticket_ref, "outcome": outcome.outcome,
               "parse_error": outcome.parse_error})
    return status


def _ingest_item(channel: str, path: str, raw: bytes) -> Any:
    import hashlib

    from intake.capture.inbox import CaptureItem

    if channel == "email":
        return CaptureItem("email", "file:" + hashlib.sha256(raw).hexdigest(), raw, mailbox=None,
                           meta={"source": "file"})
    from intake.capture.twilio import capture_item_from_json

    return capture_item_from_json(channel, raw)


def cmd_poll(args: argparse.Namespace) -> int:
    import time

    from intake.process.batch import process_captured
    from intake.capture.imap import MailboxBusy, poll
    from intake.mailboxes import get_mailbox, load_mailboxes

    rt = _runtime()
    boxes = [get_mailbox(rt.settings, args.mailbox)] if args.mailbox else load_mailboxes(rt.settings)
    if not boxes:
        print("no mailbox configured (set INTAKE_IMAP_HOST or INTAKE_MAILBOXES_FILE)", file=sys.stderr)
        return 2
    while True:
        for box in boxes:
            started = time.monotonic()
            try:
                result = poll(rt, box)
            except MailboxBusy:
                _emit({"mailbox": box.name, "busy": True})
                continue
            outcomes: dict[str, int] = {}
            failed = 0
            for outcome in process_captured(rt, result.captured, send=True).values():
                if outcome is None:
                    failed += 1
                    continue
                outcomes[outcome.outcome] = outcomes.get(outcome.outcome, 0) + 1
            _emit({"mailbox": box.name, "captured": len(result.captured),
                   "duplicates": result.duplicates, "oversize": result.oversize,
                   "skipped": result.skipped, "failed": failed, "outcomes": outcomes,
                   "uidvalidity_changed": result.uidvalidity_changed,
                   "seconds": round(time.monotonic() - started, 3)})
        if args.once:
            return 0
        time.sleep(rt.settings.poll_interval)


# -- tickets ------------------------------------------------------------------------------------

def cmd_tickets(args: argparse.Namespace) -> int:
    from intake.tickets import views as ops

    rt = _runtime()
    with rt.sessions() as session:
        if args.tickets_command == "list":
            rows = ops.list_tickets(session, rt.vault, show_private=args.show_private, status=args.status)
            for row in rows:
                if args.json:
                    _emit(row)
                else:
                    flag = "P" if row["private"] else " "
                    print(f"{row['ref']}  {row['status']:<8} {row['channel']:<5} {row['department']:<18} "
                          f"{row['priority']:<6} {flag} {row['message_count']:>3}  {row['subject'][:60]}")
            return 0
        if args.tickets_command == "show":
            detail = ops.ticket_detail(session, rt.vault, args.ref, show_private=args.show_private)
            if detail is None:
                print(f"no ticket {args.ref}", file=sys.stderr)
                return 1
            if args.json:
                _emit(detail)
            else:
                print(json.dumps(detail, ensure_ascii=False, indent=2))
            return 0
    from intake.outbox import agents

    if args.tickets_command == "reply":
        outbox_ids = agents.reply(rt, args.ref, args.text)
    else:
        outbox_ids = agents.set_status(rt, args.ref, args.status, notify=args.notify)
    if outbox_ids is None:
        print(f"no ticket {args.ref}", file=sys.stderr)
        return 1
    if args.send_now:
        _send_inline(rt, outbox_ids)
    else:
        _dispatcher(rt)(Work.of(send=outbox_ids, private=_is_private(rt, args.ref)))
    _emit({"ticket": args.ref.upper(), "outbox": outbox_ids})
    return 0


# -- classify -----------------------------------------------------------------------------------

def cmd_classify(args: argparse.Namespace) -> int:
    from intake.cli.files import classify_files

    return classify_files(args.files, args.channel, _emit)


# -- daemons ------------------------------------------------------------------------------------

def cmd_worker(args: argparse.Namespace) -> int:
    from workers.daemons import run_worker

    _runtime(check=True)
    return run_worker(beat=args.beat_embedded, concurrency=args.concurrency, queues=args.queues)


def cmd_beat(args: argparse.Namespace) -> int:
    from workers.daemons import run_beat

    _runtime(check=True)
    return run_beat()


def cmd_run(args: argparse.Namespace) -> int:
    from workers.daemons import run_all

    _runtime(check=True)
    return run_all(host=args.host, port=args.port, concurrency=args.concurrency)


def cmd_web(args: argparse.Namespace) -> int:
    from workers.daemons import run_web

    _runtime(upgrade=not args.embedded, check=True)
    # `intake web` refuses to start without TWILIO_AUTH_TOKEN; under `intake run` the app
    # still serves health and metrics and answers webhooks 503 until a token is set.
    return run_web(args.host, args.port, require_twilio=not args.embedded, workers=args.workers)


# -- maintenance --------------------------------------------------------------------------------

def cmd_db(args: argparse.Namespace) -> int:
    from intake.db import upgrade
    from intake.settings import get_settings

    upgrade(get_settings().database_url)
    print("database is at the latest schema")
    return 0


def cmd_reprocess(args: argparse.Namespace) -> int:
    from intake.process.reprocess import reprocess

    rt = _runtime()
    summary = reprocess(rt, since=args.since, failed_only=args.failed)
    _emit(summary)
    return 0


def cmd_mailbox(args: argparse.Namespace) -> int:
    from intake.capture.reconcile import reconcile

    rt = _runtime()
    _emit(reconcile(rt, args.mailbox))
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from intake.crypto import generate_key

    if args.keys_command == "generate":
        print(generate_key())
        return 0
    from intake.upkeep.keys import rotate_keys

    rt = _runtime()
    _emit(rotate_keys(rt))
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from intake.upkeep.health import health

    rt = _runtime(upgrade=False)
    report = health(rt, _dispatcher(rt).check_broker)
    _emit(report)
    return 0 if report["ok"] else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="run raw .eml (or Twilio JSON) files through the pipeline")
    p.add_argument("--channel", choices=["email", "sms", "voice"], default="email")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("poll", help="capture and process new mail")
    p.add_argument("--once", action="store_true")
    p.add_argument("--mailbox")
    p.set_defaults(func=cmd_poll)

    p = sub.add_parser("tickets", help="list, show, reply to and change tickets")
    tsub = p.add_subparsers(dest="tickets_command", required=True)
    t = tsub.add_parser("list")
    t.add_argument("--json", action="store_true")
    t.add_argument("--show-private", action="store_true")
    t.add_argument("--status")
    t = tsub.add_parser("show")
    t.add_argument("ref")
    t.add_argument("--json", action="store_true")
    t.add_argument("--show-private", action="store_true")
    t = tsub.add_parser("reply")
    t.add_argument("ref")
    t.add_argument("text")
    t.add_argument("--send-now", action="store_true", help="deliver now instead of via the worker")
    t = tsub.add_parser("status")
    t.add_argument("ref")
    t.add_argument("status", choices=["open", "pending", "resolved", "closed"])
    t.add_argument("--notify", action="store_true")
    t.add_argument("--send-now", action="store_true")
    p.set_defaults(func=cmd_tickets)

    p = sub.add_parser("classify", help="triage files without storing anything")
    p.add_argument("--channel", choices=["email", "sms", "voice"], default="email")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("worker", help="run a Celery worker")
    p.add_argument("--concurrency", type=int, default=None)
    p.add_argument("--queues", default="capture,process,private,outbound")
    p.add_argument("--beat-embedded", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("beat", help="run the Celery beat scheduler")
    p.set_defaults(func=cmd_beat)
    p = sub.add_parser("run", help="worker, beat and web server in one process group (one machine)")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--concurrency", type=int, default=None)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("web", help="serve the webhooks, health and metrics")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.set_defaults(func=cmd_web, embedded=False)
    p = sub.add_parser("web-embedded", help=argparse.SUPPRESS)
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=cmd_web, embedded=True, workers=1)

    p = sub.add_parser("db", help="database schema")
    dsub = p.add_subparsers(dest="db_command", required=True)
    dsub.add_parser("upgrade")
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("reprocess", help="re-run processing / triage from the raw captures")
    p.add_argument("--since", help="ISO date or datetime")
    p.add_argument("--failed", action="store_true", help="only captures that failed")
    p.set_defaults(func=cmd_reprocess)

    p = sub.add_parser("mailbox", help="mailbox maintenance")
    msub = p.add_subparsers(dest="mailbox_command", required=True)
    m = msub.add_parser("reconcile")
    m.add_argument("--mailbox")
    p.set_defaults(func=cmd_mailbox)

    p = sub.add_parser("keys", help="encryption keys")
    ksub = p.add_subparsers(dest="keys_command", required=True)
    ksub.add_parser("generate")
    ksub.add_parser("rotate")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("health", help="check database, broker and mailboxes")
    p.set_defaults(func=cmd_health)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.umask(0o077)  # what intake writes (data dir, database, outbox, keys) is the owner's alone
    from intake.logs import setup_logging

    setup_logging(os.environ.get("INTAKE_LOG_LEVEL", "INFO"))
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # Config files that ops edit (triage rules, templates) fail with a message naming
        # the file and line; show it plainly rather than as a traceback.
        if type(exc).__name__ in ("TriageConfigError", "TemplateError"):
            print(f"intake: {exc}", file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
