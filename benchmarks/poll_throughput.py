"""How many mails per second `intake poll --once` turns into tickets.

Fills a private Dovecot INBOX (loopback, started here) with N generated zh/en support mails
(utf-8, gbk, gb2312, big5 incl. raw 8-bit, html, attachments, replies) and runs
`intake poll --once` against it on SQLite and on PostgreSQL (a fresh schema in database
`test` on 127.0.0.1:5432), follow-ups written by the file backend.

    .venv/bin/python benchmarks/poll_throughput.py [--count 1000] [--db sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.flows import INTAKE_BIN, subprocess_env  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402


def pg_schema() -> tuple[str, str]:
    import psycopg

    schema = "bench_" + secrets.token_hex(4)
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema, f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_once(server: Dovecot, count: int, db: str, seed: int) -> dict[str, object]:
    box = server.new_box()
    box.load(count, seed=seed)
    work = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    schema = None
    if db == "sqlite":
        url = f"sqlite:///{work}/intake.db"
    else:
        schema, url = pg_schema()
    env = subprocess_env(url, work / "var", INTAKE_IMAP_START="all", **box.imap_settings("none"))
    # Create the schema first so the timing below is the poll, not the migration.
    subprocess.run([INTAKE_BIN, "db", "upgrade"], env=env, check=True, capture_output=True)
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
            # CPU of intake itself (all its processes), per mail: what the 2 cores must pay
            "intake_cpu_ms_per_mail": round(cpu / count * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    server = Dovecot().start()
    try:
        for db in args.db.split(","):
            print(json.dumps(run_once(server, args.count, db, args.seed)), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
