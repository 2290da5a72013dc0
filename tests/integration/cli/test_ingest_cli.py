"""`intake ingest`: every real-world email of the shared corpus lands in a ticket."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.flows import INTAKE_BIN, mail, subprocess_env
from tests.support.shared import need_shared

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def run_ingest(env: dict[str, str], *args: str) -> tuple[int, list[dict]]:  # type: ignore[type-arg]
    done = subprocess.run([INTAKE_BIN, "ingest", *args], env=env, capture_output=True, text=True,
                          timeout=280, check=False)
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]


def corpus_files(shared_dir: Path) -> list[Path]:
    root = need_shared("corpus", "email")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".tsv")


def test_every_corpus_email_lands_in_a_ticket(shared_dir: Path, db_url: str, tmp_path: Path) -> None:
    files = corpus_files(shared_dir)
    assert len(files) >= 280
    code, lines = run_ingest(subprocess_env(db_url, tmp_path / "var"), *map(str, files))
    assert [line["source"] for line in lines] == [str(f) for f in files]  # one line per file, in order
    errors = [line for line in lines if "error" in line]
    empty = [f for f in files if not f.read_bytes().strip()]
    # Only a file with no bytes at all may be refused, and it says why.
    assert [Path(e["source"]) for e in errors] == empty
    assert all("empty" in e["error"] for e in errors)
    assert code == (1 if empty else 0)
    tickets = [line for line in lines if "ticket" in line]
    assert all(line["ticket"].startswith("TK-") for line in tickets)
    assert all(line["outcome"] in ("new_ticket", "added_to_ticket") for line in tickets)
    assert all(isinstance(line["parse_error"], bool) for line in tickets)


def test_ingesting_the_same_file_twice_is_a_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "one.eml"
    path.write_bytes(mail())
    env = subprocess_env(f"sqlite:///{tmp_path}/intake.db", tmp_path / "var")
    _, [first] = run_ingest(env, str(path))
    _, [second] = run_ingest(env, str(path))
    assert first["outcome"] == "new_ticket"
    assert second == {"source": str(path), "ticket": first["ticket"], "outcome": "duplicate",
                      "parse_error": False}


def test_an_unreadable_file_is_reported_and_the_rest_go_on(tmp_path: Path) -> None:
    good = tmp_path / "good.eml"
    good.write_bytes(mail())
    missing = tmp_path / "missing.eml"
    env = subprocess_env(f"sqlite:///{tmp_path}/intake.db", tmp_path / "var")
    code, lines = run_ingest(env, str(missing), str(good))
    assert code == 1
    assert lines[0]["source"] == str(missing) and "error" in lines[0]
    assert lines[1]["outcome"] == "new_ticket"


def test_tickets_reply_reads_its_text_from_stdin_or_a_file(tmp_path: Path) -> None:
    """The reply never has to be on the command line (ps, shell history): standard input
    and --file both work, and an empty reply is refused with one line."""
    env = subprocess_env(f"sqlite:///{tmp_path}/r.db", tmp_path / "var")
    eml = tmp_path / "m.eml"
    eml.write_bytes(mail(subject="App crashes on start", body="The app crashes when I open it."))
    code, lines = run_ingest(env, str(eml))
    assert code == 0
    ref = lines[0]["ticket"]

    def reply(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([INTAKE_BIN, "tickets", "reply", ref, *args], env=env, input=stdin,
                              capture_output=True, text=True, timeout=120, check=False)

    by_stdin = reply("--send-now", stdin="Please update to version 2.1.\n")
    assert by_stdin.returncode == 0, by_stdin.stderr
    reply_file = tmp_path / "reply.txt"
    reply_file.write_text("Did the update help?\n", encoding="utf-8")
    by_file = reply("--file", str(reply_file), "--send-now")
    assert by_file.returncode == 0, by_file.stderr
    assert len(json.loads(by_stdin.stdout)["outbox"]) == 1 and len(json.loads(by_file.stdout)["outbox"]) == 1
    empty = reply(stdin="  \n")
    assert empty.returncode == 2 and empty.stderr.count("\n") == 1 and "empty" in empty.stderr
    shown = subprocess.run([INTAKE_BIN, "tickets", "show", ref, "--json"], env=env, capture_output=True,
                           text=True, timeout=120, check=True)
    assert "Please update to version 2.1." in shown.stdout and "Did the update help?" in shown.stdout
