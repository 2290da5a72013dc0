"""How many mails per second `intake poll --once` turns into tickets, against a floor.

Fills a private Dovecot INBOX (loopback, started here) with N generated zh/en support mails
(utf-8, gbk, gb2312, big5 incl. raw 8-bit, html, attachments, replies) and, on that same
mailbox in the same run:

1. the floor: a bare loop that fetches every mail with imapclient (chunks of
   INTAKE_IMAP_BATCH_SIZE), parses it with mail-parser, makes one SQLite insert per mail
   (one commit per chunk) and flags the chunk `\Seen`, timed in this process (its imports
   done) and again as a command of its own (benchmarks/floor.py, start-up included);
2. `intake poll --once` on SQLite or PostgreSQL (a fresh schema in database `test` on
   127.0.0.1:5432): capture, process, acknowledgements sent by the file backend;

and prints intake's rate as a ratio of the floor's: `ratio_to_floor` (intake's command,
start-up included, against the floor's warm loop), `ratio_to_floor_poll` (both without
start-up) and `ratio_commands` (both as commands, start-up included). The machine's load
moves both alike, so a ratio is the figure to compare between runs.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/poll_throughput.py [--count 1000] [--db sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.floor import compile_bytecode, floor_program, floor_rate  # noqa: E402
from tests.flows import INTAKE_BIN, subprocess_env  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402


def pg_schema() -> tuple[str, str]:
    import psycopg

    schema = "bench_" + secrets.token_hex(4)
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema, f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"


def checkpoint() -> None:
    """Flush PostgreSQL's dirty pages before a timed run: otherwise the previous run's writes
    are flushed during this one (back-to-back runs: the second was 0.03 of the floor slower)."""
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def floor(box: Any, count: int) -> float:
    """Seconds the bare loop (benchmarks/floor.py) takes over the same mailbox."""
    result = floor_rate(box.host, box.port, box.user, box.password)
    if result["mails"] != count:
        raise SystemExit(f"floor saw {result['mails']} mails, expected {count}")
    return float(result["seconds"])


def run_once(server: Dovecot, count: int, db: str, seed: int) -> dict[str, object]:
    box = server.new_box()
    box.load(count, seed=seed)
    floor_seconds = floor(box, count)
    floor_program_seconds = floor_program(box.host, box.port, box.user, box.password)
    work = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    schema = None
    if db == "sqlite":
        url = f"sqlite:///{work}/intake.db"
    else:
        schema, url = pg_schema()
    env = subprocess_env(url, work / "var", INTAKE_IMAP_START="all", **box.imap_settings("none"))
    # Create the schema first so the timing below is the poll, not the migration.
    subprocess.run([INTAKE_BIN, "db", "upgrade"], env=env, check=True, capture_output=True)
    if schema:
        checkpoint()
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([INTAKE_BIN, "poll", "--once"], env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    server.drop_box(box)
    if schema:
        drop_schema(schema)
    return {"db": db, "mails": count, "captured": summary["captured"], "failed": summary["failed"],
            "outcomes": summary["outcomes"], "command_seconds": round(wall, 2),
            "mails_per_second_command": round(count / wall, 1),
            "poll_seconds": summary["seconds"], "mails_per_second_poll": round(count / summary["seconds"], 1),
            "floor_seconds": round(floor_seconds, 2), "floor_mails_per_second": round(count / floor_seconds, 1),
            "floor_program_seconds": round(floor_program_seconds, 2),
            # intake's command (start-up included) against the floor's loop (imports excluded)
            "ratio_to_floor": round(floor_seconds / wall, 3),
            # the poll (imports excluded) against the floor's loop (imports excluded)
            "ratio_to_floor_poll": round(floor_seconds / summary["seconds"], 3),
            # both as commands, from the interpreter's start to exit
            "ratio_commands": round(floor_program_seconds / wall, 3),
            # CPU of intake itself (all its processes), per mail: what the 2 cores must pay
            "intake_cpu_ms_per_mail": round(cpu / count * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    compile_bytecode()
    server = Dovecot().start()
    try:
        for db in args.db.split(","):
            print(json.dumps(run_once(server, args.count, db, args.seed)), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
