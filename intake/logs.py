"""Logging set-up: one line per event, ids not bodies, and a last-line filter that masks
personal data (addresses, numbers, secrets) should any reach a log record anyway."""

from __future__ import annotations

import logging
import sys


class RedactingFilter(logging.Filter):
    """Masks PII in every record as a safety net. The first line of defence is that intake
    logs ids only; this catches what a library or a careless line might add."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not kill logging
            return True
        from intake.triage import redact

        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


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
