"""`intake parse FILE...`: the normalized message of each raw mail, stored nowhere.

What the pipeline would see of a mail (sender, subject, language, the new text and how
much quoted history was cut, attachments, loop and bounce signals), for checking the
reply cutter on a real mail before it reaches a ticket.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from intake.messages import InboundMessage


def message_summary(path: str, message: InboundMessage) -> dict[str, Any]:
    from intake.triage.language import detect_language

    quoted_cut = message.extra_value("quoted_cut_chars")
    return {
        "source": path,
        "sender": message.sender,
        "sender_name": message.sender_name,
        "subject": message.subject,
        "language": detect_language(message.new_text),
        "new_text": message.new_text,
        "text_chars": len(message.text),
        "quoted_cut_chars": int(quoted_cut) if quoted_cut else 0,
        "forwarded": message.extra_value("forwarded") == "yes",
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "bytes": a.size, "inline": a.inline}
            for a in message.attachments
        ],
        "automated": list(message.loop.reasons),
        "bounce": message.loop.is_bounce,
        "bounced_message_ids": list(message.loop.bounced_message_ids),
        "parse_error": message.parse_error,
    }


def _plain(summary: dict[str, Any]) -> str:
    head = [
        f"== {summary['source']}",
        "from: " + (f"{summary['sender_name']} <{summary['sender']}>" if summary["sender_name"] else summary["sender"]),
        f"subject: {summary['subject']}",
        f"language: {summary['language']}; quoted history cut: {summary['quoted_cut_chars']} of "
        f"{summary['text_chars']} characters" + ("; forwarded mail kept" if summary["forwarded"] else ""),
    ]
    if summary["attachments"]:
        head.append("attachments: " + ", ".join(f"{a['filename']} ({a['bytes']} bytes)" for a in summary["attachments"]))
    if summary["automated"]:
        head.append("automated: " + ", ".join(summary["automated"]) + ("; bounce" if summary["bounce"] else ""))
    if summary["parse_error"]:
        head.append(f"parse error: {summary['parse_error']}")
    return "\n".join(head) + "\n\n" + summary["new_text"] + "\n"


def parse_files(paths: list[str], as_json: bool, emit: Callable[[dict[str, Any]], None],
                write: Callable[[str], object]) -> int:
    """One summary per file (a JSON object per line with `as_json`); 1 if a file failed."""
    from intake.normalize.email import ParseFailure, parse_email
    from intake.process.flow import Caps
    from intake.settings import get_settings

    caps = Caps.of(get_settings())
    status = 0
    for path in paths:
        try:
            raw = Path(path).read_bytes()
            message = parse_email(raw, max_attachment_bytes=caps.max_attachment_bytes, limits=caps.mail)
        except (OSError, ParseFailure) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            failure = {"source": path, "error": f"cannot read mail file: {reason}"}
            emit(failure) if as_json else write(f"== {path}\nerror: {failure['error']}\n")
            status = 1
            continue
        summary = message_summary(path, message)
        emit(summary) if as_json else write(_plain(summary))
    return status
