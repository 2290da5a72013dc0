"""What the daemons and a command cost before and after their work, through real processes.

    worker  `intake worker` from exec until its "ready." line: wall seconds, and the CPU of
            the worker and its pool processes (what the cores pay at every start)
    beat    `intake beat` from exec until "beat: Starting...": wall seconds and CPU
    exit    `intake tickets list --json` over an empty database: wall seconds of the whole
            command, and of its exit (from its last line of output to the process's end)

Each is run --rounds times; the median and every value are printed (JSON with --json).
The worker and beat use a spare Redis database of 127.0.0.1:6379 as broker and a fresh
PostgreSQL schema (as `daemon_throughput.py --setups redis-pg`); the exit figure uses SQLite.

    .venv/bin/python benchmarks/start_cost.py
    .venv/bin/python benchmarks/start_cost.py --rounds 5 --only worker,beat
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from daemon_throughput import _children, spare_redis  # noqa: E402
from floor import compile_bytecode  # noqa: E402
from poll_throughput import drop_schema, pg_schema  # noqa: E402

from tests.flows import INTAKE_BIN, subprocess_env  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """CPU seconds of `pid` and its live children (a worker's pool processes)."""
    total = 0.0
    for each in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def until_line(argv: list[str], env: dict[str, str], marker: str, work: Path) -> dict[str, float]:
    log = work / "daemon.log"
    with log.open("w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            while marker not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.perf_counter() - started > 120:
                    raise SystemExit(f"{argv[1]}: no {marker!r}: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.01)
            wall = time.perf_counter() - started
            cpu = _cpu(proc.pid)
        finally:
            proc.terminate()
            proc.wait(60)
    return {"wall_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3)}


def daemon(name: str, rounds: int) -> list[dict[str, float]]:
    results = []
    for _ in range(rounds):
        schema, url = pg_schema()
        work = Path(tempfile.mkdtemp(prefix="intake-start-"))
        # A Redis db claimed as the tests claim theirs: never one a test run is using.
        with spare_redis() as broker:
            env = subprocess_env(url, work / "var", INTAKE_LOG_LEVEL="INFO", INTAKE_BROKER_URL=broker,
                                 INTAKE_IMAP_HOST="127.0.0.1", INTAKE_IMAP_PORT="9", INTAKE_IMAP_USER="u",
                                 INTAKE_IMAP_PASSWORD="p")
            try:
                subprocess.run([INTAKE_BIN, "db", "upgrade"], env=env, check=True, capture_output=True)
                marker = " ready." if name == "worker" else "beat: Starting"
                results.append(until_line([INTAKE_BIN, name], env, marker, work))
            finally:
                drop_schema(schema)
    return results


def command_exit(rounds: int) -> list[dict[str, float]]:
    results = []
    for _ in range(rounds):
        work = Path(tempfile.mkdtemp(prefix="intake-exit-"))
        env = subprocess_env(f"sqlite:///{work}/intake.db", work / "var")
        subprocess.run([INTAKE_BIN, "db", "upgrade"], env=env, check=True, capture_output=True)
        # A line printed last by the command itself marks the end of its work.
        code = ("import sys, time\nfrom intake.cli import command\nsys.argv = ['intake', 'tickets', 'list', '--json']\n"
                "def done():\n    print(f'DONE {time.time():.6f}', file=sys.stderr, flush=True)\n"
                "import intake.cli\n_main = intake.cli.main\n"
                "def main(argv=None):\n    try:\n        return _main(argv)\n    finally:\n        done()\n"
                "intake.cli.main = main\nsys.exit(command())\n")
        started = time.perf_counter()
        begun = time.time()
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        ended = time.time()
        wall = time.perf_counter() - started
        last = float(done.stderr.split("DONE ")[-1].split()[0])
        results.append({"wall_seconds": round(wall, 3), "exit_seconds": round(ended - last, 3),
                        "work_seconds": round(last - begun, 3)})
    return results


def summary(values: list[dict[str, float]]) -> dict[str, object]:
    return {key: {"median": round(statistics.median(v[key] for v in values), 3), "each": [v[key] for v in values]}
            for key in values[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="worker,beat,exit")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    compile_bytecode()
    out: dict[str, object] = {"cores": os.cpu_count()}
    for name in args.only.split(","):
        out[name] = summary(command_exit(args.rounds) if name == "exit" else daemon(name, args.rounds))
    if args.json:
        print(json.dumps(out))
        return
    print(f"cores: {out['cores']}")
    for name in args.only.split(","):
        for key, value in out[name].items():  # type: ignore[attr-defined]
            print(f"{name:7} {key:13} median {value['median']:7.3f}   each {value['each']}")


if __name__ == "__main__":
    main()
