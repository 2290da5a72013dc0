"""The four throughput figures as medians over rounds, and optionally the same against a git ref.

    .venv/bin/python benchmarks/rounds.py [--rounds 5] [--count 1000] [--against REF]
        [--figures poll-sqlite,poll-postgresql,embedded,redis-pg] [--log FILE] [--json]

One run of `poll_throughput.py` or `daemon_throughput.py` gives one ratio to a floor measured
just before it. On a 2-core machine that ratio scatters by about ±0.05, mostly because the
floor itself does: the same loop over the same mailbox ran at 400 to 610 mails/s in one
session. A figure is therefore judged on the median of several rounds, each with its own
mailbox and floor. This script runs the rounds and prints, per figure: the goal, the median
ratio, the lowest and highest, the pooled ratio (the median floor against the median seconds,
steadier than any one run's), the median seconds (the intake command's, or the daemons' from
their start) and the median floor.

With --against REF (a commit, tag or branch), every round runs both: REF, checked out in a
temporary git worktree and put first on PYTHONPATH for every intake process (its bytecode
compiled as the benchmarks compile this checkout's), and this checkout. Which of the two goes
first alternates from round to round, so a machine that slows down or speeds up during the
session moves both alike. The benchmark scripts, the floor and the mailbox generator are this
checkout's for both sides: one yardstick.

Every JSON line the benchmarks print is appended to --log (default: a file in the temporary
directory, named at the end), with "side" ("A" for REF, "B" for this checkout) and "round".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.floor import compile_bytecode  # noqa: E402

# figure -> (script, its option naming the setup, the setup, the goal of the figure)
FIGURES: dict[str, tuple[str, str, str, float]] = {
    "poll-sqlite": ("poll_throughput.py", "--db", "sqlite", 0.5),
    "poll-postgresql": ("poll_throughput.py", "--db", "postgresql", 0.4),
    "embedded": ("daemon_throughput.py", "--setups", "embedded", 0.4),
    "redis-pg": ("daemon_throughput.py", "--setups", "redis-pg", 0.4),
}


def figure_of(line: dict[str, Any]) -> str:
    """Which figure a benchmark's JSON line is: `poll_throughput` names its database,
    `daemon_throughput` its setup."""
    return f"poll-{line['db']}" if "db" in line else str(line["setup"])


def seconds_of(line: dict[str, Any]) -> float:
    return float(line["command_seconds"] if "db" in line else line["seconds_from_start"])


def summarize(lines: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """{figure: {side: {median, low, high, seconds, floor, pooled, runs}}} from benchmark lines.

    `median`, `low` and `high` are of the runs' own ratios. `pooled` is the ratio of the
    medians: the median floor's seconds for the mails over the median seconds of intake,
    steadier than any one run's floor."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for line in lines:
        grouped.setdefault((figure_of(line), str(line.get("side", "B"))), []).append(line)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (figure, side), runs in sorted(grouped.items()):
        ratios = [float(run["ratio_to_floor"]) for run in runs]
        seconds = statistics.median(seconds_of(run) for run in runs)
        floor = statistics.median(float(run["floor_mails_per_second"]) for run in runs)
        mails = statistics.median(int(run["mails"]) for run in runs)
        out.setdefault(figure, {})[side] = {
            "median": round(statistics.median(ratios), 3), "low": min(ratios), "high": max(ratios),
            "seconds": round(seconds, 2), "floor": round(floor, 1),
            "pooled": round(mails / seconds / floor, 3) if seconds and floor else 0.0, "runs": len(runs)}
    return out


def _worktree(ref: str, into: Path) -> Path:
    """REF checked out (detached) under `into`, its bytecode compiled."""
    path = into / "against"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(path), ref],
                   check=True, capture_output=True)
    compile_bytecode(path)
    return path


def _env(pythonpath: Path | None) -> dict[str, str]:
    """This environment; for side A with REF's worktree first on PYTHONPATH (the intake
    processes a benchmark starts inherit it)."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH", "")]))
    return env


def _run(figure: str, count: int, pythonpath: Path | None) -> list[dict[str, Any]]:
    script, option, setup, _goal = FIGURES[figure]
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--count", str(count), option, setup],
                          env=_env(pythonpath), capture_output=True, text=True, timeout=1800)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{script} {option} {setup} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return lines


def _code_of(pythonpath: Path | None) -> str:
    """Where the intake processes of a side import intake from (a check that PYTHONPATH won)."""
    env = _env(pythonpath)
    probe = subprocess.run([sys.executable, "-c", "import intake, os; print(os.path.dirname(intake.__file__))"],
                           env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    return probe.stdout.strip() or probe.stderr.strip()[-300:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--against", metavar="REF", help="also run this git ref, alternating with this checkout")
    parser.add_argument("--figures", default=",".join(FIGURES))
    parser.add_argument("--log", type=Path, help="append every benchmark line here")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    figures = args.figures.split(",")
    unknown = [f for f in figures if f not in FIGURES]
    if unknown:
        parser.error(f"--figures: unknown {', '.join(unknown)} (known: {', '.join(FIGURES)})")
    scratch = Path(tempfile.mkdtemp(prefix="intake-rounds-"))
    log = args.log or scratch / "rounds.jsonl"
    against = _worktree(args.against, scratch) if args.against else None
    sides: list[tuple[str, Path | None]] = [("B", None)] if against is None else [("A", against), ("B", None)]
    for side, path in sides:
        print(f"side {side}: intake from {_code_of(path)}", file=sys.stderr)
    lines: list[dict[str, Any]] = []
    try:
        for round_no in range(1, args.rounds + 1):
            order = sides if round_no % 2 else list(reversed(sides))
            for figure in figures:
                for side, path in order:
                    for line in _run(figure, args.count, path):
                        line.update(side=side, round=round_no)
                        lines.append(line)
                        with log.open("a") as out:
                            out.write(json.dumps(line) + "\n")
            print(f"round {round_no}/{args.rounds} done", file=sys.stderr)
    finally:
        if against is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(against)], capture_output=True)
    summary = summarize(lines)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{'figure':16} {'goal':>5} {'side':>4} {'median':>7} {'low':>6} {'high':>6} {'pooled':>7} "
              f"{'seconds':>8} {'floor/s':>8}")
        for figure in figures:
            for side, row in sorted(summary.get(figure, {}).items()):
                print(f"{figure:16} {FIGURES[figure][3]:5.2f} {side:>4} {row['median']:7.3f} {row['low']:6.3f} "
                      f"{row['high']:6.3f} {row['pooled']:7.3f} {row['seconds']:8.2f} {row['floor']:8.1f}")
    print(f"lines: {log}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
