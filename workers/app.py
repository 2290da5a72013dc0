"""The Celery app, built from the settings it is given: broker, named queues, late acks,
prefetch 1 (2 on the embedded broker), beat schedule, and the tasks (bound to a runtime
built from those settings).

Production uses Redis (or RabbitMQ); the embedded default is kombu's filesystem transport,
which needs no server, so one machine runs `intake run` with no setup.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_init, worker_process_init
from kombu.entity import Queue

from intake import failures
from intake.settings import Settings
from workers import broker

if TYPE_CHECKING:
    # Imported where a runtime is built: beat and the processes that only send tasks
    # start without the database stack.
    from intake.runtime import Runtime

log = logging.getLogger("workers.app")
QUEUES = ("capture", "process", "private", "outbound")
POLLING_INTERVAL = 0.05  # seconds; the embedded broker's pick-up delay


def make_celery(settings: Settings, worker: bool = True) -> Celery:
    """The app; `worker=False` for a process that only hands tasks over (poller, web app,
    beat): sending needs the task names, not their bodies, so it starts without importing
    the processing code."""
    # The soft time limit ends a task's work in hand: intake's fallbacks let it through.
    failures.register_interrupt(SoftTimeLimitExceeded)
    app = Celery("intake")
    transport_options: dict[str, object] = {}
    broker_url = settings.broker_url
    prefetch = 1
    if broker_url.startswith("filesystem"):
        broker_url = broker.SCHEME + broker_url[len("filesystem"):]
        folder = settings.data_dir / "broker"
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
            # kombu looks for new message files this often when its queues are empty (the
            # default, 1 s, is the pick-up delay of every task); a directory listing per
            # queue every 50 ms costs next to nothing.
            "polling_interval": POLLING_INTERVAL,
            "drain_timeout": 0.1,  # see workers/broker.Transport
        }
        # A pool process that finishes a task gets its next one only after the consumer's
        # next look into the queue folder: with one task reserved per process the slot sat
        # idle for that wait after every task (measured: a third of the pool's time, 1,000
        # mails in 4.0 s against 3.1 s with two). Two per process: the next is in hand.
        # Late acks still hold: a reserved task of a worker that dies is delivered again.
        prefetch = 2
    elif settings.broker_url.startswith(("redis", "rediss")):
        transport_options = {
            # Fail fast when Redis is away: the database keeps the work, the sweeper resends.
            "socket_connect_timeout": 2, "socket_timeout": 10,
            # A task whose worker died is redelivered after this; the sweeper is faster.
            "visibility_timeout": 3600,
        }
    app.conf.update(
        broker_url=broker_url,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        # A task whose pool process died is handed out again at once. That cannot loop: the
        # attempt was counted in the database before it started, and a capture whose
        # attempts run out that way is quarantined as `worker_lost` (intake/process/claims.py).
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=prefetch,
        # No input may hold a worker: past the soft limit the task gets SoftTimeLimitExceeded
        # (recorded as `time_limit`), past the hard one its pool process is killed. A poll
        # is bounded by its socket timeouts and resumes from its watermark; an exception
        # in the middle of an IMAP move would leave copies in the Processed folder, so its
        # limits are a far-off backstop.
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        task_annotations={"intake.poll_mailbox": {
            "soft_time_limit": 20 * settings.task_time_limit,
            "time_limit": 20 * settings.task_time_limit + 60}},
        # A pool process that grew past this (KiB, resident) is replaced after its task.
        worker_max_memory_per_child=(settings.worker_max_memory_mb * 1024) or None,
        # With late acks a task whose broker connection dropped is redelivered; cancel the
        # running copy rather than finish it twice (our tasks are idempotent either way).
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="process",
        task_routes={
            "intake.poll_mailbox": {"queue": "capture"},
            "intake.poll_all": {"queue": "capture"},
            "intake.process_inbox": {"queue": "process"},
            "intake.process_chunk": {"queue": "process"},
            "intake.send_outbox": {"queue": "outbound"},
            "intake.send_chunk": {"queue": "outbound"},
            "intake.sweep": {"queue": "capture"},
            "intake.purge": {"queue": "capture"},
        },
        beat_schedule={
            "poll-mailboxes": {"task": "intake.poll_all", "schedule": settings.poll_interval},
            "sweep": {"task": "intake.sweep", "schedule": settings.sweep_interval},
            "purge": {"task": "intake.purge", "schedule": settings.purge_interval},
        },
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        timezone="UTC",
    )
    if worker:
        from workers import tasks, timing

        holder = RuntimeHolder(settings, app)
        tasks.register(app, holder)
        timing.connect(app, holder, settings.task_metrics_flush_seconds)  # task durations for /metrics
    return app


class RuntimeHolder:
    """The runtime of one process, built on first use from the app's settings. A pool child
    forked from a parent that had one builds its own, keeping the parent's triage rules and
    templates: the worker loads them once, before its pool forks (`worker_init`), instead of
    once in every pool process on its first task.

    A database connection must never cross a fork, not even to be closed: closing an SQLite
    connection inherited from the parent, or a PostgreSQL one (which tells the server), can
    break the parent's. So the runtime built before the fork opens none, and a pool process
    keeps the parent's runtime referenced, untouched, and builds a new one."""

    def __init__(self, settings: Settings, app: Celery | None = None) -> None:
        self.settings = settings
        self.app = app
        self._runtime: Runtime | None = None
        self._inherited: list[Runtime] = []  # the parent's: kept, never used nor closed here
        self._pid = 0
        self._lock = threading.Lock()
        worker_process_init.connect(self._forked, weak=False)
        worker_init.connect(self._warm, weak=False)

    def _warm(self, sender: object = None, **_kwargs: object) -> None:
        if self.app is not None and getattr(sender, "app", None) is not self.app:
            return  # another app's worker (tests run several in one process)
        from intake.outbox.compose import composer_for

        try:
            rt = self()
            checked = started(self.settings)  # the start-up checks loaded them already
            if checked is not None:
                _share(checked, rt)
            rt.rules  # noqa: B018
            composer_for(rt)
            _warm_pool_start()
        except Exception:  # noqa: BLE001 - start-up checks name a broken file; a task will too
            log.warning("worker: rules or templates not loaded before the pool started", exc_info=True)

    def _forked(self, **_kwargs: object) -> None:
        if self._runtime is not None:
            self._inherited.append(self._runtime)
        self._runtime = None

    def __call__(self) -> Runtime:
        with self._lock:
            if self._runtime is None or self._pid != os.getpid():
                from intake.runtime import Runtime  # here, not at every task's call

                if self._runtime is not None:  # forked without the signal (a plain fork)
                    self._inherited.append(self._runtime)
                rt = Runtime.from_settings(self.settings)
                if self._inherited:
                    _share(self._inherited[-1], rt)
                self._runtime, self._pid = rt, os.getpid()
            return self._runtime


def _warm_pool_start() -> None:
    """Each prefork pool process sets its parent-death signal through billiard, which parses
    that one C declaration with cffi: pycparser's import and parser tables, ~50 ms in every
    pool process. Done once here, before the pool forks, the processes inherit the parser."""
    try:
        from billiard.util import get_pdeathsig

        get_pdeathsig()
    except OSError:
        pass  # not Linux: billiard does not set it either


COMPOSER = "replies.composer"


def _share(source: Runtime, target: Runtime) -> None:
    """Rules and templates are plain data: one copy (shared copy-on-write after a fork)."""
    target._rules = target._rules or source._rules
    composer = source._cache.get(COMPOSER)
    if composer is not None:
        target._cache.setdefault(COMPOSER, composer)


def started(settings: Settings) -> Runtime | None:
    """The daemon's checked start-up runtime (`intake.runtime.get_runtime`: rules and
    templates loaded by its start-up checks) when it exists and was built from these same
    settings; else None. Only its rules and templates are taken, never its engine."""
    from intake.runtime import get_runtime
    from intake.settings import get_settings

    if not get_runtime.cache_info().currsize or get_settings() is not settings:
        return None
    return get_runtime()
