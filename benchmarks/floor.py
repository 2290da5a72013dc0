"""The floor: the least any mail intake must do per mail, measured on the same mailbox.

    imapclient FETCH (BODY.PEEK[], batches of 100) -> mail-parser parse -> one SQLite INSERT
    per mail (one commit per batch) -> STORE +FLAGS \\Seen (per batch)

Benchmarks report intake's mails per second as a ratio to this. Used by
benchmarks/daemon_throughput.py and benchmarks/poll_throughput.py:

    from benchmarks.floor import floor_rate, floor_program
    rate = floor_rate(host, port, user, password)      # mails/s over the whole INBOX
    seconds = floor_program(host, port, user, password)  # the same as a program of its own

`floor_rate` times the loop in a warm process (its imports done, as the figures of earlier
stops did). `floor_program` times the floor as a command, from the interpreter's start to its
exit (Python, imapclient, mail-parser and sqlite3 imported, then the same loop): the like of
`intake poll --once` timed whole, start-up included. Benchmarks report both ratios.

The run flags the mail \\Seen (intake does not read \\Seen, so a later intake run on the same
mailbox is unaffected) and writes its SQLite file in a temporary directory.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCH = 100


def compile_bytecode(root: Path | None = None) -> None:
    """Compile intake's modules (of this checkout, or of the one at `root`), as `./dev run`
    and a wheel install do. This sandbox sets PYTHONDONTWRITEBYTECODE, so without it every
    intake process of a benchmark compiles the whole package at start-up, which no
    deployment does (mail-parser, in site-packages, is compiled by pip)."""
    root = root or Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", "intake", "workers"], cwd=root, check=True)


def floor_rate(host: str, port: int, user: str, password: str, folder: str = "INBOX") -> dict[str, float]:
    """Run the floor over every mail in `folder`; returns mails, seconds and mails/s."""
    import mailparser
    from imapclient import IMAPClient

    with tempfile.TemporaryDirectory(prefix="intake-floor-") as work:
        db = sqlite3.connect(Path(work) / "floor.db")
        db.execute("CREATE TABLE mail (id INTEGER PRIMARY KEY, uid INTEGER UNIQUE, message_id TEXT, "
                   "sender TEXT, subject TEXT, body TEXT, raw BLOB)")
        started = time.perf_counter()
        client = IMAPClient(host, port=port, ssl=False, timeout=30)
        client.login(user, password)
        client.select_folder(folder)
        uids = sorted(client.search(["ALL"]))
        for start in range(0, len(uids), BATCH):
            batch = uids[start:start + BATCH]
            for uid, data in client.fetch(batch, [b"BODY.PEEK[]"]).items():
                raw = data[b"BODY[]"]
                parsed = mailparser.parse_from_bytes(raw)
                db.execute("INSERT INTO mail (uid, message_id, sender, subject, body, raw) VALUES (?, ?, ?, ?, ?, ?)",
                           (uid, parsed.message_id, str(parsed.from_), parsed.subject, parsed.body, raw))
            db.commit()
            client.add_flags(batch, [b"\\Seen"], silent=True)
        client.logout()
        seconds = time.perf_counter() - started
        db.close()
    return {"mails": len(uids), "seconds": round(seconds, 2),
            "mails_per_second": round(len(uids) / seconds, 1) if seconds else 0.0}


def floor_program(host: str, port: int, user: str, password: str, folder: str = "INBOX") -> float:
    """Seconds the floor takes as a command of its own, interpreter start-up and imports
    included (this file run by the same interpreter)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, host, str(port), user, password, folder],
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the floor program failed: {done.stderr[-2000:]}")
    return seconds


if __name__ == "__main__":
    print(json.dumps(floor_rate(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])))
