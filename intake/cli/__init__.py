"""The `intake` command: run the daemons, ingest files, poll, inspect and act on tickets."""

from __future__ import annotations

import argparse
import os
import sys

from intake.cli import contacts
from intake.cli.common import dispatcher, emit, freeze_heap, runtime
from intake.cli.ingest import cmd_ingest, cmd_poll
from intake.cli.mailbox import cmd_mailbox_check
from intake.cli import status_links
from intake.cli.tickets import cmd_tickets
from intake.cli.tokens import add_parser as add_tokens_parser
from intake.cli.triage import add_parser as add_triage_parser
from intake.failures import guarded
from intake.settings import SettingsError


# -- classify -----------------------------------------------------------------------------------

def cmd_classify(args: argparse.Namespace) -> int:
    from intake.cli.files import classify_files

    return classify_files(args.files, args.channel, emit)


def cmd_parse(args: argparse.Namespace) -> int:
    from intake.cli.parse import parse_files

    return parse_files(args.files, args.json, emit, sys.stdout.write)


# -- daemons ------------------------------------------------------------------------------------

def cmd_worker(args: argparse.Namespace) -> int:
    from workers.daemons import run_worker

    runtime(check=True)
    freeze_heap()
    return run_worker(beat=args.beat_embedded, concurrency=args.concurrency, queues=args.queues)


def cmd_beat(args: argparse.Namespace) -> int:
    from intake.mailboxes import load_mailboxes
    from intake.paths import writable
    from intake.settings import get_settings
    from workers.daemons import run_beat

    # Beat sends task names on a schedule it keeps in the data directory: it checks the
    # settings, that directory and the mailboxes. It never opens the database, the key, the
    # triage rules or the templates, so it does not import them either (the database stack
    # alone is ~0.15 s of CPU at start, on the cores the starting workers share; each
    # worker checks all of them itself, and `intake db upgrade` or a worker migrates).
    settings = get_settings()
    problem = writable(settings.data_dir)
    if problem:
        raise SettingsError(f"INTAKE_DATA_DIR: {problem}; beat keeps its schedule there")
    load_mailboxes(settings)
    return run_beat()


def cmd_poller(args: argparse.Namespace) -> int:
    from workers.daemons import run_poller

    runtime(check=True)
    return run_poller()


def cmd_run(args: argparse.Namespace) -> int:
    from workers.daemons import run_all

    runtime()
    # The poller starts as soon as the database is checked; the worker checks the triage
    # rules and templates first thing (a broken one stops the command, naming it).
    return run_all(host=args.host, port=args.port, concurrency=args.concurrency,
                   check=lambda: runtime(check=True))


def cmd_web(args: argparse.Namespace) -> int:
    from workers.daemons import run_web

    runtime(upgrade=not args.embedded, check=True)
    # `intake web` refuses to start without TWILIO_AUTH_TOKEN; under `intake run` the app
    # still serves health and metrics and answers webhooks 503 until a token is set.
    return run_web(args.host, args.port, require_twilio=not args.embedded, workers=args.workers)


# -- maintenance --------------------------------------------------------------------------------

def cmd_db(args: argparse.Namespace) -> int:
    runtime(upgrade=True)
    print("database is at the latest schema")
    return 0


def cmd_reprocess(args: argparse.Namespace) -> int:
    from intake.process.reprocess import reprocess

    rt = runtime()
    summary = reprocess(rt, since=args.since, failed_only=args.failed)
    emit(summary)
    return 0


