"""`intake triage train|evaluate`: fit the learned side of triage on labelled folders and the
agents' corrections, and score triage on labelled folders or on those corrections."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from intake.cli.common import emit


def add_parser(sub: Any) -> None:
    p = sub.add_parser("triage", help="train and evaluate the learned side of triage")
    tsub = p.add_subparsers(dest="triage_command", required=True)
    t = tsub.add_parser("train", help="fit a model on labelled folders and the agents' corrections")
    t.add_argument("folders", nargs="*", type=Path, help="folders holding messages and labels.json")
    t.add_argument("--no-corrections", action="store_true", help="leave the stored corrections out")
    t.add_argument("--part", choices=["all", "tune"], default="all",
                   help="tune: only the tuning part of the folders (keeps the held-out part honest)")
    t.add_argument("--output", type=Path, help="where to write the model (default: under the data directory)")
    t = tsub.add_parser("evaluate", help="category, private, priority and PII figures per channel and language")
    t.add_argument("folders", nargs="*", type=Path)
    t.add_argument("--corrections", action="store_true", help="score against the agents' corrections")
    t.add_argument("--part", choices=["all", "tune", "heldout"], default="all")
    t.add_argument("--misses", action="store_true", help="list the wrong messages (no PII values)")
    p.set_defaults(func=cmd_triage)


def cmd_triage(args: argparse.Namespace) -> int:
    if args.triage_command == "train":
        return _train(args)
    return _evaluate(args)


def _train(args: argparse.Namespace) -> int:
    from intake.settings import get_settings
    from intake.triage.dataset import DatasetError, read_folders
    from intake.triage.model import MODEL_FILE, save_model
    from intake.triage.training import Sample, TrainingError, train, training_samples

    samples: list[Sample] = []
    try:
        samples.extend(training_samples(read_folders(args.folders, args.part)))
    except DatasetError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 2
    corrections = 0
    if not args.no_corrections:
        for row in _corrections():
            samples.append(Sample(f"{row['subject']}\n{row['text']}", row["category"], row["priority"],
                                  weight=5.0, source="correction"))
            corrections += 1
    try:
        model = train(samples)
    except TrainingError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 2
    output = args.output or get_settings().data_dir / MODEL_FILE
    save_model(model, output)
    emit({"model": str(output), "messages": len(samples), "corrections": corrections,
          "vocabulary": len(model.vocabulary)})
    return 0


def _corrections() -> list[dict[str, Any]]:
    from intake.cli.common import runtime
    from intake.tickets.corrections import corrected_messages

    return list(corrected_messages(runtime()))


def _evaluate(args: argparse.Namespace) -> int:
    from intake.messages import InboundMessage
    from intake.settings import get_settings
    from intake.triage import load_rules, triage_message
    from intake.triage.dataset import DatasetError, read_folders
    from intake.triage.evaluate import Scored, misses, report

    settings = get_settings()
    rules = load_rules(settings.triage_config, data_dir=settings.data_dir)
    cases: list[tuple[str, InboundMessage, dict[str, Any]]] = []
    try:
        cases.extend((e.key, e.message, e.label) for e in read_folders(args.folders, args.part))
    except DatasetError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 2
    if args.corrections:
        for row in _corrections():
            msg = InboundMessage(channel=row["channel"], sender="", subject=row["subject"],
                                 text=row["text"], new_text=row["text"])
            cases.append((row["key"], msg, {**row, "pii": []}))
    if not cases:
        print("intake: nothing to evaluate (give labelled folders or --corrections)", file=sys.stderr)
        return 2
    rows = []
    for key, msg, label in cases:
        triage = triage_message(msg, rules, max_scored_chars=settings.triage_max_scored_chars)
        rows.append(Scored(key, label, triage.category, triage.private, triage.priority, triage.redacted_text))
    emit(report(rows))
    if args.misses:
        for line in misses(rows):
            print(line)
    return 0
