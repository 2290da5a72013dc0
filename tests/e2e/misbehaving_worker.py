"""`intake worker` whose email handler misbehaves on cue, for the worker-guard tests; the
production code has no such hook, this module patches the handler table before the pool
forks, so the pool processes inherit it:

    Subject: SLEEP   sleeps far past any time limit (a mail that hangs a parser)
    Subject: DIE     the pool process kills itself with SIGKILL mid-task (what the kernel's
                     OOM killer or a segfault in a C extension does)

Run as `python -m tests.e2e.misbehaving_worker worker --queues ... --concurrency 1`.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from intake.cli import main
from intake.process import pipeline
from intake.process.flow import Context, Outcome

_email = pipeline.HANDLERS["email"]


def misbehaving(ctx: Context) -> Outcome:
    raw = ctx.rt.vault.decrypt(ctx.inbox.raw)
    if b"\nSubject: SLEEP" in raw:
        time.sleep(600)
    if b"\nSubject: DIE" in raw:
        os.kill(os.getpid(), signal.SIGKILL)
    return _email(ctx)


pipeline.HANDLERS["email"] = misbehaving

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
