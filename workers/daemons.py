"""Starting the long-running processes: Celery worker, beat, the mailbox poller, the web
app, or all of them.

Each builds its Celery app from the settings, and the web app and the poller receive the
enqueue function of that app (the domain never reaches the broker itself). The poller keeps
one IDLE connection per mailbox in a thread of its own process (intake/capture/idle.py):
an IDLE lasts as long as the connection, so it must not hold a Celery worker slot."""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from intake.mailboxes import load_mailboxes
from intake.settings import get_settings
from workers.app import make_celery
from workers.dispatch import Dispatcher

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("intake.daemons")


def web_app(require_twilio: bool = True) -> "FastAPI":
    """The web app wired to the broker of the settings (also a uvicorn factory)."""
    # Imported here: the worker, beat and poller processes start without the web stack
    # (fastapi and the API modules are a second or more of every daemon's start-up).
    from intake.runtime import get_runtime
    from intake.web.app import create_app

    dispatcher = Dispatcher(make_celery(get_settings(), worker=False))
    return create_app(get_runtime(), enqueue=dispatcher, check_broker=dispatcher.check_broker,
                      require_twilio=require_twilio)


def embedded_web_app() -> "FastAPI":
    """What `intake run` serves: webhooks answer 503 until a Twilio token is set."""
    return web_app(require_twilio=False)


def _log_level() -> int:
    # The names `intake` checked at start (intake.logs.LOG_LEVELS: logging's own table).
    return logging.getLevelNamesMapping()[os.environ.get("INTAKE_LOG_LEVEL", "INFO").upper()]


# The worker and beat are started through Celery's own classes, not its click command line
# (`app.worker_main`): that imports click, click-repl and prompt_toolkit for the shell and
# every sub-command, about 0.3 s of CPU in each daemon's start, on the cores the others are
# starting on. What the command line would pass is passed here; the rest comes from the
# app's configuration, as the command line's defaults do.
def run_worker(beat: bool = False, concurrency: int | None = None,
               queues: str = "capture,process,private,outbound") -> int:
    from celery.utils.nodenames import default_nodename, host_format

    app = make_celery(get_settings())
    if beat:
        Dispatcher(app).poll_all()  # beat's first poll comes one interval after its start
    worker = app.Worker(hostname=host_format(default_nodename(f"intake-{os.getpid()}@%h")),
                        loglevel=_log_level(), queues=[q for q in queues.split(",") if q],
                        without_gossip=True, without_mingle=True, concurrency=concurrency or None,
                        beat=beat, optimization="default")
    worker.start()
    return int(worker.exitcode or 0)


def run_beat() -> int:
    app = make_celery(get_settings(), worker=False)
    Dispatcher(app).poll_all()  # beat's first poll comes one interval after its start
    app.Beat(loglevel=_log_level()).run()
    return 0


def run_poller() -> int:
    """Watch every configured mailbox (IDLE, or polling where the server has none) until
    SIGTERM/SIGINT; captures are enqueued in chunks as each batch commits."""
    from intake.capture.idle import watch_all
    from intake.runtime import get_runtime

    settings = get_settings()
    rt = get_runtime()
    boxes = load_mailboxes(settings)
    dispatcher = Dispatcher(make_celery(settings, worker=False))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    if not boxes:
        log.warning("no mailbox configured (INTAKE_IMAP_HOST or INTAKE_MAILBOXES_FILE): the poller has nothing to do")
    threads = watch_all(rt, boxes, dispatcher, stop)
    while not stop.wait(1.0):
        pass
    for thread in threads:  # each notices the stop within a second, then logs out
        thread.join(timeout=15)
    return 0


