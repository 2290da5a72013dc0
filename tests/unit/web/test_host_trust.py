"""The URL a signature is checked against: INTAKE_PUBLIC_URL, or (development only) the
request's own URL from loopback; hosts that cannot be in a URL; uvicorn's proxy headers."""

from __future__ import annotations

from typing import Any

import pytest

from intake.settings import load_settings
from intake.web.signatures import UrlRefused, signed_url, valid_host

PATH = "/webhooks/twilio/sms"


def test_without_public_url_nothing_is_trusted() -> None:
    settings = load_settings(database_url="sqlite://", trust_proxy=True)
    with pytest.raises(UrlRefused) as refused:
        signed_url("http", "evil.example", PATH, "", {"x-forwarded-host": "evil.example"}, "127.0.0.1", settings)
    assert refused.value.status == 503 and "INTAKE_PUBLIC_URL" in refused.value.detail


def test_dev_flag_is_for_loopback_clients_only() -> None:
    settings = load_settings(database_url="sqlite://", dev_trust_request_url=True)
    assert signed_url("http", "127.0.0.1:8000", PATH, "", {}, "127.0.0.1", settings) \
        == "http://127.0.0.1:8000" + PATH
    assert signed_url("http", "localhost:8000", PATH, "", {}, "::1", settings) == "http://localhost:8000" + PATH
    for client in ("203.0.113.5", "10.0.0.7", None, "not-an-address"):
        with pytest.raises(UrlRefused) as refused:
            signed_url("http", "evil.example", PATH, "", {}, client, settings)
        assert refused.value.status == 503


def test_public_url_ignores_host_and_forwarded_headers() -> None:
    settings = load_settings(database_url="sqlite://", public_url="https://support.example.com", trust_proxy=True)
    headers = {"x-forwarded-host": "evil.example", "x-forwarded-proto": "http"}
    assert signed_url("http", "evil.example", PATH, "a=1", headers, "203.0.113.5", settings) \
        == "https://support.example.com" + PATH + "?a=1"


@pytest.mark.parametrize("host", ["127.0.0.1:abc", "evil.example:99999", "a b", "", "x:", "[::1", "host/path",
                                  "evil.example@x", "-bad.example"])
def test_malformed_hosts(host: str) -> None:
    assert not valid_host(host)
    settings = load_settings(database_url="sqlite://", dev_trust_request_url=True)
    with pytest.raises(UrlRefused) as refused:
        signed_url("http", host, PATH, "", {}, "127.0.0.1", settings)
    assert refused.value.status == 400


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8000", "[::1]:8000", "support.example.com",
                                  "intake_web:8000", "localhost"])
def test_good_hosts(host: str) -> None:
    assert valid_host(host)


@pytest.mark.parametrize("trust", [False, True])
def test_uvicorn_proxy_headers_follow_trust_proxy(monkeypatch: pytest.MonkeyPatch, trust: bool) -> None:
    """uvicorn honours X-Forwarded-Proto/-For from 127.0.0.1 unless told not to."""
    import uvicorn

    import workers.daemons as daemons

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(daemons, "get_settings", lambda: load_settings(database_url="sqlite://", trust_proxy=trust))
    monkeypatch.setattr(daemons, "web_app", lambda require_twilio=True: object())
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    daemons.run_web("127.0.0.1", 8000)
    daemons.run_web("127.0.0.1", 8000, workers=2)
    assert [call["proxy_headers"] for call in calls] == [trust, trust]
