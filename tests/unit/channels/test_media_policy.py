"""Which media URLs may be fetched: Twilio's hosts over HTTPS, redirects within the CDN list,
public addresses only (checked after DNS resolution, before any connection)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from intake.channels.media import (MediaError, Target, check_url, checked_addresses, download, host_allowed,
                                   host_list, is_public_address)
from intake.settings import load_settings

SETTINGS = load_settings(database_url="sqlite://")
MEDIA = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"


def test_default_hosts_take_twilio_media_and_its_cdn() -> None:
    first = host_list(SETTINGS.media_hosts)
    redirects = host_list(SETTINGS.media_redirect_hosts)
    assert check_url(MEDIA, first, SETTINGS).host == "api.twilio.com"
    # Twilio answers a media URL with a redirect to its CDN (mms.twiliocdn.com with HTTP
    # auth enforced, s3-external-1.amazonaws.com for media stored without it).
    for cdn in ("https://mms.twiliocdn.com/AC1/abc?Expires=1", "https://media.twiliocdn.com/AC1/x",
                "https://s3-external-1.amazonaws.com/media.twiliocdn.com/AC1/x"):
        assert check_url(cdn, redirects, SETTINGS).port == 443
    with pytest.raises(MediaError, match="not in INTAKE_MEDIA_HOSTS"):
        check_url("https://mms.twiliocdn.com/AC1/abc", first, SETTINGS)  # the first URL is Twilio's API


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:18090/latest/meta-data/iam", "not HTTPS"),
    ("http://api.twilio.com/2010-04-01/x", "not HTTPS"),
    ("https://api.twilio.com:8443/2010-04-01/x", "not port 443"),
    ("https://127.0.0.1/latest/meta-data/iam", "not in INTAKE_MEDIA_HOSTS"),
    ("https://169.254.169.254/latest/meta-data/iam", "not in INTAKE_MEDIA_HOSTS"),
    ("https://eviltwilio.com/x", "not in INTAKE_MEDIA_HOSTS"),
    ("https://api.twilio.com.evil.example/x", "not in INTAKE_MEDIA_HOSTS"),
    ("https://api.twilio.com@127.0.0.1/x", "plain host"),
    ("https://user:pw@api.twilio.com/x", "plain host"),
    ("file:///etc/passwd", "plain host"),
    ("https://api.twilio.com:abc/x", "malformed"),
])
def test_refused_urls(url: str, reason: str) -> None:
    with pytest.raises(MediaError, match=reason):
        check_url(url, host_list(SETTINGS.media_hosts), SETTINGS)


def test_wildcards_match_subdomains_only() -> None:
    assert host_allowed("mms.twiliocdn.com", ["*.twiliocdn.com"])
    assert host_allowed("a.b.twiliocdn.com", ["*.twiliocdn.com"])
    assert not host_allowed("twiliocdn.com", ["*.twiliocdn.com"])
    assert not host_allowed("xtwiliocdn.com", ["*.twiliocdn.com"])
    assert host_allowed("API.Twilio.com.", ["api.twilio.com"])


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1",
                                     "224.0.0.1"])
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(address)


def test_public_addresses() -> None:
    assert is_public_address("54.172.60.1") and is_public_address("2600:1f18::1")


def test_a_name_resolving_to_any_private_address_is_refused() -> None:
    target = Target("https", "mms.twiliocdn.com", 443, "/x", False)
    with pytest.raises(MediaError, match="non-public"):
        checked_addresses(target, lambda host, port: ["54.172.60.1", "127.0.0.1"])
    assert checked_addresses(target, lambda host, port: ["54.172.60.1"]) == ["54.172.60.1"]


def test_download_checks_the_address_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    """api.twilio.com made to resolve to the metadata service: no connection is opened."""
    connects: list[Any] = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connects.append(a))
    with pytest.raises(MediaError, match="non-public"):
        download(MEDIA, SETTINGS, resolver=lambda host, port: ["169.254.169.254"])
    assert connects == []


def test_the_api_base_origin_is_trusted_exactly() -> None:
    settings = load_settings(database_url="sqlite://", twilio_api_base="http://127.0.0.1:41234")
    patterns = host_list(settings.media_hosts)
    assert check_url("http://127.0.0.1:41234/2010-04-01/x", patterns, settings).trusted_origin
    for other in ("http://127.0.0.1:41235/x", "https://127.0.0.1:41234/x", "http://localhost:41234/x"):
        with pytest.raises(MediaError):
            check_url(other, patterns, settings)
