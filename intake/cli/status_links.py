"""`intake status-links rotate [REF]`: revoke the status links of one ticket, or of all.

A revoked link shows no data; its page offers to send a fresh link to the contact on
record, and every new acknowledgement carries a new one.
"""

from __future__ import annotations

import argparse
import sys

from intake.cli.common import emit, runtime


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("status-links", help="status page links (revoke)")
    ssub = p.add_subparsers(dest="status_links_command", required=True)
    r = ssub.add_parser("rotate", help="revoke the live links of a ticket (or, without REF, of every ticket)")
    r.add_argument("ref", nargs="?")
    p.set_defaults(func=cmd_status_links)


def cmd_status_links(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from intake.tickets import status_links
    from intake.tickets.models import Ticket

    rt = runtime()
    with rt.sessions() as session:
        ticket_id = None
        if args.ref:
            ticket_id = session.scalar(select(Ticket.id).where(Ticket.ref == args.ref.strip().upper()))
            if ticket_id is None:
                print(f"no ticket {args.ref}", file=sys.stderr)
                return 1
        revoked = status_links.rotate(session, ticket_id)
        session.commit()
    emit({"ticket": args.ref.upper() if args.ref else None, "revoked": revoked})
    return 0
