"""`intake tickets list|show|reply|status`: read tickets (redacted unless asked) and act on them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from intake.cli.common import dispatcher, emit, is_private, runtime, send_inline
from intake.work import Work

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

def _audit(session: "Session", refs: list[str]) -> None:
    """Record the private tickets about to be printed (the command line's private reads),
    committed before anything is shown, as the API and the console do."""
    from sqlalchemy import select

    from intake.access.audit import command_line_actor, record_private_reads
    from intake.tickets.models import Ticket

    if not refs:
        return
    found = session.execute(select(Ticket.id, Ticket.ref).where(Ticket.ref.in_(refs))).all()
    record_private_reads(session, None, [(row.id, row.ref) for row in found], "cli", command_line_actor())
    session.commit()


def cmd_tickets(args: argparse.Namespace) -> int:
    from intake.tickets import views as ops

    rt = runtime()
    if args.tickets_command == "route":
        return route(rt, args)
    with rt.sessions() as session:
        if args.tickets_command == "list":
            rows = ops.list_tickets(session, rt.vault, show_private=args.show_private, status=args.status)
            if args.show_private:
                _audit(session, [row["ref"] for row in rows if row["private"]])
            for row in rows:
                if args.json:
                    emit(row)
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
            if args.show_private and detail["private"]:
                _audit(session, [detail["ref"]])
            if args.json:
                emit(detail)
            else:
                print(json.dumps(detail, ensure_ascii=False, indent=2))
            return 0
    from intake.outbox import agents

    if args.tickets_command == "reply":
        text = reply_text(args)
        if not text.strip():
            print("intake: the reply is empty (give it with --file FILE or on standard input)", file=sys.stderr)
            return 2
        outbox_ids = agents.reply(rt, args.ref, text)
    else:
        outbox_ids = agents.set_status(rt, args.ref, args.status, notify=args.notify)
    if outbox_ids is None:
        print(f"no ticket {args.ref}", file=sys.stderr)
        return 1
    if args.send_now:
        send_inline(rt, outbox_ids)
    else:
        dispatcher(rt)(Work.of(send=outbox_ids, private=is_private(rt, args.ref)))
    emit({"ticket": args.ref.upper(), "outbox": outbox_ids})
    return 0


def reply_text(args: argparse.Namespace) -> str:
    """The reply's text: --file (or '-'), else standard input when no text argument is
    given. An argument still works, but it is visible to anyone running `ps` and lands in
    shell history, so the file and stdin forms are the ones the README shows."""
    if args.file and args.file != "-":
        return Path(args.file).read_text(encoding="utf-8")
    if args.file == "-" or args.text is None:
        return sys.stdin.read()
    return str(args.text)


def route(rt: object, args: argparse.Namespace) -> int:
    """`intake tickets route REF --category C [--priority P]`: the correction, as JSON."""
    from intake.tickets.corrections import RouteError, route as reroute

    try:
        outcome = reroute(rt, args.ref, args.category, args.priority, by="cli")
    except RouteError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 2
    if outcome is None:
        print(f"no ticket {args.ref}", file=sys.stderr)
        return 1
    emit(outcome)
    return 0
