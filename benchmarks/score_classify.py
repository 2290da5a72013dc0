"""Score triage on labelled folders: accuracy, macro-F1, private recall/precision, priority, PII left,
and the time triage takes per message.

    .venv/bin/python benchmarks/score_classify.py [DIR ...] [--part heldout|tune|all] [--misses]

Default: ../shared/samples and ../shared/triage-train, held-out part only (the ~27% of each
category, fixed by a hash of the file name, that neither rules nor the shipped model were
tuned on; see intake/triage/dataset.py). Show misses only for the tuning part: looking at
held-out errors to tune rules spoils the figure. Exit status 1 when private recall < 1 or
any labelled PII string survives redaction.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("INTAKE_SHARED_DIR", REPO.parent / "shared"))
DEFAULT_DIRS = [SHARED / "samples", SHARED / "triage-train"]


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(REPO))
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
    args = parser.parse_args(argv)

    rules = load_rules(os.environ.get("INTAKE_TRIAGE_CONFIG") or None, model=args.model == "shipped")
    if args.model == "tune":
        from intake.triage.training import train, training_samples

        rules = dataclasses.replace(rules, model=train(training_samples(read_folders(args.folders, "tune"))))
    examples = list(read_folders(args.folders, args.part))
    rows = []
    elapsed = 0.0
    repeats = 5
    for example in examples:
        start = time.perf_counter()
        for _ in range(repeats):
            triage = triage_message(example.message, rules)
        elapsed += (time.perf_counter() - start) / repeats
        rows.append(Scored(example.key, example.label, triage.category, triage.private, triage.priority, triage.redacted_text))
    scores = report(rows)
    scores["microseconds_per_message"] = round(elapsed / max(1, len(rows)) * 1e6)
    if args.json:
        print(json.dumps(scores, indent=1))
    else:
        overall = scores["overall"]
        print(f"scored {len(rows)} messages ({args.part} part of {', '.join(str(f) for f in args.folders)})")
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
