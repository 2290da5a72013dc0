"""In-process webhook counters and the Prometheus text exposition of them plus the
database counts (https://prometheus.io/docs/instrumenting/exposition_formats/).

Labels carry route names, results and states only: never message text or numbers.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

# Upper bounds (seconds) of the webhook latency histogram.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class WebhookMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str]] = Counter()  # (route, result) -> n
        self.signature_failures: Counter[str] = Counter()  # route -> n
        self.duplicates: Counter[str] = Counter()
        self._buckets: Counter[tuple[str, float]] = Counter()
        self._sum: dict[str, float] = {}
        self._count: Counter[str] = Counter()

    def observe(self, route: str, result: str, seconds: float) -> None:
        with self._lock:
            self.requests[(route, result)] += 1
            self._sum[route] = self._sum.get(route, 0.0) + seconds
            self._count[route] += 1
            for bound in _BUCKETS:
                if seconds <= bound:
                    self._buckets[(route, bound)] += 1

    def signature_failed(self, route: str) -> None:
        with self._lock:
            self.signature_failures[route] += 1

    def duplicate(self, route: str) -> None:
        with self._lock:
            self.duplicates[route] += 1

    def render(self, counts: dict[str, Any] | None) -> str:
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")

        with self._lock:
            family("intake_webhook_requests_total", "counter", "Twilio webhook requests by route and result.")
            for (route, result), value in sorted(self.requests.items()):
                lines.append(f'intake_webhook_requests_total{{route="{route}",result="{result}"}} {value}')
            family("intake_webhook_signature_failures_total", "counter",
                   "Webhook requests refused for a missing or wrong X-Twilio-Signature.")
            for route, value in sorted(self.signature_failures.items()):
                lines.append(f'intake_webhook_signature_failures_total{{route="{route}"}} {value}')
            family("intake_webhook_duplicates_total", "counter",
                   "Webhooks Twilio delivered again (already captured).")
            for route, value in sorted(self.duplicates.items()):
                lines.append(f'intake_webhook_duplicates_total{{route="{route}"}} {value}')
            family("intake_webhook_duration_seconds", "histogram", "Time to capture and answer a webhook.")
            for route in sorted(self._count):
                for bound in _BUCKETS:
                    lines.append(f'intake_webhook_duration_seconds_bucket{{route="{route}",le="{bound}"}} '
                                 f"{self._buckets[(route, bound)]}")
                lines.append(f'intake_webhook_duration_seconds_bucket{{route="{route}",le="+Inf"}} '
                             f"{self._count[route]}")
                lines.append(f'intake_webhook_duration_seconds_sum{{route="{route}"}} {self._sum[route]:.6f}')
                lines.append(f'intake_webhook_duration_seconds_count{{route="{route}"}} {self._count[route]}')
        family("intake_database_up", "gauge", "1 when the database answered the counts query.")
        lines.append(f"intake_database_up {0 if counts is None else 1}")
        if counts is not None:
            for key, name, help_text in (("inbox", "intake_inbox_rows", "Captured inputs by status."),
                                         ("outbox", "intake_outbox_rows", "Follow-ups by status."),
                                         ("tickets", "intake_tickets", "Tickets by status."),
                                         ("quarantined", "intake_inbox_quarantined",
                                          "Captures marked failed, by reason (time_limit, worker_lost, memory, error).")):
                family(name, "gauge", help_text)
                label = "reason" if key == "quarantined" else "status"
                for status, value in sorted((counts.get(key) or {}).items()):
                    lines.append(f'{name}{{{label}="{_label(str(status))}"}} {value}')
            family("intake_mailbox_skipped", "gauge", "Messages a mailbox poll could not capture.")
            for box in counts.get("mailboxes") or []:
                lines.append(f'intake_mailbox_skipped{{mailbox="{_label(box["name"])}"}} {box["skipped"]}')
            family("intake_mailbox_folder_problem", "gauge",
                   "1 per setting naming a processed/quarantine folder the last poll could not use.")
            for box in counts.get("mailboxes") or []:
                name = _label(box["name"])
                for setting in box.get("folder_problem_settings") or []:
                    lines.append(f'intake_mailbox_folder_problem{{mailbox="{name}",setting="{_label(setting)}"}} 1')
                if not box.get("folder_problem_settings"):
                    lines.append(f'intake_mailbox_folder_problem{{mailbox="{name}",setting=""}} 0')
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
