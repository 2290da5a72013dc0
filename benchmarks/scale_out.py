"""Scale-out: one desk's mailbox shared by 1, 2 and 4 `intake worker` processes.

Beat + W workers on Redis (a spare db of 127.0.0.1:6379) and PostgreSQL (a fresh schema in
database `test`); one leased poller takes the mailbox, processing and sending spread over
the workers in chunks. For each W: mails/s (from the daemons' start, and from the first
capture), then a check that every mail is exactly one ticket message (no duplicates).

    .venv/bin/python benchmarks/scale_out.py [--count 1000] [--workers 1,2,4]

The machine's core count is printed beside: on 2 cores, more worker processes share the
same CPUs, so mails/s can only grow while the work waits on I/O.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.daemon_throughput import spare_redis, timed_run  # noqa: E402
from benchmarks.poll_throughput import drop_schema, pg_schema  # noqa: E402
from benchmarks.floor import compile_bytecode  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402


def duplicates(url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from intake.db import make_engine
    from intake.tickets.models import Inbox, Message

    engine = make_engine(url)
    with engine.connect() as conn:
        messages = conn.execute(select(func.count()).select_from(Message).where(Message.direction == "in")).scalar_one()
        distinct = conn.execute(select(func.count(func.distinct(Message.header_message_id)))
                                .where(Message.direction == "in")).scalar_one()
        not_done = conn.execute(select(func.count()).select_from(Inbox).where(Inbox.status != "done")).scalar_one()
    engine.dispose()
    return {"messages": int(messages), "distinct_message_ids": int(distinct), "inbox_not_done": int(not_done)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    compile_bytecode()
    server = Dovecot().start()
    try:
        for workers in (int(w) for w in args.workers.split(",")):
            box = server.new_box()
            box.load(args.count, seed=args.seed)
            schema, url = pg_schema()
            try:
                with spare_redis() as broker:
                    result = timed_run("redis-pg", box, args.count, workers,
                                       Path(tempfile.mkdtemp(prefix="intake-bench-")), broker=broker,
                                       database_url=url)
                result.update(duplicates(url), cores=os.cpu_count(),
                              load_average_1min=round(os.getloadavg()[0], 1))
            finally:
                drop_schema(schema)
                server.drop_box(box)
            print(json.dumps(result), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
