"""Score triage on labelled folders: accuracy, macro-F1, private recall/precision, priority, PII left,
and the time triage takes per message.

    .venv/bin/python benchmarks/score_classify.py [DIR ...] [--part heldout|tune|all] [--misses]
        [--cv K] [--train-extra DIR ...] [--no-extra]

Default: ../shared/samples and ../shared/triage-train, held-out part only (the ~27% of each
category, fixed by a hash of the file name, that neither rules nor the shipped model were
tuned on; see intake/triage/dataset.py). Show misses only for the tuning part: looking at
held-out errors to tune rules spoils the figure. Exit status 1 when private recall < 1 or
any labelled PII string survives redaction.

`--model tune` fits the model on the tuning part of the scored folders plus the training-only
folders (`--train-extra`, default tests/data/triage-extra and the blind probe sets the shipped
model learns from: what it learns from besides ../shared, all written
independently of the held-out part; a scored folder is never also a training-only one). Those
folders never enter the split, so the held-out part stays the same 71 messages.
`--cv K` scores the chosen part by K-fold cross-validation instead: each fold is scored by a
model fitted on the other folds (plus the training-only folders), never on itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("INTAKE_SHARED_DIR", REPO.parent / "shared"))
DEFAULT_DIRS = [SHARED / "samples", SHARED / "triage-train"]
DATA_DIR = REPO / "tests" / "data"
sys.path.insert(0, str(REPO))
from intake.triage.dataset import SHIPPED_EXTRA  # noqa: E402
# What the shipped model learns from besides ../shared (intake/triage/dataset.py)
EXTRA_DIRS = [DATA_DIR / name for name in SHIPPED_EXTRA]


def _fold(key: str, folds: int) -> int:
    return int(hashlib.sha256(f"cv:{key}".encode()).hexdigest(), 16) % folds


def main(argv: list[str] | None = None) -> int:
    from intake.triage import load_rules, triage_message
    from intake.triage.dataset import read_folders
    from intake.triage.evaluate import Scored, misses, report

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, default=DEFAULT_DIRS)
    parser.add_argument("--part", choices=["heldout", "tune", "all"], default="heldout")
    parser.add_argument("--misses", action="store_true", help="list wrong messages (not for held-out tuning)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--model", choices=["tune", "shipped", "none"], default="tune",
                        help="tune: fit a model on the tuning part first (honest held-out figure); "
                             "shipped: the packaged model (trained on all labelled data); none: rules alone")
    parser.add_argument("--train-extra", nargs="*", type=Path, default=None,
                        help="folders used only for training (default: what the shipped model learns from)")
    parser.add_argument("--no-extra", action="store_true", help="train on the scored folders' tuning part only")
    parser.add_argument("--cv", type=int, default=0, metavar="K", help="K-fold cross-validation over the part")
    args = parser.parse_args(argv)

    rules = load_rules(os.environ.get("INTAKE_TRIAGE_CONFIG") or None, model=args.model == "shipped")
    scored = {folder.resolve() for folder in args.folders}
    extra_dirs = [] if args.no_extra else args.train_extra if args.train_extra is not None else [
        folder for folder in EXTRA_DIRS if (folder / "labels.json").is_file()]
    extra_dirs = [folder for folder in extra_dirs if folder.resolve() not in scored]
    examples = list(read_folders(args.folders, args.part))
    folds: list[tuple[Any, list[Any]]] = [(rules, examples)]
    if args.model == "tune":
        from intake.triage.training import train, training_samples

        extra = list(read_folders(extra_dirs)) if extra_dirs else []
        if args.cv > 1:
            folds = []
            for k in range(args.cv):
                fitted = [e for e in examples if _fold(e.key, args.cv) != k] + extra
                model = train(training_samples(fitted))
                folds.append((dataclasses.replace(rules, model=model),
                              [e for e in examples if _fold(e.key, args.cv) == k]))
        else:
            tune = list(read_folders(args.folders, "tune"))
            folds = [(dataclasses.replace(rules, model=train(training_samples(tune + extra))), examples)]
    rows = []
    elapsed = 0.0
    repeats = 1 if args.cv > 1 else 5
    for fold_rules, fold_examples in folds:
        for example in fold_examples:
            start = time.perf_counter()
            for _ in range(repeats):
                triage = triage_message(example.message, fold_rules)
            elapsed += (time.perf_counter() - start) / repeats
            rows.append(Scored(example.key, example.label, triage.category, triage.private, triage.priority,
                               triage.redacted_text))
    scores = report(rows)
    scores["microseconds_per_message"] = round(elapsed / max(1, len(rows)) * 1e6)
    scores["trained_also_on"] = [str(folder) for folder in extra_dirs] if args.model == "tune" else []
    if args.json:
        print(json.dumps(scores, indent=1))
    else:
        overall = scores["overall"]
        how = f", {args.cv}-fold cross-validation" if args.cv > 1 and args.model == "tune" else ""
        print(f"scored {len(rows)} messages ({args.part} part of {', '.join(str(f) for f in args.folders)}{how})")
        if scores["trained_also_on"]:
            print(f"  model also trained on {', '.join(scores['trained_also_on'])}")
        for key, value in overall.items():
            print(f"  {key:22} {value}")
        print(f"  {'us_per_message':22} {scores['microseconds_per_message']}")
        for axis in ("by_channel", "by_language"):
            for key, fig in scores[axis].items():
                print(f"  {axis[3:]}={key:8} n={fig['messages']:3} cat={fig.get('category_accuracy')} "
                      f"priv_r={fig.get('private_recall')} priv_p={fig.get('private_precision')} "
                      f"prio1={fig.get('priority_within_one')} pii_left={fig.get('pii_left')}")
    if args.misses:
        print("\n".join(misses(rows)))
    overall = scores["overall"]
    return 0 if overall.get("private_recall", 1.0) == 1.0 and overall.get("pii_left", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
