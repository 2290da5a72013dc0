"""Time the ticket list behind the API and the console on a large desk: no filter, a
department, a text search (a LIKE over subjects, contacts and non-private message text),
a deep page, and one ticket's detail.

    .venv/bin/python benchmarks/api_tickets.py [--tickets 20000] [--db sqlite|postgresql URL]

Rows are inserted directly (one message each, every tenth ticket private), then each query
runs 20 times through intake.tickets.queries; the median and the slowest are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select  # noqa: E402

from intake.access.tokens import Caller  # noqa: E402
from intake.tickets import queries  # noqa: E402
from intake.tickets.models import Contact, Message, Ticket, utcnow  # noqa: E402
from intake.tickets.views import TicketFilter  # noqa: E402
from tests.flows import make_runtime  # noqa: E402

DEPARTMENTS = ("technical_support", "account_management", "content_review", "finance_support", "product", "general")


def fill(rt: object, count: int) -> None:
    now = utcnow()
    with rt.sessions() as session:  # type: ignore[attr-defined]
        session.execute(insert(Contact), [{"address": f"user{n}@example.com", "kind": "email"} for n in range(count)])
        contacts = session.scalars(select(Contact.id).order_by(Contact.id)).all()
        session.execute(insert(Ticket), [
            {"ref": f"TK-{n:06d}", "channel": "email", "department": DEPARTMENTS[n % 6], "private": n % 10 == 0,
             "contact_id": contacts[n], "subject": f"Upload problem number {n}", "created_at": now,
             "updated_at": now, "last_message_at": now} for n in range(count)])
        tickets = session.scalars(select(Ticket.id).order_by(Ticket.id)).all()
        session.execute(insert(Message), [
            {"ticket_id": t, "direction": "in", "channel": "email", "private": n % 10 == 0,
             "text": None if n % 10 == 0 else f"The upload fails with error {n} on my phone " * 5,
             "created_at": now} for n, t in enumerate(tickets)])
        session.commit()


def timed(label: str, call: object, runs: int = 20) -> None:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    print(f"{label:<34} median {statistics.median(times) * 1000:8.1f} ms   max {max(times) * 1000:8.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=20000)
    parser.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL URL (an empty schema)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    url = f"sqlite:///{folder}/bench.db" if args.db == "sqlite" else args.db
    rt = make_runtime(url, folder / "data")
    start = time.perf_counter()
    fill(rt, args.tickets)
    print(f"{args.tickets} tickets on {rt.engine.dialect.name} in {time.perf_counter() - start:.1f} s")
    reader = Caller(0, "bench", frozenset({"read"}))
    timed("list, page 1 of 50", lambda: queries.find_tickets(rt, reader, "api", TicketFilter()))
    timed("department filter", lambda: queries.find_tickets(rt, reader, "api", TicketFilter(department="product")))
    timed("text search (miss)", lambda: queries.find_tickets(rt, reader, "api", TicketFilter(text="nothing-like-it")))
    timed("text search (hit in messages)", lambda: queries.find_tickets(rt, reader, "api", TicketFilter(text="error 1999 ")))
    timed("deep page (last)", lambda: queries.find_tickets(rt, reader, "api", TicketFilter(), page=args.tickets // 50))
    timed("ticket detail", lambda: queries.show_ticket(rt, reader, "api", "TK-000123"))
    timed("desk", lambda: queries.desk(rt))
    rt.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
