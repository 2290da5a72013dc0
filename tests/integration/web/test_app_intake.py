"""The app endpoint: HMAC over timestamp and body, a replay window, one message per
submission id, and hostile bodies refused with nothing stored."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from intake.settings import SettingsError, load_settings
from intake.tickets.models import AttachmentRow, Inbox, Message, Ticket
from intake.web.app_intake import signature
from tests.integration.web.help_centre import *  # noqa: F403 - fixtures
from tests.integration.web.help_centre import APP_KEY, HelpApp, make_help_app
from tests.support.browser_form import png, png_bomb

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[HelpApp]:
    yield from make_help_app(f"sqlite:///{tmp_path / 'intake.db'}", tmp_path, web_max_screenshot_bytes=200_000)


def body(**overrides: Any) -> dict[str, Any]:
    return {"submission_id": "sub-0001-abcdef", "type": "payment", "text": "充值了100元但是余额没有变化。",
            "contact": "+8613800001234", "app_user_id": "u-42", "device": "iPhone 15 / iOS 18.1",
            "app_version": "31.2.0", "language": "zh", **overrides}


def post(app: HelpApp, payload: Any, *, key: tuple[str, str] = APP_KEY, at: float | None = None,
         raw: bytes | None = None, sign: str | None = None, content_type: str = "application/json") -> requests.Response:
    data = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
    stamp = str(int(at if at is not None else time.time()))
    headers = {"Content-Type": content_type, "X-Intake-Key": key[0], "X-Intake-Timestamp": stamp,
               "X-Intake-Signature": sign if sign is not None else signature(key[1], stamp, data)}
    return requests.post(f"{app.base}/api/v1/intake", data=data, headers=headers, timeout=30)


def test_good_signature_accepted_and_same_submission_id_is_one_message(help_app: HelpApp) -> None:
    shot = base64.b64encode(png()).decode()
    first = post(help_app, body(screenshots=[{"data": shot}]))
    assert first.status_code == 202, first.text
    answer = first.json()
    assert answer["submission_id"] == "sub-0001-abcdef" and answer["duplicate"] is False
    assert answer["reference"].startswith("TK-")
    again = post(help_app, body(screenshots=[{"data": shot}]))  # a client retry, signed anew
    assert again.status_code == 202 and again.json() == {**answer, "duplicate": True}
    assert help_app.count(Inbox) == 1 and help_app.count(Message) == 1
    with help_app.rt.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.ref == answer["reference"] and ticket.category == "payment" and ticket.private
        message = session.scalars(select(Message)).one()
        assert message.extra["device"] == "iPhone 15 / iOS 18.1" and message.extra["source"] == "app"
        shot_row = session.scalars(select(AttachmentRow)).one()
        assert shot_row.encrypted and shot_row.content != png()  # a private case: sealed at rest
        assert help_app.rt.vault.decrypt(shot_row.content) == png()


def test_bad_signatures_and_keys_are_401(sqlite_app: HelpApp) -> None:
    payload = body()
    cases = [
        post(sqlite_app, payload, sign="0" * 64),
        post(sqlite_app, payload, sign=""),
        post(sqlite_app, payload, key=("mobile", "another-secret-of-length")),
        post(sqlite_app, payload, key=("unknown", APP_KEY[1])),
    ]
    stamp = str(int(time.time()))
    data = json.dumps(payload).encode()
    tampered = requests.post(f"{sqlite_app.base}/api/v1/intake", data=data.replace(b"u-42", b"u-43"), timeout=10,
                             headers={"Content-Type": "application/json", "X-Intake-Key": APP_KEY[0],
                                      "X-Intake-Timestamp": stamp,
                                      "X-Intake-Signature": signature(APP_KEY[1], stamp, data)})
    shifted = requests.post(f"{sqlite_app.base}/api/v1/intake", data=data, timeout=10,
                            headers={"Content-Type": "application/json", "X-Intake-Key": APP_KEY[0],
                                     "X-Intake-Timestamp": str(int(stamp) + 1),
                                     "X-Intake-Signature": signature(APP_KEY[1], stamp, data)})
    for answer in (*cases, tampered, shifted):
        assert answer.status_code == 401, answer.text
    assert sqlite_app.count(Inbox) == 0


def test_replay_outside_the_window_is_401(sqlite_app: HelpApp) -> None:
    window = sqlite_app.rt.settings.app_replay_window_seconds
    assert post(sqlite_app, body(), at=time.time() - window - 5).status_code == 401
    assert post(sqlite_app, body(), at=time.time() + window + 5).status_code == 401
    assert sqlite_app.count(Inbox) == 0
    assert post(sqlite_app, body(), at=time.time() - window + 30).status_code == 202


def test_forged_replay_of_a_submission_id_with_other_content_is_409(sqlite_app: HelpApp) -> None:
    assert post(sqlite_app, body()).status_code == 202
    forged = post(sqlite_app, body(text="Please change the e-mail of this account to mine."))
    assert forged.status_code == 409
    assert sqlite_app.count(Message) == 1


@pytest.mark.parametrize(("payload", "raw", "status"), [
    (None, b"{not json", 400),
    (None, b"[" * 100_000 + b"]" * 100_000, 400),  # deep nesting
    (None, "\udcff".encode("utf-8", "surrogatepass"), 400),
    ([1, 2], None, 400),
    ({**body(), "submission_id": "x"}, None, 400),
    ({**body(), "submission_id": "../../etc/passwd-x"}, None, 400),
    ({**body(), "contact": ["a@example.com", "b@example.com"]}, None, 400),
    ({**body(), "contact": "a@example.com\r\nBcc: x@example.org"}, None, 400),
    ({**body(), "text": "x" * 20_001}, None, 400),
    ({**body(), "device": "x" * 500}, None, 400),
    ({**body(), "screenshots": [{"data": "not base64!"}]}, None, 400),
    ({**body(), "screenshots": [{"data": base64.b64encode(b"<html>").decode()}]}, None, 400),
    ({**body(), "screenshots": [{"data": base64.b64encode(png_bomb()).decode()}]}, None, 400),
    ({**body(), "screenshots": [{"data": base64.b64encode(png()).decode()}] * 6}, None, 400),
    ({**body(), "screenshots": "everything"}, None, 400),
    ({**body(), "type": "refund-now"}, None, 400),
])
def test_hostile_bodies(sqlite_app: HelpApp, payload: Any, raw: bytes | None, status: int) -> None:
    answer = post(sqlite_app, payload, raw=raw)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json()
    assert sqlite_app.count(Inbox) == 0


def test_size_and_content_type(sqlite_app: HelpApp) -> None:
    huge = b'{"text": "' + b"x" * (sqlite_app.rt.settings.web_max_body_bytes + 10) + b'"}'
    assert post(sqlite_app, None, raw=huge).status_code == 413
    assert post(sqlite_app, body(), content_type="text/plain").status_code == 415
    assert sqlite_app.count(Inbox) == 0


def test_malformed_app_keys_setting_is_named() -> None:
    with pytest.raises(SettingsError, match="INTAKE_APP_KEYS"):
        load_settings(app_keys="nocolon").app_key_map()
    with pytest.raises(SettingsError, match="INTAKE_APP_KEYS"):
        load_settings(app_keys="id:short").app_key_map()


OTHER_KEY = ("other-app", "another-secret-for-the-tests")


def upload(app: HelpApp, data: bytes, key: tuple[str, str] = APP_KEY, sign: str | None = None) -> requests.Response:
    stamp = str(int(time.time()))
    headers = {"Content-Type": "image/png", "X-Intake-Key": key[0], "X-Intake-Timestamp": stamp,
               "X-Intake-Signature": sign if sign is not None else signature(key[1], stamp, data)}
    return requests.post(f"{app.base}/api/v1/uploads", data=data, headers=headers, timeout=30)


def test_screenshot_by_upload_reference(tmp_path: Path) -> None:
    keys = f"{APP_KEY[0]}:{APP_KEY[1]},{OTHER_KEY[0]}:{OTHER_KEY[1]}"
    for app in make_help_app(f"sqlite:///{tmp_path / 'intake.db'}", tmp_path, app_keys=keys):
        made = upload(app, png())
        assert made.status_code == 201, made.text
        upload_id = made.json()["upload"]
        assert made.json()["content_type"] == "image/png"
        assert upload(app, b"<html>not an image</html>").status_code == 400
        assert upload(app, png(), sign="0" * 64).status_code == 401
        assert upload(app, b"\x89PNG" + b"\x00" * (app.rt.settings.web_max_screenshot_bytes + 1)).status_code == 413
        # Another app key cannot use it, and an unknown id is refused: nothing stored.
        assert post(app, body(screenshots=[{"upload": upload_id}]), key=OTHER_KEY).status_code == 400
        assert post(app, body(screenshots=[{"upload": "A" * 24}])).status_code == 400
        assert post(app, body(screenshots=[{"upload": {"$ne": None}}])).status_code == 400
        assert app.count(Inbox) == 0
        done = post(app, body(type="technical", text="The app crashes on start.", screenshots=[{"upload": upload_id}]))
        assert done.status_code == 202, done.text
        with app.rt.sessions() as session:
            shot = session.scalars(select(AttachmentRow)).one()
            assert (shot.filename, shot.content_type, shot.content) == ("screenshot1.png", "image/png", png())


def test_rate_limit_per_contact(tmp_path: Path) -> None:
    for app in make_help_app(f"sqlite:///{tmp_path / 'intake.db'}", tmp_path, web_rate_per_contact_per_hour=1):
        assert post(app, body()).status_code == 202
        over = post(app, body(submission_id="sub-0002-abcdef"))
        assert over.status_code == 429 and over.json() == {"error": "rate limit"}
        assert app.count(Inbox) == 1


def test_private_submission_leaves_no_clear_text_at_rest(sqlite_app: HelpApp) -> None:
    secret = "我的密码是 Hunter2Secret 银行卡 6222021234567890123"
    assert post(sqlite_app, body(type="account", text=f"账号被盗了。{secret}",
                                 screenshots=[{"data": base64.b64encode(png()).decode()}])).status_code == 202
    with sqlite_app.rt.sessions() as session:
        assert session.scalars(select(Ticket.private)).one()
    sqlite_app.rt.dispose()  # checkpoint nothing: read the file and its WAL as they are
    path = Path(sqlite_app.rt.settings.database_url.split("///", 1)[1])
    data = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    for needle in ("Hunter2Secret", "6222021234567890123", "账号被盗"):
        assert needle.encode("utf-8") not in data
    assert png() not in data  # the screenshot of a private case is sealed too


def test_odd_headers_and_lone_surrogates(sqlite_app: HelpApp) -> None:
    data = json.dumps(body()).encode()
    stamp = str(int(time.time()))
    for extra in ({"X-Intake-Signature": "é" * 64, "X-Intake-Timestamp": stamp},
                  {"X-Intake-Signature": signature(APP_KEY[1], stamp, data), "X-Intake-Timestamp": "²" * 3}):
        answer = requests.post(f"{sqlite_app.base}/api/v1/intake", data=data, timeout=10,
                               headers={"Content-Type": "application/json", "X-Intake-Key": APP_KEY[0], **extra})
        assert answer.status_code == 401
    # JSON may spell a lone surrogate; the text keeps a replacement character, a short field is refused.
    raw = json.dumps(body(text="坏了\udcff的字符，应用闪退。")).encode()
    assert b"\\udcff" in raw
    assert post(sqlite_app, None, raw=raw).status_code == 202
    lone = json.dumps(body(submission_id="sub-0003-abcdef", device="x\udcff")).encode()
    assert post(sqlite_app, None, raw=lone).status_code == 400
    assert post(sqlite_app, body(submission_id="sub-0004-abcdef", device="a\u2028b")).status_code == 400
