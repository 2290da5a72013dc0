"""The processes `intake run` starts (workers/daemons.run_all): its worker with embedded
beat, its mailbox poller and its web app.

    python -m workers.children worker [--concurrency N]
    python -m workers.children poller
    python -m workers.children web --host HOST --port PORT

`intake run` has made the start-up checks (data directory, database, schema upgrade, key,
triage rules, templates, mailboxes) the moment before it starts these, on the same settings;
each child going through `intake <command>` made them all again, with the command line's
imports: about two seconds of CPU per child, at the start, on the same cores that capture
and process the first mails. A child still names a setting it cannot use (exit 2), as the
command would.
"""

from __future__ import annotations

import argparse
import os
import sys

from intake.logs import setup_logging
from intake.settings import SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.children")
    sub = parser.add_subparsers(dest="child", required=True)
    worker = sub.add_parser("worker")
    worker.add_argument("--concurrency", type=int, default=None)
    sub.add_parser("poller")
    web = sub.add_parser("web")
    web.add_argument("--host", required=True)
    web.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.umask(0o077)  # as `intake`: what the daemons write is the owner's alone
    setup_logging(os.environ.get("INTAKE_LOG_LEVEL", "INFO"))
    from workers import daemons

    try:
        if args.child == "worker":
            return daemons.run_worker(beat=True, concurrency=args.concurrency)
        if args.child == "poller":
            return daemons.run_poller()
        return daemons.run_web(args.host, args.port, require_twilio=False)
    except SettingsError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
