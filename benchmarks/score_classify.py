"""Score triage on a labelled folder (like ../shared/samples): accuracy, F1, private, PII.

    .venv/bin/python benchmarks/score_classify.py [DIR] [--direct]

DIR holds messages (*.eml, sms_*.txt, voice_*.txt) and labels.json mapping each file name
to {category, private, priority, pii, language, channel}. Uses `intake classify` when the
CLI works, else (or with --direct) the Python API. Exit status 1 when private recall < 1
or any labelled PII string survives redaction.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIR = Path(os.environ.get("INTAKE_SHARED_DIR", REPO.parent / "shared")) / "samples"
CATEGORIES = ("technical", "account", "content_review", "payment", "feedback", "other")


def via_cli(folder: Path, labels: dict[str, dict]) -> dict[str, dict] | None:
    """Results from `intake classify`, one run per channel; None when the CLI fails."""
    exe = shutil.which("intake", path=str(Path(sys.executable).parent)) or shutil.which("intake")
    if exe is None:
        return None
    by_channel: dict[str, list[str]] = defaultdict(list)
    for name, label in labels.items():
        by_channel[label["channel"]].append(str(folder / name))
    results: dict[str, dict] = {}
    for channel, files in by_channel.items():
        try:
            done = subprocess.run(
                [exe, "classify", "--channel", channel, *files], capture_output=True, text=True, timeout=120, check=True
            )
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"intake classify failed ({exc}); using the Python API", file=sys.stderr)
            return None
        for line in done.stdout.splitlines():
            if line.strip():
                row = json.loads(line)
                results[Path(row["source"]).name] = row
    if set(results) != set(labels):
        print("intake classify did not answer for every file; using the Python API", file=sys.stderr)
        return None
    return results


def via_api(folder: Path, labels: dict[str, dict]) -> dict[str, dict]:
    sys.path.insert(0, str(REPO))
    from intake.messages import InboundMessage
    from intake.normalize.email import parse_email
    from intake.triage import load_rules, triage_message

    rules = load_rules(os.environ.get("INTAKE_TRIAGE_CONFIG") or None)
    results = {}
    for name, label in labels.items():
        path = folder / name
        if path.suffix == ".eml":
            msg = parse_email(path.read_bytes())
        else:
            body = path.read_text(encoding="utf-8").strip()
            msg = InboundMessage(channel=label["channel"], sender="+10000000000", text=body, new_text=body)
        triage = triage_message(msg, rules)
        results[name] = {
            "source": str(path),
            "category": triage.category,
            "department": triage.department,
            "private": triage.private,
            "private_reasons": list(triage.private_reasons),
            "priority": triage.priority,
            "language": triage.language,
            "redacted_text": triage.redacted_text,
        }
    return results


def macro_f1(pairs: list[tuple[str, str]]) -> float:
    scores = []
    for category in CATEGORIES:
        tp = sum(1 for got, want in pairs if got == want == category)
        fp = sum(1 for got, want in pairs if got == category != want)
        fn = sum(1 for got, want in pairs if want == category != got)
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--direct", action="store_true", help="use the Python API, not the CLI")
    args = parser.parse_args(argv)
    labels = json.loads((args.folder / "labels.json").read_text(encoding="utf-8"))

    start = time.perf_counter()
    results = None if args.direct else via_cli(args.folder, labels)
    how = "cli"
    if results is None:
        results, how = via_api(args.folder, labels), "api"
    elapsed = time.perf_counter() - start

    misses: list[str] = []
    pairs = []
    private_tp = private_fp = private_fn = priority_right = language_right = leaks = 0
    for name in sorted(labels):
        want, got = labels[name], results[name]
        pairs.append((got["category"], want["category"]))
        notes = []
        if got["category"] != want["category"]:
            notes.append(f"category {got['category']} (want {want['category']})")
        if got["priority"] == want["priority"]:
            priority_right += 1
        else:
            notes.append(f"priority {got['priority']} (want {want['priority']})")
        if got.get("language") == want.get("language"):
            language_right += 1
        if want["private"] and got["private"]:
            private_tp += 1
        elif want["private"]:
            private_fn += 1
            notes.append("PRIVATE MISSED")
        elif got["private"]:
            private_fp += 1
            notes.append(f"extra private {got['private_reasons']}")
        survived = [p for p in want.get("pii", []) if p in got["redacted_text"]]
        leaks += len(survived)
        if survived:
            notes.append(f"PII SURVIVED {len(survived)}")  # not the values: keep output clean
        if notes:
            misses.append(f"  {name}: " + "; ".join(notes))

    total = len(labels)
    recall = private_tp / (private_tp + private_fn) if private_tp + private_fn else 1.0
    precision = private_tp / (private_tp + private_fp) if private_tp + private_fp else 1.0
    print(f"scored {total} messages from {args.folder} via {how} in {elapsed:.2f}s")
    print(f"category accuracy  {sum(g == w for g, w in pairs) / total:.3f}")
    print(f"category macro-F1  {macro_f1(pairs):.3f}")
    print(f"private recall     {recall:.3f}")
    print(f"private precision  {precision:.3f}")
    print(f"priority accuracy  {priority_right / total:.3f}")
    print(f"language accuracy  {language_right / total:.3f}")
    print(f"PII surviving      {leaks}")
    if misses:
        print("misses:")
        print("\n".join(misses))
    return 0 if recall == 1.0 and leaks == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
