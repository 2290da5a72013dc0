"""`intake classify` says which side decided; `intake triage evaluate` prints the figures of
issue 12 per channel and language, on folders and on the agents' corrections."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from intake.crypto import generate_key
from tests.flows import INTAKE_BIN, ingest_raw, mail, make_runtime, subprocess_env

pytestmark = pytest.mark.integration

MESSAGES = {
    "sms_001.txt": ("the app crashes every time I open it", "technical", "normal", False, []),
    "sms_002.txt": ("提现一直没到账，卡号 6222 0212 3456 7894", "payment", "high", True, ["6222 0212 3456 7894"]),
    "sms_003.txt": ("please add a dark mode, love the app", "feedback", "low", False, []),
}


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "labelled"
    folder.mkdir()
    labels = {}
    for name, (text, category, priority, private, pii) in MESSAGES.items():
        (folder / name).write_text(text, encoding="utf-8")
        labels[name] = {"channel": "sms", "language": "zh" if "提" in text else "en", "category": category,
                        "priority": priority, "private": private, "pii": pii}
    (folder / "labels.json").write_text(json.dumps(labels, ensure_ascii=False), encoding="utf-8")
    return folder


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INTAKE_BIN, *args], env=env, capture_output=True, text=True, timeout=300)


def test_classify_shows_which_side_decided(tmp_path: Path) -> None:
    message = tmp_path / "m.txt"
    message.write_text("the app crashes every time I open it", encoding="utf-8")
    done = _run(subprocess_env("sqlite:///" + str(tmp_path / "db.sqlite"), tmp_path / "var"),
                "classify", "--channel", "sms", str(message))
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert row["category"] == "technical" and row["decided_by"] in ("rules", "model", "rules+model")


def test_evaluate_a_folder_per_channel_and_language(tmp_path: Path) -> None:
    done = _run(subprocess_env("sqlite:///" + str(tmp_path / "db.sqlite"), tmp_path / "var"),
                "triage", "evaluate", str(_folder(tmp_path)))
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    overall = figures["overall"]
    for key in ("category_accuracy", "category_macro_f1", "private_recall", "private_precision",
                "priority_exact", "priority_within_one", "pii_left"):
        assert key in overall
    assert overall["messages"] == 3 and overall["pii_left"] == 0 and overall["private_recall"] == 1.0
    assert set(figures["by_channel"]) == {"sms"} and set(figures["by_language"]) == {"en", "zh"}
    assert "6222" not in done.stdout


def test_evaluate_refuses_a_broken_folder_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "labels.json").write_text("{not json", encoding="utf-8")
    done = _run(subprocess_env("sqlite:///" + str(tmp_path / "db.sqlite"), tmp_path / "var"),
                "triage", "evaluate", str(folder))
    assert done.returncode == 2 and "labels.json" in done.stderr and "Traceback" not in done.stderr


def test_route_and_evaluate_corrections(db_url: str, tmp_path: Path) -> None:
    key = generate_key()
    rt = make_runtime(db_url, tmp_path / "var", encryption_key=key)
    try:
        ingest_raw(rt, mail(subject="Suggestion", body="I would love a dark mode, it is too bright at night.",
                            message_id="<cli-route@example.com>"))
        with rt.sessions() as session:
            from sqlalchemy import select

            from intake.tickets.models import Ticket

            ref = session.scalars(select(Ticket.ref)).one()
    finally:
        rt.dispose()
    env = subprocess_env(db_url, tmp_path / "var", INTAKE_ENCRYPTION_KEY=key)
    done = _run(env, "tickets", "route", ref, "--category", "technical", "--priority", "high")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["category"] == "technical" and outcome["priority"] == "high" and outcome["before"]["category"] == "feedback"
    bad = _run(env, "tickets", "route", ref, "--category", "billing")
    assert bad.returncode == 2 and "unknown category" in bad.stderr
    done = _run(env, "triage", "evaluate", "--corrections")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["overall"]["messages"] == 1

