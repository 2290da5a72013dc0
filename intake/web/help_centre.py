"""The help centre's own channels in the web app: the support form, the app intake
endpoint and the status page (one call from `create_app`)."""

from __future__ import annotations

from fastapi import FastAPI

from intake.runtime import Runtime
from intake.web import app_intake, status, support
from intake.work import Enqueue


def include_help_centre(app: FastAPI, rt: Runtime, enqueue: Enqueue) -> None:
    """Needs `app.state.pages`, `csrf` and `secure_cookies` (set by create_app first)."""
    app.include_router(support.router(support.SupportForm(rt, enqueue, app.state)))
    app.include_router(app_intake.router(app_intake.AppIntake(rt, enqueue)))
    app.include_router(status.router(status.StatusPages(rt, enqueue, app.state)))
