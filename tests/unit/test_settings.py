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


def test_cost_caps_reach_the_pure_steps(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Each INTAKE_ cap is what processing, reprocess and classify hand the pure steps."""
    from intake.process.flow import Caps
    from intake.settings import load_settings

    caps = Caps.of(load_settings(data_dir=tmp_path, mail_max_parts=7, mail_max_attachments=3,
                                 mail_max_header_chars=100, mail_max_nesting=5, html_max_quote_depth=2,
                                 html_max_text_chars=999, triage_max_scored_chars=500, max_message_bytes=1234))
    assert (caps.mail.max_parts, caps.mail.max_attachments, caps.mail.max_header_chars, caps.mail.max_nesting,
            caps.mail.html_max_quote_depth, caps.mail.html_max_text_chars) == (7, 3, 100, 5, 2, 999)
    assert caps.scored_chars == 500 and caps.max_attachment_bytes == 1234
