"""Load test of the Twilio SMS webhook: signed requests at fixed rates against the real app.

    .venv/bin/python benchmarks/webhook_load.py [--rates 50,200,500] [--seconds 10]

Starts, on loopback: `intake web` (uvicorn) and `intake worker` (Celery, Redis broker)
against PostgreSQL (a fresh schema in database `test` on 127.0.0.1:5432, dropped at the
end) and Redis 127.0.0.1:6379 (a spare db, claimed like the tests claim theirs, flushed at
the end). For each rate it sends `rate * seconds` signed SMS webhooks on an open-loop
schedule (aiohttp), then waits until the worker has processed every capture, and prints
throughput, latency p50/p99/max (from the scheduled send time, so a server that falls
behind is not flattered by coordinated omission) and errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import psycopg
import redis
from twilio.request_validator import RequestValidator

REPO = Path(__file__).resolve().parents[1]
INTAKE = str(Path(sys.executable).with_name("intake"))
PUBLIC_URL = "https://support.example.com"
PATH = "/webhooks/twilio/sms"
TOKEN = "bench-" + secrets.token_hex(8)
BODIES = ("My app keeps crashing when I upload a video.", "我的账号被封了，请帮我看看。",
          "Withdrawal not received after 3 days, order A-20931.", "How do I change my username?",
          "视频审核没通过，请复核一下。")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listening on {port} after {timeout}s")


def pg_role() -> str:
    for role in ("postgres", "root"):
        try:
            with psycopg.connect(host="127.0.0.1", port=5432, dbname="test", user=role, connect_timeout=3):
                return role
        except psycopg.Error:
            continue
    raise SystemExit("PostgreSQL 127.0.0.1:5432/test refused roles postgres and root")


def claim_redis_db(admin: redis.Redis) -> tuple[int, str]:
    token = f"bench-{os.getpid()}-{secrets.token_hex(4)}"
    for db in random.sample(range(1, 16), 15):
        if admin.set(f"intake-test:db-claim:{db}", token, nx=True, ex=3600):
            return db, token
    raise SystemExit("no spare Redis db in 1..15")


def params_for(i: int, run: str) -> dict[str, str]:
    return {"MessageSid": f"SM{run}{i:024x}", "AccountSid": "AC" + "0" * 32,
            "From": f"+1555{random.randint(0, 9_999_999):07d}", "To": "+15555550100",
            "Body": BODIES[i % len(BODIES)], "NumMedia": "0", "NumSegments": "1",
            "SmsStatus": "received", "ApiVersion": "2010-04-01",
            "MessagingServiceSid": "MG" + "1" * 32}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run_rate(base: str, rate: int, seconds: float, run: str) -> dict[str, Any]:
    validator = RequestValidator(TOKEN)
    total = int(rate * seconds)
    # Sign up front: the generator must not be what limits the rate.
    requests_ = []
    for i in range(total):
        params = params_for(i, run)
        signature = validator.compute_signature(PUBLIC_URL + PATH, params)
        requests_.append((urlencode(params).encode(), signature))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter() + 0.2

        async def one(i: int) -> None:
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body, signature = requests_[i]
            try:
                async with session.post(base + PATH, data=body, headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": signature}) as response:
                    await response.read()
                    if response.status != 200:
                        errors[f"HTTP {response.status}"] = errors.get(f"HTTP {response.status}", 0) + 1
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                return
            latencies.append(time.perf_counter() - scheduled)

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - start
    return {"rate": rate, "sent": total, "ok": len(latencies), "elapsed": elapsed,
            "throughput": len(latencies) / elapsed if elapsed > 0 else 0.0,
            "p50_ms": percentile(latencies, 0.50) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
            "max_ms": max(latencies, default=float("nan")) * 1000, "errors": errors}


def wait_processed(conn: psycopg.Connection[Any], expected: int, timeout: float) -> tuple[float, int, int]:
    """Seconds until `expected` inbox rows are done (or the timeout), done count, failed count."""
    started = time.monotonic()
    done = failed = 0
    while time.monotonic() - started < timeout:
        row = conn.execute("SELECT count(*) FILTER (WHERE status = 'done'), "
                           "count(*) FILTER (WHERE status = 'failed') FROM inbox").fetchone()
        assert row is not None
        done, failed = int(row[0]), int(row[1])
        if done + failed >= expected:
            break
        time.sleep(0.25)
    return time.monotonic() - started, done, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="50,200,500")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=4, help="Celery worker processes")
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--pause-worker", action="store_true",
                        help="SIGSTOP the worker while sending, so the figures show the web "
                             "capture path alone and the drain shows processing alone")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",") if r.strip()]

    role = pg_role()
    schema = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin_pg = psycopg.connect(host="127.0.0.1", port=5432, dbname="test", user=role, autocommit=True)
    admin_pg.execute(f'CREATE SCHEMA "{schema}"')
    db_url = (f"postgresql+psycopg://{role}@127.0.0.1:5432/test"
              f"?options=-csearch_path%3D{schema}&application_name={schema}")
    admin_redis = redis.Redis(host="127.0.0.1", port=6379, db=0, socket_connect_timeout=2)
    redis_db, claim = claim_redis_db(admin_redis)
    broker = redis.Redis(host="127.0.0.1", port=6379, db=redis_db)
    broker.flushdb()
    work = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "TWILIO_"))}
    env.update({"INTAKE_DATABASE_URL": db_url, "INTAKE_DATA_DIR": str(work / "var"),
                "INTAKE_BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}", "INTAKE_LOG_LEVEL": "WARNING",
                "INTAKE_PUBLIC_URL": PUBLIC_URL, "TWILIO_AUTH_TOKEN": TOKEN,
                "INTAKE_ENCRYPTION_KEY": __import__("intake.crypto", fromlist=["x"]).generate_key(),
                "INTAKE_SMS_BACKEND": "file", "INTAKE_EMAIL_BACKEND": "file"})
    procs: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([INTAKE, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=REPO)
        port = free_port()
        web_log = open(work / "web.log", "ab")  # noqa: SIM115 - handed to the child
        worker_log = open(work / "worker.log", "ab")  # noqa: SIM115
        web = subprocess.Popen([INTAKE, "web", "--host", "127.0.0.1", "--port", str(port)], env=env,
                               stdout=web_log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
        procs.append(web)
        worker = subprocess.Popen([INTAKE, "worker", "--queues", "process,private,outbound",
                                   "--concurrency", str(args.concurrency)], env=env, stdout=worker_log,
                                  stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
        procs.append(worker)
        wait_port(port, web)
        base = f"http://127.0.0.1:{port}"
        data_conn = psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        print(f"web {base} (uvicorn, 1 process), worker concurrency {args.concurrency}"
              f"{' (paused while sending)' if args.pause_worker else ''}, PostgreSQL schema {schema}, "
              f"Redis db {redis_db}, {args.seconds:.0f} s per rate, {os.cpu_count()} CPUs")
        print(f"{'rate/s':>7} {'sent':>6} {'ok':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'max ms':>8} {'drain s':>8} {'done':>6} {'failed':>6}  errors")
        # Warm up (connection pools, the threadpool, imports) before anything is measured.
        warm = asyncio.run(run_rate(base, 20, 1.0, "ff" + secrets.token_hex(3)))
        expected = warm["ok"]
        wait_processed(data_conn, expected, args.drain_timeout)
        for index, rate in enumerate(rates):
            if args.pause_worker:
                os.killpg(worker.pid, signal.SIGSTOP)
            try:
                result = asyncio.run(run_rate(base, rate, args.seconds, f"{index:02x}{secrets.token_hex(3)}"))
            finally:
                if args.pause_worker:
                    os.killpg(worker.pid, signal.SIGCONT)
            expected += result["ok"]
            drain, done, failed = wait_processed(data_conn, expected, args.drain_timeout)
            print(f"{rate:>7} {result['sent']:>6} {result['ok']:>6} {result['throughput']:>8.1f} "
                  f"{result['p50_ms']:>8.1f} {result['p99_ms']:>8.1f} {result['max_ms']:>8.1f} "
                  f"{drain:>8.1f} {done:>6} {failed:>6}  {result['errors'] or '-'}", flush=True)
        data_conn.close()
        return 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        broker.flushdb()
        broker.close()
        if admin_redis.get(f"intake-test:db-claim:{redis_db}") == claim.encode():
            admin_redis.delete(f"intake-test:db-claim:{redis_db}")
        admin_redis.close()
        admin_pg.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE application_name = %s AND pid <> pg_backend_pid()", (schema,))
        admin_pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin_pg.close()
        print(f"logs: {work}")


if __name__ == "__main__":
    raise SystemExit(main())
