"""Time of `erase_contact` as the captures it must open grow.

An erasure finds the person's captures that no ticket of theirs leads to (waiting,
failed, opt-outs, delivery statuses) by opening each capture that has no ticket: the
sender is only in the encrypted raw bytes. This fills a database with N such captures
(Twilio delivery-status callbacks of other numbers, one of them the person's) and a few
tickets of the person, then times the erasure, including the rewrite of a SQLite file.

    .venv/bin/python benchmarks/erasure_scan.py                       # N = 1000, 10000 on SQLite
    .venv/bin/python benchmarks/erasure_scan.py --counts 50000 --database-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PERSON = "+8613800138000"


def fill(rt, n: int) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from intake.capture.inbox import CaptureItem, capture_many
    from intake.capture.twilio import make_item
    from intake.tickets.models import Inbox
    from tests.flows import ingest_raw, mail

    for i in range(3):
        ingest_raw(rt, mail(sender=f"person{i}@example.com", message_id=f"<p{i}@example.com>"))
    items: list[CaptureItem] = []
    for i in range(n):
        to = PERSON if i == n // 2 else f"+1555{i:07d}"
        params = {"MessageSid": "SM" + hashlib.md5(str(i).encode()).hexdigest(), "MessageStatus": "delivered",
                  "To": to, "From": "+15555550100", "AccountSid": "AC" + "0" * 32}
        items.append(make_item("status", params, "https://x/status"))
    with rt.sessions() as session:
        for start in range(0, n, 1000):
            capture_many(session, rt.vault, items[start:start + 1000])
        session.execute(update(Inbox).values(status="done"))
        session.commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1000,10000", help="captures without a ticket, comma-separated")
    parser.add_argument("--database-url", default="", help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()
    from intake.crypto import generate_key
    from intake.tickets.erasure import erase_contact
    from tests.flows import make_runtime

    results = []
    for n in (int(c) for c in args.counts.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            url = args.database_url or f"sqlite:///{folder}/intake.db"
            if args.database_url:
                schema = "bench_" + secrets.token_hex(4)
                url = f"{args.database_url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
                import psycopg

                with psycopg.connect(args.database_url.replace("+psycopg", ""), autocommit=True) as conn:
                    conn.execute(f'CREATE SCHEMA "{schema}"')
            rt = make_runtime(url, Path(folder), encryption_key=generate_key())
            fill(rt, n)
            started = time.perf_counter()
            report = erase_contact(rt, PERSON)
            seconds = time.perf_counter() - started
            assert report.counts["inbox"] == 1, report
            results.append({"captures": n, "seconds": round(seconds, 3), "database": rt.engine.dialect.name})
            rt.dispose()
            if args.database_url:
                with psycopg.connect(args.database_url.replace("+psycopg", ""), autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    for row in results:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
