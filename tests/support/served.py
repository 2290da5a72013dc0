"""The web app served for real in the test process: uvicorn in a thread on a loopback
socket of its own (bound first, so no port race), on a runtime the test also holds.

    with served_app(rt) as app:          # create_app(rt, enqueue=app.enqueued.append-ish)
        requests.get(app.base + "/api/v1/tickets", headers=...)
        app.enqueued                     # the Work the app handed to "the workers"
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from intake.runtime import Runtime
from intake.web.app import create_app
from intake.work import Work
from tests.support.ports import LOOPBACK


@dataclass
class ServedApp:
    base: str
    app: Any
    enqueued: list[Work] = field(default_factory=list)

    def enqueue(self, work: Work) -> int:
        self.enqueued.append(work)
        return len(work.process) + len(work.send)

    def sent(self) -> list[int]:
        return [outbox_id for work in self.enqueued for outbox_id, _ in work.send]


@contextmanager
def served_app(rt: Runtime, **create: Any) -> Iterator[ServedApp]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, 0))
    port = sock.getsockname()[1]
    served = ServedApp(f"http://{LOOPBACK}:{port}", None)
    served.app = create_app(rt, enqueue=served.enqueue, check_broker=None,
                            require_twilio=create.pop("require_twilio", False), **create)
    server = uvicorn.Server(uvicorn.Config(served.app, log_level="warning", access_log=False,
                                          lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise AssertionError("the test web server did not start")
    try:
        yield served
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
