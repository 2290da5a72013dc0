"""Processing of a support-form or app submission (inbox channel `web`):

    decode -> message (normalize/web.py) -> triage with the sender's type as a hint -> the message flow

The message flow is the one mail takes: dedupe, privacy, threading under the owner rule
(a reference given on the form joins that ticket only when the contact owns it), the
acknowledgement to the contact given. The dedupe key is the submission's capture key, so
the same submission processed twice is one message.
"""

from __future__ import annotations

import hashlib
import json

from intake.capture.web import decode
from intake.failures import UserError
from intake.normalize.web import parse_web
from intake.process import flow


def handle_web(ctx: flow.Context) -> flow.Outcome:
    try:
        msg = parse_web(decode(flow.raw_bytes(ctx)))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise UserError(f"unreadable web submission ({type(exc).__name__})") from None
    key = "web:" + hashlib.sha256(ctx.inbox.capture_key.encode("utf-8")).hexdigest()[:40]
    triage = flow.triage_for(msg, ctx.rt.rules, None, flow.Caps.of(ctx.rt.settings))
    return flow.message_flow(ctx, msg, prepared=flow.Prepared(msg, key, triage))
