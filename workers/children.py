"""The processes `intake run` starts (its worker with embedded beat, its mailbox poller and
its web app), started by hand, one at a time, skipping the command line's start-up checks.

`intake run` itself forks them after its checks (workers/forking.py, workers/daemons.run_all):
a child started as a new program imports the whole stack again, about half a second of CPU
per child at the start, on the same cores that capture and process the first mails.

    python -m workers.children worker [--concurrency N]
    python -m workers.children poller
    python -m workers.children web --host HOST --port PORT

A child still names a setting it cannot use (exit 2), as the command would.
"""

from __future__ import annotations

import argparse
import os

from intake.logs import setup_logging
from intake.failures import guarded


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

    if args.child == "worker":
        return guarded(lambda: daemons.run_worker(beat=True, concurrency=args.concurrency))
    if args.child == "poller":
        return guarded(daemons.run_poller)
    return guarded(lambda: daemons.run_web(args.host, args.port, require_twilio=False))


if __name__ == "__main__":
    raise SystemExit(main())
