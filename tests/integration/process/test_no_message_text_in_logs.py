"""Logs carry ids, never what people wrote (STYLE 14): `intake ingest` of private mail and
SMS at DEBUG, through processing and the file senders, and not one distinctive word of the
messages (subject, body, name) is in any log line. The redacting filter would not catch
these: they are words, not numbers, which is the point: the guarantee is upstream."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.flows import INTAKE_BIN, mail, subprocess_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

# Words that occur nowhere in intake: if one is in a log, message text reached a log call.
CANARIES = ("Quillonmarch", "zanzibarquokka", "ploughwright", "Velvetmarmot", "saffronkettle",
            "紫罗兰鲸鱼", "dovetailsprocket", "Hunter2Canary")


def test_no_message_text_in_any_log_line(tmp_path: Path) -> None:
    files = []
    emails = [
        mail(subject="Refund zanzibarquokka order", sender="Quillonmarch Velvet <qm@example.com>",
             body="Please refund my card 4111 1111 1111 1111, the ploughwright charge is wrong.\n"
                  "My password is Hunter2Canary if you need it.", message_id="<c1@example.com>"),
        mail(subject="Velvetmarmot cannot log in", body="saffronkettle: the app crashes at login.",
             message_id="<c2@example.com>"),
        mail(subject="Re: Velvetmarmot cannot log in", body="Still broken, dovetailsprocket.",
             message_id="<c3@example.com>", extra_headers="In-Reply-To: <c2@example.com>"),
    ]
    for index, raw in enumerate(emails):
        path = tmp_path / f"mail{index}.eml"
        path.write_bytes(raw)
        files.append(str(path))
    sms = tmp_path / "sms.json"
    sms.write_text(json.dumps({"params": {
        "MessageSid": "SM" + "c" * 32, "AccountSid": "AC" + "0" * 32, "From": "+8613800001234",
        "To": "+15555550100", "NumMedia": "0",
        "Body": "我的账户被盗了 紫罗兰鲸鱼 dovetailsprocket, password Hunter2Canary"}}), encoding="utf-8")
    env = subprocess_env(f"sqlite:///{tmp_path}/intake.db", tmp_path / "var", INTAKE_LOG_LEVEL="DEBUG")
    done = subprocess.run([INTAKE_BIN, "ingest", *files], env=env, capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stderr[-3000:]
    sms_done = subprocess.run([INTAKE_BIN, "ingest", "--channel", "sms", str(sms)], env=env,
                              capture_output=True, text=True, timeout=150)
    assert sms_done.returncode == 0, sms_done.stderr[-3000:]
    outcomes = [json.loads(line)["outcome"] for line in (done.stdout + sms_done.stdout).splitlines()]
    assert outcomes == ["new_ticket", "new_ticket", "added_to_ticket", "new_ticket"]
    logs = done.stderr + sms_done.stderr
    assert "DEBUG" in logs or "INFO" in logs  # the pipeline did log, at the level asked
    leaked = [word for word in CANARIES if word.lower() in logs.lower()]
    assert leaked == [], [line for line in logs.splitlines() if any(w.lower() in line.lower() for w in leaked)]
