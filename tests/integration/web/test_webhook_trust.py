"""What a signature does not prove: parameter boundaries (Twilio signs names and values run
together), and the host (a client picks its Host header). Attacker inputs as reported."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from twilio.request_validator import RequestValidator

from tests.integration.web.conftest_phone import *  # noqa: F403 - fixtures
from tests.integration.web.conftest_phone import PUBLIC_URL, PhoneApp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

Corpus = Callable[[str], dict[str, Any]]
SID = "SM" + "5a" * 16
ACCOUNT = "AC" + "0" * 32


def _signature(token: str, url: str, params: dict[str, str]) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


# -- parameter boundaries --------------------------------------------------------------------------

def test_shifted_boundary_replay_is_refused_and_stores_nothing(phone_app: PhoneApp) -> None:
    url = PUBLIC_URL + "/webhooks/twilio/sms"
    original = {"AccountSid": ACCOUNT, "Body": "hello", "From": "+15555550123", "MessageSid": SID,
                "To": "+14155550199"}
    signature = _signature(phone_app.token, url, original)
    assert phone_app.post("sms", original, signature=signature).status_code == 200
    # The attacker's replay: "MessageSid" + "SM…To+14155550199", To removed: same signed string.
    forged = {k: v for k, v in original.items() if k != "To"}
    forged["MessageSid"] = SID + "To+14155550199"
    assert RequestValidator(phone_app.token).validate(url, forged, signature)  # the trick is real
    response = phone_app.post("sms", forged, signature=signature)
    assert response.status_code == 400
    assert [row.capture_key for row in phone_app.inbox()] == [f"twilio:sms:{SID}"]


def test_malformed_parameters_are_400_per_route(phone_app: PhoneApp, corpus: Corpus) -> None:
    status = corpus("message_status_callback.json")["params"]
    cases: list[tuple[str, dict[str, str]]] = [
        ("sms", {**corpus("sms_inbound.json")["params"], "AccountSid": "AC1"}),
        ("sms", {**corpus("sms_inbound.json")["params"], "MessagingServiceSid": "MGx"}),
        ("sms", {**corpus("sms_inbound.json")["params"], "From": " +15555550123"}),
        # "MessageStatus" + "delivered" + "MessagingServiceSid" + "MG…" shifted into one value
        ("status", {k: v for k, v in {**status, "MessageStatus": "deliveredMessagingServiceSid"
                                      + status["MessagingServiceSid"]}.items() if k != "MessagingServiceSid"}),
        ("voice", {**corpus("voice_inbound.json")["params"], "CallSid": "CA1"}),
        ("recording", {**corpus("voice_recording_status_callback.json")["params"], "RecordingSid": "RE1x"}),
        ("recording", {**corpus("voice_recording_status_callback.json")["params"], "CallSid": "nope"}),
        ("transcription", {**corpus("voice_transcription_callback.json")["params"],
                           "TranscriptionSid": "TR" + "0" * 31}),
    ]
    for route, params in cases:
        response = phone_app.post(route, params)
        assert response.status_code == 400, (route, params)
    assert phone_app.inbox() == []
    metrics = requests.get(phone_app.base + "/metrics", timeout=10).text
    assert 'result="bad_params"' in metrics


# -- host trust -------------------------------------------------------------------------------------

def test_without_public_url_twilio_routes_answer_503(phone_app_factory: Callable[..., PhoneApp],
                                                     tmp_path: Path, corpus: Corpus) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/nopublic.db", public_url="")
    params = corpus("sms_inbound.json")["params"]
    # The attacker's request: signed for http://evil.example/..., sent with Host: evil.example.
    evil = "http://evil.example/webhooks/twilio/sms"
    response = app.post("sms", params, sign_url=evil, headers={"Host": "evil.example"})
    assert response.status_code == 503 and "INTAKE_PUBLIC_URL" in response.text
    voice = app.post("voice", corpus("voice_inbound.json")["params"], sign_url="http://evil.example/webhooks/twilio/voice",
                     headers={"Host": "evil.example"})
    assert voice.status_code == 503
    assert app.inbox() == []
    assert "INTAKE_PUBLIC_URL" in app.log_tail()
    assert requests.get(app.base + "/healthz", timeout=15).status_code == 200
    assert requests.get(app.base + "/metrics", timeout=10).status_code == 200


def test_trusted_proxy_without_public_url_is_still_503(phone_app_factory: Callable[..., PhoneApp],
                                                       tmp_path: Path, corpus: Corpus) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/proxy.db", public_url="", trust_proxy="true")
    evil = "https://evil.example/webhooks/twilio/voice"
    response = app.post("voice", corpus("voice_inbound.json")["params"], sign_url=evil,
                        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"})
    assert response.status_code == 503 and "evil.example" not in response.text
    assert app.inbox() == []


def test_dev_flag_trusts_loopback_and_the_proxys_own_entry(phone_app_factory: Callable[..., PhoneApp],
                                                           tmp_path: Path, corpus: Corpus) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/dev.db", public_url="", trust_proxy="true",
                            dev_trust_request_url="true", voice_transcription="twilio-recording")
    call = corpus("voice_inbound.json")["params"]
    # The client sent "evil.example"; our proxy appended what it saw: the last entry wins.
    headers = {"X-Forwarded-Host": "evil.example, support.example.com", "X-Forwarded-Proto": "http, https"}
    forged = app.post("voice", call, sign_url="https://evil.example/webhooks/twilio/voice", headers=headers)
    assert forged.status_code == 403
    answer = app.post("voice", call, sign_url="https://support.example.com/webhooks/twilio/voice", headers=headers)
    assert answer.status_code == 200, app.log_tail()
    record = ET.fromstring(answer.text).find("Record")
    assert record is not None
    assert record.get("action") == "https://support.example.com/webhooks/twilio/recording"
    assert record.get("transcribeCallback") == "https://support.example.com/webhooks/twilio/transcription"
    assert "evil.example" not in answer.text


def test_public_url_decides_the_callbacks_whatever_the_headers(phone_app_factory: Callable[..., PhoneApp],
                                                               tmp_path: Path, corpus: Corpus) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/public.db", trust_proxy="true",
                            voice_transcription="twilio-recording")
    answer = app.post("voice", corpus("voice_inbound.json")["params"],
                      headers={"X-Forwarded-Host": "evil.example", "Host": "evil.example"})
    assert answer.status_code == 200
    assert "evil.example" not in answer.text and f"{PUBLIC_URL}/webhooks/twilio/recording" in answer.text


def test_malformed_host_is_400_without_a_traceback(phone_app_factory: Callable[..., PhoneApp],
                                                   tmp_path: Path, corpus: Corpus) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/host.db", public_url="", dev_trust_request_url="true")
    params = corpus("sms_inbound.json")["params"]
    response = app.post("sms", params, sign_url="http://127.0.0.1:abc/webhooks/twilio/sms",
                        headers={"Host": "127.0.0.1:abc"})
    assert response.status_code == 400
    assert requests.get(app.base + "/healthz", headers={"Host": "127.0.0.1:abc"}, timeout=10).status_code == 400
    trusted = phone_app_factory(f"sqlite:///{tmp_path}/host2.db", public_url="", dev_trust_request_url="true",
                                trust_proxy="true")
    forwarded = trusted.post("sms", params, sign_url="http://127.0.0.1:abc/webhooks/twilio/sms",
                             headers={"X-Forwarded-Host": "127.0.0.1:abc"})
    assert forwarded.status_code == 400
    assert app.inbox() == [] and trusted.inbox() == []
    assert "Traceback" not in app.log_tail() and "Traceback" not in trusted.log_tail()
