"""The /metrics exposition from a database snapshot: valid for Prometheus's own parser
whatever the mailbox names hold, every new series present, the task histogram cumulative."""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from intake.web.metrics import WebhookMetrics

HOSTILE_NAMES = ['quote"d', "back\\slash", "new\nline", "数据", "x" * 500]


def snapshot() -> dict[str, object]:
    return {
        "inbox": {"captured": 2, "failed": 1}, "outbox": {"queued": 1}, "tickets": {"open": 3},
        "quarantined": {"error": 1}, "failed_captures": 1, "oldest_unprocessed_seconds": 12.5,
        "oldest_queued_followup_seconds": 3.0,
        "mailboxes": [{"name": name, "skipped": 0, "waiting": 4, "seconds_since_poll": None,
                       "last_error_class": "TimeoutError", "oauth_expires_in": -5.0,
                       "folder_problem_settings": []} for name in HOSTILE_NAMES],
        "task_durations": [{"task": "intake.sweep", "le": "0.05", "count": 2, "seconds": 0.05},
                           {"task": "intake.sweep", "le": "1.0", "count": 1, "seconds": 0.7},
                           {"task": "intake.sweep", "le": "+Inf", "count": 1, "seconds": 400.0}],
    }


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_every_series_parses_with_hostile_mailbox_names() -> None:
    found = samples(WebhookMetrics().render(snapshot()))  # type: ignore[arg-type]
    for name in HOSTILE_NAMES:
        assert found[("intake_mailbox_messages_waiting", (("mailbox", name),))] == 4
        assert math.isinf(found[("intake_mailbox_seconds_since_poll", (("mailbox", name),))])
        assert found[("intake_mailbox_last_poll_failed", (("error_class", "TimeoutError"), ("mailbox", name)))] == 1
        assert found[("intake_mailbox_oauth_token_expires_in_seconds", (("mailbox", name),))] == -5
    assert found[("intake_inbox_oldest_unprocessed_age_seconds", ())] == 12.5
    assert found[("intake_outbox_oldest_queued_age_seconds", ())] == 3
    assert found[("intake_captures_failed", ())] == 1
    task = (("task", "intake.sweep"),)
    assert found[("intake_task_duration_seconds_bucket", (("le", "0.05"), *task))] == 2
    assert found[("intake_task_duration_seconds_bucket", (("le", "0.5"), *task))] == 2
    assert found[("intake_task_duration_seconds_bucket", (("le", "1.0"), *task))] == 3
    assert found[("intake_task_duration_seconds_bucket", (("le", "+Inf"), *task))] == 4
    assert found[("intake_task_duration_seconds_count", task)] == 4
    assert found[("intake_task_duration_seconds_sum", task)] == 400.75


def test_database_away_is_one_series() -> None:
    metrics = WebhookMetrics()
    metrics.observe("sms", "stored", 0.01)
    found = samples(metrics.render(None))
    assert found[("intake_database_up", ())] == 0
    assert found[("intake_webhook_requests_total", (("result", "stored"), ("route", "sms")))] == 1
    assert not any(name.startswith("intake_mailbox") for name, _ in found)
