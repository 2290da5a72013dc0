"""/metrics: the web process's webhook counters plus what the database says (inbox,
outbox, tickets, mailboxes, task durations the workers recorded), in the Prometheus text
format written by prometheus_client.

Labels carry route names, results, states, mailbox and task names and exception class
names only: never message text, addresses or numbers.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from intake.upkeep.task_metrics import BUCKETS as TASK_BUCKETS
from intake.upkeep.task_metrics import INF

# Upper bounds (seconds) of the webhook latency histogram.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class WebhookMetrics:
    """The counters of this web process, and the exposition of them with the database's."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter("intake_webhook_requests", "Twilio webhook requests by route and result.",
                                 ["route", "result"], registry=self.registry)
        self._signature_failures = Counter(
            "intake_webhook_signature_failures", "Webhook requests refused for a missing or wrong X-Twilio-Signature.",
            ["route"], registry=self.registry)
        self._duplicates = Counter("intake_webhook_duplicates", "Webhooks Twilio delivered again (already captured).",
                                   ["route"], registry=self.registry)
        self._duration = Histogram("intake_webhook_duration_seconds", "Time to capture and answer a webhook.",
                                   ["route"], buckets=_BUCKETS, registry=self.registry)
        self._database = _DatabaseCollector()
        self.registry.register(self._database)
        self._render_lock = threading.Lock()

    def observe(self, route: str, result: str, seconds: float) -> None:
        self._requests.labels(route, result).inc()
        self._duration.labels(route).observe(seconds)

    def signature_failed(self, route: str) -> None:
        self._signature_failures.labels(route).inc()

    def duplicate(self, route: str) -> None:
        self._duplicates.labels(route).inc()

    def render(self, counts: dict[str, Any] | None) -> str:
        """The exposition; `counts` is `intake.upkeep.health.counts()` (None: database away)."""
        with self._render_lock:
            self._database.counts = counts
            try:
                return generate_latest(self.registry).decode("utf-8")
            finally:
                self._database.counts = None


class _DatabaseCollector(Collector):
    """The series computed from the database at scrape time (the source of truth)."""

    def __init__(self) -> None:
        self.counts: dict[str, Any] | None = None

    def describe(self) -> list[Metric]:
        return []  # built per scrape: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        counts = self.counts
        up = GaugeMetricFamily("intake_database_up", "1 when the database answered the counts query.")
        up.add_metric([], 0 if counts is None else 1)
        yield up
        if counts is None:
            return
        for key, name, help_text in (
                ("inbox", "intake_inbox_rows", "Captured inputs by status."),
                ("outbox", "intake_outbox_rows", "Follow-ups by status."),
                ("tickets", "intake_tickets", "Tickets by status."),
                ("quarantined", "intake_inbox_quarantined",
                 "Captures marked failed, by reason (time_limit, worker_lost, memory, error).")):
            family = GaugeMetricFamily(name, help_text, labels=["reason" if key == "quarantined" else "status"])
            for status, value in sorted((counts.get(key) or {}).items()):
                family.add_metric([str(status)], value)
            yield family
        yield _gauge("intake_captures_failed", "Captures marked failed (quarantined with their reason).",
                     counts.get("failed_captures", 0))
        yield _gauge("intake_inbox_oldest_unprocessed_age_seconds",
                     "Age of the oldest input captured but not yet processed (0: none waiting).",
                     counts.get("oldest_unprocessed_seconds", 0.0))
        yield _gauge("intake_outbox_oldest_queued_age_seconds",
                     "Age of the oldest follow-up queued and not yet sent (0: none queued).",
                     counts.get("oldest_queued_followup_seconds", 0.0))
        yield from _mailbox_families(counts.get("mailboxes") or [])
        yield _task_durations(counts.get("task_durations") or [])


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text)
    family.add_metric([], value)
    return family


def _mailbox_families(boxes: list[dict[str, Any]]) -> Iterator[Metric]:
    skipped = GaugeMetricFamily("intake_mailbox_skipped", "Messages a mailbox poll could not capture.",
                                labels=["mailbox"])
    problem = GaugeMetricFamily("intake_mailbox_folder_problem",
                                "1 per setting naming a processed/quarantine folder the last poll could not use.",
                                labels=["mailbox", "setting"])
    waiting = GaugeMetricFamily("intake_mailbox_messages_waiting",
                                "Messages on the server above the captured watermark at the last poll "
                                "(the server's newest UID minus the last captured UID).", labels=["mailbox"])
    since = GaugeMetricFamily("intake_mailbox_seconds_since_poll",
                              "Seconds since the last successful poll (+Inf: none yet).", labels=["mailbox"])
    failed = GaugeMetricFamily("intake_mailbox_last_poll_failed",
                               "1 when the last poll failed, labelled with the error's class name.",
                               labels=["mailbox", "error_class"])
    token = GaugeMetricFamily("intake_mailbox_oauth_token_expires_in_seconds",
                              "Seconds until the mailbox's OAuth access token expires (negative: expired).",
                              labels=["mailbox"])
    for box in boxes:
        name = str(box["name"])
        skipped.add_metric([name], box["skipped"])
        for setting in box.get("folder_problem_settings") or []:
            problem.add_metric([name, str(setting)], 1)
        if not box.get("folder_problem_settings"):
            problem.add_metric([name, ""], 0)
        if box.get("waiting") is not None:
            waiting.add_metric([name], box["waiting"])
        seconds = box.get("seconds_since_poll")
        since.add_metric([name], math.inf if seconds is None else seconds)
        error_class = box.get("last_error_class")
        failed.add_metric([name, str(error_class or "")], 1 if error_class else 0)
        if box.get("oauth_expires_in") is not None:
            token.add_metric([name], box["oauth_expires_in"])
    yield from (skipped, problem, waiting, since, failed, token)


def _task_durations(rows: list[dict[str, Any]]) -> HistogramMetricFamily:
    """The workers' task durations (stored per bucket, rendered cumulative)."""
    family = HistogramMetricFamily("intake_task_duration_seconds",
                                   "Time Celery tasks ran, by task name (recorded by the workers).",
                                   labels=["task"])
    bounds = [repr(b) for b in TASK_BUCKETS] + [INF]
    by_task: dict[str, dict[str, tuple[int, float]]] = {}
    for row in rows:
        by_task.setdefault(str(row["task"]), {})[str(row["le"])] = (int(row["count"]), float(row["seconds"]))
    for task, buckets in sorted(by_task.items()):
        running, cumulative = 0, []
        for bound in bounds:
            running += buckets.get(bound, (0, 0.0))[0]
            cumulative.append((bound, float(running)))
        family.add_metric([task], cumulative, sum_value=sum(s for _, s in buckets.values()))
    return family
