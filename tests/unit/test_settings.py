"""Settings are typed, defaulted for one machine, and refuse contradictions by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from intake.settings import SettingsError, load_settings


def test_embedded_defaults_need_no_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(data_dir=tmp_path / "var")
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("intake.db")
    assert settings.broker_url == "filesystem://"
    assert settings.email_backend == "file" and settings.sms_backend == "file"
    assert settings.outbox_dir == tmp_path / "var" / "outbox"


def test_environment_prefix_and_twilio_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_IMAP_HOST", "imap.example.com")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "new-token,old-token")
    settings = load_settings()
    assert settings.imap_host == "imap.example.com"
    assert settings.twilio_auth_tokens == ["new-token", "old-token"]


@pytest.mark.parametrize(("overrides", "named"), [
    ({"imap_start": "yesterday"}, "INTAKE_IMAP_START"),
    ({"imap_security": "tls13"}, "INTAKE_IMAP_SECURITY"),
    ({"email_backend": "smtp"}, "INTAKE_SMTP_HOST"),
    ({"sms_backend": "twilio"}, "TWILIO_AUTH_TOKEN"),
    ({"imap_auth": "xoauth2"}, "INTAKE_IMAP_OAUTH_TOKEN"),
])
def test_bad_settings_stop_start_up_naming_the_key(overrides: dict, named: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(SettingsError, match=named):
        load_settings(**overrides)


def test_since_start_is_a_real_date() -> None:
    assert load_settings(imap_start="since:2026-02-28").imap_start == "since:2026-02-28"
    with pytest.raises(SettingsError, match="INTAKE_IMAP_START"):
        load_settings(imap_start="since:2026-02-30")
