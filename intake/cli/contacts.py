"""`intake contacts erase ADDRESS|PHONE` (erase a person on request) and `intake purge
[--dry-run]` (the retention purge beat runs, by hand): one JSON line of counts each,
never the address."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from intake.cli.common import emit, runtime


def cmd_contacts(args: argparse.Namespace) -> int:
    from intake.failures import UserError
    from intake.tickets.erasure import erase_contact

    rt = runtime()
    try:
        report = erase_contact(rt, args.address)
    except UserError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 2
    emit(asdict(report))
    if not report.found:
        print("intake: nothing is stored for that address or number (never seen, or erased "
              "before); no data was removed", file=sys.stderr)
        return 1
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from intake.upkeep.retention import purge

    rt = runtime()
    emit(asdict(purge(rt, dry_run=args.dry_run)))
    return 0


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("contacts", help="act on a person's stored data")
    csub = p.add_subparsers(dest="contacts_command", required=True)
    c = csub.add_parser("erase", help="delete everything stored about an e-mail address or phone number")
    c.add_argument("address", help="e-mail address or phone number (international form)")
    p.set_defaults(func=cmd_contacts)
    p = sub.add_parser("purge", help="delete closed tickets past INTAKE_RETENTION_DAYS "
                                     "(private: INTAKE_PRIVATE_RETENTION_DAYS)")
    p.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    p.set_defaults(func=cmd_purge)
