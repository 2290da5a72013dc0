"""How fast the daemons turn a full INBOX into tickets, as a ratio to the floor.

Fills a private Dovecot INBOX (loopback, started here) with N generated zh/en mails, runs the
floor over it (benchmarks/floor.py: fetch + mail-parser + one SQLite insert + \\Seen), then
times the daemons from their start until all N mails are ticket messages:

    embedded   `intake run` on the embedded defaults: SQLite file, filesystem broker, file outbox
    redis-pg   `intake beat` + W x `intake worker` on Redis (a spare db of 127.0.0.1:6379)
               and PostgreSQL (a fresh schema in database `test` on 127.0.0.1:5432)

    .venv/bin/python benchmarks/daemon_throughput.py [--count 1000] [--setups embedded,redis-pg] [--workers 2]

BENCH_LOG_LEVEL=INFO keeps the daemons' task lines in the logs (the work directory is kept).
The work directory keeps `timeline.json`: [seconds, captures, ticket messages] every 0.1 s.
BENCH_PY_SPY=/path/to/py-spy samples every daemon process and its children (py-spy record
--subprocesses, raw stacks, `daemon<N>.raw` in the work directory, which is kept).
Each line is JSON: seconds from start (includes the daemons' start-up), seconds from the
first capture, mails/s, and the ratio to the floor measured on the same mailbox just before:
`ratio_to_floor` against its warm loop, `ratio_to_floor_program` against the floor run as a
command from its interpreter's start (benchmarks/floor.py); `daemons_cpu_ms_per_mail`, and
`machine_busy`: the whole machine's CPU over the run as a fraction of all its cores (near 1:
bound by CPU, the daemons' start-up included).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.floor import compile_bytecode, floor_program, floor_rate  # noqa: E402
from benchmarks.poll_throughput import checkpoint, drop_schema, pg_schema  # noqa: E402
from tests.flows import INTAKE_BIN, subprocess_env  # noqa: E402
from tests.support.dovecot import Dovecot, Mailbox  # noqa: E402
from tests.support.ports import free_port  # noqa: E402


@contextmanager
def spare_redis() -> Iterator[str]:
    """A db of 127.0.0.1:6379 claimed the way the test suite claims one, flushed before and after."""
    import redis

    admin = redis.Redis(host="127.0.0.1", port=6379, db=0, socket_connect_timeout=2)
    for db in range(15, 0, -1):
        if admin.set(f"intake-test:db-claim:{db}", "benchmark", nx=True, ex=3600):
            break
    else:
        raise SystemExit("no free Redis db on 127.0.0.1:6379 (all claimed)")
    client = redis.Redis(host="127.0.0.1", port=6379, db=db)
    client.flushdb()
    try:
        yield f"redis://127.0.0.1:6379/{db}"
    finally:
        client.flushdb()
        client.close()
        admin.delete(f"intake-test:db-claim:{db}")
        admin.close()


def _counts(url: str) -> tuple[int, int]:
    """(captures, ticket messages in) so far; (0, 0) before the schema exists."""
    from sqlalchemy import func, select

    from intake.db import make_engine
    from intake.tickets.models import Inbox, Message

    # One engine for the whole run: make_engine opens and closes the SQLite file (to set its
    # mode), and closing any descriptor of a file drops all of this process's POSIX locks on
    # it, the read locks of the pooled connection too; SQLite in another process may then
    # take itself for the last user, remove the WAL, and leave this reader on a stale one.
    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = make_engine(url)
    try:
        with engine.connect() as conn:
            captured = conn.execute(select(func.count()).select_from(Inbox)).scalar_one()
            messages = conn.execute(select(func.count()).select_from(Message)
                                    .where(Message.direction == "in")).scalar_one()
        return int(captured), int(messages)
    except Exception:  # noqa: BLE001 - not created yet, or locked for a moment
        return 0, 0


_engines: dict[str, Any] = {}


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=str(log.parent))


def _machine_busy() -> float:
    """Seconds of CPU the whole machine has spent busy since boot (/proc/stat: all but idle
    and I/O wait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _stop(procs: list[subprocess.Popen[bytes]], spied: bool = False) -> None:
    if spied:
        # py-spy writes its samples when its target ends (SIGTERM would kill py-spy with
        # nothing written, and SIGINT makes it kill the target, whose children live on): stop
        # the daemon it started, which stops its own children, and let py-spy finish.
        for proc in procs:
            for child in _children(proc.pid):
                os.kill(child, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(45)
            except subprocess.TimeoutExpired:
                pass
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the leader may be gone (py-spy), its group not
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 30
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left
        except ProcessLookupError:
            pass
        proc.wait()


def timed_run(setup: str, box: Mailbox, count: int, workers: int, work: Path, broker: str = "",
              database_url: str = "", timeout: float = 1200.0) -> dict[str, object]:
    """Start the daemons of `setup` on `box`, wait until `count` ticket messages exist."""
    url = database_url or f"sqlite:///{work}/var/intake.db"
    env = subprocess_env(url, work / "var", INTAKE_IMAP_START="all", **box.imap_settings("none"),
                         INTAKE_LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"))
    if broker:
        env["INTAKE_BROKER_URL"] = broker
    subprocess.run([INTAKE_BIN, "db", "upgrade"], env=env, check=True, capture_output=True)
    if url.startswith("postgresql"):
        checkpoint()
    if setup == "embedded":
        del env["INTAKE_DATABASE_URL"]  # the default: <data dir>/intake.db
        env["INTAKE_WEB_PORT"] = str(free_port())
        argvs = [[INTAKE_BIN, "run"]]
    else:
        argvs = [[INTAKE_BIN, "beat"]] + [[INTAKE_BIN, "worker"] for _ in range(workers)]
    spy = os.environ.get("BENCH_PY_SPY")
    if spy:
        argvs = [[spy, "record", "--subprocesses", "--format", "raw", "--rate", "50", "--nonblocking",
                  "-o", str(work / f"daemon{n}.raw"), "--", *argv] for n, argv in enumerate(argvs)]
    import resource

    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before = _machine_busy()
    started = time.perf_counter()
    procs = [_spawn(argv, env, work / f"daemon{n}.log") for n, argv in enumerate(argvs)]
    first_capture = None
    finished = started
    timeline: list[tuple[float, int, int]] = []  # (seconds, captures, ticket messages)
    try:
        while True:
            captured, messages = _counts(url)
            now = time.perf_counter()
            timeline.append((round(now - started, 2), captured, messages))
            if captured and first_capture is None:
                first_capture = now
            if messages >= count:
                finished = now
                busy_after = _machine_busy()
                break
            if now - started > timeout or any(p.poll() is not None for p in procs):
                raise SystemExit(f"{setup}: {messages}/{count} after {now - started:.0f}s; logs in {work}")
            time.sleep(0.1)
    finally:
        _stop(procs, spied=bool(spy))
        (work / "timeline.json").write_text(json.dumps(timeline))
    # Until the last mail was a ticket message: the daemons' shutdown (up to 30 s of grace
    # for the worker's pool) is not part of the figure.
    wall = finished - started
    from_capture = finished - (first_capture or started)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU of the daemons and the processes they started and waited for (the pool processes),
    # start-up included: what the cores paid per mail.
    cpu = sum(getattr(cpu_after, f) - getattr(cpu_before, f) for f in ("ru_utime", "ru_stime"))
    return {"setup": setup, "workers": workers if setup != "embedded" else 1, "mails": count,
            "seconds_from_start": round(wall, 1), "seconds_from_first_capture": round(from_capture, 1),
            "mails_per_second": round(count / wall, 1),
            "mails_per_second_after_start_up": round(count / from_capture, 1),
            "daemons_cpu_ms_per_mail": round(cpu / count * 1000, 2),
            "cores": os.cpu_count(),
            # How busy the whole machine was (every process: the daemons, PostgreSQL, Redis,
            # Dovecot, this script), as a fraction of all its cores over the run: near 1, the
            # figure is bound by CPU, and only less work per mail moves it.
            "machine_busy": round((busy_after - busy_before) / (wall * (os.cpu_count() or 1)), 2)}


def measure(server: Dovecot, setup: str, count: int, workers: int, seed: int) -> dict[str, object]:
    box = server.new_box()
    box.load(count, seed=seed)
    floor = floor_rate(box.host, box.port, box.user, box.password)
    floor_command = floor_program(box.host, box.port, box.user, box.password)
    work = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    schema = None
    try:
        if setup == "embedded":
            result = timed_run(setup, box, count, workers, work)
        else:
            schema, url = pg_schema()
            with spare_redis() as broker:
                result = timed_run(setup, box, count, workers, work, broker=broker, database_url=url)
    finally:
        if schema:
            drop_schema(schema)
        server.drop_box(box)
    result["floor_mails_per_second"] = floor["mails_per_second"]
    result["ratio_to_floor"] = round(float(result["mails_per_second"]) / floor["mails_per_second"], 2)  # type: ignore[arg-type]
    # The floor as a command of its own, from its interpreter's start (the daemons' figure
    # includes their start-up too).
    result["floor_program_seconds"] = round(floor_command, 2)
    result["ratio_to_floor_program"] = round(floor_command / float(result["seconds_from_start"]), 2)  # type: ignore[arg-type]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--setups", default="embedded,redis-pg")
    parser.add_argument("--workers", type=int, default=2, help="intake worker processes (redis-pg)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    compile_bytecode()
    server = Dovecot().start()
    try:
        for setup in args.setups.split(","):
            print(json.dumps(measure(server, setup, args.count, args.workers, args.seed)), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
