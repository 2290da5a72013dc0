"""`intake run` on the embedded defaults (SQLite, filesystem broker, file outbox): one
command serves the webhooks, polls the mailbox, processes, acknowledges, and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from twilio.request_validator import RequestValidator

from tests.e2e.processes import wait_until
from tests.flows import INTAKE_BIN, mail, subprocess_env
from tests.support.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

TOKEN = "e2e-test-token"


def test_intake_run_takes_mail_and_sms_and_acknowledges(mailbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    data = tmp_path / "var"
    env = subprocess_env("", data, TWILIO_AUTH_TOKEN=TOKEN, INTAKE_WEB_PORT=str(port),
                         INTAKE_IMAP_START="all", INTAKE_POLL_INTERVAL="1", INTAKE_SWEEP_INTERVAL="2",
                         INTAKE_PUBLIC_URL=f"http://127.0.0.1:{port}", **mailbox.imap_settings("ssl"))
    del env["INTAKE_DATABASE_URL"]  # the embedded default: a SQLite file under the data dir
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([INTAKE_BIN, "run"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    outbox = data / "outbox"

    def tail() -> str:
        return (tmp_path / "run.log").read_text(errors="replace")[-4000:]

    try:
        def healthy() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()["ok"] is True
            except (requests.RequestException, ValueError):
                return False

        wait_until(healthy, 90, "intake run to answer /healthz", tail)
        mailbox.append(mail(subject="App crashes when I open it", body="The app crashes on start since the update.",
                            message_id="<run-1@example.com>"))
        wait_until(lambda: any(outbox.glob("*.eml")), 90, "the email acknowledgement", tail)
        [ack] = list(outbox.glob("*.eml"))
        raw = ack.read_bytes()
        assert b"In-Reply-To: <run-1@example.com>" in raw and b"Auto-Submitted: auto-replied" in raw
        assert mailbox.count("Processed") == 1

        params = {"MessageSid": "SM" + "a" * 32, "AccountSid": "AC" + "b" * 32, "From": "+8613800001234",
                  "To": "+15555550100", "Body": "我的视频上传一直失败，怎么办", "NumMedia": "0"}
        url = f"http://127.0.0.1:{port}/webhooks/twilio/sms"
        signature = RequestValidator(TOKEN).compute_signature(url, params)
        answer = requests.post(url, data=urlencode(params), timeout=10, headers={
            "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200
        wait_until(lambda: any(outbox.glob("*.json")), 90, "the SMS acknowledgement", tail)
        [sms] = [json.loads(p.read_text()) for p in outbox.glob("*.json")]
        assert sms["to"] == "+8613800001234" and sms["ticket"].startswith("TK-")
        # the console's address and how to get a first token, printed at start; the token works
        assert f"ops console at http://127.0.0.1:{port}/console/" in tail() and "intake tokens create" in tail()
        made = subprocess.run([INTAKE_BIN, "tokens", "create", "first", "--scope", "read"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, check=True)
        token = json.loads(made.stdout)["token"]
        listed = requests.get(f"http://127.0.0.1:{port}/api/v1/tickets", timeout=10,
                              headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200 and listed.json()["total"] == 2
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).url.endswith("/console/signin")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            code = proc.wait(45)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        log.close()
    assert code == 0, tail()
    listing = subprocess.run([INTAKE_BIN, "tickets", "list", "--json"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in listing.stdout.splitlines()]
    assert sorted(r["channel"] for r in rows) == ["email", "sms"]
    assert {r["department"] for r in rows} == {"technical_support"}
    assert leftovers(str(data)) == [], "intake run left processes behind"


def leftovers(data_dir: str) -> list[int]:
    """Processes still running with this test's INTAKE_DATA_DIR in their environment."""
    marker = f"INTAKE_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
