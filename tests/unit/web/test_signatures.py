"""X-Twilio-Signature checks: the corpus signatures (token 12345), rotation, the URL Twilio
called (public URL, proxies), repeated parameters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from intake.settings import load_settings
from intake.web.signatures import FormParams, base_url, is_valid, request_url
from tests.support.shared import need_shared

CORPUS_TOKEN = "12345"


def _corpus(shared_dir: Path) -> list[tuple[str, str, dict[str, str], str]]:
    """(case id, url, params, signature) for every form-encoded payload and variant."""
    folder = need_shared("corpus", "twilio")
    cases = []
    for path in sorted(folder.glob("*.json")):
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if data.get("content_type") != "application/x-www-form-urlencoded":
            continue
        cases.append((path.stem, data["path_hint"], data["params"], data["signature_example"]["x_twilio_signature"]))
        for variant in data.get("variants", []):
            cases.append((f"{path.stem}:{variant['name']}", data["path_hint"], variant["params"],
                          variant["x_twilio_signature"]))
    return cases


def test_every_corpus_signature_validates(shared_dir: Path) -> None:
    cases = _corpus(shared_dir)
    assert len(cases) >= 8
    for case, url, params, signature in cases:
        form = FormParams(list(params.items()))
        assert is_valid([CORPUS_TOKEN], url, form, signature), case
        assert not is_valid(["54321"], url, form, signature), case
        assert not is_valid([CORPUS_TOKEN], url + "x", form, signature), case
        tampered = FormParams([(k, v + ("!" if k == "From" else "")) for k, v in params.items()])
        if "From" in params:
            assert not is_valid([CORPUS_TOKEN], url, tampered, signature), case


def test_messaging_service_payload_validates(shared_dir: Path) -> None:
    case = next(c for c in _corpus(shared_dir) if c[0] == "sms_inbound")
    _, url, params, signature = case
    assert params["MessagingServiceSid"].startswith("MG")
    assert is_valid([CORPUS_TOKEN], url, FormParams(list(params.items())), signature)


def test_sdk_vector_and_rotation() -> None:
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = FormParams([("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"), ("Digits", "1234"),
                         ("From", "+14158675309"), ("To", "+18005551212")])
    signature = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert is_valid(["12345"], url, params, signature)
    assert is_valid(["new-token", "12345"], url, params, signature)  # the old token during rotation
    assert not is_valid(["new-token"], url, params, signature)
    assert not is_valid(["12345"], url, params, None)
    assert not is_valid(["12345"], url, params, "")
    # Twilio may or may not include the default port: both are accepted (SDK behaviour).
    assert is_valid(["12345"], "https://mycompany.com:443/myapp.php?foo=1&bar=2", params, signature)


def test_repeated_parameters_are_all_signed() -> None:
    pairs = [("Body", "hi"), ("MediaUrl", "b"), ("MediaUrl", "a")]
    form = FormParams(pairs)
    assert form["MediaUrl"] == "b" and form.getall("MediaUrl") == ["b", "a"]
    assert form.repeated() == {"MediaUrl": ["b", "a"]}
    url = "https://support.example.com/webhooks/twilio/sms"

    class Multi(dict[str, list[str]]):
        def getall(self, name: str) -> list[str]:
            return self[name]

    signature = RequestValidator("tok").compute_signature(url, Multi({"Body": ["hi"], "MediaUrl": ["b", "a"]}))
    assert is_valid(["tok"], url, form, signature)
    assert not is_valid(["tok"], url, FormParams(pairs[:2]), signature)


def test_request_url_prefers_public_url() -> None:
    settings = load_settings(public_url="https://support.example.com/", database_url="sqlite://")
    url = request_url("http", "10.0.0.5:8000", "/webhooks/twilio/sms", "a=1", {}, settings)
    assert url == "https://support.example.com/webhooks/twilio/sms?a=1"
    assert base_url(url, "/webhooks/twilio/sms") == "https://support.example.com"


def test_forwarded_headers_only_behind_a_trusted_proxy() -> None:
    # A proxy appends what it saw: the last entry is the proxy's, the ones before the client's.
    headers = {"x-forwarded-proto": "http, https", "x-forwarded-host": "evil.example, support.example.com"}
    untrusted = load_settings(database_url="sqlite://", trust_proxy=False)
    assert request_url("http", "127.0.0.1:8000", "/webhooks/twilio/voice", "", headers, untrusted) \
        == "http://127.0.0.1:8000/webhooks/twilio/voice"
    trusted = load_settings(database_url="sqlite://", trust_proxy=True)
    assert request_url("http", "127.0.0.1:8000", "/webhooks/twilio/voice", "", headers, trusted) \
        == "https://support.example.com/webhooks/twilio/voice"