def cmd_mailbox(args: argparse.Namespace) -> int:
    from intake.capture.reconcile import reconcile

    rt = runtime()
    emit(reconcile(rt, args.mailbox))
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from intake.crypto import generate_key

    if args.keys_command == "generate":
        print(generate_key())
        return 0
    from intake.upkeep.keys import rotate_keys

    rt = runtime()
    emit(rotate_keys(rt))
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from intake.runtime import get_runtime
    from intake.upkeep.health import health

    try:  # a runtime that cannot be built is unhealthy too: reported, not exit 2
        rt = get_runtime()
    except SettingsError as exc:
        from intake.preflight import path_problems
        from intake.settings import get_settings

        emit({"ok": False, "problems": [*path_problems(get_settings()), str(exc)]})
        return 1
    try:
        check_broker = dispatcher(rt).check_broker
    except Exception as exc:  # noqa: BLE001 - e.g. the filesystem broker's folder cannot be made
        failure = type(exc).__name__
        check_broker = lambda: failure  # noqa: E731
    report = health(rt, check_broker)
    emit(report)
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
    t.add_argument("text", nargs="?", default=None,
                   help="the reply; better: --file or standard input (a command line is visible in ps)")
    t.add_argument("--file", help="read the reply from this file ('-' or no text: standard input)")
    t.add_argument("--send-now", action="store_true", help="deliver now instead of via the worker")
    t = tsub.add_parser("status")
    t.add_argument("ref")
    t.add_argument("status", choices=["open", "pending", "resolved", "closed"])
    t.add_argument("--notify", action="store_true")
    t.add_argument("--send-now", action="store_true")
    t = tsub.add_parser("route", help="re-route a ticket; the correction is kept for `intake triage train`")
    t.add_argument("ref")
    t.add_argument("--category", required=True)
    t.add_argument("--priority")
    p.set_defaults(func=cmd_tickets)
    add_triage_parser(sub)

    add_tokens_parser(sub)

    p = sub.add_parser("classify", help="triage files without storing anything")
    p.add_argument("--channel", choices=["email", "sms", "voice"], default="email")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("parse", help="show the normalized message of raw mail files without storing anything")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_parse)

    p = sub.add_parser("worker", help="run a Celery worker")
    p.add_argument("--concurrency", type=int, default=None)
    p.add_argument("--queues", default="capture,process,private,outbound")
    p.add_argument("--beat-embedded", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("beat", help="run the Celery beat scheduler")
    p.set_defaults(func=cmd_beat)
    p = sub.add_parser("poller", help="watch the mailboxes (IMAP IDLE, else polling) and enqueue new mail")
    p.set_defaults(func=cmd_poller)
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
    m = msub.add_parser("check", help="folders, namespace and capabilities: usable as configured?")
    m.add_argument("--mailbox")
    m.add_argument("--text", action="store_true", help="readable lines instead of one JSON object")
    m.set_defaults(func=cmd_mailbox_check)

    p = sub.add_parser("keys", help="encryption keys")
    ksub = p.add_subparsers(dest="keys_command", required=True)
    ksub.add_parser("generate")
    ksub.add_parser("rotate")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("health", help="check database, broker and mailboxes")
    p.set_defaults(func=cmd_health)
    contacts.add_parsers(sub)
    status_links.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.umask(0o077)  # what intake writes (data dir, database, outbox, keys) is the owner's alone
    from intake.logs import LOG_LEVELS, setup_logging

    level = os.environ.get("INTAKE_LOG_LEVEL", "INFO")
    if level.upper() not in LOG_LEVELS:
        print(f"intake: INTAKE_LOG_LEVEL={level!r} is not a log level (one of {', '.join(LOG_LEVELS)})",
              file=sys.stderr)
        return 2
    setup_logging(level)
    return guarded(lambda: int(args.func(args) or 0))


def command() -> int:
    """The `intake` program (its console script, and `python -m intake.cli`): `main`, then
    a light exit."""
    try:
        return main()
    finally:
        _release()


def _release() -> None:
    """Before the interpreter exits: close the database connections (PostgreSQL sees a
    clean goodbye, SQLite checkpoints its log), then freeze the heap, so that the
    interpreter's last garbage collections skip what the stack built. Those collections
    walk every object of SQLAlchemy, numpy and the rules: about half a second of every
    command on a 2-core machine, after its work is done. Nothing waits on them: every
    transaction is committed and every file written and closed before `main` returns;
    standard output is flushed by the interpreter, and atexit handlers still run."""
    import gc

    runtime_module = sys.modules.get("intake.runtime")
    if runtime_module is not None and runtime_module.get_runtime.cache_info().currsize:
        try:
            runtime_module.get_runtime().dispose()
        except Exception:  # noqa: BLE001 - exiting anyway; the server closes what is left
            pass
    gc.freeze()


if __name__ == "__main__":
    raise SystemExit(command())
