"""Decide whether an inbound mail was sent by a machine and must not be answered.

RFC 3834 (Recommendations for Automatic Responses to Electronic Mail) asks responders not
to answer mail marked Auto-Submitted, mail with a null envelope sender, list and bulk mail;
practice adds Precedence, X-Autoreply/X-Autorespond, Microsoft's X-Auto-Response-Suppress,
robot senders and the subjects that auto-repliers and bounce generators use. Bounces are
RFC 3464 delivery status notifications (multipart/report; report-type=delivery-status).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from intake.messages import LoopSignals

Headers = Mapping[str, Sequence[str]]  # lower-cased name -> decoded values, in order

_ROBOT_LOCAL_PART = re.compile(
    r"^(?:mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?)(?:[+\-=].*)?$",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undeliverable|undelivered mail|undeliverable mail|delivery status notification"
    r"|mail delivery failed|delivery failure|failure notice|returned mail|mail delivery failure"
    r"|message not delivered|delivery has failed|delivery notification|non[- ]?delivery|系统退信|退信|邮件投递失败|未送达)",
    re.IGNORECASE,
)
_AUTOREPLY_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[- ]?(?:reply|response)|out of (?:the )?office"
    r"|autosvar|abwesenheitsnotiz|réponse automatique|自动回复|自動回覆|自動回复|自动答复|自動答覆)",
    re.IGNORECASE,
)
_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}


def _first(headers: Headers, name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def loop_signals(
    headers: Headers,
    *,
    sender: str = "",
    subject: str = "",
    report_type: str | None = None,
    delivery_actions: Iterable[str] = (),
    bounced_message_ids: Iterable[str] = (),
) -> LoopSignals:
    """The reasons a message looks automated, from its headers and MIME report facts.

    `report_type` is the report-type of a top-level multipart/report (or
    "delivery-status" for a bare message/delivery-status); `delivery_actions` are the
    RFC 3464 Action: values found in it.
    """
    reasons: list[str] = []

    auto_submitted = (_first(headers, "auto-submitted") or "").strip().lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        reasons.append("auto-submitted")  # RFC 3834 §5
    for value in headers.get("precedence", ()):
        word = value.strip().lower()
        if word in _PRECEDENCE:
            reasons.append(f"precedence:{word}")
    if "list-id" in headers or "list-unsubscribe" in headers:
        reasons.append("list")  # RFC 2919 / RFC 2369
    if "x-autoreply" in headers:
        reasons.append("x-autoreply")
    if "x-autorespond" in headers:
        reasons.append("x-autorespond")
    if "x-auto-response-suppress" in headers:
        # The sender asks not to be answered automatically ([MS-OXCMAIL] 2.2.3.2.14).
        reasons.append("x-auto-response-suppress")
    return_paths = headers.get("return-path", ())
    if return_paths and return_paths[-1].strip() in ("", "<>", "< >"):
        reasons.append("null-return-path")  # RFC 3834 §2: never answer the null sender
    local_part = sender.rpartition("@")[0] if "@" in sender else sender
    robot = bool(local_part) and bool(_ROBOT_LOCAL_PART.match(local_part))
    if robot:
        reasons.append("robot-sender")

    is_bounce = False
    actions: set[str] = set()
    if report_type == "delivery-status":
        reasons.append("delivery-report")
        actions = {action.strip().lower() for action in delivery_actions}
        # RFC 3464 §2.3.3: only "failed" means the mail is lost; "delayed", "delivered",
        # "relayed" and "expanded" are progress reports. No Action at all: assume failed.
        is_bounce = not actions or "failed" in actions
    elif report_type == "disposition-notification":
        reasons.append("read-receipt")  # RFC 8098 MDN: the mail arrived, not a bounce
    elif report_type == "feedback-report":
        reasons.append("feedback-report")  # RFC 5965 abuse complaint
    elif report_type:
        reasons.append("delivery-report")

    if _BOUNCE_SUBJECT.match(subject):
        reasons.append("autoreply-subject")
        if robot and not (report_type == "delivery-status" and actions):
            is_bounce = True  # a plain-text bounce (qmail, old Exim) from MAILER-DAEMON
    elif _AUTOREPLY_SUBJECT.match(subject):
        reasons.append("autoreply-subject")

    ids = tuple(dict.fromkeys(i for i in bounced_message_ids if i)) if is_bounce else ()
    return LoopSignals(reasons=tuple(dict.fromkeys(reasons)), is_bounce=is_bounce, bounced_message_ids=ids)
