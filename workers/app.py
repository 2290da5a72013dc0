"""The Celery app: broker from settings, named queues, late acks, prefetch 1, beat schedule.

Production uses Redis (or RabbitMQ); the embedded default is kombu's filesystem transport,
which needs no server, so one machine runs `intake run` with no setup.
"""

from __future__ import annotations

from celery import Celery
from kombu.entity import Queue

from intake.settings import Settings, get_settings

QUEUES = ("capture", "process", "private", "outbound")


def make_celery(settings: Settings) -> Celery:
    app = Celery("intake")
    transport_options: dict[str, object] = {}
    broker_url = settings.broker_url
    if broker_url.startswith("filesystem"):
        import intake.broker

        broker_url = intake.broker.SCHEME + broker_url[len("filesystem"):]
        folder = settings.data_dir / "broker"
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
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
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # With late acks a task whose broker connection dropped is redelivered; cancel the
        # running copy rather than finish it twice (our tasks are idempotent either way).
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="process",
        task_routes={
            "intake.poll_mailbox": {"queue": "capture"},
            "intake.poll_all": {"queue": "capture"},
            "intake.process_inbox": {"queue": "process"},
            "intake.send_outbox": {"queue": "outbound"},
            "intake.sweep": {"queue": "capture"},
        },
        beat_schedule={
            "poll-mailboxes": {"task": "intake.poll_all", "schedule": settings.poll_interval},
            "sweep": {"task": "intake.sweep", "schedule": settings.sweep_interval},
        },
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        timezone="UTC",
    )
    return app


app = make_celery(get_settings())
import workers.tasks  # noqa: E402,F401  register the tasks on this app
