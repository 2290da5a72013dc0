"""Logging set-up: one line per event, ids not bodies, and a last-line filter that masks
personal data (addresses, numbers, secrets) should any reach a log record anyway."""

from __future__ import annotations

import logging
import re
import sys

# Tokens that look like numbers to a PII detector but are ours: UUIDs (Celery task ids),
# Twilio SIDs and other hex ids, decimals ("succeeded in 0.004573250003159046s"), the
# addresses of our own services ("redis://:**@127.0.0.1:6379/15", the user and host of a
# database URL) and Celery's node names ("intake-4242@host"). The detectors read the line
# with these blanked out, so their digits neither count as data nor lend a neighbour
# context ("...0654s: 1000" read as a card).
_OURS = re.compile(
    r"(?<![0-9A-Za-z])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![0-9A-Za-z])"
    r"|(?<![0-9A-Za-z])[A-Z]{2}[0-9a-fA-F]{32}(?![0-9A-Za-z])"
    r"|(?<![0-9A-Za-z])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}(?![0-9A-Za-z])"
    r"|(?<![A-Za-z0-9])(?:rediss?|amqps?|postgres(?:ql)?(?:\+\w{1,20})?|sqlite|intakefs|filesystem)"
    r"://[^\s/?#]{0,300}(?:/\d{1,5}(?![0-9A-Za-z]))?"
    r"|(?<![0-9A-Za-z.@-])intake-\d{1,10}@[A-Za-z0-9.-]{1,253}"
    r"|(?<![0-9.+])\d{1,9}\.\d+(?![0-9]|\.[0-9])"
)


def redact_log_line(message: str) -> str:
    """`message` with personal data masked, our ids, timings and service addresses left as
    they are."""
    from intake.triage import detect_pii, redact

    pieces: list[str] = []
    done = 0
    for match in _OURS.finditer(message):  # same length: the spans found below fit the message
        pieces += [message[done:match.start()], "x" * (match.end() - match.start())]
        done = match.end()
    spans = detect_pii("".join(pieces) + message[done:])
    return redact(message, spans) if spans else message


class RedactingFilter(logging.Filter):
    """Masks PII in every record as a safety net. The first line of defence is that intake
    logs ids only (a test runs the pipeline and looks for message text in every record);
    this catches what a library or a careless line might add, and leaves ids, UUIDs,
    durations and counts readable."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not kill logging
            return True
        cleaned = redact_log_line(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


# What INTAKE_LOG_LEVEL may name: logging's own level names (WARN and FATAL included).
LOG_LEVELS = tuple(logging.getLevelNamesMapping())


def setup_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("alembic", "imapclient", "mailparser", "twilio.http_client", "celery.worker.strategy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
