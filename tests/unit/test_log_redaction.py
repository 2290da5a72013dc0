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
