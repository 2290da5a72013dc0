"""CPU cost of the pure prepare step of a mail, next to a bare `mailparser` parse of the same mails.

    .venv/bin/python benchmarks/prepare_cost.py [--count 1000] [--rounds 3] [--profile]

Generates `count` mails (tests/support/gen_mail), then times, on the same bytes, in one run:
mailparser.parse_from_bytes, parse_email alone, and prepare_email (parse + triage, what
`intake poll` and the workers run for every mail). Prints ms/mail, the best of `rounds`; and
the privacy scan alone (`detect_pii`) on each mail's own words, which triage runs once on
them and once more on a reply's quoted history.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def _best_of(rounds: int, items: Sequence[T], step: Callable[[T], object]) -> float:
    """The least CPU seconds `step` took over all of `items`, in `rounds` tries."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for item in items:
            step(item)
        best = min(best, time.process_time() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(REPO))
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of prepare_email")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp())
    os.environ.setdefault("INTAKE_DATABASE_URL", f"sqlite:///{work}/bench.db")
    from tests.support import gen_mail

    gen_mail.write_maildir(work / "md", args.count, 1, os.getuid(), os.getgid())
    raws = sorted(p.read_bytes() for p in (work / "md").glob("*/*"))

    import mailparser

    from intake.cli.common import runtime
    from intake.normalize.email import parse_email
    from intake.process.flow import Caps, prepare_email

    rt = runtime()
    caps, rules = Caps.of(rt.settings), rt.rules
    prepare_email(raws[0], {}, rules, caps)  # loads the model and builds the matcher
    steps: list[tuple[str, Callable[[bytes], object]]] = [
        ("mailparser", mailparser.parse_from_bytes),
        ("parse_email", lambda raw: parse_email(raw, max_attachment_bytes=caps.max_attachment_bytes, limits=caps.mail)),
        ("prepare_email", lambda raw: prepare_email(raw, {}, rules, caps)),
    ]
    print(f"{len(raws)} generated mails, {sum(map(len, raws)) / len(raws) / 1024:.1f} KB average, best of {args.rounds}")
    for name, step in steps:
        print(f"{name:14} {_best_of(args.rounds, raws, step) * 1000 / len(raws):6.2f} ms/mail")
    from intake.triage.classify import own_text
    from intake.triage.privacy import detect_pii

    texts = [own_text(parse_email(raw, max_attachment_bytes=caps.max_attachment_bytes, limits=caps.mail)) for raw in raws]
    print(f"{'detect_pii':14} {_best_of(args.rounds, texts, detect_pii) * 1000 / len(texts):6.3f} ms/text (a mail's own words)")
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.enable()
        for raw in raws:
            prepare_email(raw, {}, rules, caps)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
