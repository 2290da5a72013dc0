"""Processing of a captured e-mail: prepare (normalize, fingerprint, triage; pure and
possibly done ahead in another process), then the message flow."""

from __future__ import annotations

from intake.process import flow


def handle_email(ctx: flow.Context) -> flow.Outcome:
    prepared = ctx.prepared or flow.prepare_email(flow.raw_bytes(ctx), ctx.inbox.meta, ctx.rt.rules,
                                                  flow.Caps.of(ctx.rt.settings))
    return flow.message_flow(ctx, prepared.msg, prepared=prepared)