def run_web(host: str | None, port: int | None, require_twilio: bool = True, workers: int = 1) -> int:
    import uvicorn

    settings = get_settings()
    host, port = host or settings.web_host, port or settings.web_port
    level = settings.log_level.lower()
    # uvicorn believes X-Forwarded-Proto/-For from 127.0.0.1 by default (proxy_headers=True):
    # only under INTAKE_TRUST_PROXY may a proxy's headers change the scheme or the client.
    app = web_app(require_twilio=require_twilio)  # checks the settings here, once
    if workers > 1:
        # One uvicorn process tops out near 200 webhooks/s on two cores: more processes,
        # each building its own app (and database pool) from the same settings.
        factory = "workers.daemons:web_app" if require_twilio else "workers.daemons:embedded_web_app"
        uvicorn.run(factory, factory=True, workers=workers, host=host, port=port,
                    log_level=level, access_log=False, proxy_headers=settings.trust_proxy)
    else:
        uvicorn.run(app, host=host, port=port, log_level=level, access_log=False,
                    proxy_headers=settings.trust_proxy)
    return 0


def run_all(host: str | None, port: int | None, concurrency: int | None,
            check: Callable[[], object] = lambda: None) -> int:
    """One command for one machine: a worker with embedded beat, the mailbox poller (when a
    mailbox is configured) and the web app, as child processes supervised here;
    SIGTERM/SIGINT stop them all.

    `check` is the configuration check only the processing needs (triage rules, templates):
    the worker makes it first thing (its pool shares what it loads), while the poller, which
    captures without them, already runs; if it fails, the worker exits 2 naming the file and
    line, and this command stops the others and exits 2."""
    from intake.runtime import get_runtime
    from workers.forking import Child, fork

    settings = get_settings()
    host, port = host or settings.web_host, port or settings.web_port
    if not settings.twilio_auth_tokens:
        log.warning("TWILIO_AUTH_TOKEN is not set: Twilio webhooks answer 503 until it is "
                    "(health and metrics are served)")
    console = f"http://{host}:{port}/console/"
    print(f"intake: ops console at {console} (API docs at /api/v1/docs); sign in with a token from\n"
          "  .venv/bin/intake tokens create NAME --scope write   (add --scope private to read private "
          "tickets, --scope admin to replay captures)", file=sys.stderr, flush=True)
    # Forked, not started as new programs: the children skip the imports and the start-up
    # checks this command has just made (workers/children.py). Each child leads its own
    # process group, so stopping one stops what it started too (the worker's pool and
    # embedded beat, uvicorn's workers).
    rt = get_runtime()
    commands: dict[str, Callable[[], int]] = {}
    if load_mailboxes(settings):
        commands["poller"] = run_poller

    def worker() -> int:
        check()
        gc.freeze()  # as `intake worker` does before its pool forks (intake.cli.common.freeze_heap)
        return run_worker(beat=True, concurrency=concurrency)

    commands["worker"] = worker
    commands["web"] = lambda: run_web(host, port, require_twilio=False)
    children: list[Child] = []
    names: dict[int, str] = {}
    stopping = False

    def signal_groups(signum: int) -> None:
        for child in children:
            try:
                os.killpg(child.pid, signum)
            except ProcessLookupError:
                pass

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:  # the leaders shut down what they started, gracefully
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def start(name: str) -> None:
        # No database connection crosses a fork: each child opens its own.
        child = fork(commands[name], before=rt.engine.dispose)
        children.append(child)
        names[child.pid] = name

    for name in commands:  # the poller first: the first mail waits for it
        if not stopping:
            start(name)
    code = 0
    while not stopping:
        for child in children:
            if child.poll() is not None and not stopping:
                log.error("%s exited with %s; stopping", names[child.pid], child.returncode)
                code = child.returncode or 1
                stop(signal.SIGTERM, None)
        time.sleep(0.5)
    deadline = time.monotonic() + 30
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            pass
    # Whatever of the groups outlived the grace period (a stuck pool process) goes now.
    time.sleep(0.5)
    signal_groups(signal.SIGKILL)
    for child in children:
        child.wait()
    return code
