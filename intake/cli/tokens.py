"""`intake tokens create|list|revoke`: bearer tokens for the tickets API and the console."""

from __future__ import annotations

import argparse
import sys

from intake.cli.common import emit, runtime


def cmd_tokens(args: argparse.Namespace) -> int:
    from intake.access import tokens

    rt = runtime()
    try:
        if args.tokens_command == "create":
            secret, row = tokens.create(rt, args.name, args.scope)
            emit({**row, "token": secret})
            print("intake: the token is shown once; keep it in a password manager "
                  "(only its hash is stored)", file=sys.stderr)
        elif args.tokens_command == "list":
            for row in tokens.listing(rt):
                emit(row)
        else:
            emit(tokens.revoke(rt, args.name))
    except tokens.TokenError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 2
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("tokens", help="bearer tokens for the tickets API and the ops console")
    tsub = p.add_subparsers(dest="tokens_command", required=True)
    t = tsub.add_parser("create", help="make a token (printed once)")
    t.add_argument("name")
    t.add_argument("--scope", action="append", required=True,
                   choices=["read", "write", "private", "admin"],
                   help="read; write (+read); admin (+write: replay captures); private (+read: "
                        "private content, audited). Repeat to combine; admin does not imply private")
    tsub.add_parser("list", help="tokens, without their secrets")
    t = tsub.add_parser("revoke", help="revoke a token (its console sessions end at once)")
    t.add_argument("name", help="its name or lookup id")
    p.set_defaults(func=cmd_tokens)
