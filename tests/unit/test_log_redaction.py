"""The log filter is a second line of defence: it masks personal data a record may carry,
and leaves Celery's task ids, our SIDs and ids, durations and counts as they are."""

from __future__ import annotations

import logging

from intake.logs import RedactingFilter, redact_log_line
from intake.triage import redact

# Celery's own lines, as the worker logs them; the old filter turned them into
# "535efb48-fab2-[PHONE]-a53fe9fed3b9" and "succeeded in 0.[CARD]s".
RECEIVED = "Task intake.process_inbox[535efb48-fab2-4139-8001-a53fe9fed3b9] received"
SUCCEEDED = "Task intake.process_inbox[535efb48-fab2-4139-8001-a53fe9fed3b9] succeeded in 0.4111111111111111s: None"


def test_celery_lines_are_left_alone() -> None:
    assert "[PHONE]" in redact(RECEIVED) and "0.[CARD]s" in redact(SUCCEEDED)  # what went wrong
    assert redact_log_line(RECEIVED) == RECEIVED
    assert redact_log_line(SUCCEEDED) == SUCCEEDED


def test_ids_durations_and_counts_are_left_alone() -> None:
    for line in ("twilio sms SMbb58628cfdc36630c2075a68d40a8cd1 captured as inbox 13800 from +86*******1234",
                 "outbox 4111 (ack, ticket TK-Z0CT7R): sent by sms on attempt 1",
                 "swept 12 inbox rows and 3 outbox rows in 1.5551234567s",
                 "chunk 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 done"):
        assert redact_log_line(line) == line


def test_personal_data_is_still_masked() -> None:
    line = ("Task intake.send_outbox[535efb48-fab2-4139-8001-a53fe9fed3b9] raised: "
            "ValueError('bad number +86 138 0000 1234, card 4111 1111 1111 1111, bob@example.com')")
    cleaned = redact_log_line(line)
    assert "535efb48-fab2-4139-8001-a53fe9fed3b9" in cleaned
    assert "138 0000 1234" not in cleaned and "4111 1111" not in cleaned and "bob@example.com" not in cleaned
    assert "[PHONE]" in cleaned and "[CARD]" in cleaned and "[EMAIL]" in cleaned


def test_the_filter_rewrites_records() -> None:
    record = logging.LogRecord("celery.app.trace", logging.INFO, __file__, 1, "Task %s[%s] succeeded in %ss: %s",
                               ("intake.process_inbox", "535efb48-fab2-4139-8001-a53fe9fed3b9",
                                0.4111111111111111, None), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == SUCCEEDED
    leaky = logging.LogRecord("x", logging.INFO, __file__, 1, "caller %s", ("+8613800001234",), None)
    RedactingFilter().filter(leaky)
    assert leaky.getMessage() == "caller [PHONE]"


def test_service_addresses_node_names_and_task_results_are_left_alone() -> None:
    # Seen in a worker's log: "redis://:**@127.0.0.[PHONE]", "[EMAIL] ready." and a task's
    # result of 1000 masked as a card because the duration before it read as one.
    for line in ("Connected to redis://:**@127.0.0.1:6379/15",
                 "Task intake.poll_mailbox[7f41e0fa-4465-44a8-b93c-334677d92e60] succeeded in 1.1056627620000654s: 1000",
                 "intake-12345@worker-1.example.internal ready.",
                 "database postgresql+psycopg://postgres@127.0.0.1:5432/test is not reachable",
                 "broker amqp://guest:**@127.0.0.1:5672// is away"):
        assert redact_log_line(line) == line


def test_blanked_tokens_cannot_hide_personal_data_beside_them() -> None:
    line = ("redis://127.0.0.1:6379/15 said: card 4111 1111 1111 1111 for bob@example.com, "
            "took 0.4111111111111111s; intake-1@host told +86 138 0000 1234")
    cleaned = redact_log_line(line)
    assert "4111 1111" not in cleaned and "bob@example.com" not in cleaned and "138 0000 1234" not in cleaned
    assert cleaned.startswith("redis://127.0.0.1:6379/15 said") and "0.4111111111111111s" in cleaned
    assert redact_log_line("see http://bob@example.com/x") == "see http://[EMAIL]/x"  # not one of ours


def test_long_hostile_lines_are_read_in_linear_time() -> None:
    # Bounded patterns and one pass: a line of 50,000 of our tokens, or of near-misses,
    # returns (a quadratic blanking or a backtracking pattern would not, in the test's limit).
    uuids = " ".join(["535efb48-fab2-4139-8001-a53fe9fed3b9"] * 50_000)
    assert redact_log_line(uuids) == uuids
    for line in ("redis://" + "1." * 50_000, "intake-" + "9" * 50_000 + "@" + "a." * 50_000, "0." + "1" * 100_000):
        assert isinstance(redact_log_line(line), str)
