"""Acknowledgement latency, end to end, through real processes.

    email: a mail APPENDed to a Dovecot INBOX -> `intake poller` (IMAP IDLE) captures it and
           enqueues it, `intake worker --beat-embedded` processes and sends -> the
           acknowledgement arrives at an aiosmtpd server
    sms:   a signed Twilio SMS webhook POSTed to the web app (uvicorn) -> the worker
           processes and sends -> the SMS reaches the Twilio Messages API stand-in

Prints median, p95 and max per channel (and JSON with --json). Everything runs on
loopback: Dovecot, aiosmtpd and the Twilio stand-in from tests/support, Redis on
127.0.0.1:6379 (a spare db, flushed before and after), the database given or a SQLite file.

    .venv/bin/python benchmarks/ack_latency.py                  # 100 mails, 100 SMS
    .venv/bin/python benchmarks/ack_latency.py --mails 200 --sms 0
    .venv/bin/python benchmarks/ack_latency.py --mails 20 --sms 20 --interval 0.2
    .venv/bin/python benchmarks/ack_latency.py --database-url postgresql+psycopg://...
    .venv/bin/python benchmarks/ack_latency.py --no-poller --poll-interval 1   # beat polls only

With the poller the email figure has no poll interval in it (Dovecot tells the IDLE
connection about the new mail at once; beat still polls every --poll-interval, 30 s, as a
fallback, and finds the mailbox's lease taken). Without it, expect about half the poll
interval on top of processing and SMTP.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PUBLIC_URL = "https://support.example.com"
OUR_NUMBER = "+15555550100"
SUPPORT = "support@example.test"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def summary(name: str, latencies: list[float], missing: int) -> dict[str, Any]:
    return {"channel": name, "count": len(latencies), "missing": missing,
            "median_s": round(statistics.median(latencies), 3) if latencies else None,
            "p95_s": round(percentile(latencies, 0.95), 3) if latencies else None,
            "max_s": round(max(latencies), 3) if latencies else None}


def wait_all(pending: dict[str, float], arrived: Callable[[], dict[str, float]], timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = arrived()
        if all(key in got for key in pending):
            break
        time.sleep(0.05)
    got = arrived()
    return {key: got[key] - sent for key, sent in pending.items() if key in got}


class Watcher:
    """Timestamps arrivals by polling a source every few ms (the servers keep no times)."""

    def __init__(self, source: Callable[[], list[str]]) -> None:
        self.source = source
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for key in self.source():
                self.seen.setdefault(key, now)
            time.sleep(0.005)

    def start(self) -> "Watcher":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def arrived(self) -> dict[str, float]:
        return dict(self.seen)


def _mail(n: int, run: str) -> tuple[str, bytes]:
    message_id = f"bench-{run}-{n}@example.com"
    raw = (f"Message-ID: <{message_id}>\r\nFrom: User {n} <user{n}.{run}@example.com>\r\n"
           f"To: {SUPPORT}\r\nSubject: Upload fails ({n})\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           "My video upload fails with a network error every time. Please help.\r\n").encode()
    return message_id, raw


def _in_reply_to(raw: bytes) -> str:
    import email
    import email.policy

    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return str(parsed.get("In-Reply-To", "")).strip("<> ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, default=100)
    parser.add_argument("--sms", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between inputs")
    parser.add_argument("--poll-interval", type=float, default=30.0)
    parser.add_argument("--poller", action=argparse.BooleanOptionalAction, default=True,
                        help="run `intake poller` (IMAP IDLE) beside the worker")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis", default="", help="broker URL of a spare db (it is flushed); default: "
                        "a db of 127.0.0.1:6379 claimed the way the test suite claims one")
    parser.add_argument("--timeout", type=float, default=120.0, help="wait this long for stragglers")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)

    import redis
    import requests
    from twilio.request_validator import RequestValidator

    from intake.crypto import generate_key
    from intake.db import upgrade
    from tests.e2e.processes import WorkerProcess
    from tests.flows import subprocess_env
    from tests.support.dovecot import Dovecot
    from tests.support.ports import LOOPBACK, free_port, wait_for_port
    from tests.support.smtp import SmtpServer
    from tests.support.twilio_standin import TwilioStandIn

    claim = None
    if not args.redis:
        admin = redis.Redis(host="127.0.0.1", port=6379, db=0, socket_connect_timeout=2)
        for db in range(15, 0, -1):  # the test suite's claim keys: never flush a running test's db
            if admin.set(f"intake-test:db-claim:{db}", "benchmark", nx=True, ex=3600):
                claim = (admin, db)
                args.redis = f"redis://127.0.0.1:6379/{db}"
                break
        else:
            raise SystemExit("no free Redis db on 127.0.0.1:6379 (all claimed)")
    work = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    database_url = args.database_url or f"sqlite:///{work}/intake.db"
    upgrade(database_url)
    broker = redis.Redis.from_url(args.redis)
    broker.flushdb()
    run = secrets.token_hex(3)
    results: list[dict[str, Any]] = []

    dovecot = Dovecot() if args.mails else None
    smtp = SmtpServer().start()
    api = TwilioStandIn().start()
    worker = web = poller = None
    try:
        box = None
        env_extra = {
            "INTAKE_BROKER_URL": args.redis, "INTAKE_ENCRYPTION_KEY": generate_key(),
            "INTAKE_POLL_INTERVAL": str(args.poll_interval), "INTAKE_SWEEP_INTERVAL": "30",
            "INTAKE_EMAIL_BACKEND": "smtp", "INTAKE_SMTP_HOST": smtp.host,
            "INTAKE_SMTP_PORT": str(smtp.port), "INTAKE_SMTP_SECURITY": "none",
            "INTAKE_OUR_ADDRESSES": SUPPORT, "INTAKE_MAIL_DOMAIN": "help.example.test",
            "INTAKE_ACK_LIMIT_PER_HOUR": "1000",
            # every sender is @example.com: the per-domain limit (100 an hour) would suppress the rest
            "INTAKE_ACK_LIMIT_PER_DOMAIN_PER_HOUR": "100000",
            "INTAKE_SMS_BACKEND": "twilio", "INTAKE_TWILIO_API_BASE": api.base_url,
            "TWILIO_ACCOUNT_SID": api.account_sid, "TWILIO_AUTH_TOKEN": api.auth_token,
            "TWILIO_FROM_NUMBER": OUR_NUMBER, "INTAKE_PUBLIC_URL": PUBLIC_URL,
            "PYTHONPATH": str(REPO),
        }
        if dovecot is not None:
            dovecot.start()
            box = dovecot.new_box()
            env_extra.update(box.imap_settings("starttls"))
            env_extra["INTAKE_IMAP_START"] = "all"
        env = subprocess_env(database_url, work, **env_extra)
        worker = WorkerProcess(env, work / "worker.log", beat=True, concurrency=args.concurrency).start()
        if box is not None and args.poller:
            with open(work / "poller.log", "ab") as log:
                poller = subprocess.Popen([sys.executable, "-m", "intake.cli", "poller"], env=env, stdout=log,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(REPO))

        # -- email ---------------------------------------------------------------------------
        if box is not None:
            def acked() -> list[str]:
                return [_in_reply_to(m.raw) for m in smtp.received()]

            watcher = Watcher(acked).start()
            # Warm up: the first mail waits for the worker and the poller to start.
            warm_id, warm_raw = _mail(-1, run)
            box.append(warm_raw)
            if not wait_all({warm_id: time.monotonic()}, watcher.arrived, args.timeout):
                raise RuntimeError("no acknowledgement of the warm-up mail: " + (work / "worker.log").read_text()[-2000:])
            pending: dict[str, float] = {}
            for n in range(args.mails):
                message_id, raw = _mail(n, run)
                box.append(raw)
                pending[message_id] = time.monotonic()  # the mail is in the INBOX now
                time.sleep(args.interval)
            latencies = wait_all(pending, watcher.arrived, args.timeout)
            watcher.stop()
            results.append(summary("email (Dovecot INBOX -> ack at SMTP)", list(latencies.values()),
                                   len(pending) - len(latencies)))

        # -- sms -----------------------------------------------------------------------------
        if args.sms:
            port = free_port()
            with open(work / "web.log", "ab") as log:
                web = subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "--factory", "workers.daemons:web_app",
                     "--host", LOOPBACK, "--port", str(port), "--log-level", "warning", "--no-access-log"],
                    env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(REPO))
            if not wait_for_port(port, timeout=30, alive=lambda: web is not None and web.poll() is None):
                raise RuntimeError("the web app did not start: " + (work / "web.log").read_text()[-2000:])

            def texted() -> list[str]:
                return [r.params.get("To", "") for r in api.message_requests()]

            watcher = Watcher(texted).start()
            validator = RequestValidator(api.auth_token)
            pending = {}
            for n in range(args.sms):
                sender = f"+1415555{n:04d}"
                params = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": api.account_sid,
                          "From": sender, "To": OUR_NUMBER, "NumMedia": "0",
                          "Body": f"My coins disappeared after the update ({n}), please check."}
                path = "/webhooks/twilio/sms"
                signature = validator.compute_signature(PUBLIC_URL + path, params)
                pending[sender] = time.monotonic()
                response = requests.post(f"http://{LOOPBACK}:{port}{path}", data=urlencode(params),
                                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                                  "X-Twilio-Signature": signature}, timeout=15)
                response.raise_for_status()
                time.sleep(args.interval)
            latencies = wait_all(pending, watcher.arrived, args.timeout)
            watcher.stop()
            results.append(summary("sms (webhook -> SMS at the Twilio API)", list(latencies.values()),
                                   len(pending) - len(latencies)))
    finally:
        for proc in (web, poller):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        if worker is not None:
            worker.stop()
        api.stop()
        smtp.stop()
        if dovecot is not None:
            dovecot.stop()
        broker.flushdb()
        broker.close()
        if claim is not None:
            claim[0].delete(f"intake-test:db-claim:{claim[1]}")
            claim[0].close()
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}", file=sys.stderr)

    setup = {"poller": args.poller, "poll_interval_s": args.poll_interval, "interval_s": args.interval,
             "concurrency": args.concurrency, "database": database_url.split(":", 1)[0],
             "broker": "redis"}
    if args.json:
        print(json.dumps({"setup": setup, "results": results}, indent=2))
    else:
        print(f"setup: {setup}")
        for r in results:
            print(f"{r['channel']}: n={r['count']} missing={r['missing']} median={r['median_s']}s "
                  f"p95={r['p95_s']}s max={r['max_s']}s")
    return 0 if all(r["missing"] == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
